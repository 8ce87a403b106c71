//! Inputs found by fuzzing (`fuzz/`), kept as regression vectors in
//! `tests/data/regressions/`.

use omaha_proto::{DecodeError, Limits, Request, Response};

use crate::read_data;

/// Re-decoding an encoding may only need a larger document limit: encoding writes explicit
/// end tags and escapes control characters, so it can be longer than its input.
const REENCODED: Limits = Limits {
    max_document_bytes: usize::MAX,
    ..Limits::DEFAULT
};

/// Found by `decode_request` (10-minute run): a `machineid` of 8 KiB of control characters
/// was under the attribute limit as written, but its encoding (`&#x1A;` per character)
/// was over it, so `decode(encode(x))` failed. The limit now applies to the unescaped
/// value, which encoding preserves.
#[test]
fn fuzz_decode_request_attribute_limit_survives_escape_growth() {
    let input = read_data("regressions/fuzz-decode_request-escape-growth.request.bin");
    let decoded = Request::decode(&input).expect("the fuzz input is a valid request");
    let machine_id = decoded.apps[0].machine_id.clone().unwrap();
    assert!(machine_id.contains('\u{1a}'));
    let encoded = decoded.encode();
    assert_eq!(
        Request::decode_with_limits(&encoded, &REENCODED),
        Ok(decoded.clone())
    );
    assert_eq!(
        Request::decode(&encoded),
        Ok(decoded),
        "within the default limits too"
    );
}

#[test]
fn attribute_limit_counts_unescaped_bytes() {
    let limit = Limits::DEFAULT.max_attribute_bytes;
    // 8 KiB of tabs: under the limit, and its canonical encoding (`&#x9;` each) is 40 KiB.
    let tabs = "\t".repeat(limit);
    let xml = format!(r#"<request><app appid="{tabs}"/></request>"#);
    let decoded = Request::decode(xml.as_bytes()).unwrap();
    let encoded = decoded.encode();
    assert!(encoded.len() > 5 * limit);
    assert_eq!(Request::decode(&encoded), Ok(decoded));
    // Escaped form of a value one byte over the limit is still rejected, with the
    // unescaped length.
    let over = "&#x9;".repeat(limit + 1);
    let err = Request::decode(format!(r#"<request><app appid="{over}"/></request>"#).as_bytes())
        .unwrap_err();
    assert!(
        matches!(err, DecodeError::AttributeTooLong { len, .. } if len == limit + 1),
        "{err:?}"
    );
}

#[test]
fn encoding_may_outgrow_the_document_limit_but_never_the_others() {
    // 1 MiB of `<data/>` elements in one app: within the size limit as sent, re-encoded as
    // `<data></data>` it is larger than 1 MiB. (So many items take `max_items` raised: by
    // default the 65th is refused, since each costs more memory than its 7 bytes.)
    let open = r#"<request><app appid="a">"#;
    let close = "</app></request>";
    let n = (Limits::DEFAULT.max_document_bytes - open.len() - close.len()) / 7;
    let xml = format!("{open}{}{close}", "<data/>".repeat(n));
    assert!(matches!(
        Request::decode(xml.as_bytes()),
        Err(DecodeError::TooManyItems {
            element: "data",
            limit: 64,
            ..
        })
    ));
    let many = Limits {
        max_items: usize::MAX,
        ..Limits::DEFAULT
    };
    let decoded = Request::decode_with_limits(xml.as_bytes(), &many).unwrap();
    let encoded = decoded.encode();
    assert!(matches!(
        Request::decode_with_limits(&encoded, &many),
        Err(DecodeError::DocumentTooLarge { .. })
    ));
    let reencoded = Limits {
        max_items: usize::MAX,
        ..REENCODED
    };
    assert_eq!(
        Request::decode_with_limits(&encoded, &reencoded),
        Ok(decoded)
    );
    assert!(Response::decode(&Response::new("s").encode()).is_ok());
}
