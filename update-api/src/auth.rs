//! The credentials the admin API takes, in its `Authorization` header: Hawk (as
//! `updateservicectl` signs, see [`crate::hawk`]), HTTP Basic with `user:key`, and API
//! tokens (`ust_<id>_<secret>`) as a Bearer token or a Basic password (`name:token`).

use crate::hawk::{self, HawkHeader};
use base64::Engine as _;

/// How every API token starts, so that a token offered as a Basic password is told from a
/// user's key (32 hex digits) at a glance.
pub const TOKEN_PREFIX: &str = "ust_";

/// Credentials offered with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Hawk.
    Hawk(HawkHeader),
    /// HTTP Basic.
    Basic {
        /// The user.
        user: String,
        /// The key.
        key: String,
    },
    /// `Bearer <API token>`.
    Bearer(String),
}

/// An `Authorization` header that is not Hawk, Basic or Bearer, or a malformed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed Authorization header: {0}")]
pub struct MalformedAuthorization(pub &'static str);

/// Reads an `Authorization` header value (the scheme's name in any case).
///
/// # Errors
/// [`MalformedAuthorization`], saying what is wrong.
pub fn parse_authorization(value: &str) -> Result<Credentials, MalformedAuthorization> {
    let value = value.trim();
    if let Some(rest) = strip_scheme(value, "Hawk") {
        return hawk::parse_header(rest)
            .map(Credentials::Hawk)
            .map_err(|e| MalformedAuthorization(e.0));
    }
    if let Some(rest) = strip_scheme(value, "Basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| MalformedAuthorization("Basic credentials are not base64"))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| MalformedAuthorization("Basic credentials are not UTF-8"))?;
        let (user, key) = text
            .split_once(':')
            .ok_or(MalformedAuthorization("Basic credentials need user:key"))?;
        return Ok(Credentials::Basic {
            user: user.to_owned(),
            key: key.to_owned(),
        });
    }
    if let Some(rest) = strip_scheme(value, "Bearer") {
        let token = rest.trim();
        if token.is_empty() {
            return Err(MalformedAuthorization("Bearer needs a token"));
        }
        return Ok(Credentials::Bearer(token.to_owned()));
    }
    Err(MalformedAuthorization("expected Hawk, Basic or Bearer"))
}

/// The `Authorization` value of HTTP Basic credentials.
#[must_use]
pub fn basic(user: &str, key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"))
    )
}

fn strip_scheme<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let head = value.get(..scheme.len())?;
    let rest = &value[scheme.len()..];
    (head.eq_ignore_ascii_case(scheme) && rest.starts_with(' ')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_headers_are_errors() {
        for bad in [
            "",
            "Bearer ",
            "Bearer",
            "Hawk id=\"a\"",
            "Hawk id=\"a\", ts=\"soon\", nonce=\"n\", mac=\"m\"",
            "Hawk id=\"a\", ts=\"1\", nonce=\"n\", mac=\"m",
            "Basic !!!",
            "Basic YWRtaW4=",
            "Digest x",
        ] {
            assert!(parse_authorization(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_authorization("Hawk id=\"a\"")
                .unwrap_err()
                .to_string(),
            "malformed Authorization header: Hawk ts is missing"
        );
        let basic_credentials = parse_authorization("Basic YWRtaW46c2VjcmV0").unwrap();
        assert_eq!(
            basic_credentials,
            Credentials::Basic {
                user: "admin".into(),
                key: "secret".into()
            }
        );
        assert_eq!(
            parse_authorization(&basic("admin", "secret")).unwrap(),
            basic_credentials
        );
    }

    #[test]
    fn schemes_are_read_in_any_case() {
        assert_eq!(
            parse_authorization("bearer ust_x").unwrap(),
            Credentials::Bearer("ust_x".into())
        );
        assert!(matches!(
            parse_authorization(r#"HAWK id="a", ts="1", nonce="n", mac="m""#),
            Ok(Credentials::Hawk(HawkHeader { ts: 1, .. }))
        ));
        assert!(parse_authorization("Bearerx").is_err());
    }
}
