//! Hawk as CoreUpdate's `updateservicectl` uses it (updateservicectl.md §4.1), both sides of
//! it: the header's attributes ([`HawkHeader`]), what the MAC covers ([`HawkRequest`]), the
//! normalized string, the MAC (HMAC-SHA256, base64), the payload hash and the header a
//! client sends ([`sign`]).
//!
//! The server's policy (the clock skew, each nonce once, which keys exist) is the server's;
//! what is signed, and how, is here, so that the client and the server cannot disagree.
//!
//! ```
//! use update_api::hawk::{HawkHeader, HawkRequest, mac_matches, sign};
//! use update_api::auth::{Credentials, parse_authorization};
//!
//! let url = reqwest::Url::parse("http://localhost:8000/_ah/api/update/v1/apps").unwrap();
//! let value = sign("admin", "d3b07384d113edec49eaa6238ad5ff00", "GET", &url, 1_700_000_000, "n0nce123");
//! let Ok(Credentials::Hawk(header)) = parse_authorization(&value) else { panic!() };
//! let request = HawkRequest {
//!     method: "GET",
//!     resource: "/_ah/api/update/v1/apps",
//!     host: "localhost",
//!     port: 8000,
//! };
//! assert!(mac_matches("d3b07384d113edec49eaa6238ad5ff00", &header, &request));
//! assert!(!mac_matches("another key", &header, &request));
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use reqwest::Url;
use sha2::{Digest as _, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The attributes of a Hawk `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HawkHeader {
    /// The user.
    pub id: String,
    /// Unix seconds.
    pub ts: i64,
    /// The nonce.
    pub nonce: String,
    /// The MAC, base64.
    pub mac: String,
    /// The payload hash, if sent.
    pub hash: String,
    /// Application data, if sent.
    pub ext: String,
}

impl HawkHeader {
    /// The `Authorization` header value: `Hawk id="..", mac="..", ts="..", nonce=".."`,
    /// then `hash` and `ext` when not empty.
    #[must_use]
    pub fn to_header_value(&self) -> String {
        let mut value = format!(
            r#"Hawk id="{}", mac="{}", ts="{}", nonce="{}""#,
            self.id, self.mac, self.ts, self.nonce
        );
        for (name, attribute) in [("hash", &self.hash), ("ext", &self.ext)] {
            if !attribute.is_empty() {
                value.push_str(&format!(r#", {name}="{attribute}""#));
            }
        }
        value
    }
}

/// Why the attributes of a Hawk header cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MalformedHawk(pub &'static str);

/// Reads the attributes of a Hawk header (what follows `Hawk `). `ts`, `mac` and `nonce`
/// are required; attributes this service does not use (`app`, `dlg`) are skipped.
///
/// # Errors
/// [`MalformedHawk`], saying what is wrong, for an unquoted or unterminated value, a `ts`
/// that is not a number, or a missing required attribute.
pub fn parse_header(attributes: &str) -> Result<HawkHeader, MalformedHawk> {
    let mut header = HawkHeader::default();
    let mut ts = None;
    let mut rest = attributes.trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or(MalformedHawk("Hawk attribute without a value"))?;
        let after = after
            .strip_prefix('"')
            .ok_or(MalformedHawk("Hawk attribute values are quoted"))?;
        let end = after
            .find('"')
            .ok_or(MalformedHawk("unterminated Hawk attribute"))?;
        let value = &after[..end];
        match name.trim() {
            "id" => header.id = value.to_owned(),
            "ts" => {
                ts = Some(
                    value
                        .parse()
                        .map_err(|_| MalformedHawk("Hawk ts is not a number"))?,
                );
            }
            "nonce" => header.nonce = value.to_owned(),
            "mac" => header.mac = value.to_owned(),
            "hash" => header.hash = value.to_owned(),
            "ext" => header.ext = value.to_owned(),
            // Attributes this service does not use (app, dlg) are not part of the MAC here.
            _ => {}
        }
        rest = after[end + 1..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    header.ts = ts.ok_or(MalformedHawk("Hawk ts is missing"))?;
    if header.mac.is_empty() || header.nonce.is_empty() {
        return Err(MalformedHawk("Hawk mac and nonce are required"));
    }
    Ok(header)
}

/// What a Hawk MAC covers besides the header's own attributes.
#[derive(Debug, Clone, Copy)]
pub struct HawkRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path with its query string, as requested.
    pub resource: &'a str,
    /// The host the client addressed, without the port.
    pub host: &'a str,
    /// The port the client addressed.
    pub port: u16,
}

fn mac_of(key: &[u8], text: &str) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(text.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The normalized string of a Hawk header request (`hawk.1.header`).
#[must_use]
pub fn normalized(header: &HawkHeader, request: &HawkRequest<'_>) -> String {
    format!(
        "hawk.1.header\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        header.ts,
        header.nonce,
        request.method.to_ascii_uppercase(),
        request.resource,
        request.host.to_ascii_lowercase(),
        request.port,
        header.hash,
        header.ext
    )
}

/// The MAC of a request under `key` (base64), over the [`normalized`] string.
#[must_use]
pub fn mac(key: &str, header: &HawkHeader, request: &HawkRequest<'_>) -> String {
    STANDARD.encode(mac_of(key.as_bytes(), &normalized(header, request)))
}

/// Whether the header's MAC is the request's under `key`, compared in constant time. A MAC
/// that is not base64 does not match.
#[must_use]
pub fn mac_matches(key: &str, header: &HawkHeader, request: &HawkRequest<'_>) -> bool {
    let Ok(expected) = STANDARD.decode(&header.mac) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(normalized(header, request).as_bytes());
    mac.verify_slice(&expected).is_ok()
}

/// The MAC of a server's time (`tsm` of a stale-timestamp challenge, base64): over
/// `hawk.1.ts\n<now>\n`.
#[must_use]
pub fn timestamp_mac(key: &str, now: i64) -> String {
    STANDARD.encode(mac_of(key.as_bytes(), &format!("hawk.1.ts\n{now}\n")))
}

/// The resource of a request (`path?query`) with its path percent-decoded, as Go's
/// `url.URL.Path` holds it; `None` when decoding changes nothing or the decoded path is
/// not UTF-8. The query stays as sent: Go signs its raw form.
#[must_use]
pub fn decoded_resource(resource: &str) -> Option<String> {
    let (path, query) = match resource.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (resource, None),
    };
    if !path.contains('%') {
        return None;
    }
    let mut decoded = String::from_utf8(crate::percent::decode(path)).ok()?;
    if decoded == path {
        return None;
    }
    if let Some(query) = query {
        decoded.push('?');
        decoded.push_str(query);
    }
    Some(decoded)
}

/// Hawk's payload hash, computed as the body streams by: base64 SHA-256 of
/// `hawk.1.payload\n<content type>\n<body>\n`, where the content type is the media type
/// without parameters, in lower case.
#[derive(Debug, Clone)]
pub struct PayloadHash(Sha256);

impl PayloadHash {
    /// Starts the hash of a body of `content_type` (the `Content-Type` header's value).
    #[must_use]
    pub fn new(content_type: &str) -> Self {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let mut hash = Sha256::new();
        hash.update(format!("hawk.1.payload\n{media}\n").as_bytes());
        Self(hash)
    }

    /// Adds the next bytes of the body.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hash (base64), once the whole body went through.
    #[must_use]
    pub fn finish(mut self) -> String {
        self.0.update(b"\n");
        STANDARD.encode(self.0.finalize())
    }

    /// The hash of a whole body.
    #[must_use]
    pub fn of(content_type: &str, body: &[u8]) -> String {
        let mut hash = Self::new(content_type);
        hash.update(body);
        hash.finish()
    }
}

/// The resource of a URL as Hawk signs it: its path, and `?query` when it has one.
#[must_use]
pub fn resource_of(url: &Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// The `Authorization` header value of a request to `url` by `user` with `key`, at `ts`
/// (unix seconds) with `nonce`, as `updateservicectl` sends it: no payload hash, no `ext`.
/// The port is the URL's, or its scheme's default.
#[must_use]
pub fn sign(user: &str, key: &str, method: &str, url: &Url, ts: i64, nonce: &str) -> String {
    let resource = resource_of(url);
    let request = HawkRequest {
        method,
        resource: &resource,
        host: url.host_str().unwrap_or_default(),
        port: url.port_or_known_default().unwrap_or(80),
    };
    let mut header = HawkHeader {
        id: user.to_owned(),
        ts,
        nonce: nonce.to_owned(),
        ..HawkHeader::default()
    };
    header.mac = mac(key, &header, &request);
    header.to_header_value()
}

/// As [`sign`], now (the system clock) and with a fresh nonce: the first 8 characters of
/// the base64 of 8 random bytes.
#[must_use]
pub fn sign_now(user: &str, key: &str, method: &str, url: &Url) -> String {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let random: [u8; 8] = std::array::from_fn(|_| fastrand::u8(..));
    let nonce: String = STANDARD.encode(random).chars().take(8).collect();
    sign(user, key, method, url, ts, &nonce)
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
    fn the_normalized_string_is_hawks() {
        let header = HawkHeader {
            id: "admin".into(),
            ts: 1_700_000_000,
            nonce: "Ab3dEf9h".into(),
            ..HawkHeader::default()
        };
        assert_eq!(
            normalized(&header, &request()),
            "hawk.1.header\n1700000000\nAb3dEf9h\nGET\n/_ah/api/update/v1/apps?alt=json\nlocalhost\n8000\n\n\n"
        );
    }

    #[test]
    fn a_signed_url_has_its_path_query_host_and_default_port() {
        let url = Url::parse("http://Example.com/_ah/api/update/v1/apps?alt=json").unwrap();
        let value = sign("admin", "k", "get", &url, 1_700_000_000, "abcdefgh");
        let header = parse_header(value.strip_prefix("Hawk ").unwrap()).unwrap();
        let request = HawkRequest {
            method: "GET",
            resource: "/_ah/api/update/v1/apps?alt=json",
            host: "example.com",
            port: 80,
        };
        assert_eq!(header.mac, mac("k", &header, &request));
        assert!(mac_matches("k", &header, &request));
        assert!(!mac_matches(
            "k",
            &header,
            &HawkRequest {
                port: 8080,
                ..request
            }
        ));
        let url = Url::parse("https://example.com:8443/x").unwrap();
        assert_eq!(resource_of(&url), "/x");
        let header = parse_header(&sign("a", "k", "POST", &url, 1, "n")[5..]).unwrap();
        let request = HawkRequest {
            method: "POST",
            resource: "/x",
            host: "example.com",
            port: 8443,
        };
        assert!(mac_matches("k", &header, &request));
    }

    #[test]
    fn the_header_carries_the_four_attributes() {
        let url = Url::parse("http://127.0.0.1:8000/a").unwrap();
        let h = sign("admin", "k", "GET", &url, 5, "nnnnnnnn");
        assert!(h.starts_with(r#"Hawk id="admin", mac=""#), "{h}");
        assert!(h.ends_with(r#"", ts="5", nonce="nnnnnnnn""#), "{h}");
        let now = sign_now("admin", "k", "GET", &url);
        let header = parse_header(&now[5..]).unwrap();
        assert_eq!(header.nonce.len(), 8);
        assert!(header.ts > 1_700_000_000);
    }

    #[test]
    fn hash_and_ext_are_written_only_when_present() {
        let mut header = HawkHeader {
            id: "u".into(),
            ts: 1,
            nonce: "n".into(),
            mac: "m".into(),
            ..HawkHeader::default()
        };
        assert_eq!(
            header.to_header_value(),
            r#"Hawk id="u", mac="m", ts="1", nonce="n""#
        );
        header.hash = "h".into();
        header.ext = "e".into();
        let value = header.to_header_value();
        assert!(value.ends_with(r#", hash="h", ext="e""#), "{value}");
        assert_eq!(parse_header(&value[5..]).unwrap(), header);
    }

    #[test]
    fn malformed_attributes_say_what_is_wrong() {
        for (bad, why) in [
            (r#"id="a""#, "Hawk ts is missing"),
            (
                r#"id="a", ts="soon", nonce="n", mac="m""#,
                "Hawk ts is not a number",
            ),
            (
                r#"id="a", ts="1", nonce="n", mac="m"#,
                "unterminated Hawk attribute",
            ),
            (r#"id=a"#, "Hawk attribute values are quoted"),
            (r#"id"#, "Hawk attribute without a value"),
            (r#"id="a", ts="1""#, "Hawk mac and nonce are required"),
        ] {
            assert_eq!(parse_header(bad), Err(MalformedHawk(why)), "{bad}");
        }
    }

    #[test]
    fn a_mac_that_is_not_base64_matches_nothing() {
        let header = HawkHeader {
            mac: "not base64!".into(),
            ..HawkHeader::default()
        };
        assert!(!mac_matches("k", &header, &request()));
    }

    #[test]
    fn the_payload_hash_is_hawks() {
        // The example of Hawk's specification (a body "Thank you for flying Hawk").
        assert_eq!(
            PayloadHash::of("text/plain", b"Thank you for flying Hawk"),
            "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="
        );
        assert_eq!(
            PayloadHash::of("Text/Plain; charset=utf-8", b"Thank you for flying Hawk"),
            PayloadHash::of("text/plain", b"Thank you for flying Hawk"),
        );
        let mut streamed = PayloadHash::new("text/plain");
        streamed.update(b"Thank you ");
        streamed.update(b"for flying Hawk");
        assert_eq!(
            streamed.finish(),
            "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="
        );
    }

    #[test]
    fn paths_decode_as_go_signs_them() {
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
        }
        assert_eq!(decoded_resource("/apps?q=%40"), None);
        assert_eq!(decoded_resource("/apps/%zz"), None);
        assert_eq!(decoded_resource("/apps/%ff"), None);
    }

    #[test]
    fn the_timestamp_mac_covers_the_time() {
        assert_ne!(timestamp_mac("k", 1), timestamp_mac("k", 2));
        assert_ne!(timestamp_mac("k", 1), timestamp_mac("j", 1));
        assert_eq!(timestamp_mac("k", 1).len(), 44, "base64 of 32 bytes");
    }
}
