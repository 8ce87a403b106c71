//! Fuzz target: for input that decodes as a JSON request or response,
//! `decode(encode(decode(x))) == decode(x)` in every protocol version the model can be
//! written in without loss (every version for a request; 3.0 and 3.1 for a response), and
//! the JSON and XML codecs agree: the XML encoding of what the JSON decoder read decodes,
//! and its JSON encoding decodes back to it.
#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use omaha_proto::json::JsonVersion;
use omaha_proto::{Limits, Request, Response};

/// Re-decoding an encoding needs no document-size limit. All other limits apply.
const REENCODED: Limits = Limits {
    max_document_bytes: usize::MAX,
    ..Limits::DEFAULT
};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::decode_json(data) {
        for v in JsonVersion::ALL {
            let mut r = request.clone();
            r.protocol = Some(v.protocol());
            let encoded = r.encode_json();
            let again = Request::decode_json_with_limits(&encoded, &REENCODED)
                .expect("an encoded request decodes");
            assert_eq!(again, r);
            assert_eq!(
                again.encode_json(),
                encoded,
                "request encoding is canonical"
            );
        }
        if let Ok(from_xml) = Request::decode_with_limits(&request.encode(), &REENCODED) {
            let again = Request::decode_json_with_limits(&from_xml.encode_json(), &REENCODED)
                .expect("the JSON encoding of an XML-decoded request decodes");
            assert_eq!(again, from_xml);
        }
    }
    if let Ok(response) = Response::decode_json(data) {
        for v in [JsonVersion::V3_0, JsonVersion::V3_1] {
            let mut r = response.clone();
            r.protocol = Some(v.protocol());
            let encoded = r.encode_json();
            let again = Response::decode_json_with_limits(&encoded, &REENCODED)
                .expect("an encoded response decodes");
            assert_eq!(again, r);
            assert_eq!(
                again.encode_json(),
                encoded,
                "response encoding is canonical"
            );
        }
    }
});
