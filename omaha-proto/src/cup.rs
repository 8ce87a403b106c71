//! CUP-ECDSA, the Client Update Protocol of Omaha 3.1 and 4: signed, fresh answers.
//!
//! (Feature `cup`.) The client names the public key it has pinned (a *key version*) and a
//! fresh *nonce* in the query string, and the hash of its request body; the server signs,
//! with the private key of that version, the request's hash, the answer's hash and the
//! client's key version and nonce, and sends the signature back in a header. A client that
//! verifies the signature with its pinned key knows the answer came from the holder of the
//! private key, for this very request body, and was made after it chose the nonce: an
//! altered, substituted or replayed answer fails, even when TLS is intercepted or ends at
//! a proxy.
//!
//! Everything here is pure: hashing, parsing, formatting, signing (deterministic ECDSA,
//! RFC 6979, so no random numbers are needed) and verifying. Generating a nonce or a key is
//! the caller's business: it needs randomness.
//!
//! # The wire format
//!
//! As Chromium's `components/client_update_protocol` implements it (its `ecdsa.cc`, the
//! test vectors of its `ecdsa_unittest.cc`, used in this crate's tests) and its
//! `docs/updater/cup.md` and `protocol_3_1.md` describe it. Where the prose of `cup.md` and
//! the code differ (the prose speaks of appending the key id to the request body), this
//! module follows the code, which the test vectors pin:
//!
//! * The request carries the query parameters `cup2key=<key version>:<nonce>` and
//!   `cup2hreq=<request hash>`. The key version is a decimal integer (Chromium: at least
//!   1). The nonce is opaque to the server; Chromium sends 32 random bytes in unpadded
//!   base64url, older clients a decimal `u32`. The request hash is the SHA-256 of the
//!   request body in lower-case hex; it is sent for diagnostics (the server hashes the
//!   body it received itself).
//! * The signed message is `SHA-256(request hash ‖ SHA-256(answer body) ‖ cup2key)`: the two
//!   raw 32-byte hashes followed by the `cup2key` value exactly as the client sent it
//!   (`8:12345`, say). ECDSA over P-256 with SHA-256 signs that 32-byte message, so the
//!   curve's input is its SHA-256 in turn ([`signed_message`]).
//! * The answer carries the proof `<signature>:<request hash>`: the signature as the DER
//!   `SEQUENCE { r INTEGER, s INTEGER }` in lower-case hex (8 to 72 bytes) and the SHA-256
//!   of the request body *as the server received it*, in lower-case hex. It is sent in the
//!   `X-Cup-Server-Proof` header; older clients read it from `ETag`, as `W/"<proof>"` or
//!   bare. A client prefers `X-Cup-Server-Proof`, then a weak `ETag`, then a strong one
//!   ([`ServerProof::from_headers`]).
//! * The answer body is signed byte for byte as sent: for Omaha 3.1 and 4 JSON that
//!   includes the `)]}'` line in front of the JSON.
//! * Public keys are pinned as a DER `SubjectPublicKeyInfo` (Chromium embeds it in base64),
//!   equally readable here as PEM (`-----BEGIN PUBLIC KEY-----`).
//!
//! # What a client must check
//!
//! [`verify`] does all of it: the proof parses, the request hash in it is the hash of the
//! body the client sent (a quick reject of an altered request), and the signature verifies
//! with the pinned key over the client's own request hash, the answer body received and
//! the client's own `cup2key`. Freshness comes from the nonce: a client must use a new one
//! for every request (32 random bytes), and never accept an answer to an older request.
//! CUP covers neither the request line, nor any header, nor the HTTP status.
//!
//! ```
//! use omaha_proto::cup::{Cup2Key, CupSigningKey, KeyVersion, RequestHash, verify};
//!
//! // The server's key (fixed here; a server makes it from random bytes once).
//! let key = CupSigningKey::from_bytes(&[7; 32])?;
//! let pinned = key.public_key();
//!
//! // The client: its request body, a fresh nonce and the key version it pinned.
//! let request = br#"{"request":{"protocol":"3.1"}}"#;
//! let cup2key = Cup2Key::new(KeyVersion::new(1)?, "dGhpcyBpcyBhIG5vbmNl")?;
//!
//! // The server signs the answer it sends.
//! let answer = b")]}'\n{\"response\":{\"protocol\":\"3.1\"}}";
//! let proof = key.sign(&RequestHash::of(request), answer, &cup2key);
//! let header = proof.to_string();
//!
//! // The client checks it.
//! verify(&pinned, request, &cup2key, answer, &header)?;
//! assert!(verify(&pinned, request, &cup2key, b"{}", &header).is_err());
//! # Ok::<(), omaha_proto::cup::CupError>(())
//! ```

use std::fmt;

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha256};

/// The query parameter that carries the key version and the nonce.
pub const CUP2KEY: &str = "cup2key";
/// The query parameter that carries the request hash.
pub const CUP2HREQ: &str = "cup2hreq";
/// The answer header that carries the proof (in lower case, as HTTP/2 spells headers).
pub const PROOF_HEADER: &str = "x-cup-server-proof";

/// Longest nonce accepted, in bytes (Chromium's is 43 characters).
pub const MAX_NONCE_BYTES: usize = 128;
/// Shortest DER signature accepted, in bytes (as Chromium's client checks).
pub const MIN_SIGNATURE_BYTES: usize = 8;
/// Longest DER signature accepted, in bytes: two 33-byte integers with their headers.
pub const MAX_SIGNATURE_BYTES: usize = 72;
/// Longest query string [`CupQuery::from_query`] reads, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

/// Why a CUP value could not be read, or an answer did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CupError {
    /// `cup2key` has no `:` between the key version and the nonce.
    #[error("cup2key is `<key version>:<nonce>`, and has no `:`")]
    Cup2KeyFormat,
    /// The key version is not a decimal integer from 1 to 4294967295.
    #[error("the CUP key version {0:?} is not an integer from 1 to 4294967295")]
    KeyVersion(String),
    /// The nonce is empty, too long, or has a character other than visible ASCII.
    #[error(
        "the CUP nonce must be 1 to {max} visible ASCII characters (got {len} bytes)",
        max = MAX_NONCE_BYTES
    )]
    Nonce {
        /// Its length in bytes.
        len: usize,
    },
    /// A query parameter of CUP appears twice.
    #[error("the query parameter {0} appears more than once")]
    DuplicateParameter(&'static str),
    /// `cup2hreq` is given without `cup2key`.
    #[error("cup2hreq is given without cup2key")]
    HashWithoutKey,
    /// The query string is over [`MAX_QUERY_BYTES`] or has a malformed `%` escape.
    #[error("the query string is malformed or over {max} bytes", max = MAX_QUERY_BYTES)]
    Query,
    /// A hash is not 64 hex digits.
    #[error("{what} is not a SHA-256 hash in hex (64 hex digits)")]
    Hash {
        /// Which hash (`cup2hreq`, the proof's request hash).
        what: &'static str,
    },
    /// The proof is not `<signature>:<request hash>`.
    #[error("the CUP proof is not `<signature in hex>:<request hash in hex>`")]
    ProofFormat,
    /// The proof's signature is not hex, or not 8 to 72 bytes long.
    #[error(
        "the CUP proof's signature is not {min} to {max} bytes in hex",
        min = MIN_SIGNATURE_BYTES,
        max = MAX_SIGNATURE_BYTES
    )]
    SignatureEncoding,
    /// The signature is not a DER-encoded ECDSA P-256 signature.
    #[error("the CUP signature is not a DER-encoded ECDSA P-256 signature")]
    SignatureDer,
    /// The public key is not a P-256 public key (SubjectPublicKeyInfo DER or PEM, or a SEC1
    /// point).
    #[error("not a P-256 public key (SubjectPublicKeyInfo in DER or PEM, or a SEC1 point)")]
    PublicKey,
    /// The private key is not a P-256 private key (PKCS#8 or SEC1, PEM; or 32 bytes that
    /// are a valid scalar).
    #[error("not a P-256 private key (PKCS#8 or SEC1 PEM, or a 32-byte scalar)")]
    PrivateKey,
    /// The request hash in the proof is not the hash of the request the client sent: the
    /// request was altered on its way, or the answer is to another request.
    #[error("the answer is for another request: the CUP proof names a different request hash")]
    RequestHashMismatch,
    /// The signature does not verify: the answer, the request or the nonce was altered, or
    /// the answer was signed by another key.
    #[error(
        "the CUP signature does not verify: the answer was altered, is for another request or nonce, or was signed by another key"
    )]
    BadSignature,
}

/// A key version: the number by which a client names the public key it pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyVersion(u32);

impl KeyVersion {
    /// A key version, from 1 up.
    ///
    /// # Errors
    /// [`CupError::KeyVersion`] for 0.
    pub fn new(version: u32) -> Result<Self, CupError> {
        if version == 0 {
            return Err(CupError::KeyVersion("0".into()));
        }
        Ok(Self(version))
    }

    /// The number.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }

    /// The version after this one, if there is one.
    #[must_use]
    pub fn next(self) -> Option<Self> {
        self.0.checked_add(1).map(Self)
    }
}

impl fmt::Display for KeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for KeyVersion {
    type Err = CupError;

    /// Decimal digits only (no sign, no spaces), from 1 to `u32::MAX`.
    fn from_str(text: &str) -> Result<Self, CupError> {
        let bad = || CupError::KeyVersion(text.chars().take(16).collect());
        if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let version: u32 = text.parse().map_err(|_| bad())?;
        Self::new(version).map_err(|_| bad())
    }
}

/// The `cup2key` value: a key version and a nonce, kept exactly as sent, since the
/// signature covers its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cup2Key {
    text: String,
    version: KeyVersion,
    colon: usize,
}

impl Cup2Key {
    /// The value for a key version and a nonce (which the caller made fresh: Chromium sends
    /// 32 random bytes in unpadded base64url).
    ///
    /// # Errors
    /// [`CupError::Nonce`] when the nonce is empty, longer than [`MAX_NONCE_BYTES`], or has
    /// a character other than visible ASCII.
    pub fn new(version: KeyVersion, nonce: &str) -> Result<Self, CupError> {
        check_nonce(nonce)?;
        let text = format!("{version}:{nonce}");
        let colon = text.len() - nonce.len() - 1;
        Ok(Self {
            text,
            version,
            colon,
        })
    }

    /// Reads a `cup2key` value (already percent-decoded): `<key version>:<nonce>`.
    ///
    /// # Errors
    /// [`CupError::Cup2KeyFormat`] without a `:`, [`CupError::KeyVersion`] or
    /// [`CupError::Nonce`] for a bad part.
    pub fn parse(text: &str) -> Result<Self, CupError> {
        let colon = text.find(':').ok_or(CupError::Cup2KeyFormat)?;
        let version: KeyVersion = text[..colon].parse()?;
        check_nonce(&text[colon + 1..])?;
        Ok(Self {
            text: text.to_owned(),
            version,
            colon,
        })
    }

    /// The key version.
    #[must_use]
    pub fn key_version(&self) -> KeyVersion {
        self.version
    }

    /// The nonce.
    #[must_use]
    pub fn nonce(&self) -> &str {
        &self.text[self.colon + 1..]
    }

    /// The value as sent, the bytes the signature covers.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Cup2Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn check_nonce(nonce: &str) -> Result<(), CupError> {
    if nonce.is_empty()
        || nonce.len() > MAX_NONCE_BYTES
        || !nonce.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(CupError::Nonce { len: nonce.len() });
    }
    Ok(())
}

/// The SHA-256 of a request body.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestHash([u8; 32]);

impl RequestHash {
    /// The hash of `body`.
    #[must_use]
    pub fn of(body: &[u8]) -> Self {
        Self(Sha256::digest(body).into())
    }

    /// A hash from its 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads 64 hex digits (either case).
    ///
    /// # Errors
    /// [`CupError::Hash`] naming `what` otherwise.
    pub fn parse_hex(text: &str, what: &'static str) -> Result<Self, CupError> {
        let mut bytes = [0; 32];
        if text.len() != 64 || decode_hex_into(text.as_bytes(), &mut bytes).is_none() {
            return Err(CupError::Hash { what });
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for RequestHash {
    /// Lower-case hex, as `cup2hreq` and the proof carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for RequestHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestHash({self})")
    }
}

/// The CUP parameters of a request's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CupQuery {
    /// `cup2key`.
    pub cup2key: Cup2Key,
    /// `cup2hreq`, when sent.
    pub request_hash: Option<RequestHash>,
}

impl CupQuery {
    /// The parameters a client sends with `body`.
    #[must_use]
    pub fn for_request(cup2key: Cup2Key, body: &[u8]) -> Self {
        Self {
            cup2key,
            request_hash: Some(RequestHash::of(body)),
        }
    }

    /// Reads `cup2key` and `cup2hreq` from a query string (without its `?`; other
    /// parameters are ignored). `None` when there is no `cup2key`: the client did not ask
    /// for a signature.
    ///
    /// # Errors
    /// [`CupError`] when the query string is over [`MAX_QUERY_BYTES`] or has a bad escape,
    /// when a CUP parameter appears twice or is malformed, or when `cup2hreq` comes alone.
    pub fn from_query(query: &str) -> Result<Option<Self>, CupError> {
        if query.len() > MAX_QUERY_BYTES {
            return Err(CupError::Query);
        }
        let mut key = None;
        let mut hash = None;
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name)?;
            let slot = match name.as_str() {
                CUP2KEY => &mut key,
                CUP2HREQ => &mut hash,
                _ => continue,
            };
            if slot.is_some() {
                return Err(CupError::DuplicateParameter(if name == CUP2KEY {
                    CUP2KEY
                } else {
                    CUP2HREQ
                }));
            }
            *slot = Some(percent_decode(value)?);
        }
        let Some(key) = key else {
            return match hash {
                Some(_) => Err(CupError::HashWithoutKey),
                None => Ok(None),
            };
        };
        Ok(Some(Self {
            cup2key: Cup2Key::parse(&key)?,
            request_hash: hash
                .map(|h| RequestHash::parse_hex(&h, CUP2HREQ))
                .transpose()?,
        }))
    }

    /// The query parameters, `cup2key=...&cup2hreq=...`, ready to append to a URL's query
    /// (the nonce percent-encoded where it must be).
    #[must_use]
    pub fn to_query(&self) -> String {
        let mut out = format!("{CUP2KEY}=");
        for byte in self.cup2key.as_str().bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b':') {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
        if let Some(hash) = &self.request_hash {
            out.push_str(&format!("&{CUP2HREQ}={hash}"));
        }
        out
    }
}

/// Decodes `%XX` escapes and `+` (a space, as in forms); the result must be UTF-8.
fn percent_decode(text: &str) -> Result<String, CupError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let mut byte = [0];
                let digits = bytes.get(i + 1..i + 3).ok_or(CupError::Query)?;
                decode_hex_into(digits, &mut byte).ok_or(CupError::Query)?;
                out.push(byte[0]);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| CupError::Query)
}

/// What an answer carries: the server's signature and the hash of the request it received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProof {
    signature: Vec<u8>,
    request_hash: RequestHash,
}

impl ServerProof {
    /// Reads a proof from the value of `X-Cup-Server-Proof` or `ETag`:
    /// `<signature>:<request hash>`, optionally quoted and optionally weak (`W/"..."`).
    ///
    /// # Errors
    /// [`CupError::ProofFormat`], [`CupError::SignatureEncoding`] or [`CupError::Hash`].
    pub fn parse(value: &str) -> Result<Self, CupError> {
        let value = value.trim();
        let value = value.strip_prefix("W/").unwrap_or(value);
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let (signature, hash) = value.split_once(':').ok_or(CupError::ProofFormat)?;
        if signature.is_empty() || hash.is_empty() {
            return Err(CupError::ProofFormat);
        }
        let signature = decode_hex(signature)
            .filter(|s| (MIN_SIGNATURE_BYTES..=MAX_SIGNATURE_BYTES).contains(&s.len()))
            .ok_or(CupError::SignatureEncoding)?;
        Ok(Self {
            signature,
            request_hash: RequestHash::parse_hex(hash, "the proof's request hash")?,
        })
    }

    /// The proof from an answer's headers, as a client should pick it: `X-Cup-Server-Proof`
    /// when present, else a weak `ETag`, else a strong one. `None` when neither header is
    /// there (the answer is unsigned).
    ///
    /// # Errors
    /// As [`ServerProof::parse`], for the header picked.
    pub fn from_headers(
        server_proof: Option<&str>,
        etag: Option<&str>,
    ) -> Option<Result<Self, CupError>> {
        server_proof.or(etag).map(Self::parse)
    }

    /// The DER signature.
    #[must_use]
    pub fn signature_der(&self) -> &[u8] {
        &self.signature
    }

    /// The hash of the request body as the server received it.
    #[must_use]
    pub fn request_hash(&self) -> RequestHash {
        self.request_hash
    }

    /// The value of an `ETag` header carrying the proof, weak (`W/"<proof>"`), the form
    /// that proxies are least likely to touch.
    #[must_use]
    pub fn to_etag(&self) -> String {
        format!("W/\"{self}\"")
    }
}

impl fmt::Display for ServerProof {
    /// The value of `X-Cup-Server-Proof`: `<signature>:<request hash>` in lower-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", hex(&self.signature), self.request_hash)
    }
}

/// The 32 bytes handed to ECDSA-SHA256 for a request, an answer and a `cup2key`:
/// `SHA-256(request hash ‖ SHA-256(answer body) ‖ cup2key)`.
#[must_use]
pub fn signed_message(
    request_hash: &RequestHash,
    answer_body: &[u8],
    cup2key: &Cup2Key,
) -> [u8; 32] {
    let answer_hash = Sha256::digest(answer_body);
    let mut hasher = Sha256::new();
    hasher.update(request_hash.as_bytes());
    hasher.update(answer_hash);
    hasher.update(cup2key.as_str().as_bytes());
    hasher.finalize().into()
}

/// A P-256 private key that signs answers.
#[derive(Clone)]
pub struct CupSigningKey(SigningKey);

impl fmt::Debug for CupSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CupSigningKey")
            .field(&self.public_key())
            .finish()
    }
}

impl CupSigningKey {
    /// The key of a 32-byte big-endian scalar (32 random bytes make a key, but for the one
    /// chance in 2^32 that they are not below the curve's order or are zero).
    ///
    /// # Errors
    /// [`CupError::PrivateKey`] when the bytes are not a valid scalar.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CupError> {
        SigningKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| CupError::PrivateKey)
    }

    /// Reads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE
    /// KEY`, what `openssl ecparam -genkey` writes, with or without its `EC PARAMETERS`
    /// block before).
    ///
    /// # Errors
    /// [`CupError::PrivateKey`] when it is not an unencrypted P-256 key in either form.
    pub fn from_pem(pem: &str) -> Result<Self, CupError> {
        let start = [
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN EC PRIVATE KEY-----",
        ]
        .iter()
        .filter_map(|label| pem.find(label))
        .min()
        .ok_or(CupError::PrivateKey)?;
        let secret =
            p256::SecretKey::from_pem(pem[start..].trim_end()).map_err(|_| CupError::PrivateKey)?;
        Ok(Self(SigningKey::from(&secret)))
    }

    /// The key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), lines ending in `\n`.
    #[must_use]
    pub fn to_pem(&self) -> String {
        self.0
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.as_str().to_owned())
            .expect("a P-256 key encodes as PKCS#8")
    }

    /// Its public key.
    #[must_use]
    pub fn public_key(&self) -> CupPublicKey {
        CupPublicKey(*self.0.verifying_key())
    }

    /// Signs `answer_body`, the answer to the request whose body hashed to `request_hash`
    /// (as received) and that carried `cup2key`. Deterministic (RFC 6979): the same inputs
    /// give the same proof.
    #[must_use]
    pub fn sign(
        &self,
        request_hash: &RequestHash,
        answer_body: &[u8],
        cup2key: &Cup2Key,
    ) -> ServerProof {
        let message = signed_message(request_hash, answer_body, cup2key);
        let signature: Signature = self.0.sign(&message);
        ServerProof {
            signature: signature.to_der().as_bytes().to_vec(),
            request_hash: *request_hash,
        }
    }
}

/// A P-256 public key that verifies answers: what a client pins.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CupPublicKey(VerifyingKey);

impl fmt::Debug for CupPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CupPublicKey({})", hex(&self.0.to_sec1_bytes()))
    }
}

impl CupPublicKey {
    /// Reads a DER `SubjectPublicKeyInfo` (what Chromium embeds, and what `openssl ec
    /// -pubout -outform DER` writes).
    ///
    /// # Errors
    /// [`CupError::PublicKey`] when it is not a P-256 key.
    pub fn from_der(der: &[u8]) -> Result<Self, CupError> {
        VerifyingKey::from_public_key_der(der)
            .map(Self)
            .map_err(|_| CupError::PublicKey)
    }

    /// Reads a PEM `SubjectPublicKeyInfo` (`-----BEGIN PUBLIC KEY-----`).
    ///
    /// # Errors
    /// [`CupError::PublicKey`] when it is not a P-256 key.
    pub fn from_pem(pem: &str) -> Result<Self, CupError> {
        VerifyingKey::from_public_key_pem(pem.trim())
            .map(Self)
            .map_err(|_| CupError::PublicKey)
    }

    /// Reads a SEC1 point (65 bytes uncompressed, or 33 compressed).
    ///
    /// # Errors
    /// [`CupError::PublicKey`] when it is not a point of P-256.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, CupError> {
        VerifyingKey::from_sec1_bytes(bytes)
            .map(Self)
            .map_err(|_| CupError::PublicKey)
    }

    /// The key as a DER `SubjectPublicKeyInfo`.
    #[must_use]
    pub fn to_der(&self) -> Vec<u8> {
        self.0
            .to_public_key_der()
            .map(|doc| doc.as_bytes().to_vec())
            .expect("a P-256 public key encodes as SubjectPublicKeyInfo")
    }

    /// The key as PEM (`-----BEGIN PUBLIC KEY-----`), lines ending in `\n`.
    #[must_use]
    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 public key encodes as SubjectPublicKeyInfo")
    }

    /// Verifies a proof: the signature over the client's own `request_hash`, the answer body
    /// received and its own `cup2key`. It does not compare the proof's request hash (see
    /// [`verify`], which does).
    ///
    /// # Errors
    /// [`CupError::SignatureDer`] when the signature is not DER, [`CupError::BadSignature`]
    /// when it does not verify.
    pub fn verify_signature(
        &self,
        request_hash: &RequestHash,
        answer_body: &[u8],
        cup2key: &Cup2Key,
        proof: &ServerProof,
    ) -> Result<(), CupError> {
        let signature =
            Signature::from_der(&proof.signature).map_err(|_| CupError::SignatureDer)?;
        let message = signed_message(request_hash, answer_body, cup2key);
        self.0
            .verify(&message, &signature)
            .map_err(|_| CupError::BadSignature)
    }
}

/// What a client checks of a signed answer: the proof (the value of `X-Cup-Server-Proof`,
/// or of `ETag` without it) parses, names the hash of `request_body`, and its signature
/// verifies with the `pinned` key over `request_body`, `answer_body` and `cup2key` (the
/// client's own, as it sent them).
///
/// # Errors
/// [`CupError::ProofFormat`], [`CupError::SignatureEncoding`], [`CupError::Hash`] or
/// [`CupError::SignatureDer`] for a malformed proof, [`CupError::RequestHashMismatch`] when
/// it is for another request body, [`CupError::BadSignature`] when the signature fails.
pub fn verify(
    pinned: &CupPublicKey,
    request_body: &[u8],
    cup2key: &Cup2Key,
    answer_body: &[u8],
    proof: &str,
) -> Result<(), CupError> {
    let proof = ServerProof::parse(proof)?;
    let request_hash = RequestHash::of(request_body);
    if proof.request_hash != request_hash {
        return Err(CupError::RequestHashMismatch);
    }
    pinned.verify_signature(&request_hash, answer_body, cup2key, &proof)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 15)]));
    }
    out
}

fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Decodes exactly `out.len() * 2` hex digits into `out`.
fn decode_hex_into(text: &[u8], out: &mut [u8]) -> Option<()> {
    if text.len() != out.len() * 2 {
        return None;
    }
    for (pair, byte) in text.chunks_exact(2).zip(out.iter_mut()) {
        *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let mut out = vec![0; text.len() / 2];
    decode_hex_into(text.as_bytes(), &mut out)?;
    Some(out)
}
