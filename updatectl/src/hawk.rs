//! The client side of Hawk as CoreUpdate uses it (updateservicectl.md §4.1): a MAC over
//! the request line, no payload hash, no `ext`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Url;
use sha2::Sha256;

/// The normalized string that is signed.
#[must_use]
pub fn normalized(ts: u64, nonce: &str, method: &str, url: &Url) -> String {
    let mut resource = url.path().to_owned();
    if let Some(query) = url.query() {
        resource.push('?');
        resource.push_str(query);
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(80);
    format!("hawk.1.header\n{ts}\n{nonce}\n{method}\n{resource}\n{host}\n{port}\n\n\n")
}

/// The `Authorization` header value for a request, with the given timestamp and nonce.
#[must_use]
pub fn header_with(user: &str, key: &str, ts: u64, nonce: &str, method: &str, url: &Url) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(normalized(ts, nonce, method, url).as_bytes());
    let mac = STANDARD.encode(mac.finalize().into_bytes());
    format!(r#"Hawk id="{user}", mac="{mac}", ts="{ts}", nonce="{nonce}""#)
}

/// The `Authorization` header value for a request made now, with a fresh nonce (the
/// first 8 characters of the base64 of 8 random bytes).
#[must_use]
pub fn header(user: &str, key: &str, method: &str, url: &Url) -> String {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random: [u8; 8] = std::array::from_fn(|_| fastrand::u8(..));
    let nonce: String = STANDARD.encode(random).chars().take(8).collect();
    header_with(user, key, ts, &nonce, method, url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_string_has_path_query_host_and_default_port() {
        let url = Url::parse("http://example.com/_ah/api/update/v1/apps?alt=json").unwrap();
        assert_eq!(
            normalized(1_700_000_000, "abcdefgh", "GET", &url),
            "hawk.1.header\n1700000000\nabcdefgh\nGET\n/_ah/api/update/v1/apps?alt=json\nexample.com\n80\n\n\n"
        );
        let url = Url::parse("https://example.com:8443/x").unwrap();
        assert!(normalized(1, "n", "POST", &url).ends_with("/x\nexample.com\n8443\n\n\n"));
    }

    #[test]
    fn header_carries_the_four_attributes() {
        let url = Url::parse("http://127.0.0.1:8000/a").unwrap();
        let h = header_with("admin", "k", 5, "nnnnnnnn", "GET", &url);
        assert!(h.starts_with(r#"Hawk id="admin", mac=""#), "{h}");
        assert!(h.ends_with(r#"", ts="5", nonce="nnnnnnnn""#), "{h}");
    }
}
