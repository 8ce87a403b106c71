//! Fuzz target: `Request::decode_json` on arbitrary bytes. Beyond not panicking, whatever
//! decodes must re-encode to a document that decodes to the same value.
#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use omaha_proto::{Limits, Request};

/// Re-decoding an encoding needs no document-size limit: members the input left out
/// (`eventtype`, say) are written. All other limits apply.
const REENCODED: Limits = Limits {
    max_document_bytes: usize::MAX,
    ..Limits::DEFAULT
};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode_json(data) {
        let again = Request::decode_json_with_limits(&request.encode_json(), &REENCODED)
            .expect("an encoded request decodes");
        assert_eq!(again, request);
    }
});
