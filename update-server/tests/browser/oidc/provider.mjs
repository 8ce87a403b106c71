// A real OpenID provider (the `oidc-provider` package) on loopback for the panel's single
// sign-on browser test. It listens on a free port of 127.0.0.1, prints
// `{"issuer": "..."}` on one line, reads the client's redirect URL from the next line of
// stdin, registers the client, and prints `ready`. Its built-in sign-in form accepts any
// password; the accounts' groups are below. Signing keys are made at every start.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import Provider from 'oidc-provider';

const GROUPS = {
  alice: ['staff', 'release-managers'],
  bob: ['staff'],
  carol: ['contractors'],
};

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.once('line', (redirect) => {
    const provider = new Provider(issuer, {
      clients: [{
        client_id: process.env.OIDC_CLIENT_ID ?? 'update-panel',
        client_secret: process.env.OIDC_CLIENT_SECRET ?? 'update-panel-secret',
        redirect_uris: [redirect.trim()],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: process.env.OIDC_ALG ?? 'RS256',
      }],
      jwks: { keys: [{ ...rsa, kid: 'rsa-1', use: 'sig', alg: 'RS256' }, { ...ec, kid: 'ec-1', use: 'sig', alg: 'ES256' }] },
      cookies: { keys: [randomBytes(32).toString('hex')] },
      claims: { openid: ['sub'], groups: ['groups'] },
      // The claims of the scopes asked for go into the ID token, which is all the server reads.
      conformIdTokenClaims: false,
      pkce: { required: () => true },
      async findAccount(ctx, id) {
        return {
          accountId: id,
          async claims() {
            return { sub: id, groups: GROUPS[id] ?? [] };
          },
        };
      },
    });
    server.on('request', provider.callback());
    process.stdout.write('ready\n');
  });
  lines.on('close', () => process.exit(0));
});
