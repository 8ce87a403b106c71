//! Authentication of the admin API: Hawk, exactly as `updateservicectl` signs its requests
//! (HMAC-SHA256 over the normalized string, ±60 s clock skew, each nonce once), HTTP
//! Basic with `user:key` for curl, and API tokens (`ust_<id>_<secret>`) as a Bearer token
//! or a Basic password (`name:token`). Who may do what is decided in [`crate::access`].
//!
//! API keys are never stored in clear: Hawk needs the key itself to check a MAC, so a key is
//! sealed (ChaCha20-Poly1305) under the server secret, which lives in the data directory
//! (`secret.key`) or is given by `--secret` (all replicas of one database need the same).
//! Tokens are sealed the same way. Keys and tokens never appear in logs.
//!
//! What is signed, and how (the header, the normalized string, the MAC, the payload hash),
//! is [`update_api::hawk`], which clients sign with; this module keeps the server's side:
//! keys and their sealing, the clock skew, and which of the paths a client may have signed
//! is accepted.

pub use update_api::auth::{Credentials, TOKEN_PREFIX};
pub use update_api::hawk::{
    HawkHeader, HawkRequest, PayloadHash, decoded_resource, mac as hawk_mac, normalized,
};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;
use update_api::hawk;

/// How far a Hawk timestamp may be from the server's clock, in seconds.
pub const CLOCK_SKEW_SECS: i64 = 60;

type HmacSha256 = Hmac<Sha256>;

/// Why authentication or key handling failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("authentication required")]
    Missing,
    /// A header that is neither Hawk nor Basic, or a malformed one.
    #[error("malformed Authorization header: {0}")]
    Malformed(&'static str),
    /// Wrong user or key. Deliberately says nothing about which.
    #[error("invalid credentials")]
    Invalid,
    /// The Hawk timestamp is outside the allowed skew; the server's time is attached so the
    /// client can adjust.
    #[error("stale timestamp")]
    Stale {
        /// The server's time, unix seconds.
        now: i64,
        /// The signed `WWW-Authenticate` value.
        challenge: String,
    },
    /// An API token past its expiry (said only once its secret was checked).
    #[error("this token has expired")]
    Expired,
    /// The nonce was used already within the window.
    #[error("replayed request")]
    Replayed,
    /// The server secret file is unreadable or malformed.
    #[error("server secret {path}: {reason}")]
    Secret {
        /// Where.
        path: String,
        /// What.
        reason: String,
    },
    /// A sealed key could not be opened (a different server secret?).
    #[error("a stored key cannot be opened with this server secret")]
    Unseal,
}

/// The server secret that seals API keys.
#[derive(Clone)]
pub struct Secret([u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    /// A secret from its text form: 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, AuthError> {
        let text = text.trim();
        let bad = |reason: &str| AuthError::Secret {
            path: "--secret".into(),
            reason: reason.into(),
        };
        // Checked byte by byte before anything is sliced or parsed: a multi-byte character
        // must not split a slice (a panic that would print the secret), and `u8::from_str_radix`
        // would take a `+` sign.
        let digits = text.as_bytes();
        if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
            return Err(bad("expected 64 hex digits"));
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        Ok(Self(bytes))
    }

    /// Reads the secret from `path`, creating it (mode 0600) with a random one when missing.
    pub fn load_or_create(path: &Path) -> Result<Self, AuthError> {
        let err = |reason: String| AuthError::Secret {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&text).map_err(|_| err("expected 64 hex digits".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| err(e.to_string()))?;
                let secret = Self(bytes);
                write_private(path, &secret.to_hex()).map_err(|e| err(e.to_string()))?;
                Ok(secret)
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// A 32-byte key for one purpose, derived from the secret (HMAC-SHA256 of `purpose`
    /// under it), so that one secret keys unrelated uses without one revealing another.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mac = mac_of(&self.0, purpose);
        let mut key = [0u8; 32];
        key.copy_from_slice(&mac);
        key
    }

    /// Seals an API key: a random nonce followed by the ciphertext.
    pub fn seal(&self, key: &str) -> Vec<u8> {
        let cipher = ChaCha20Poly1305::new_from_slice(&self.0).expect("a 32-byte key");
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the system's random number generator works");
        let ciphertext = cipher
            .encrypt(&Nonce::from(nonce), key.as_bytes())
            .expect("sealing a short key cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens a sealed API key.
    pub fn open(&self, sealed: &[u8]) -> Result<String, AuthError> {
        if sealed.len() < 12 {
            return Err(AuthError::Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| AuthError::Unseal)?;
        let cipher = ChaCha20Poly1305::new_from_slice(&self.0).expect("a 32-byte key");
        let plain = cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| AuthError::Unseal)?;
        String::from_utf8(plain).map_err(|_| AuthError::Unseal)
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// The value of one ASCII hex digit (0 for anything else; the caller checked).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new API key: 128 random bits as 32 hex digits (the form of CoreUpdate's keys).
pub fn generate_key() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random number generator works");
    hex(&bytes)
}

/// A new API token: `ust_<id>_<secret>`, the id (16 hex digits, how the token is found)
/// and the secret (32 hex digits, 128 random bits, sealed at rest like a user's key).
/// Returns `(id, secret, token)`.
pub fn generate_token() -> (String, String, String) {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).expect("the system's random number generator works");
    let id = hex(&id);
    let secret = generate_key();
    let token = format!("{TOKEN_PREFIX}{id}_{secret}");
    (id, secret, token)
}

/// The id and secret of an API token, if it has the form [`generate_token`] makes.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(TOKEN_PREFIX)?.split_once('_')?;
    let hex_of = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(id, 16) && hex_of(secret, 32)).then_some((id, secret))
}

fn mac_of(key: &[u8], text: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(text.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Checks a Hawk header against `key` at `now` (unix seconds): the MAC first (in constant
/// time), then the timestamp. The nonce is the caller's to check, after this succeeds.
pub fn verify_hawk(
    key: &str,
    header: &HawkHeader,
    request: &HawkRequest<'_>,
    now: i64,
) -> Result<(), AuthError> {
    // The Go client (`updateservicectl`) signs the path as it was before escaping
    // (`bob@example.com`, `my group`), other clients the path as sent: either is accepted.
    let decoded = decoded_resource(request.resource);
    let signed = hawk::mac_matches(key, header, request)
        || decoded.as_deref().is_some_and(|resource| {
            hawk::mac_matches(
                key,
                header,
                &HawkRequest {
                    resource,
                    ..*request
                },
            )
        });
    if !signed {
        return Err(AuthError::Invalid);
    }
    if (header.ts - now).abs() > CLOCK_SKEW_SECS {
        let tsm = hawk::timestamp_mac(key, now);
        return Err(AuthError::Stale {
            now,
            challenge: format!(r#"Hawk ts="{now}", tsm="{tsm}", error="Stale timestamp""#),
        });
    }
    Ok(())
}

/// Reads an `Authorization` header value ([`update_api::auth::parse_authorization`]).
///
/// # Errors
/// [`AuthError::Malformed`], saying what is wrong.
pub fn parse_authorization(value: &str) -> Result<Credentials, AuthError> {
    update_api::auth::parse_authorization(value).map_err(|e| AuthError::Malformed(e.0))
}

/// Compares a Basic key with the stored one in constant time.
pub fn verify_basic(stored: &str, offered: &str) -> Result<(), AuthError> {
    let mut mac = HmacSha256::new_from_slice(b"basic-compare").expect("any key size");
    mac.update(stored.as_bytes());
    let stored = mac.finalize().into_bytes();
    let mut mac = HmacSha256::new_from_slice(b"basic-compare").expect("any key size");
    mac.update(offered.as_bytes());
    mac.verify_slice(&stored).map_err(|_| AuthError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> HawkRequest<'static> {
        HawkRequest {
            method: "GET",
            resource: "/_ah/api/update/v1/apps?alt=json",
            host: "localhost",
            port: 8000,
        }
    }

    #[test]
    fn secrets_are_exactly_64_hex_digits_and_never_echoed() {
        let good = "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789";
        assert!(Secret::from_hex(good).is_ok());
        assert!(Secret::from_hex(&format!("  {good}\n")).is_ok());
        let sign = "+f".repeat(32);
        let multibyte = format!("{}é{}", "a".repeat(31), "b".repeat(31));
        for bad in [
            sign.as_str(),
            multibyte.as_str(),
            &good[..63],
            &format!("{good}0"),
            "",
        ] {
            let err = Secret::from_hex(bad).expect_err(bad).to_string();
            assert!(err.contains("expected 64 hex digits"), "{err}");
            if !bad.is_empty() {
                assert!(!err.contains(bad), "the error echoes the secret: {err}");
            }
        }
        let a = Secret::from_hex(good).expect("parses");
        let b = Secret::from_hex(&good.to_ascii_lowercase()).expect("parses");
        assert_eq!(a.0, b.0);
        assert_eq!(a.0[0], 0x01);
        assert_eq!(a.0[5], 0xab);
        assert_eq!(a.0[7], 0xef);
        assert_eq!(a.0[8], 0xab, "upper-case digits");
    }

    #[test]
    fn a_signed_header_verifies_and_a_changed_one_does_not() {
        let key = "d3b07384d113edec49eaa6238ad5ff00";
        let mut header = HawkHeader {
            id: "admin".into(),
            ts: 1_000,
            nonce: "n0nce123".into(),
            ..HawkHeader::default()
        };
        header.mac = hawk_mac(key, &header, &request());
        let line = format!(
            r#"Hawk id="{}", mac="{}", ts="{}", nonce="{}""#,
            header.id, header.mac, header.ts, header.nonce
        );
        let Credentials::Hawk(parsed) = parse_authorization(&line).unwrap() else {
            panic!("not Hawk");
        };
        assert_eq!(parsed, header);
        verify_hawk(key, &parsed, &request(), 1_030).unwrap();
        assert!(matches!(
            verify_hawk("another key", &parsed, &request(), 1_000),
            Err(AuthError::Invalid)
        ));
        let other = HawkRequest {
            method: "POST",
            ..request()
        };
        assert!(matches!(
            verify_hawk(key, &parsed, &other, 1_000),
            Err(AuthError::Invalid)
        ));
        match verify_hawk(key, &parsed, &request(), 1_061) {
            Err(AuthError::Stale { now, challenge }) => {
                assert_eq!(now, 1_061);
                assert!(
                    challenge.starts_with(r#"Hawk ts="1061", tsm=""#),
                    "{challenge}"
                );
            }
            other => panic!("expected stale, got {other:?}"),
        }
    }

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
        ] {
            assert!(parse_authorization(bad).is_err(), "{bad:?}");
        }
        let basic = parse_authorization("Basic YWRtaW46c2VjcmV0").unwrap();
        assert_eq!(
            basic,
            Credentials::Basic {
                user: "admin".into(),
                key: "secret".into()
            }
        );
    }

    #[test]
    fn keys_seal_and_open_only_with_their_secret() {
        let secret = Secret::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = secret.seal("my key");
        assert!(!sealed.windows(6).any(|w| w == b"my key"), "not in clear");
        assert_eq!(secret.open(&sealed).unwrap(), "my key");
        let other = Secret::from_hex(&"cd".repeat(32)).unwrap();
        assert!(matches!(other.open(&sealed), Err(AuthError::Unseal)));
        assert!(secret.open(b"short").is_err());
        assert!(Secret::from_hex("abc").is_err());
    }

    #[test]
    fn the_secret_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let first = Secret::load_or_create(&path).unwrap();
        let again = Secret::load_or_create(&path).unwrap();
        assert_eq!(first.0, again.0);
        std::fs::write(&path, "garbage").unwrap();
        assert!(Secret::load_or_create(&path).is_err());
    }

    #[test]
    fn tokens_have_an_id_and_a_secret() {
        let (id, secret, token) = generate_token();
        assert_eq!(split_token(&token), Some((id.as_str(), secret.as_str())));
        assert_ne!(generate_token().2, token);
        assert_eq!(
            parse_authorization(&format!("Bearer {token}")).unwrap(),
            Credentials::Bearer(token.clone())
        );
        for bad in [
            "",
            "ust_",
            "ust_abc_def",
            &token[1..],
            &format!("{token}0"),
            &token.replace("ust_", "xyz_"),
            "d3b07384d113edec49eaa6238ad5ff00",
        ] {
            assert_eq!(split_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn basic_keys_compare_exactly() {
        assert!(verify_basic("abc", "abc").is_ok());
        assert!(verify_basic("abc", "abd").is_err());
        assert!(verify_basic("abc", "ab").is_err());
    }

    #[test]
    fn generated_keys_are_32_hex_digits_and_differ() {
        let (a, b) = (generate_key(), generate_key());
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_mac_over_the_decoded_path_verifies_too() {
        let key = "d3b07384d113edec49eaa6238ad5ff00";
        for (escaped, decoded) in [
            (
                "/_ah/api/update/v1/admin/user/bob%40example.com",
                "/_ah/api/update/v1/admin/user/bob@example.com",
            ),
            (
                "/_ah/api/update/v1/apps/a/groups/my%20group?alt=json",
                "/_ah/api/update/v1/apps/a/groups/my group?alt=json",
            ),
            (
                "/_ah/api/update/v1/apps/a/packages/1.5.0%2Bbuild.7",
                "/_ah/api/update/v1/apps/a/packages/1.5.0+build.7",
            ),
        ] {
            assert_eq!(decoded_resource(escaped).as_deref(), Some(decoded));
            let sent = HawkRequest {
                resource: escaped,
                ..request()
            };
            for signed in [escaped, decoded] {
                let mut header = HawkHeader {
                    id: "admin".into(),
                    ts: 1_000,
                    nonce: "n0nce123".into(),
                    ..HawkHeader::default()
                };
                header.mac = hawk_mac(
                    key,
                    &header,
                    &HawkRequest {
                        resource: signed,
                        ..request()
                    },
                );
                verify_hawk(key, &header, &sent, 1_000).unwrap();
                let elsewhere = HawkRequest {
                    resource: "/_ah/api/update/v1/apps",
                    ..request()
                };
                assert!(matches!(
                    verify_hawk(key, &header, &elsewhere, 1_000),
                    Err(AuthError::Invalid)
                ));
            }
        }
        assert_eq!(decoded_resource("/apps?q=%40"), None);
        assert_eq!(decoded_resource("/apps/%zz"), None);
        assert_eq!(decoded_resource("/apps/%ff"), None);
    }
}
