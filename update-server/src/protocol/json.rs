//! The Omaha JSON protocol (3.0, 3.1 and 4.0) through `omaha-proto`'s JSON codec: the same
//! request and answer mapping as [`super::OmahaV3`], answered in the request's version.

use super::omaha::{response, update_request};
use super::{AppAnswer, ProtocolError, UpdateRequest, WireProtocol};
use omaha_proto::Request;
use omaha_proto::codes::Protocol;
use omaha_proto::json::JsonVersion;

/// The Omaha JSON protocol, as Chromium's updater (3.1, 4.0) and Fuchsia's omaha-client
/// (3.0) speak it.
#[derive(Debug, Clone)]
pub struct OmahaJson {
    server_name: String,
}

impl OmahaJson {
    /// The protocol, naming the server `server_name` in responses.
    pub fn new(server_name: &str) -> Self {
        Self {
            server_name: server_name.to_owned(),
        }
    }
}

impl WireProtocol for OmahaJson {
    fn content_type(&self) -> &'static str {
        "application/json; charset=utf-8"
    }

    fn decode(&self, body: &[u8]) -> Result<UpdateRequest, ProtocolError> {
        let request =
            Request::decode_json(body).map_err(|e| ProtocolError::Malformed(e.to_string()))?;
        let unsupported_version = request
            .protocol
            .as_ref()
            .is_some_and(|p| JsonVersion::of(Some(p)).is_none());
        Ok(update_request(request, unsupported_version))
    }

    /// Answers in the request's version; a request in a version this server does not speak
    /// (whose apps are answered `error-unsupportedprotocol`) is answered in 3.1, and one
    /// that names none in 3.0.
    fn encode(&self, request: &UpdateRequest, answers: &[AppAnswer]) -> Vec<u8> {
        let named = request.protocol.as_deref().map(Protocol::parse);
        let version = match named {
            None => JsonVersion::V3_0,
            Some(p) => JsonVersion::of(Some(&p)).unwrap_or(JsonVersion::V3_1),
        };
        response(&self.server_name, request, answers)
            .with_protocol(version.protocol())
            .encode_json()
    }
}
