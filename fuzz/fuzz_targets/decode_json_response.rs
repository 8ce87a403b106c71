//! Fuzz target: `Response::decode_json` on arbitrary bytes. Beyond not panicking, whatever
//! decodes must re-encode to a document that decodes to the same value (in the decoded
//! document's protocol version; a 4.0 answer re-encodes as 4.0, which loses only what the
//! decoder could not have read from 4.0 either).
#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use omaha_proto::json::{JsonVersion, PREFIX};
use omaha_proto::{Limits, Response};

/// Re-decoding an encoding needs no document-size limit: members the input left out
/// (`daystart`, say) are written. All other limits apply.
const REENCODED: Limits = Limits {
    max_document_bytes: usize::MAX,
    ..Limits::DEFAULT
};

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = Response::decode_json(data) {
        let encoded = response.encode_json();
        assert!(encoded.starts_with(PREFIX));
        let again = Response::decode_json_with_limits(&encoded, &REENCODED)
            .expect("an encoded response decodes");
        if JsonVersion::of(response.protocol.as_ref()) == Some(JsonVersion::V4_0) {
            // Decoded from a document that says 4.0, the codebases may have come from
            // `urls`, which 4.0 does not write: compare what 4.0 expresses.
            assert_eq!(again.apps.len(), response.apps.len());
            assert_eq!(again.encode_json(), encoded, "4.0 encoding is canonical");
        } else {
            assert_eq!(again, response);
        }
    }
});
