//! Fuzz target: `Request::decode` on arbitrary bytes. Beyond not panicking, whatever
//! decodes must re-encode to a document that decodes to the same value.
#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use omaha_proto::{Limits, Request};

/// Re-decoding an encoding needs no document-size limit: explicit end tags and escaped
/// control characters can make it longer than the input. All other limits apply.
const REENCODED: Limits = Limits {
    max_document_bytes: usize::MAX,
    ..Limits::DEFAULT
};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        let again = Request::decode_with_limits(&request.encode(), &REENCODED)
            .expect("an encoded request decodes");
        assert_eq!(again, request);
    }
});
