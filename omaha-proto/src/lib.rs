//! The Omaha v3 XML wire format, as spoken by Flatcar's `update_engine`, go-omaha,
//! CoreUpdate and Nebraska: typed request and response documents, `decode` from
//! bytes and `encode` to bytes. The Omaha JSON protocol (3.0, 3.1 and 4.0, Chromium's
//! updater) is a second codec over the same documents ([`json`]: `decode_json`,
//! `encode_json`).
//!
//! The crate is pure: it performs no IO, reads no clock and draws no random numbers.
//!
//! * [`Request`] and [`Response`] model every element and attribute of the protocol
//!   (standard Omaha v3, update_engine's attributes, the CoreOS and Flatcar extensions).
//!   Unknown attributes and elements are ignored on input.
//! * Decoding is lenient where real clients differ (XML declaration optional, self-closing
//!   or explicit end tags, every boolean spelling, base64 or hex digests, braced or bare
//!   app ids) and strict where it matters for safety: bounded by [`Limits`], no DTD, no
//!   entity other than the five predefined ones, UTF-8 only. Every failure is a
//!   [`DecodeError`] saying what and where.
//! * Encoding is canonical and cannot fail.
//! * The same documents read and write as JSON ([`json`]), in the protocol version the
//!   document names; the JSON decoder is hardened by the same [`Limits`].
//! * Constructors build the request shapes update_engine sends and the update, noupdate,
//!   event-ack and error responses a server sends, so nobody assembles XML by hand.
//!
//! ```
//! use omaha_proto::{Request, Response};
//! use omaha_proto::codes::{EventType, UpdateCheckStatus};
//! use omaha_proto::response::{App, UpdateCheck};
//!
//! let body = br#"<request protocol="3.0" version="update_engine-0.4.10">
//!   <app appid="{e96281a6-d1af-4bde-9a0a-97b76e56dc57}" version="3975.2.0" track="stable" delta_okay="false">
//!     <ping active="1"></ping><updatecheck></updatecheck>
//!     <event eventtype="3" eventresult="2" previousversion=""></event>
//!   </app>
//! </request>"#;
//! let request = Request::decode(body)?;
//! let app = &request.apps[0];
//! assert_eq!(app.track.as_deref(), Some("stable"));
//! assert_eq!(app.events[0].event_type, EventType::UpdateComplete);
//!
//! // Acknowledge the ping and the event, and say there is no update.
//! let response = Response::new("omaha-rs")
//!     .with_app(App::acknowledging(app).with_update_check(UpdateCheck::no_update()));
//! let bytes = response.encode();
//! let again = Response::decode(&bytes)?;
//! assert_eq!(again, response);
//! assert_eq!(
//!     again.apps[0].update_check.as_ref().and_then(|u| u.status.clone()),
//!     Some(UpdateCheckStatus::NoUpdate)
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate Features
//!
//! Without features the only dependencies are base64 and thiserror: the XML tokenizer is
//! this crate's own (a borrowing pull tokenizer; quick-xml's reader alone took longer than
//! the 2 µs budget for a whole update-check decode on the reference machine), and so is the
//! JSON parser (it borrows strings, bounds depth while skipping unknown members, reports
//! offsets, and reads any scalar type where implementations disagree, which a generic
//! deserializer would need a second pass for).
//!
//! * `cup`: the `cup` module, CUP-ECDSA (signed answers of Omaha 3.1 and 4) on RustCrypto's
//!   `p256` and `sha2`, built without their `std` feature (so without an entropy source:
//!   signing is deterministic, RFC 6979). Off by default, so that a codec-only user builds
//!   no elliptic-curve code.
//!
//! # Stability
//!
//! The crate follows semantic versioning. While its version is `0.y.z`, a release that changes
//! or removes a public item, or changes what a document decodes to or encodes as, raises `y`
//! (`0.1` to `0.2`); one that only adds items or fixes bugs raises `z`. From `1.0.0` on,
//! breaking changes raise the major version. The minimum supported Rust version (`rust-version`
//! in `Cargo.toml`) is raised only in a release that raises `y` (or, from 1.0, the minor
//! version), and each release is listed in `CHANGELOG.md`.
#![forbid(unsafe_code)]

pub mod appid;
mod attrs;
pub mod codes;
#[cfg(feature = "cup")]
pub mod cup;
mod decode;
pub mod digest;
mod encode;
mod error;
pub mod json;
mod limits;
pub mod request;
pub mod response;

pub use error::DecodeError;
pub use limits::Limits;
pub use request::Request;
pub use response::Response;

impl Request {
    /// Decodes a `<request>` document with the default [`Limits`].
    ///
    /// # Errors
    /// [`DecodeError`] when the input is not a well-formed request within the limits.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with_limits(input, &Limits::DEFAULT)
    }

    /// Decodes a `<request>` document with the given limits.
    ///
    /// # Errors
    /// [`DecodeError`] when the input is not a well-formed request within the limits.
    pub fn decode_with_limits(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        decode::document(input, *limits, "request", decode::request::request)
    }

    /// Encodes the request as a UTF-8 XML document.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoded request to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        encode::request(self, out);
    }

    /// Decodes a JSON request (protocol 3.0, 3.1 or 4.0, see [`json`]) with the default
    /// [`Limits`].
    ///
    /// # Errors
    /// [`DecodeError`] when the input is not a well-formed JSON request within the limits.
    pub fn decode_json(input: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_json_with_limits(input, &Limits::DEFAULT)
    }

    /// Decodes a JSON request with the given limits.
    ///
    /// # Errors
    /// [`DecodeError`] when the input is not a well-formed JSON request within the limits.
    pub fn decode_json_with_limits(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        json::decode_request(input, limits)
    }

    /// Encodes the request as JSON in the shape of its `protocol` (see [`json`]).
    #[must_use]
    pub fn encode_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_json_into(&mut out);
        out
    }

    /// Appends the JSON-encoded request to `out`.
    pub fn encode_json_into(&self, out: &mut Vec<u8>) {
        json::encode_request(self, out);
    }
}

impl Response {
    /// Decodes a `<response>` document with the default [`Limits`].
    ///
    /// # Errors
    /// [`DecodeError`] when the input is not a well-formed response within the limits.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_with_limits(input, &Limits::DEFAULT)
    }

    /// Decodes a `<response>` document with the given limits.
    ///
    /// # Errors
    /// [`DecodeError`] when the input is not a well-formed response within the limits.
    pub fn decode_with_limits(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        decode::document(input, *limits, "response", decode::response::response)
    }

    /// Encodes the response as a UTF-8 XML document.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the encoded response to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        encode::response(self, out);
    }

    /// Decodes a JSON response (protocol 3.0, 3.1 or 4.0, with or without the `)]}'`
    /// prefix, see [`json`]) with the default [`Limits`].
    ///
    /// # Errors
    /// [`DecodeError`] when the input is not a well-formed JSON response within the limits.
    pub fn decode_json(input: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_json_with_limits(input, &Limits::DEFAULT)
    }

    /// Decodes a JSON response with the given limits.
    ///
    /// # Errors
    /// [`DecodeError`] when the input is not a well-formed JSON response within the limits.
    pub fn decode_json_with_limits(input: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        json::decode_response(input, limits)
    }

    /// Encodes the response as JSON after the `)]}'` prefix, in the shape of its
    /// `protocol`: a server sets the request's with [`Response::with_protocol`] (see
    /// [`json`]).
    #[must_use]
    pub fn encode_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_json_into(&mut out);
        out
    }

    /// Appends the JSON-encoded response, prefix included, to `out`.
    pub fn encode_json_into(&self, out: &mut Vec<u8>) {
        json::encode_response(self, out);
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
