//! Fuzz target: `Response::decode` on arbitrary bytes. Beyond not panicking, whatever
//! decodes must re-encode to a document that decodes to the same value.
#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use omaha_proto::{Limits, Response};

/// Re-decoding an encoding needs no document-size limit: explicit end tags and escaped
/// control characters can make it longer than the input. All other limits apply.
const REENCODED: Limits = Limits {
    max_document_bytes: usize::MAX,
    ..Limits::DEFAULT
};

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = Response::decode(data) {
        let again = Response::decode_with_limits(&response.encode(), &REENCODED)
            .expect("an encoded response decodes");
        assert_eq!(again, response);
    }
});
