//! Single sign-on for the panel with OpenID Connect.
//!
//! The panel's `/login/oidc` starts the authorization code flow with PKCE (S256), a `state`
//! and a `nonce`, all three kept in a short-lived cookie signed with the panel's key
//! ([`FlowCookie`]); `/login/oidc/callback` checks the `state`, exchanges the code for
//! tokens (sending the PKCE verifier), verifies the ID token ([`Provider::verify`]), maps
//! a claim to a role ([`RoleMap`]) and opens a panel session whose principal is the SSO
//! subject ([`crate::access::PrincipalKind::Sso`]).
//!
//! The provider is found by discovery (`<issuer>/.well-known/openid-configuration`); its
//! keys (JWKS) are cached and fetched again when a token names a key id the cache lacks, at
//! most once per [`JWKS_MIN_REFRESH`]. Every outbound request has a timeout
//! ([`REQUEST_TIMEOUT`]) and a body limit ([`BODY_LIMIT`]), so a provider that is down or
//! misbehaves gives an error, never a hang.
//!
//! Signatures are checked by `jsonwebtoken` (RS256/384/512, PS256/384/512, ES256/384; the
//! algorithm must be the key's family, and `none` and HMAC are never accepted); `iss` and
//! `aud` by it too. `exp`, `iat` and `nonce` are checked here against the server's clock
//! with [`LEEWAY_SECS`] of leeway, so that tests can use a virtual clock.

use crate::access::{Principal, PrincipalKind, Role};
use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::Digest as _;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How long one outbound request (discovery, JWKS, token exchange) may take, connection
/// included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest body read from the provider.
pub const BODY_LIMIT: usize = 256 * 1024;
/// The most keys a JWKS may hold.
pub const MAX_KEYS: usize = 64;
/// The least time between two JWKS fetches caused by an unknown key id.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(30);
/// How long the discovery document and the keys are kept before they are fetched again.
pub const CACHE_SECS: i64 = 3600;
/// Seconds of clock difference allowed on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 60;
/// How long a login at the provider may take (the flow cookie's life), in seconds.
pub const FLOW_SECS: i64 = 600;
/// The longest ID token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The signature algorithms accepted.
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Why SSO is misconfigured (at start) or a login failed.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// A setting is wrong (found at start).
    #[error("single sign-on: {0}")]
    Config(String),
    /// The provider could not be reached, or answered with something unusable.
    #[error("the identity provider could not be used: {0}")]
    Provider(String),
    /// The ID token (or the callback) was refused.
    #[error("the sign-in was refused: {0}")]
    Refused(String),
    /// The user has no role here.
    #[error(
        "your account has no role on this server: none of the values of its claim `{claim}` \
         ({values}) is mapped to a role. Ask an administrator to map one."
    )]
    NoRole {
        /// The claim looked at.
        claim: String,
        /// Its values, as received.
        values: String,
    },
}

/// A role and the apps it is limited to (`None`: every app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The role.
    pub role: Role,
    /// The apps (canonical ids); `None`: every app.
    pub apps: Option<BTreeSet<String>>,
}

impl Grant {
    /// `role` or `role:app,app`.
    fn parse(text: &str) -> Result<Self, SsoError> {
        let (role, apps) = match text.split_once(':') {
            Some((role, apps)) => (role, Some(apps)),
            None => (text, None),
        };
        let role = Role::parse(role).map_err(|e| SsoError::Config(e.to_string()))?;
        let apps = match apps {
            None => None,
            Some(list) => {
                let set: BTreeSet<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(crate::store::canonical_app_id)
                    .collect();
                if set.is_empty() {
                    return Err(SsoError::Config(format!(
                        "`{text}`: a `:` must be followed by at least one app id"
                    )));
                }
                Some(set)
            }
        };
        Ok(Self { role, apps })
    }
}

/// Which claim values give which role: `value=role[:app,app]` entries separated by `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMap {
    /// The entries, in order.
    pub entries: Vec<(String, Grant)>,
}

impl RoleMap {
    /// Parses `value=role[:app,app];...` (whitespace around entries is ignored; a value may
    /// itself hold `=`, the last one separates the role).
    ///
    /// # Errors
    /// [`SsoError::Config`] naming the bad entry.
    pub fn parse(text: &str) -> Result<Self, SsoError> {
        let mut entries = Vec::new();
        for entry in text
            .split([';', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (value, grant) = entry.rsplit_once('=').ok_or_else(|| {
                SsoError::Config(format!(
                    "role mapping entry `{entry}` is not `claim-value=role` or \
                     `claim-value=role:app,app`"
                ))
            })?;
            let value = value.trim();
            if value.is_empty() {
                return Err(SsoError::Config(format!(
                    "role mapping entry `{entry}` has an empty claim value"
                )));
            }
            let grant = Grant::parse(grant.trim())
                .map_err(|e| SsoError::Config(format!("role mapping entry `{entry}`: {e}")))?;
            entries.push((value.to_owned(), grant));
        }
        Ok(Self { entries })
    }

    /// What `values` (the claim's values) give: the highest role of the entries they
    /// match; the scopes of the matching entries of that role are joined (every app when
    /// one of them is unscoped). `None` when no entry matches.
    #[must_use]
    pub fn grant(&self, values: &[String]) -> Option<Grant> {
        let matched: Vec<&Grant> = self
            .entries
            .iter()
            .filter(|(value, _)| values.iter().any(|v| v == value))
            .map(|(_, grant)| grant)
            .collect();
        let role = matched.iter().map(|g| g.role).max()?;
        let mut apps = Some(BTreeSet::new());
        for grant in matched.iter().filter(|g| g.role == role) {
            match (&mut apps, &grant.apps) {
                (Some(all), Some(these)) => all.extend(these.iter().cloned()),
                (_, None) => apps = None,
                (None, Some(_)) => {}
            }
        }
        Some(Grant { role, apps })
    }
}

/// The validated SSO settings.
#[derive(Debug, Clone)]
pub struct SsoConfig {
    /// The issuer URL, without a trailing `/`.
    pub issuer: String,
    /// The client id (the ID token's audience).
    pub client_id: String,
    /// The client secret; `None`: a public client (PKCE only).
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back (`.../login/oidc/callback`).
    pub redirect_url: String,
    /// The scopes asked for (`openid` always among them).
    pub scopes: Vec<String>,
    /// The claim whose values are mapped to roles (a dotted path reaches into objects:
    /// `realm_access.roles`).
    pub role_claim: String,
    /// The claim naming the principal (recorded as `sso:<value>`).
    pub name_claim: String,
    /// The mapping.
    pub roles: RoleMap,
    /// The grant of a user no entry matches; `None`: such a login is refused.
    pub default: Option<Grant>,
}

/// The SSO settings as given (flags or the config file), before validation.
#[derive(Debug, Clone, Default)]
pub struct SsoSettings {
    /// `--oidc-issuer`.
    pub issuer: Option<String>,
    /// `--oidc-client-id`.
    pub client_id: Option<String>,
    /// `--oidc-client-secret`.
    pub client_secret: Option<String>,
    /// `--oidc-redirect-url`.
    pub redirect_url: Option<String>,
    /// `--oidc-scopes`.
    pub scopes: String,
    /// `--oidc-role-claim`.
    pub role_claim: String,
    /// `--oidc-name-claim`.
    pub name_claim: String,
    /// `--oidc-roles`.
    pub roles: Option<String>,
    /// `--oidc-default-role`.
    pub default_role: Option<String>,
    /// `--base-url`, for the default redirect URL.
    pub base_url: Option<String>,
}

fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) && !url.contains(['#', ' ', '\n'])
}

impl SsoSettings {
    /// The settings checked: `None` when no issuer is given (SSO off).
    ///
    /// # Errors
    /// [`SsoError::Config`] saying which setting is wrong and why.
    pub fn validate(&self) -> Result<Option<SsoConfig>, SsoError> {
        let Some(issuer) = self.issuer.as_deref().map(str::trim) else {
            let set = [
                ("--oidc-client-id", self.client_id.is_some()),
                ("--oidc-client-secret", self.client_secret.is_some()),
                ("--oidc-redirect-url", self.redirect_url.is_some()),
                ("--oidc-roles", self.roles.is_some()),
                ("--oidc-default-role", self.default_role.is_some()),
            ];
            if let Some((flag, _)) = set.iter().find(|(_, given)| *given) {
                return Err(SsoError::Config(format!(
                    "{flag} is set but --oidc-issuer is not; give the issuer URL to turn single \
                     sign-on on"
                )));
            }
            return Ok(None);
        };
        if !is_http_url(issuer) || issuer.contains('?') {
            return Err(SsoError::Config(format!(
                "--oidc-issuer `{issuer}` is not an http(s) URL without a query"
            )));
        }
        if issuer.to_ascii_lowercase().starts_with("https://") && !cfg!(feature = "https") {
            return Err(SsoError::Config(
                "--oidc-issuer is an https URL, but this build has no HTTPS client; build \
                 update-server with `--features https`"
                    .into(),
            ));
        }
        let client_id = self
            .client_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| SsoError::Config("--oidc-issuer needs --oidc-client-id".into()))?;
        let client_secret = self.client_secret.clone().filter(|s| !s.is_empty());
        let redirect_url = match (&self.redirect_url, &self.base_url) {
            (Some(url), _) => url.trim().to_owned(),
            (None, Some(base)) => format!("{}/login/oidc/callback", base.trim_end_matches('/')),
            (None, None) => {
                return Err(SsoError::Config(
                    "--oidc-issuer needs --oidc-redirect-url (or --base-url, which gives \
                     <base-url>/login/oidc/callback)"
                        .into(),
                ));
            }
        };
        if !is_http_url(&redirect_url) || !redirect_url.ends_with("/login/oidc/callback") {
            return Err(SsoError::Config(format!(
                "--oidc-redirect-url `{redirect_url}` must be an http(s) URL ending in \
                 /login/oidc/callback (this server's callback)"
            )));
        }
        let mut scopes: Vec<String> = self
            .scopes
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        let claim_ok = |c: &str| !c.is_empty() && !c.split('.').any(str::is_empty);
        if !claim_ok(&self.role_claim) {
            return Err(SsoError::Config(format!(
                "--oidc-role-claim `{}` is not a claim name (or a dotted path)",
                self.role_claim
            )));
        }
        if !claim_ok(&self.name_claim) {
            return Err(SsoError::Config(format!(
                "--oidc-name-claim `{}` is not a claim name (or a dotted path)",
                self.name_claim
            )));
        }
        let roles = RoleMap::parse(self.roles.as_deref().unwrap_or(""))?;
        let default = self
            .default_role
            .as_deref()
            .map(|d| Grant::parse(d.trim()))
            .transpose()
            .map_err(|e| SsoError::Config(format!("--oidc-default-role: {e}")))?;
        if roles.entries.is_empty() && default.is_none() {
            return Err(SsoError::Config(
                "--oidc-issuer needs --oidc-roles (which claim values give which role), or \
                 --oidc-default-role; without either nobody could sign in"
                    .into(),
            ));
        }
        Ok(Some(SsoConfig {
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            redirect_url,
            scopes,
            role_claim: self.role_claim.clone(),
            name_claim: self.name_claim.clone(),
            roles,
            default,
        }))
    }
}

/// What discovery found.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Discovery {
    /// The issuer (must equal the configured one).
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: String,
    /// Where codes are exchanged.
    pub token_endpoint: String,
    /// The keys.
    pub jwks_uri: String,
    /// How the client may authenticate at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

struct Cached<T> {
    value: T,
    fetched: i64,
}

/// The state of the flow between `/login/oidc` and the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowCookie {
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent.
    pub nonce: String,
    /// The PKCE verifier.
    pub verifier: String,
    /// Unix seconds after which the flow is void.
    pub expires: i64,
}

fn random_token() -> Result<String, SsoError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| SsoError::Provider(format!("no random numbers: {e}")))?;
    Ok(B64.encode(bytes))
}

fn flow_mac(key: &[u8; 32], text: &str) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(b"oidc flow\n");
    mac.update(text.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

impl FlowCookie {
    /// A fresh flow, valid for [`FLOW_SECS`] after `now`.
    ///
    /// # Errors
    /// [`SsoError::Provider`] when there are no random numbers.
    pub fn new(now: i64) -> Result<Self, SsoError> {
        Ok(Self {
            state: random_token()?,
            nonce: random_token()?,
            verifier: random_token()?,
            expires: now + FLOW_SECS,
        })
    }

    /// The cookie value, signed with `key`.
    #[must_use]
    pub fn seal(&self, key: &[u8; 32]) -> String {
        let text = format!(
            "{}.{}.{}.{}",
            self.state, self.nonce, self.verifier, self.expires
        );
        let mac = flow_mac(key, &text);
        format!("{text}.{mac}")
    }

    /// The flow of a cookie value, if its signature holds and it has not expired.
    #[must_use]
    pub fn open(key: &[u8; 32], value: &str, now: i64) -> Option<Self> {
        let (text, mac) = value.rsplit_once('.')?;
        let expected = flow_mac(key, text);
        // Both are base64 of 32 bytes; compare without an early exit.
        if expected.len() != mac.len()
            || expected
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0
        {
            return None;
        }
        let mut parts = text.split('.');
        let flow = Self {
            state: parts.next()?.to_owned(),
            nonce: parts.next()?.to_owned(),
            verifier: parts.next()?.to_owned(),
            expires: parts.next()?.parse().ok()?,
        };
        (parts.next().is_none() && flow.expires > now).then_some(flow)
    }

    /// The PKCE S256 challenge of the verifier.
    #[must_use]
    pub fn challenge(&self) -> String {
        B64.encode(sha2::Sha256::digest(self.verifier.as_bytes()))
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
#[must_use]
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The claims read from an ID token (beyond what `jsonwebtoken` checks).
#[derive(Debug, serde::Deserialize)]
struct Claims {
    exp: Option<serde_json::Value>,
    iat: Option<serde_json::Value>,
    nonce: Option<String>,
    azp: Option<String>,
    aud: serde_json::Value,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

fn seconds(value: Option<&serde_json::Value>, name: &str) -> Result<i64, SsoError> {
    match value.and_then(serde_json::Value::as_f64) {
        Some(v) if v.is_finite() => Ok(v as i64),
        _ => Err(SsoError::Refused(format!(
            "the ID token has no numeric `{name}`"
        ))),
    }
}

/// The claim named `path`, else the value at that dotted path (so that a namespaced claim
/// like `https://example.com/roles` is found whole).
fn claim<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    path: &str,
) -> Option<&'a serde_json::Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A claim's values as strings: a string, a number or a boolean is one value, an array
/// its string (and number) members.
fn claim_values(value: Option<&serde_json::Value>) -> Vec<String> {
    fn scalar(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    match value {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(scalar).collect(),
        Some(v) => scalar(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// A configured provider: the settings, an HTTP client, and the cached discovery document
/// and keys.
pub struct Provider {
    config: SsoConfig,
    client: reqwest::Client,
    discovery: tokio::sync::Mutex<Option<Cached<Discovery>>>,
    keys: tokio::sync::Mutex<Option<Cached<JwkSet>>>,
    /// When the keys were last fetched because of an unknown key id (monotonic).
    last_refresh: Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// A provider for `config`; nothing is fetched until the first login.
    ///
    /// # Errors
    /// [`SsoError::Config`] when the HTTP client cannot be built.
    pub fn new(config: SsoConfig) -> Result<Self, SsoError> {
        Self::with_timeout(config, REQUEST_TIMEOUT)
    }

    /// As [`Provider::new`], each request to the provider limited to `timeout` instead of
    /// [`REQUEST_TIMEOUT`].
    ///
    /// # Errors
    /// [`SsoError::Config`] when the HTTP client cannot be built.
    pub fn with_timeout(config: SsoConfig, timeout: Duration) -> Result<Self, SsoError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("update-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SsoError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            config,
            client,
            discovery: tokio::sync::Mutex::new(None),
            keys: tokio::sync::Mutex::new(None),
            last_refresh: Mutex::new(None),
        })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &SsoConfig {
        &self.config
    }

    /// Reads a response's body, at most [`BODY_LIMIT`] bytes.
    async fn body(what: &str, mut response: reqwest::Response) -> Result<Vec<u8>, SsoError> {
        if response
            .content_length()
            .is_some_and(|len| len > BODY_LIMIT as u64)
        {
            return Err(SsoError::Provider(format!(
                "the {what} is larger than {BODY_LIMIT} bytes"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| SsoError::Provider(format!("reading the {what}: {e}")))?
        {
            if body.len() + chunk.len() > BODY_LIMIT {
                return Err(SsoError::Provider(format!(
                    "the {what} is larger than {BODY_LIMIT} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        url: &str,
    ) -> Result<T, SsoError> {
        let response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| SsoError::Provider(format!("fetching the {what} from {url}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(SsoError::Provider(format!(
                "fetching the {what} from {url}: HTTP {status}"
            )));
        }
        let body = Self::body(what, response).await?;
        serde_json::from_slice(&body)
            .map_err(|e| SsoError::Provider(format!("the {what} at {url} is not usable: {e}")))
    }

    /// The discovery document, fetched when missing or older than [`CACHE_SECS`].
    ///
    /// # Errors
    /// [`SsoError::Provider`] when it cannot be fetched or names another issuer.
    pub async fn discovery(&self, now: i64) -> Result<Discovery, SsoError> {
        let mut cached = self.discovery.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| now - c.fetched < CACHE_SECS) {
            return Ok(c.value.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let found: Discovery = self.get_json("discovery document", &url).await?;
        if found.issuer.trim_end_matches('/') != self.config.issuer {
            return Err(SsoError::Provider(format!(
                "the discovery document at {url} names the issuer `{}`, not `{}`",
                found.issuer, self.config.issuer
            )));
        }
        for (name, endpoint) in [
            ("authorization_endpoint", &found.authorization_endpoint),
            ("token_endpoint", &found.token_endpoint),
            ("jwks_uri", &found.jwks_uri),
        ] {
            if !is_http_url(endpoint) {
                return Err(SsoError::Provider(format!(
                    "the discovery document's {name} `{endpoint}` is not an http(s) URL"
                )));
            }
        }
        *cached = Some(Cached {
            value: found.clone(),
            fetched: now,
        });
        Ok(found)
    }

    async fn fetch_keys(&self, discovery: &Discovery) -> Result<JwkSet, SsoError> {
        let set: JwkSet = self.get_json("key set (JWKS)", &discovery.jwks_uri).await?;
        if set.keys.len() > MAX_KEYS {
            return Err(SsoError::Provider(format!(
                "the key set holds {} keys, more than {MAX_KEYS}",
                set.keys.len()
            )));
        }
        Ok(set)
    }

    /// The key of `kid` (or the only key, when the token names none): from the cache, else
    /// after fetching the keys again (at most once per [`JWKS_MIN_REFRESH`] for unknown
    /// ids).
    async fn key(
        &self,
        discovery: &Discovery,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Jwk, SsoError> {
        let pick = |set: &JwkSet| -> Option<Jwk> {
            match kid {
                Some(kid) => set.find(kid).cloned(),
                None if set.keys.len() == 1 => set.keys.first().cloned(),
                None => None,
            }
        };
        let mut cached = self.keys.lock().await;
        let fresh = cached.as_ref().filter(|c| now - c.fetched < CACHE_SECS);
        if let Some(key) = fresh.and_then(|c| pick(&c.value)) {
            return Ok(key);
        }
        let may_refresh = fresh.is_none() || {
            let mut last = self
                .last_refresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let ok = last.is_none_or(|t| t.elapsed() >= JWKS_MIN_REFRESH);
            if ok {
                *last = Some(std::time::Instant::now());
            }
            ok
        };
        if may_refresh {
            let set = self.fetch_keys(discovery).await?;
            let key = pick(&set);
            *cached = Some(Cached {
                value: set,
                fetched: now,
            });
            if let Some(key) = key {
                return Ok(key);
            }
        }
        Err(SsoError::Refused(match kid {
            Some(kid) => format!(
                "the ID token is signed with key `{kid}`, which the provider does not publish"
            ),
            None => "the ID token names no key (kid) and the provider publishes several".into(),
        }))
    }

    /// The URL the browser is sent to for a login with `flow`.
    ///
    /// # Errors
    /// [`SsoError::Provider`] when discovery fails.
    pub async fn authorization_url(&self, flow: &FlowCookie, now: i64) -> Result<String, SsoError> {
        let discovery = self.discovery(now).await?;
        let scope = self.config.scopes.join(" ");
        let challenge = flow.challenge();
        let query = form(&[
            ("response_type", "code"),
            ("client_id", &self.config.client_id),
            ("redirect_uri", &self.config.redirect_url),
            ("scope", &scope),
            ("state", &flow.state),
            ("nonce", &flow.nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ]);
        let sep = if discovery.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{sep}{query}", discovery.authorization_endpoint))
    }

    /// Exchanges `code` at the token endpoint (with the PKCE verifier and the client's
    /// credentials) and returns the verified principal.
    ///
    /// # Errors
    /// [`SsoError::Provider`] when the provider fails; [`SsoError::Refused`] or
    /// [`SsoError::NoRole`] when the token or the user is refused.
    pub async fn finish(
        &self,
        code: &str,
        flow: &FlowCookie,
        now: i64,
    ) -> Result<Principal, SsoError> {
        let discovery = self.discovery(now).await?;
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("code_verifier", flow.verifier.as_str()),
        ];
        let methods = &discovery.token_endpoint_auth_methods_supported;
        let basic = self.config.client_secret.is_some()
            && (methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic"));
        if !basic {
            pairs.push(("client_id", self.config.client_id.as_str()));
            if let Some(secret) = &self.config.client_secret {
                pairs.push(("client_secret", secret.as_str()));
            }
        }
        let mut request = self
            .client
            .post(&discovery.token_endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(form(&pairs));
        if basic && let Some(secret) = &self.config.client_secret {
            let credentials = format!(
                "{}:{}",
                form_encode(&self.config.client_id),
                form_encode(secret)
            );
            request = request.header(
                reqwest::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(credentials)
                ),
            );
        }
        let response = request.send().await.map_err(|e| {
            SsoError::Provider(format!(
                "exchanging the code at {}: {e}",
                discovery.token_endpoint
            ))
        })?;
        let status = response.status();
        let body = Self::body("token response", response).await?;
        let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
            SsoError::Provider(format!("the token response is not JSON ({status}): {e}"))
        })?;
        if !status.is_success() {
            let error = answer
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("unknown");
            return Err(SsoError::Refused(format!(
                "the provider refused the code (HTTP {status}, error `{}`)",
                error.chars().take(100).collect::<String>()
            )));
        }
        let token = answer
            .get("id_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| SsoError::Provider("the token response has no id_token".into()))?;
        self.verify(token, &flow.nonce, now).await
    }

    /// Verifies an ID token (signature, `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`) and
    /// maps it to a principal.
    ///
    /// # Errors
    /// [`SsoError::Refused`] saying what was wrong; [`SsoError::NoRole`] when no mapping
    /// matches; [`SsoError::Provider`] when the keys cannot be fetched.
    pub async fn verify(&self, token: &str, nonce: &str, now: i64) -> Result<Principal, SsoError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SsoError::Refused(format!(
                "the ID token is longer than {MAX_TOKEN_LEN} bytes"
            )));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| SsoError::Refused(format!("the ID token is malformed: {e}")))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(SsoError::Refused(format!(
                "the ID token's algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let discovery = self.discovery(now).await?;
        let jwk = self.key(&discovery, header.kid.as_deref(), now).await?;
        if let Some(alg) = jwk.common.key_algorithm
            && Algorithm::try_from(alg).ok() != Some(header.alg)
        {
            return Err(SsoError::Refused(format!(
                "the ID token's algorithm {:?} is not its key's ({alg:?})",
                header.alg
            )));
        }
        let family_ok = matches!(
            (&jwk.algorithm, header.alg),
            (
                AlgorithmParameters::RSA(_),
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (
                AlgorithmParameters::EllipticCurve(_),
                Algorithm::ES256 | Algorithm::ES384
            )
        );
        if !family_ok {
            return Err(SsoError::Refused(format!(
                "the ID token's algorithm {:?} does not fit its key",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| SsoError::Provider(format!("the provider's key is unusable: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer, &format!("{}/", self.config.issuer)]);
        validation.set_audience(&[&self.config.client_id]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            SsoError::Refused(match e.kind() {
                ErrorKind::InvalidSignature => "the ID token's signature is wrong".into(),
                ErrorKind::InvalidIssuer => "the ID token is from another issuer".into(),
                ErrorKind::InvalidAudience => "the ID token is for another client (aud)".into(),
                ErrorKind::MissingRequiredClaim(c) => format!("the ID token has no `{c}`"),
                other => format!("the ID token is invalid: {other:?}"),
            })
        })?;
        let claims = data.claims;
        let several_audiences = claims.aud.as_array().is_some_and(|a| a.len() > 1);
        match &claims.azp {
            Some(azp) if azp != &self.config.client_id => {
                return Err(SsoError::Refused(
                    "the ID token was issued to another client (azp)".into(),
                ));
            }
            None if several_audiences => {
                return Err(SsoError::Refused(
                    "the ID token has several audiences and no azp".into(),
                ));
            }
            _ => {}
        }
        let exp = seconds(claims.exp.as_ref(), "exp")?;
        let iat = seconds(claims.iat.as_ref(), "iat")?;
        if exp + LEEWAY_SECS <= now {
            return Err(SsoError::Refused("the ID token has expired".into()));
        }
        if iat - LEEWAY_SECS > now {
            return Err(SsoError::Refused(
                "the ID token was issued in the future (check the clocks)".into(),
            ));
        }
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(SsoError::Refused(
                "the ID token's nonce is not this login's".into(),
            ));
        }
        self.principal(&claims.rest)
    }

    /// The principal of verified claims: named by the name claim, its role from the
    /// role claim through the mapping.
    fn principal(
        &self,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Principal, SsoError> {
        let name = claim_values(claim(claims, &self.config.name_claim))
            .into_iter()
            .next()
            .filter(|n| !n.is_empty() && n.len() <= 255 && !n.chars().any(char::is_control))
            .ok_or_else(|| {
                SsoError::Refused(format!(
                    "the ID token has no usable `{}` claim to name you by",
                    self.config.name_claim
                ))
            })?;
        let values = claim_values(claim(claims, &self.config.role_claim));
        let grant = self
            .config
            .roles
            .grant(&values)
            .or_else(|| self.config.default.clone())
            .ok_or_else(|| SsoError::NoRole {
                claim: self.config.role_claim.clone(),
                values: if values.is_empty() {
                    "none".into()
                } else {
                    let mut shown = values
                        .iter()
                        .take(10)
                        .map(|v| format!("`{}`", v.chars().take(80).collect::<String>()))
                        .collect::<Vec<_>>()
                        .join(", ");
                    if values.len() > 10 {
                        shown.push_str(", ...");
                    }
                    shown
                },
            })?;
        Ok(Principal {
            kind: PrincipalKind::Sso,
            name,
            role: grant.role,
            apps: grant.apps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(apps: &[&str]) -> Option<BTreeSet<String>> {
        Some(apps.iter().map(|a| (*a).to_owned()).collect())
    }

    #[test]
    fn role_maps_parse_and_grant_the_highest_role() {
        let map = RoleMap::parse(
            " ops=operator:app-a,app-b ; admins=admin;\nviewers=viewer; dev=operator:app-c; a=b=viewer",
        )
        .unwrap();
        assert_eq!(map.entries.len(), 5);
        assert_eq!(map.entries[4].0, "a=b");
        let grant = |values: &[&str]| {
            map.grant(&values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(grant(&[]), None);
        assert_eq!(grant(&["nobody"]), None);
        assert_eq!(
            grant(&["viewers"]),
            Some(Grant {
                role: Role::Viewer,
                apps: None
            })
        );
        assert_eq!(
            grant(&["viewers", "ops", "dev"]),
            Some(Grant {
                role: Role::Operator,
                apps: set(&["app-a", "app-b", "app-c"])
            })
        );
        assert_eq!(
            grant(&["ops", "admins"]),
            Some(Grant {
                role: Role::Admin,
                apps: None
            })
        );
        for bad in [
            "ops",
            "=viewer",
            "ops=root",
            "ops=viewer:",
            "ops=viewer: , ",
        ] {
            assert!(
                matches!(RoleMap::parse(bad), Err(SsoError::Config(_))),
                "{bad}"
            );
        }
    }

    fn settings() -> SsoSettings {
        SsoSettings {
            issuer: Some("http://idp.example/realms/x/".into()),
            client_id: Some("panel".into()),
            scopes: "openid profile groups".into(),
            role_claim: "groups".into(),
            name_claim: "sub".into(),
            roles: Some("ops=operator".into()),
            base_url: Some("http://updates.example/".into()),
            ..SsoSettings::default()
        }
    }

    #[test]
    fn settings_are_validated_with_clear_errors() {
        let config = settings().validate().unwrap().unwrap();
        assert_eq!(config.issuer, "http://idp.example/realms/x");
        assert_eq!(
            config.redirect_url,
            "http://updates.example/login/oidc/callback"
        );
        assert_eq!(config.client_secret, None);
        assert!(SsoSettings::default().validate().unwrap().is_none());
        let error = |change: &dyn Fn(&mut SsoSettings)| {
            let mut s = settings();
            change(&mut s);
            s.validate().unwrap_err().to_string()
        };
        assert!(error(&|s| s.issuer = None).contains("--oidc-issuer is not"));
        assert!(error(&|s| s.issuer = Some("idp.example".into())).contains("not an http(s) URL"));
        assert!(error(&|s| s.client_id = None).contains("--oidc-client-id"));
        assert!(error(&|s| s.base_url = None).contains("--oidc-redirect-url"));
        assert!(
            error(&|s| s.redirect_url = Some("http://x/cb".into()))
                .contains("/login/oidc/callback")
        );
        assert!(error(&|s| s.roles = None).contains("nobody could sign in"));
        assert!(error(&|s| s.roles = Some("x=boss".into())).contains("x=boss"));
        assert!(error(&|s| s.role_claim = "a..b".into()).contains("--oidc-role-claim"));
        assert!(
            error(&|s| s.default_role = Some("viewer:".into())).contains("--oidc-default-role")
        );
        if !cfg!(feature = "https") {
            assert!(
                error(&|s| s.issuer = Some("https://idp.example".into()))
                    .contains("--features https")
            );
        }
    }

    #[test]
    fn flow_cookies_are_signed_and_expire() {
        let key = [3; 32];
        let flow = FlowCookie::new(1_000).unwrap();
        let value = flow.seal(&key);
        assert_eq!(FlowCookie::open(&key, &value, 1_000), Some(flow.clone()));
        assert_eq!(FlowCookie::open(&key, &value, 1_000 + FLOW_SECS), None);
        assert_eq!(FlowCookie::open(&[4; 32], &value, 1_000), None);
        let forged = value.replacen(&flow.state, "chosen", 1);
        assert_eq!(FlowCookie::open(&key, &forged, 1_000), None);
        assert_eq!(FlowCookie::open(&key, "", 1_000), None);
        assert_ne!(flow.state, FlowCookie::new(1_000).unwrap().state);
        // RFC 7636, appendix B.
        let rfc = FlowCookie {
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            ..flow
        };
        assert_eq!(
            rfc.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn claims_are_read_by_path_and_as_lists() {
        let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"groups":["a","b",3,{"x":1}],"realm_access":{"roles":["ops"]},"hd":"example.com",
                "https://example.com/roles":["admin"]}"#,
        )
        .unwrap();
        assert_eq!(claim_values(claim(&claims, "groups")), ["a", "b", "3"]);
        assert_eq!(claim_values(claim(&claims, "realm_access.roles")), ["ops"]);
        assert_eq!(claim_values(claim(&claims, "hd")), ["example.com"]);
        assert!(claim_values(claim(&claims, "realm_access.nothing")).is_empty());
        assert_eq!(
            claim_values(claim(&claims, "https://example.com/roles")),
            ["admin"]
        );
        assert_eq!(form_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
