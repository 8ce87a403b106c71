//! Limits applied while decoding untrusted documents.

/// Bounds on what [`Request::decode_with_limits`](crate::Request::decode_with_limits) and
/// [`Response::decode_with_limits`](crate::Response::decode_with_limits) accept, and their
/// JSON counterparts ([`Request::decode_json_with_limits`](crate::Request::decode_json_with_limits),
/// [`Response::decode_json_with_limits`](crate::Response::decode_json_with_limits)). Exceeding
/// any of them is a distinct [`DecodeError`](crate::DecodeError) variant.
///
/// Re-encoding a decoded document can make it longer than its input (this crate writes
/// explicit end tags and escapes control characters as character references), so a
/// document near `max_document_bytes` may encode to more than that; the other limits are
/// preserved by `decode(encode(x))`.
///
/// The defaults are generous for every real client (update_engine sends one app with at most
/// one event in about 1 KB) and keep the work and memory of one decode bounded:
///
/// | limit | default | why |
/// |---|---|---|
/// | `max_document_bytes` | 1 MiB | go-omaha's server and client cap bodies at 1 MiB; Nebraska at 64 KiB |
/// | `max_depth` | 32 | the deepest known element (`response/app/updatecheck/manifest/packages/package/metadata`) is at depth 7 |
/// | `max_apps` | 64 | CoreOS clients send one app; Google's multi-app clients a handful |
/// | `max_events_per_app` | 64 | update_engine sends at most one event per request |
/// | `max_attribute_bytes` | 8 KiB | the longest real value, `MetadataSignatureRsa`, is about 350 bytes |
/// | `max_items` | 64 | a real answer has one URL or a few, one manifest per floor, a payload and a few extra packages |
///
/// In JSON, nesting counts objects and arrays (the top-level object is at depth 1; the
/// deepest known value, a 4.0 download URL, is at depth 11), an attribute is a member with a
/// scalar value, and `max_items` bounds every list other than apps and events: a JSON
/// member as short as `{}` would otherwise become a whole package in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes.
    pub max_document_bytes: usize,
    /// Deepest accepted element nesting; the root element is at depth 1.
    pub max_depth: usize,
    /// Most `<app>` elements in one document.
    pub max_apps: usize,
    /// Most `<event>` elements in one `<app>`.
    pub max_events_per_app: usize,
    /// Longest accepted attribute value (and element text), in bytes after unescaping
    /// (so the limit does not depend on how the producer escaped the value).
    pub max_attribute_bytes: usize,
    /// Most items of any other repeated kind in one parent: URLs, manifests, packages,
    /// actions, data, disabled reasons, installed packages, and in JSON 4.0 pipelines,
    /// operations and download URLs.
    pub max_items: usize,
}

impl Limits {
    /// The default limits (see the table above).
    pub const DEFAULT: Self = Self {
        max_document_bytes: 1024 * 1024,
        max_depth: 32,
        max_apps: 64,
        max_events_per_app: 64,
        max_attribute_bytes: 8 * 1024,
        max_items: 64,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
