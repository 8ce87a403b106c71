//! Stateless sessions and CSRF tokens.
//!
//! The session cookie is `base64url(user) . expiry . nonce . base64url(HMAC-SHA256)`, the MAC keyed
//! with a key derived from the server secret and covering the user's sealed API key as
//! stored: any replica holding the secret checks it without a session row, and no migration
//! is needed. The user is read on every request, so deleting a user or giving it a new key
//! ends its sessions; logging out clears the cookie (a copy of the cookie taken before stays
//! valid until it expires, [`SESSION_SECS`] after login, or until the key changes).
//!
//! A session opened by single sign-on ([`crate::sso`]) has no user row to check: its cookie
//! is `sso.` then `base64url(JSON of the principal: name, role, apps) . expiry . nonce .
//! base64url(HMAC-SHA256)` under a label of its own, and it is honoured only while SSO is
//! configured. It lasts until it expires; a new server secret ends every session.
//!
//! A CSRF token is the MAC of the session cookie under a separate label: bound to the
//! session, so a token from another session (or none) is refused. The login form, which
//! has no session yet, binds its token to a random pre-session cookie instead.

use super::PanelState;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "us_session";
/// The pre-session cookie the login form's CSRF token is bound to.
pub const LOGIN_COOKIE: &str = "us_login";
/// The name of the CSRF field of every form.
pub const CSRF_FIELD: &str = "csrf";
/// How long a session lasts, in seconds.
pub const SESSION_SECS: i64 = 12 * 3600;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn mac(key: &[u8; 32], text: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(text.as_bytes());
    mac
}

fn sign(key: &[u8; 32], text: &str) -> String {
    B64.encode(mac(key, text).finalize().into_bytes())
}

/// Checks `signature` (base64url) of `text` in constant time.
fn verify(key: &[u8; 32], text: &str, signature: &str) -> bool {
    match B64.decode(signature) {
        Ok(bytes) => mac(key, text).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// The MAC of a session: its fields and the user's sealed key (`binding`), so that a new
/// key for the user ends the sessions opened with the old one.
fn session_mac(
    key: &[u8; 32],
    user: &str,
    expires: &str,
    nonce: &str,
    binding: &[u8],
) -> HmacSha256 {
    let mut mac = mac(key, &format!("session\n{user}\n{expires}\n{nonce}\n"));
    mac.update(binding);
    mac
}

/// A session cookie value for `user`, valid until `expires` (unix seconds) and while the
/// user's sealed key is `binding`. A random nonce makes every login a session of its own,
/// with CSRF tokens of its own.
pub fn issue(key: &[u8; 32], user: &str, expires: i64, binding: &[u8]) -> String {
    let user = B64.encode(user.as_bytes());
    let nonce = crate::auth::generate_key();
    let expires = expires.to_string();
    let signature = B64.encode(
        session_mac(key, &user, &expires, &nonce, binding)
            .finalize()
            .into_bytes(),
    );
    format!("{user}.{expires}.{nonce}.{signature}")
}

/// The user a session cookie value names, before any check (to look the user up).
pub fn claimed_user(value: &str) -> Option<String> {
    let user = value.split('.').next()?;
    String::from_utf8(B64.decode(user).ok()?).ok()
}

/// The user of a session cookie value, if its signature holds for the user's sealed key
/// `binding` and it has not expired at `now` (unix seconds).
pub fn open(key: &[u8; 32], value: &str, now: i64, binding: &[u8]) -> Option<String> {
    let mut parts = value.split('.');
    let (user, expires, nonce, signature) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let signature = B64.decode(signature).ok()?;
    session_mac(key, user, expires, nonce, binding)
        .verify_slice(&signature)
        .ok()?;
    let expires: i64 = expires.parse().ok()?;
    if expires <= now {
        return None;
    }
    String::from_utf8(B64.decode(user).ok()?).ok()
}

/// What starts the cookie value of an SSO session.
pub(crate) const SSO_PREFIX: &str = "sso.";

fn sso_mac(key: &[u8; 32], text: &str) -> HmacSha256 {
    mac(key, &format!("sso session\n{text}"))
}

/// A session cookie value for an SSO `principal`, valid until `expires` (unix seconds).
pub fn issue_sso(key: &[u8; 32], principal: &crate::access::Principal, expires: i64) -> String {
    let body = serde_json::json!({
        "n": principal.name,
        "r": principal.role.as_str(),
        "a": principal.apps,
    });
    let text = format!(
        "{SSO_PREFIX}{}.{expires}.{}",
        B64.encode(body.to_string()),
        crate::auth::generate_key()
    );
    let signature = B64.encode(sso_mac(key, &text).finalize().into_bytes());
    format!("{text}.{signature}")
}

/// The principal of an SSO session cookie value, if its signature holds and it has not
/// expired at `now`.
pub fn open_sso(key: &[u8; 32], value: &str, now: i64) -> Option<crate::access::Principal> {
    let (text, signature) = value.rsplit_once('.')?;
    let rest = text.strip_prefix(SSO_PREFIX)?;
    sso_mac(key, text)
        .verify_slice(&B64.decode(signature).ok()?)
        .ok()?;
    let mut parts = rest.split('.');
    let (body, expires, _nonce) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || expires.parse::<i64>().ok()? <= now {
        return None;
    }
    let body: serde_json::Value = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
    let apps = match body.get("a")? {
        serde_json::Value::Null => None,
        serde_json::Value::Array(apps) => Some(
            apps.iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    };
    Some(crate::access::Principal {
        kind: crate::access::PrincipalKind::Sso,
        name: body.get("n")?.as_str()?.to_owned(),
        role: crate::access::Role::parse(body.get("r")?.as_str()?).ok()?,
        apps,
    })
}

/// The CSRF token bound to a session (or pre-session) cookie value.
pub fn csrf_token(key: &[u8; 32], cookie: &str) -> String {
    sign(key, &format!("csrf\n{cookie}"))
}

/// Whether `offered` is the CSRF token of `cookie`.
pub fn csrf_ok(key: &[u8; 32], cookie: &str, offered: &str) -> bool {
    !offered.is_empty() && verify(key, &format!("csrf\n{cookie}"), offered)
}

/// A cookie of the request.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether cookies must be `Secure`: the server's base URL is https, or a proxy says the
/// request came over https.
pub(crate) fn secure(state: &PanelState, headers: &HeaderMap) -> bool {
    state.https
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` when asked.
pub(crate) fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The logged-in user of a request (an extractor, in [`super::guard`]). A GET without a
/// valid session is redirected to the login page; any other method is refused with 403.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The user.
    pub user: String,
    /// The user as a principal: its role and scope.
    pub principal: crate::access::Principal,
    /// The cookie value (what CSRF tokens are bound to).
    pub cookie: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_session_opens_until_it_expires_and_not_when_changed() {
        let sealed = b"sealed key";
        let value = issue(&KEY, "admin", 1_000, sealed);
        assert_eq!(claimed_user(&value).as_deref(), Some("admin"));
        assert_eq!(open(&KEY, &value, 999, sealed).as_deref(), Some("admin"));
        assert_eq!(open(&KEY, &value, 1_000, sealed), None, "expired");
        assert_eq!(open(&[8; 32], &value, 0, sealed), None, "another key");
        assert_eq!(
            open(&KEY, &value, 0, b"new key"),
            None,
            "the user's key changed"
        );
        assert_eq!(open(&KEY, &value, 0, b""), None, "no user");
        let (user, rest) = value.split_once('.').unwrap();
        let forged_user = format!("{}.{rest}", B64.encode("root"));
        assert_ne!(user, B64.encode("root"));
        assert_eq!(open(&KEY, &forged_user, 0, sealed), None, "another user");
        let longer = value.replacen(".1000.", ".9999.", 1);
        assert_eq!(open(&KEY, &longer, 0, sealed), None, "a later expiry");
        assert_ne!(
            value,
            issue(&KEY, "admin", 1_000, sealed),
            "every session differs"
        );
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c",
            "a.b.c.d.e",
            "!!.1.n.x",
            &format!("{value}."),
        ] {
            assert_eq!(open(&KEY, bad, 0, sealed), None, "{bad:?}");
        }
    }

    #[test]
    fn sso_sessions_carry_their_principal_until_they_expire() {
        use crate::access::{Principal, PrincipalKind, Role};
        let principal = Principal {
            kind: PrincipalKind::Sso,
            name: "alice@example.com".into(),
            role: Role::Operator,
            apps: Some(["app-a".to_owned()].into_iter().collect()),
        };
        let value = issue_sso(&KEY, &principal, 1_000);
        assert!(value.starts_with(SSO_PREFIX));
        assert_eq!(open_sso(&KEY, &value, 999), Some(principal.clone()));
        assert_eq!(open_sso(&KEY, &value, 1_000), None, "expired");
        assert_eq!(open_sso(&[8; 32], &value, 0), None, "another key");
        let admin = Principal {
            role: Role::Admin,
            apps: None,
            ..principal.clone()
        };
        let (_, rest) = value.split_once('.').unwrap();
        let (_, rest) = rest.split_once('.').unwrap();
        let body = B64.encode(
            serde_json::json!({"n": "alice@example.com", "r": "admin", "a": null}).to_string(),
        );
        let forged = format!("{SSO_PREFIX}{body}.{rest}");
        assert_eq!(open_sso(&KEY, &forged, 0), None, "a forged role");
        let unscoped = issue_sso(&KEY, &admin, 1_000);
        assert_eq!(open_sso(&KEY, &unscoped, 0), Some(admin));
        assert_eq!(open(&KEY, &value, 0, b""), None, "not a user session");
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let a = issue(&KEY, "admin", 1_000, b"k");
        let b = issue(&KEY, "admin", 1_000, b"k");
        let token = csrf_token(&KEY, &a);
        assert!(csrf_ok(&KEY, &a, &token));
        assert!(!csrf_ok(&KEY, &b, &token));
        assert!(!csrf_ok(&KEY, &a, ""));
        assert!(!csrf_ok(&KEY, &a, "not base64!"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=1; us_session=x.y.z.w".parse().unwrap());
        headers.append(header::COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("x.y.z.w"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), None);
        assert_eq!(
            set_cookie("n", "v", 5, true),
            "n=v; Path=/; Max-Age=5; HttpOnly; SameSite=Strict; Secure"
        );
    }
}
