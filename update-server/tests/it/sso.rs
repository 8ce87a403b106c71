//! Single sign-on against a fake OpenID provider of the test's own (axum on 127.0.0.1
//! port 0, tokens signed with keys made for the test): ID tokens with a wrong signature,
//! audience, issuer, nonce, an expired one or one of an unknown key are refused; the role
//! mapping gives the right principal; the code exchange sends the PKCE verifier; a session
//! opened by SSO acts under its subject in the activity log; a provider that is down gives
//! an error page, one that never answers an error within the timeout, and an answer above
//! the body limit is refused.

use crate::panel::{Browser, cookie_value, csrf_of};
use crate::support::{APP, TestServer};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use base64::Engine as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::Digest as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use update_server::access::{PrincipalKind, Role};
use update_server::policy::GroupPolicy;
use update_server::sso::{Provider, SsoError, SsoSettings};

const CLIENT: &str = "update-panel";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The test server's clock, in unix seconds.
fn server_now() -> i64 {
    "2026-11-27T08:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second()
}

/// A signing key and its public JWK.
#[derive(Clone)]
struct TestKey {
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl TestKey {
    fn new(alg: Algorithm, kid: &str) -> Self {
        let (pair, encoding) = match alg {
            Algorithm::RS256 => {
                let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
                let key = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).unwrap();
                (pair, key)
            }
            Algorithm::ES256 => {
                let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
                let key = EncodingKey::from_ec_der(&pair.serialize_der());
                (pair, key)
            }
            other => panic!("no test keys for {other:?}"),
        };
        drop(pair);
        let mut jwk = Jwk::from_encoding_key(&encoding, alg).unwrap();
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            alg,
            kid: kid.to_owned(),
            encoding,
            jwk,
        }
    }

    /// `claims` signed with this key, its kid in the header.
    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// What the fake provider saw and will answer.
#[derive(Default)]
struct Seen {
    /// The query of the last authorization request.
    authorize: HashMap<String, String>,
    /// The form of the last token request.
    token: HashMap<String, String>,
    /// The Authorization header of the last token request.
    token_auth: Option<String>,
    /// JWKS fetches.
    jwks_fetches: u32,
    /// The claims the next ID token gets on top of the defaults (`null` removes one).
    overrides: serde_json::Map<String, Value>,
}

#[derive(Clone)]
struct Fake {
    issuer: String,
    signer: Arc<Mutex<TestKey>>,
    published: Arc<Mutex<Vec<Jwk>>>,
    seen: Arc<Mutex<Seen>>,
}

impl Fake {
    async fn start(signer: TestKey) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let fake = Self {
            issuer,
            published: Arc::new(Mutex::new(vec![signer.jwk.clone()])),
            signer: Arc::new(Mutex::new(signer)),
            seen: Arc::default(),
        };
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(discovery),
            )
            .route("/jwks", axum::routing::get(jwks))
            .route("/authorize", axum::routing::get(authorize))
            .route("/token", axum::routing::post(token))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    /// The ID token the provider issues for `nonce` at `now`.
    fn id_token(&self, nonce: &str, now: i64) -> String {
        let mut claims = json!({
            "iss": self.issuer,
            "sub": "alice",
            "aud": CLIENT,
            "exp": now + 300,
            "iat": now,
            "nonce": nonce,
            "groups": ["staff", "release-managers"],
        });
        let object = claims.as_object_mut().unwrap();
        for (k, v) in &self.seen.lock().unwrap().overrides {
            if v.is_null() {
                object.remove(k);
            } else {
                object.insert(k.clone(), v.clone());
            }
        }
        self.signer.lock().unwrap().sign(&claims)
    }

    fn set(&self, claim: &str, value: Value) {
        self.seen
            .lock()
            .unwrap()
            .overrides
            .insert(claim.into(), value);
    }

    fn settings(&self, roles: &str) -> SsoSettings {
        SsoSettings {
            issuer: Some(self.issuer.clone()),
            client_id: Some(CLIENT.into()),
            client_secret: Some("s3cret".into()),
            redirect_url: Some("http://127.0.0.1:1/login/oidc/callback".into()),
            scopes: "openid profile groups".into(),
            role_claim: "groups".into(),
            name_claim: "sub".into(),
            roles: Some(roles.into()),
            default_role: None,
            base_url: None,
        }
    }

    fn provider(&self, roles: &str) -> Provider {
        Provider::new(self.settings(roles).validate().unwrap().unwrap()).unwrap()
    }
}

async fn discovery(State(fake): State<Fake>) -> axum::Json<Value> {
    axum::Json(json!({
        "issuer": fake.issuer,
        "authorization_endpoint": format!("{}/authorize", fake.issuer),
        "token_endpoint": format!("{}/token", fake.issuer),
        "jwks_uri": format!("{}/jwks", fake.issuer),
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
}

async fn jwks(State(fake): State<Fake>) -> axum::Json<JwkSet> {
    fake.seen.lock().unwrap().jwks_fetches += 1;
    axum::Json(JwkSet {
        keys: fake.published.lock().unwrap().clone(),
    })
}

/// Logs everyone in at once: back to the client with a code (`code-<nonce>`).
async fn authorize(
    State(fake): State<Fake>,
    Query(query): Query<HashMap<String, String>>,
) -> axum::response::Response {
    fake.seen.lock().unwrap().authorize = query.clone();
    Redirect::to(&format!(
        "{}?code=code-{}&state={}",
        query["redirect_uri"], query["nonce"], query["state"]
    ))
    .into_response()
}

async fn token(
    State(fake): State<Fake>,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> axum::response::Response {
    let nonce;
    {
        let mut seen = fake.seen.lock().unwrap();
        seen.token = form.clone();
        seen.token_auth = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        // PKCE: the verifier must hash to the challenge of the authorization request.
        let challenge = B64.encode(sha2::Sha256::digest(
            form.get("code_verifier").cloned().unwrap_or_default(),
        ));
        if seen.authorize.get("code_challenge") != Some(&challenge) {
            return (
                axum::http::StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
        nonce = form["code"].strip_prefix("code-").unwrap().to_owned();
    }
    axum::Json(json!({
        "access_token": "at",
        "token_type": "Bearer",
        "id_token": fake.id_token(&nonce, server_now()),
    }))
    .into_response()
}

fn refused(result: Result<update_server::access::Principal, SsoError>) -> String {
    match result {
        Err(SsoError::Refused(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn id_tokens_are_verified_before_anyone_is_let_in() {
    let now = 1_800_000_000;
    let rsa = TestKey::new(Algorithm::RS256, "rsa-1");
    let fake = Fake::start(rsa.clone()).await;
    let provider = fake.provider("staff=viewer;release-managers=operator:app-a,app-b");

    // A good token: the principal is the subject, with the mapped role and scope.
    let principal = provider
        .verify(&fake.id_token("n1", now), "n1", now)
        .await
        .unwrap();
    assert_eq!(principal.kind, PrincipalKind::Sso);
    assert_eq!(principal.name, "alice");
    assert_eq!(principal.role, Role::Operator);
    assert_eq!(
        principal.apps,
        Some(["app-a".to_owned(), "app-b".to_owned()].into())
    );
    assert_eq!(principal.actor(), "sso:alice");
    assert_eq!(fake.seen.lock().unwrap().jwks_fetches, 1);

    // Wrong nonce, expired (past the leeway), issued in the future.
    let token = fake.id_token("n1", now);
    assert!(refused(provider.verify(&token, "n2", now).await).contains("nonce"));
    assert!(refused(provider.verify(&token, "n1", now + 300 + 61).await).contains("expired"));
    provider
        .verify(&token, "n1", now + 300 + 59)
        .await
        .expect("within the leeway");
    assert!(refused(provider.verify(&token, "n1", now - 120).await).contains("future"));

    // Wrong audience, wrong issuer, azp of another client, no nonce at all.
    for (claim, value, message) in [
        ("aud", json!("another-client"), "another client"),
        (
            "aud",
            json!(["another-client", CLIENT]),
            "several audiences",
        ),
        ("iss", json!("http://127.0.0.1:1"), "another issuer"),
        ("azp", json!("another-client"), "another client (azp)"),
        ("nonce", Value::Null, "nonce"),
        ("exp", Value::Null, "exp"),
    ] {
        fake.seen.lock().unwrap().overrides.clear();
        fake.set(claim, value.clone());
        let message_got = refused(provider.verify(&fake.id_token("n1", now), "n1", now).await);
        assert!(
            message_got.contains(message),
            "{claim}={value}: {message_got}"
        );
    }
    fake.seen.lock().unwrap().overrides.clear();

    // A wrong signature: signed by another key that claims the published key's id; and a
    // token whose payload was changed after signing.
    let impostor = TestKey::new(Algorithm::RS256, "rsa-1");
    let forged = impostor.sign(&json!({
        "iss": fake.issuer, "sub": "mallory", "aud": CLIENT, "exp": now + 300,
        "iat": now, "nonce": "n1", "groups": ["release-managers"],
    }));
    assert!(refused(provider.verify(&forged, "n1", now).await).contains("signature"));
    let good = fake.id_token("n1", now);
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut payload: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    payload["groups"] = json!(["admins"]);
    let tampered_payload = B64.encode(payload.to_string());
    parts[1] = &tampered_payload;
    assert!(refused(provider.verify(&parts.join("."), "n1", now).await).contains("signature"));

    // `alg: none` and HMAC (with the public key as the secret) are never accepted.
    let header = B64.encode(json!({"alg": "none", "kid": "rsa-1"}).to_string());
    let none = format!("{header}.{}.", parts[1]);
    assert!(refused(provider.verify(&none, "n1", now).await).contains("malformed"));
    let hmac = jsonwebtoken::encode(
        &Header {
            kid: Some("rsa-1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &payload,
        &EncodingKey::from_secret(b"public").unwrap(),
    )
    .unwrap();
    assert!(refused(provider.verify(&hmac, "n1", now).await).contains("not accepted"));

    // An unknown key id makes the keys be fetched again, once, and is then refused.
    let before = fake.seen.lock().unwrap().jwks_fetches;
    let stranger = TestKey::new(Algorithm::RS256, "rsa-unknown");
    let token = stranger.sign(&json!({
        "iss": fake.issuer, "sub": "alice", "aud": CLIENT, "exp": now + 300,
        "iat": now, "nonce": "n1",
    }));
    assert!(refused(provider.verify(&token, "n1", now).await).contains("rsa-unknown"));
    assert_eq!(fake.seen.lock().unwrap().jwks_fetches, before + 1);
    assert!(refused(provider.verify(&token, "n1", now).await).contains("rsa-unknown"));
    assert_eq!(
        fake.seen.lock().unwrap().jwks_fetches,
        before + 1,
        "not fetched again at once: the refresh is rate-limited"
    );
}

#[tokio::test]
async fn rotated_keys_are_fetched_and_es256_is_accepted() {
    let now = 1_800_000_000;
    let fake = Fake::start(TestKey::new(Algorithm::RS256, "old")).await;
    let provider = fake.provider("staff=viewer");
    provider
        .verify(&fake.id_token("n", now), "n", now)
        .await
        .unwrap();
    // The provider rotates to an EC key: the first token of the new key id refreshes the
    // cached keys.
    let ec = TestKey::new(Algorithm::ES256, "new");
    fake.published.lock().unwrap().push(ec.jwk.clone());
    *fake.signer.lock().unwrap() = ec;
    let principal = provider
        .verify(&fake.id_token("n", now), "n", now)
        .await
        .unwrap();
    assert_eq!(principal.role, Role::Viewer);
    assert_eq!(principal.apps, None);
    assert_eq!(fake.seen.lock().unwrap().jwks_fetches, 2);
}

#[tokio::test]
async fn the_role_mapping_decides_and_no_match_is_refused_unless_a_default_is_set() {
    let now = 1_800_000_000;
    let fake = Fake::start(TestKey::new(Algorithm::ES256, "ec")).await;
    let provider = fake.provider("admins=admin;other=viewer");
    match provider.verify(&fake.id_token("n", now), "n", now).await {
        Err(SsoError::NoRole { claim, values }) => {
            assert_eq!(claim, "groups");
            assert_eq!(values, "`staff`, `release-managers`");
        }
        other => panic!("expected no role, got {other:?}"),
    }
    fake.set("groups", json!(["admins", "other"]));
    let admin = provider
        .verify(&fake.id_token("n", now), "n", now)
        .await
        .unwrap();
    assert_eq!((admin.role, admin.apps), (Role::Admin, None));

    // A nested claim (Keycloak's realm roles), another name claim, and a default role.
    let mut settings = fake.settings("ops=operator");
    settings.role_claim = "realm_access.roles".into();
    settings.name_claim = "email".into();
    settings.default_role = Some("viewer:app-c".into());
    let provider = Provider::new(settings.validate().unwrap().unwrap()).unwrap();
    fake.set("email", json!("alice@example.com"));
    fake.set("realm_access", json!({"roles": ["ops"]}));
    let ops = provider
        .verify(&fake.id_token("n", now), "n", now)
        .await
        .unwrap();
    assert_eq!(
        (ops.name.as_str(), ops.role, ops.apps),
        ("alice@example.com", Role::Operator, None)
    );
    fake.set("realm_access", json!({"roles": []}));
    let default = provider
        .verify(&fake.id_token("n", now), "n", now)
        .await
        .unwrap();
    assert_eq!(
        (default.role, default.apps),
        (Role::Viewer, Some(["app-c".to_owned()].into()))
    );
}

/// The whole flow through the server, as a browser without JavaScript does it.
async fn sign_in(s: &TestServer, fake: &Fake) -> (Browser, super::panel::Answer) {
    let mut browser = Browser::new(s);
    let login = browser.get("/login").await;
    assert!(
        login.body.contains(r#"href="/login/oidc""#),
        "{}",
        login.body
    );
    let start = browser.get("/login/oidc").await;
    assert_eq!(start.status, 303, "{}", start.body);
    assert!(
        start
            .location
            .starts_with(&format!("{}/authorize?", fake.issuer))
    );
    let flow = start.cookie("us_oidc").expect("a flow cookie").to_owned();
    assert!(
        flow.contains("HttpOnly") && flow.contains("SameSite=Lax"),
        "{flow}"
    );
    // The provider's redirect back, followed by hand.
    let back = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&start.location)
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303);
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    // The redirect URL configured names another address than the test server's port 0;
    // the path is what matters.
    let path = &callback[callback
        .find("/login/oidc/callback?")
        .expect("the callback")..];
    let answer = browser
        .send(
            "GET",
            path,
            None,
            &[("cookie", format!("us_oidc={}", cookie_value(&flow)))],
        )
        .await;
    if let Some(session) = answer.cookie("us_session") {
        browser.set_session(cookie_value(session));
    }
    (browser, answer)
}

async fn sso_server(postgres: bool, fake: &Fake, roles: &str) -> Option<TestServer> {
    let provider = Arc::new(fake.provider(roles));
    TestServer::start_with_sso(postgres, GroupPolicy::default(), |_| provider).await
}

async fn a_session_acts_under_its_sso_subject(postgres: bool) {
    let fake = Fake::start(TestKey::new(Algorithm::RS256, "k1")).await;
    let Some(s) = sso_server(postgres, &fake, "release-managers=operator").await else {
        return;
    };
    let (browser, answer) = sign_in(&s, &fake).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains(r#"href="/""#));
    let session = answer.cookie("us_session").expect("a session");
    assert!(session.contains("SameSite=Strict") && session.contains("HttpOnly"));
    assert!(
        answer.cookies.iter().any(|c| c.starts_with("us_oidc=;")),
        "the flow cookie is cleared"
    );

    // What the provider saw: S256 PKCE, state and nonce, the scopes; the verifier at the
    // token endpoint (the fake refuses a wrong one), the secret by Basic.
    {
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen.authorize["response_type"], "code");
        assert_eq!(seen.authorize["code_challenge_method"], "S256");
        assert_eq!(seen.authorize["client_id"], CLIENT);
        assert_eq!(
            seen.authorize["redirect_uri"],
            "http://127.0.0.1:1/login/oidc/callback"
        );
        assert_eq!(seen.token["redirect_uri"], seen.authorize["redirect_uri"]);
        assert_eq!(seen.authorize["scope"], "openid profile groups");
        assert!(seen.authorize["state"].len() >= 43);
        assert!(seen.authorize["nonce"].len() >= 43);
        assert!(seen.token["code_verifier"].len() >= 43);
        assert_eq!(seen.token["grant_type"], "authorization_code");
        assert!(!seen.token.contains_key("client_secret"));
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT}:s3cret"));
        assert_eq!(seen.token_auth.as_deref(), Some(&*format!("Basic {basic}")));
    }

    // The session is alice's, an operator: she pauses the group, logged as sso:alice.
    let group = format!("/apps/{APP}/groups/stable");
    let page = browser.get(&group).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("alice"));
    let paused = browser
        .post(
            &format!("{group}/pause"),
            &[("csrf", &csrf_of(&page.body)), ("paused", "true")],
        )
        .await;
    assert_eq!(paused.status, 303, "{}", paused.body);
    let (_, activity) = s.api("GET", "/_ah/api/update/v1/activity", None).await;
    assert_eq!(activity["items"][0]["actor"], "sso:alice");
    assert_eq!(activity["items"][0]["detail"], "paused group stable");
    // An operator is not an administrator.
    let tokens = browser.get("/tokens").await;
    assert_eq!(tokens.status, 403);
    assert!(tokens.body.contains("SSO user alice"), "{}", tokens.body);
    s.stop().await;
}

#[tokio::test]
async fn a_session_acts_under_its_sso_subject_on_sqlite() {
    a_session_acts_under_its_sso_subject(false).await;
}

#[tokio::test]
async fn a_session_acts_under_its_sso_subject_on_postgres() {
    a_session_acts_under_its_sso_subject(true).await;
}

#[tokio::test]
async fn failed_sign_ins_get_clear_pages() {
    let fake = Fake::start(TestKey::new(Algorithm::ES256, "k1")).await;
    // No mapping matches: refused, with the claim's values named.
    let s = sso_server(false, &fake, "admins=admin").await.unwrap();
    let (browser, answer) = sign_in(&s, &fake).await;
    assert_eq!(answer.status, 403);
    assert!(
        answer.body.contains("no role on this server"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("release-managers"));
    assert!(answer.cookie("us_session").is_none());
    assert_eq!(browser.get("/").await.status, 303, "not logged in");

    // A callback without the flow cookie, or with another state, is refused.
    let stray = browser.get("/login/oidc/callback?code=x&state=y").await;
    assert_eq!(stray.status, 403);
    assert!(stray.body.contains("not started here"));
    let start = browser.get("/login/oidc").await;
    let flow = cookie_value(start.cookie("us_oidc").unwrap());
    let other = browser
        .send(
            "GET",
            "/login/oidc/callback?code=x&state=another",
            None,
            &[("cookie", format!("us_oidc={flow}"))],
        )
        .await;
    assert_eq!(other.status, 403);
    assert!(other.body.contains("state"));
    let error = browser
        .send(
            "GET",
            "/login/oidc/callback?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E",
            None,
            &[("cookie", format!("us_oidc={flow}"))],
        )
        .await;
    assert_eq!(error.status, 403);
    assert!(error.body.contains("access_denied") && error.body.contains("&lt;b&gt;no"));
    s.stop().await;

    // A provider that is down: an error page at once, not a hang.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut settings = fake.settings("admins=admin");
    settings.issuer = Some(down.clone());
    let provider = Arc::new(Provider::new(settings.validate().unwrap().unwrap()).unwrap());
    let s = TestServer::start_with_sso(false, GroupPolicy::default(), |_| provider)
        .await
        .unwrap();
    let browser = Browser::new(&s);
    let started = std::time::Instant::now();
    let answer = browser.get("/login/oidc").await;
    assert_eq!(answer.status, 502);
    assert!(answer.body.contains("could not be used"), "{}", answer.body);
    assert!(answer.body.contains(&down));
    assert!(started.elapsed() < update_server::sso::REQUEST_TIMEOUT);
    s.stop().await;
}

#[tokio::test]
async fn a_provider_that_hangs_or_answers_too_much_gives_an_error_in_bounded_time() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_issuer = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let fake = Fake::start(TestKey::new(Algorithm::ES256, "k")).await;
    let mut settings = fake.settings("staff=viewer");
    settings.issuer = Some(silent_issuer);
    let provider = Provider::with_timeout(
        settings.validate().unwrap().unwrap(),
        std::time::Duration::from_millis(500),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = provider.discovery(0).await.unwrap_err();
    assert!(matches!(err, SsoError::Provider(_)), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    held.abort();

    // A discovery document larger than the limit is refused, not read whole.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let huge = format!(
        r#"{{"issuer":"{issuer}","padding":"{}"}}"#,
        "x".repeat(update_server::sso::BODY_LIMIT)
    );
    let app = axum::Router::new().route(
        "/.well-known/openid-configuration",
        axum::routing::get(move || async move { huge }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut settings = fake.settings("staff=viewer");
    settings.issuer = Some(issuer);
    let provider = Provider::new(settings.validate().unwrap().unwrap()).unwrap();
    let err = provider.discovery(0).await.unwrap_err().to_string();
    assert!(err.contains("larger than"), "{err}");
}
