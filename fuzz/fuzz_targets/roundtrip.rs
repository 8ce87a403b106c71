//! Fuzz target: for input that decodes as a request or a response,
//! `decode(encode(decode(x))) == decode(x)`, and encoding is a fixed point
//! (`encode(decode(encode(d))) == encode(d)`), so the canonical form is stable.
#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use omaha_proto::{Limits, Request, Response};

/// Re-decoding an encoding needs no document-size limit: explicit end tags and escaped
/// control characters can make it longer than the input. All other limits apply.
const REENCODED: Limits = Limits {
    max_document_bytes: usize::MAX,
    ..Limits::DEFAULT
};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode(data) {
        let encoded = request.encode();
        let again =
            Request::decode_with_limits(&encoded, &REENCODED).expect("an encoded request decodes");
        assert_eq!(again, request);
        assert_eq!(again.encode(), encoded, "request encoding is canonical");
    }
    if let Ok(response) = Response::decode(data) {
        let encoded = response.encode();
        let again = Response::decode_with_limits(&encoded, &REENCODED)
            .expect("an encoded response decodes");
        assert_eq!(again, response);
        assert_eq!(again.encode(), encoded, "response encoding is canonical");
    }
});
