//! The update endpoints as a client sees them: which route takes which wire protocol, and
//! how a client writes its request and reads the answer there.
//!
//! `updatectl` (`instance fake`, `instance bench`) and the load benchmark build their update
//! checks with it, so the route and the encoding of each protocol are written once. The
//! server's router routes these paths (and each without its trailing slash, or with one) to
//! the protocol's handler.
//!
//! ```
//! use omaha_proto::Request;
//! use omaha_proto::codes::Protocol;
//! use update_api::endpoint::UpdateProtocol;
//!
//! let mut request = Request::new();
//! let body = UpdateProtocol::Json.encode(&mut request);
//! assert_eq!(request.protocol, Some(Protocol::V3_1));
//! assert!(body.starts_with(b"{\"request\":{\"protocol\":\"3.1\""));
//! assert_eq!(UpdateProtocol::Json.path(), "/v1/update/json");
//! ```

use omaha_proto::codes::Protocol;
use omaha_proto::{DecodeError, Request, Response};

/// The wire protocol of an update check, and so its route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum UpdateProtocol {
    /// Omaha v3 XML on `/v1/update/` (update_engine, go-omaha, CoreUpdate's clients).
    #[default]
    Xml,
    /// Omaha JSON, protocol 3.1 (Chromium's updater), on `/v1/update/json`.
    Json,
}

impl UpdateProtocol {
    /// The route's path.
    #[must_use]
    pub const fn path(self) -> &'static str {
        match self {
            Self::Xml => "/v1/update/",
            Self::Json => "/v1/update/json",
        }
    }

    /// The route's path as URL path segments (`["v1", "update", ""]` for `/v1/update/`).
    #[must_use]
    pub const fn path_segments(self) -> &'static [&'static str] {
        match self {
            Self::Xml => &["v1", "update", ""],
            Self::Json => &["v1", "update", "json"],
        }
    }

    /// The `Content-Type` of a request body.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Xml => "text/xml",
            Self::Json => "application/json",
        }
    }

    /// The `protocol` a request of this wire protocol names: `3.0` in XML, `3.1` in JSON.
    #[must_use]
    pub const fn version(self) -> Protocol {
        match self {
            Self::Xml => Protocol::V3,
            Self::Json => Protocol::V3_1,
        }
    }

    /// Sets the request's `protocol` to [`Self::version`] and encodes it.
    #[must_use]
    pub fn encode(self, request: &mut Request) -> Vec<u8> {
        request.protocol = Some(self.version());
        match self {
            Self::Xml => request.encode(),
            Self::Json => request.encode_json(),
        }
    }

    /// Decodes an answer of this wire protocol (JSON with or without the `)]}'` prefix).
    ///
    /// # Errors
    /// [`DecodeError`] when the body is not a well-formed response within the default
    /// limits.
    pub fn decode_response(self, body: &[u8]) -> Result<Response, DecodeError> {
        match self {
            Self::Xml => Response::decode(body),
            Self::Json => Response::decode_json(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omaha_proto::request::{App, Os};
    use omaha_proto::response;

    fn check() -> Request {
        Request::update_engine("t-1", "scheduler", Os::new("Linux", "", "")).with_app(
            App::new("{app}", "1.0.0")
                .with_track("stable")
                .with_machine_id("m1")
                .with_update_check(None),
        )
    }

    #[test]
    fn each_protocol_writes_a_request_its_own_decoder_reads_back() {
        for wire in [UpdateProtocol::Xml, UpdateProtocol::Json] {
            let mut request = check();
            let body = wire.encode(&mut request);
            let decoded = match wire {
                UpdateProtocol::Xml => Request::decode(&body),
                UpdateProtocol::Json => Request::decode_json(&body),
            }
            .unwrap();
            assert_eq!(decoded, request, "{wire:?}");
            assert_eq!(decoded.protocol, Some(wire.version()));
            assert_eq!(
                format!("/{}", wire.path_segments().join("/")),
                wire.path(),
                "{wire:?}"
            );
        }
    }

    #[test]
    fn answers_decode_in_their_protocol_only() {
        let answer = Response::new("s").with_app(
            response::App::ok("{app}").with_update_check(response::UpdateCheck::no_update()),
        );
        let xml = answer.encode();
        let json = answer.clone().with_protocol(Protocol::V3_1).encode_json();
        assert_eq!(UpdateProtocol::Xml.decode_response(&xml).unwrap(), answer);
        assert_eq!(
            UpdateProtocol::Json.decode_response(&json).unwrap().apps,
            answer.apps
        );
        assert!(UpdateProtocol::Xml.decode_response(&json).is_err());
        assert!(UpdateProtocol::Json.decode_response(&xml).is_err());
    }
}
