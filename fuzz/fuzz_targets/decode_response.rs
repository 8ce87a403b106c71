//! Fuzz target: `Response::decode` on arbitrary bytes. Beyond not panicking, whatever
//! decodes must re-encode to a document that decodes to the same value.
#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use omaha_proto::Response;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = Response::decode(data) {
        let again = Response::decode(&response.encode()).expect("an encoded response decodes");
        assert_eq!(again, response);
    }
});
