//! SHA-1 and SHA-256 digests as they appear in `<package>` and `<action>`.
//!
//! On input a digest is accepted in base64 (standard alphabet, padded or not) or in hex
//! (either case), told apart by length, which is unambiguous: 28/27 or 40 characters for
//! SHA-1, 44/43 or 64 for SHA-256. A value that is neither (update_engine's tests put
//! `not-used` in `hash`) is kept verbatim as [`HashValue::Unrecognized`] rather than
//! rejected. On output each field has one canonical encoding, chosen by the field:
//! base64 for `hash` and the action's `sha256`, lower-case hex for `hash_sha256`.

use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard base64 that accepts input with or without padding and rejects non-canonical
/// trailing bits; encodes with padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a string is not a digest of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The string has a length that is neither the hex nor the base64 length.
    #[error("a {algorithm} digest is {hex} hex or {base64} base64 characters, got {len}")]
    Length {
        /// `SHA-1` or `SHA-256`.
        algorithm: &'static str,
        /// Expected hex length.
        hex: usize,
        /// Expected (padded) base64 length.
        base64: usize,
        /// Actual length in bytes.
        len: usize,
    },
    /// The string has the hex length but is not hex.
    #[error("invalid hex {algorithm} digest")]
    Hex {
        /// `SHA-1` or `SHA-256`.
        algorithm: &'static str,
    },
    /// The string has the base64 length but is not canonical standard base64.
    #[error("invalid base64 {algorithm} digest")]
    Base64 {
        /// `SHA-1` or `SHA-256`.
        algorithm: &'static str,
    },
}

/// A fixed-size digest that can be read from base64 or hex. Implemented by [`Sha1Digest`]
/// and [`Sha256Digest`]; sealed.
pub trait Digest: Sized + Copy + Eq + fmt::Debug + private::Sealed {
    /// Digest length in bytes.
    const LEN: usize;
    /// Name for messages (`SHA-1`, `SHA-256`).
    const ALGORITHM: &'static str;
    /// The raw digest bytes.
    fn as_bytes(&self) -> &[u8];
    /// Builds a digest from exactly [`Self::LEN`] bytes.
    fn from_slice(bytes: &[u8]) -> Option<Self>;

    /// Parses hex or base64, choosing by length.
    ///
    /// # Errors
    /// [`DigestError`] when the string is neither.
    fn parse(text: &str) -> Result<Self, DigestError> {
        let len = text.len();
        let hex_len = Self::LEN * 2;
        let b64_len = Self::LEN.div_ceil(3) * 4;
        let b64_unpadded = (Self::LEN * 4).div_ceil(3);
        if len == hex_len {
            let mut buf = [0_u8; 32];
            let out = &mut buf[..Self::LEN];
            decode_hex(text.as_bytes(), out).ok_or(DigestError::Hex {
                algorithm: Self::ALGORITHM,
            })?;
            Self::from_slice(out).ok_or(DigestError::Hex {
                algorithm: Self::ALGORITHM,
            })
        } else if len == b64_len || len == b64_unpadded {
            let mut buf = [0_u8; 33];
            match BASE64.decode_slice(text.as_bytes(), &mut buf) {
                Ok(n) if n == Self::LEN => Self::from_slice(&buf[..n]).ok_or(DigestError::Base64 {
                    algorithm: Self::ALGORITHM,
                }),
                _ => Err(DigestError::Base64 {
                    algorithm: Self::ALGORITHM,
                }),
            }
        } else {
            Err(DigestError::Length {
                algorithm: Self::ALGORITHM,
                hex: hex_len,
                base64: b64_len,
                len,
            })
        }
    }

    /// Standard padded base64 (what update_engine compares `sha256` against).
    fn to_base64(&self) -> String {
        BASE64.encode(self.as_bytes())
    }

    /// Lower-case hex.
    fn to_hex(&self) -> String {
        let mut out = Vec::with_capacity(Self::LEN * 2);
        push_hex(&mut out, self.as_bytes());
        String::from_utf8(out).expect("hex digits are ASCII")
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::Sha1Digest {}
    impl Sealed for super::Sha256Digest {}
}

macro_rules! digest_type {
    ($(#[$meta:meta])* $name:ident, $len:literal, $alg:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl Digest for $name {
            const LEN: usize = $len;
            const ALGORITHM: &'static str = $alg;
            fn as_bytes(&self) -> &[u8] {
                &self.0
            }
            fn from_slice(bytes: &[u8]) -> Option<Self> {
                <[u8; $len]>::try_from(bytes).ok().map(Self)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }

        impl std::str::FromStr for $name {
            type Err = DigestError;
            fn from_str(text: &str) -> Result<Self, DigestError> {
                <Self as Digest>::parse(text)
            }
        }
    };
}

digest_type!(
    /// A SHA-1 digest (the package `hash`; base64 on the wire).
    Sha1Digest, 20, "SHA-1"
);
digest_type!(
    /// A SHA-256 digest (the package `hash_sha256`, hex on the wire; the action `sha256`,
    /// base64 on the wire).
    Sha256Digest, 32, "SHA-256"
);

/// A hash attribute as decoded: a digest when the text is one, otherwise the text itself.
///
/// Decoding never produces `Unrecognized` for text that parses as a digest, so build
/// values with [`HashValue::parse`] (or `HashValue::Digest`) to keep
/// `decode(encode(x)) == x`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashValue<D> {
    /// A well-formed digest, written canonically on output.
    Digest(D),
    /// Text that is not a digest of this kind, written back verbatim (escaped).
    Unrecognized(String),
    /// A digest written in standard base64 even where the attribute's canonical form is
    /// hex (`hash_sha256`, which go-omaha-based updaters compare as base64). Decoding reads
    /// it back as [`HashValue::Digest`].
    Base64(D),
}

impl<D: Digest> HashValue<D> {
    /// Classifies a decoded attribute value.
    #[must_use]
    pub fn parse(text: &str) -> Self {
        D::parse(text).map_or_else(|_| Self::Unrecognized(text.into()), Self::Digest)
    }

    /// The digest, if the value is one.
    #[must_use]
    pub fn digest(&self) -> Option<&D> {
        match self {
            Self::Digest(d) | Self::Base64(d) => Some(d),
            Self::Unrecognized(_) => None,
        }
    }
}

impl<D> From<D> for HashValue<D>
where
    D: Digest,
{
    fn from(digest: D) -> Self {
        Self::Digest(digest)
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends lower-case hex of `bytes` to `out`.
pub(crate) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(HEX_DIGITS[usize::from(b >> 4)]);
        out.push(HEX_DIGITS[usize::from(b & 0x0f)]);
    }
}

/// Appends padded standard base64 of `bytes` (at most 32) to `out`.
pub(crate) fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut buf = [0_u8; 44];
    let n = BASE64
        .encode_slice(bytes, &mut buf)
        .expect("44 bytes hold the base64 of a 32-byte digest");
    out.extend_from_slice(&buf[..n]);
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_hex(text: &[u8], out: &mut [u8]) -> Option<()> {
    for (dst, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *dst = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Worked values from omaha-protocol.md §7 (payload = the 4 bytes `test`).
    const SHA1_B64: &str = "qUqP5cyxm6YcTAhz05Hph5gvu9M=";
    const SHA256_B64: &str = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
    const SHA256_HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn sha256_reads_hex_and_base64_to_the_same_digest() {
        let from_hex: Sha256Digest = SHA256_HEX.parse().unwrap();
        let from_b64: Sha256Digest = SHA256_B64.parse().unwrap();
        let from_upper: Sha256Digest = SHA256_HEX.to_uppercase().parse().unwrap();
        let unpadded: Sha256Digest = SHA256_B64.trim_end_matches('=').parse().unwrap();
        assert_eq!(from_hex, from_b64);
        assert_eq!(from_hex, from_upper);
        assert_eq!(from_hex, unpadded);
        assert_eq!(from_hex.to_base64(), SHA256_B64);
        assert_eq!(from_b64.to_hex(), SHA256_HEX);
    }

    #[test]
    fn sha1_reads_base64_and_hex() {
        let d: Sha1Digest = SHA1_B64.parse().unwrap();
        assert_eq!(d.to_base64(), SHA1_B64);
        let again: Sha1Digest = d.to_hex().parse().unwrap();
        assert_eq!(d, again);
    }

    #[test]
    fn wrong_shapes_are_errors_and_unrecognized_values() {
        assert!(matches!(
            "not-used".parse::<Sha1Digest>(),
            Err(DigestError::Length { len: 8, .. })
        ));
        // 64 characters but not hex.
        let bad_hex = "g".repeat(64);
        assert_eq!(
            bad_hex.parse::<Sha256Digest>(),
            Err(DigestError::Hex {
                algorithm: "SHA-256"
            })
        );
        // Non-canonical trailing bits in base64 are rejected.
        assert!(
            "qUqP5cyxm6YcTAhz05Hph5gvu9N="
                .parse::<Sha1Digest>()
                .is_err()
        );
        // A SHA-1 in a SHA-256 field is not silently accepted.
        assert!(SHA1_B64.parse::<Sha256Digest>().is_err());
        assert_eq!(
            HashValue::<Sha1Digest>::parse("HASH1234="),
            HashValue::Unrecognized("HASH1234=".into())
        );
        assert!(HashValue::<Sha1Digest>::parse(SHA1_B64).digest().is_some());
    }
}
