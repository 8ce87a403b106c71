//! The Omaha JSON protocol: protocol 3.0 in JSON (the XML vocabulary as JSON, as Fuchsia's
//! omaha-client and early Chromium speak it), 3.1 and 4.0 (Chromium's updater, described in
//! Chromium's `docs/updater/protocol_3_1.md` and `protocol_4.md`), decoded into and encoded
//! from the same [`Request`] and [`Response`] as the XML
//! codec, so a server's logic does not depend on the wire format.
//!
//! ```
//! use omaha_proto::{Request, Response};
//! use omaha_proto::codes::Protocol;
//! use omaha_proto::response::{App, UpdateCheck};
//!
//! let body = br#"{"request": {"protocol": "3.1", "@updater": "chrome", "ismachine": true,
//!   "app": [{"appid": "{e96281a6-d1af-4bde-9a0a-97b76e56dc57}", "version": "3975.2.0",
//!            "track": "stable", "ping": {"rd": 6000}, "updatecheck": {}}]}}"#;
//! let request = Request::decode_json(body)?;
//! assert_eq!(request.is_machine, Some(1));
//! assert_eq!(request.updater.as_deref(), Some("chrome"));
//!
//! // Answer in the request's version.
//! let mut response = Response::new("omaha-rs").with_protocol(Protocol::V3_1);
//! response.apps.push(App::acknowledging(&request.apps[0]).with_update_check(UpdateCheck::no_update()));
//! let bytes = response.encode_json();
//! assert!(bytes.starts_with(b")]}'\n{\"response\":{\"protocol\":\"3.1\""));
//! assert_eq!(Response::decode_json(&bytes)?, response);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The mapping
//!
//! Each XML attribute is a member of its element's object under the same name; a child that
//! may repeat is an array member (`"app": [...]`, `"event": [...]`); the wrappers stay
//! objects (`"urls": {"url": [...]}`, `"packages": {"package": [...]}`,
//! `"actions": {"action": [...]}`); a child that occurs once is an object (`"os"`,
//! `"ping"`, `"updatecheck"`, `"daystart"`); element text is `"#text"`. A response is
//! written after the safe-JSON prefix `)]}'` and a newline; decoding accepts a document
//! with or without it (requests too).
//!
//! The encoder writes the shape of the document's `protocol` ([`JsonVersion::of`]; any
//! other value, or none, is written as 3.0): a server answers in the version the request
//! came in, by building its [`Response`] with
//! [`with_protocol`](crate::Response::with_protocol). The decoder reads every version's
//! shape whatever the document says, so a slightly mixed document still decodes. Where the
//! versions differ:
//!
//! | model | 3.0 | 3.1 | 4.0 |
//! |---|---|---|---|
//! | `Request::updater` | `updater` | `@updater` (`updater` is the list of sibling updaters, not modelled and skipped) | as 3.1 |
//! | `Event::downloaded`, `Event::total` | `downloaded`, `total` | `downloaded_bytes`, `expected_bytes` | as 3.1 |
//! | `App::fp`, `Event::next_fp`, `Event::previous_fp`, installed package `fp` | string | string | `{"fingerprint": ...}` |
//! | `UpdateCheckStatus::UnsupportedProtocol` | `error-unsupportedProtocol` | `error-unsupportedprotocol` | as 3.1 |
//! | update check `urls` and `manifest`s | `urls`, `manifest` | as 3.0 | `pipelines` (below) |
//!
//! Several manifests (Flatcar's floors) are an array member `manifest`, one is an object.
//!
//! ## 4.0 pipelines
//!
//! A 4.0 answer has `pipelines` instead of `urls` and `manifest`. Each manifest becomes one
//! pipeline: `nextversion` is its version, `nextfp` its first package's fingerprint, and
//! each package a `download` operation with `size`, `outhash_sha256` (lower-case hex) and
//! `urls`, one `{"url": codebase + name}` per codebase of the update check. 4.0 has no
//! member for the rest of the model, so the encoder carries it in private members, which
//! the protocol reserves for extensions (prefixed `_`; a 4.0 client ignores them): on the
//! pipeline `_is_floor`, `_floor_reason`, `_is_target` and `_actions` (the actions in the
//! 3.0 vocabulary, with update_engine's base64 `sha256`), on the operation `_name`,
//! `_hash` (the SHA-1), `_required`, `_fp` (all packages but the first), `_namediff`,
//! `_sizediff`, `_hashdiff`, `_hashdiff_sha256`, `_metadata`. Decoding reverses it: the
//! update check's codebases are the first download's URLs without the package name
//! (`_name`, else the URL's last path segment).
//!
//! Not expressible in 4.0, so lost in a 4.0 answer: `codebasediff`, and the codebases of an
//! update check none of whose manifests has a package. Operations other than `download`
//! (`decompress_lzma`, `zucc`, `puff`, `crx3`, `run`) are read and dropped.
//!
//! ## Not modelled
//!
//! Members of 3.1 and 4.0 without a place in the model are read and dropped: the request's
//! `@os`, `domainjoined`, `updater` list and `systemrequirements`, the app's `installedby`
//! and `cached_fingerprints`, the events' `diffresult`, `differrorcat`, `differrorcode`,
//! `diffextracode1`, `actiontype` and `appcommandid`, the 3.1 answer's `updatecheck.action`
//! list and `manifest.run` / `manifest.arguments`. So is every member the decoder does not
//! know, as the protocols require.
//!
//! ## Types
//!
//! Implementations disagree on JSON types (`ismachine` is `true` in Fuchsia's client and
//! `-1/0/1` in the 3.1 text; `size` a number or a string), so every scalar member accepts a
//! string, a number or a boolean: a string member keeps a number as written and a boolean
//! as `true`/`false`; an integer member reads a number or a numeric string (booleans as 1
//! and 0); a boolean member reads a boolean or any spelling the XML codec accepts (and
//! `-1`, "unknown", as absent for `enabled`); `null` is an absent member. An object or an
//! array where a scalar belongs is a [`DecodeError::WrongJsonType`]. A list member may be a
//! single object, read as a list of one. The encoder writes numbers and booleans as JSON
//! numbers and booleans, everything else as strings.
//!
//! ## Limits
//!
//! The decoder is this crate's own borrowing pull parser, bounded by the same [`Limits`]
//! as the XML decoder (document size, nesting depth, apps, events per app, value length,
//! items per list); skipped values are checked and bounded like the others. A duplicate
//! member the model reads is a [`DecodeError::DuplicateMember`]; repeated list members
//! (`"app"` twice) add up. Errors carry the path and the byte offset.

mod decode;
mod read;
mod write;

use crate::codes::Protocol;
use crate::error::DecodeError;
use crate::limits::Limits;
use crate::request::Request;
use crate::response::Response;

/// The safe-JSON prefix a server writes before its answer, with the newline after it.
pub const PREFIX: &[u8] = b")]}'\n";

/// The prefix without its newline (whitespace after it is skipped like any other).
const PREFIX_TOKEN: &str = ")]}'";

/// A version of the JSON protocol: which shape the encoder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonVersion {
    /// `3.0`: the XML vocabulary as JSON.
    V3_0,
    /// `3.1`.
    V3_1,
    /// `4.0`: pipelines in the answer.
    V4_0,
}

impl JsonVersion {
    /// Every version, oldest first.
    pub const ALL: [Self; 3] = [Self::V3_0, Self::V3_1, Self::V4_0];

    /// The version a `protocol` value names, if it is one of the three.
    #[must_use]
    pub fn of(protocol: Option<&Protocol>) -> Option<Self> {
        match protocol.map(Protocol::as_str) {
            Some("3.0") => Some(Self::V3_0),
            Some("3.1") => Some(Self::V3_1),
            Some("4.0") => Some(Self::V4_0),
            _ => None,
        }
    }

    /// The `protocol` value of this version.
    #[must_use]
    pub const fn protocol(self) -> Protocol {
        match self {
            Self::V3_0 => Protocol::V3,
            Self::V3_1 => Protocol::V3_1,
            Self::V4_0 => Protocol::V4,
        }
    }
}

pub(crate) fn decode_request(input: &[u8], limits: &Limits) -> Result<Request, DecodeError> {
    let mut r = read::Reader::new(input, *limits)?;
    decode::document(&mut r, "request", decode::request)
}

pub(crate) fn decode_response(input: &[u8], limits: &Limits) -> Result<Response, DecodeError> {
    let mut r = read::Reader::new(input, *limits)?;
    decode::document(&mut r, "response", decode::response)
}

pub(crate) fn encode_request(request: &Request, out: &mut Vec<u8>) {
    write::request(request, out);
}

pub(crate) fn encode_response(response: &Response, out: &mut Vec<u8>) {
    write::response(response, out);
}
