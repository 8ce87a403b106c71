//! Application id comparison.
//!
//! Clients send app ids braced or bare and in any case (`{E96281A6-...}`,
//! `e96281a6-...`). A server echoes the request's string byte for byte in its response
//! (the go-omaha client looks its app up by exact string) and matches it internally with
//! these functions.

/// The id without one pair of surrounding braces and surrounding spaces, lower-cased:
/// the key to look an app up by.
///
/// ```
/// use omaha_proto::appid::canonical_app_id;
/// assert_eq!(canonical_app_id(" {E96281A6-D1AF-4BDE-9A0A-97B76E56DC57} "),
///            "e96281a6-d1af-4bde-9a0a-97b76e56dc57");
/// ```
#[must_use]
pub fn canonical_app_id(appid: &str) -> String {
    let trimmed = appid.trim();
    let bare = trimmed
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(trimmed);
    bare.to_ascii_lowercase()
}

/// Whether two app ids name the same app (braces, surrounding spaces and ASCII case
/// ignored), without allocating.
///
/// ```
/// use omaha_proto::appid::same_app_id;
/// assert!(same_app_id("{e96281a6-d1af-4bde-9a0a-97b76e56dc57}", "E96281A6-D1AF-4BDE-9A0A-97B76E56DC57"));
/// assert!(!same_app_id("{abc}", "abd"));
/// ```
#[must_use]
pub fn same_app_id(a: &str, b: &str) -> bool {
    fn bare(s: &str) -> &str {
        let t = s.trim();
        t.strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(t)
    }
    bare(a).eq_ignore_ascii_case(bare(b))
}
