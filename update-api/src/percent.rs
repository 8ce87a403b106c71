//! Percent-decoding, as the signed resource and the operation table's matching read it.

/// The bytes `text` stands for: each `%` followed by two hex digits is the byte they spell;
/// anything else, an invalid escape included, stays as it is.
pub(crate) fn decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            // Two hex digits make a byte below 256.
            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn escapes_are_decoded_and_invalid_ones_kept() {
        assert_eq!(decode("a%2Fb%20c"), b"a/b c");
        assert_eq!(decode("%zz%4"), b"%zz%4");
        assert_eq!(decode("%c3%a9"), "\u{e9}".as_bytes());
        assert_eq!(decode(""), b"");
    }
}
