//! CUP-ECDSA (feature `cup`): Chromium's published test vectors, round trips of our own,
//! hostile proofs and query strings, and the property that any alteration fails.

use omaha_proto::cup::{
    Cup2Key, CupError, CupPublicKey, CupQuery, CupSigningKey, KeyVersion, RequestHash, ServerProof,
    signed_message, verify,
};
use proptest::prelude::*;

/// The public key of Chromium's `components/client_update_protocol/ecdsa_unittest.cc`
/// (SubjectPublicKeyInfo, base64), pinned there as key version 8.
const CHROMIUM_KEY_BASE64: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJNOjKyN6UHyUGkGow+xCmQthQXUo\
                                   9sd7RIXSpVIM768UlbGb/5JrnISjSYejCc/pxQooI6mJTzWL3pZb5TA1DA==";

fn chromium_key() -> CupPublicKey {
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(CHROMIUM_KEY_BASE64)
        .unwrap();
    CupPublicKey::from_der(&der).unwrap()
}

/// The request, answer and `cup2key` of Chromium's signing tests.
const REQUEST_A: &[u8] = b"Request_A";
const RESPONSE_A: &[u8] = b"Response_A";
const HASH_A: &str = "2727bc2b3c33feb6800a830f4055901dd87d65a84184c5fbeb3f816db0a243f5";

fn cup2key_8_12345() -> Cup2Key {
    Cup2Key::parse("8:12345").unwrap()
}

/// Two signatures Chromium's tests expect to verify (ECDSA signatures are not unique: these
/// were made with random `k`).
const GOOD_PROOFS: [&str; 2] = [
    "3045022077a2d004f1643a92af5d356877c3434c46519ce32882d6e30ef6d154ee9775e3\
     022100aca63c77d34152bdc0918ae0629e82b59314e5459f607cdc5ac95f1a4b7c31a2\
     :2727bc2b3c33feb6800a830f4055901dd87d65a84184c5fbeb3f816db0a243f5",
    "3044\
     02207fb15d24e66c168ac150458c7ae51f843c4858e27d41be3f9396d4919bbd5656\
     02202291bae598e4a41118ea1df24ce8494d4055b2842dc046e0223f5e17e86bd10e\
     :2727bc2b3c33feb6800a830f4055901dd87d65a84184c5fbeb3f816db0a243f5",
];

#[test]
fn chromium_request_hash_vector() {
    assert_eq!(
        RequestHash::of(b"TestSequenceForCupEcdsaUnitTest").to_string(),
        "cde1f7dc1311ed96813057ca321c2f5a17ea2c9c776ee0eb31965f7985a3074a"
    );
    assert_eq!(RequestHash::of(REQUEST_A).to_string(), HASH_A);
}

#[test]
fn chromium_signatures_verify() {
    let key = chromium_key();
    for proof in GOOD_PROOFS {
        assert_eq!(
            verify(&key, REQUEST_A, &cup2key_8_12345(), RESPONSE_A, proof),
            Ok(())
        );
        // The same proof in the ETag forms.
        assert_eq!(
            verify(
                &key,
                REQUEST_A,
                &cup2key_8_12345(),
                RESPONSE_A,
                &format!("W/\"{proof}\"")
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                &key,
                REQUEST_A,
                &cup2key_8_12345(),
                RESPONSE_A,
                &format!("\"{proof}\"")
            ),
            Ok(())
        );
    }
}

#[test]
fn chromium_failure_cases_fail() {
    let key = chromium_key();
    let cup2key = cup2key_8_12345();
    // The answer altered on its way back.
    assert_eq!(
        verify(&key, REQUEST_A, &cup2key, b"Response_B", GOOD_PROOFS[0]),
        Err(CupError::BadSignature)
    );
    // The request altered before it reached the server: the proof names another hash.
    let altered_request = "304402206289a7765f0371c7c48796779747f1166707d5937a99af518845f44af95876\
                           8c0220139fe935fde3e6b416ee742f91c6a480113762d78d889a2661de37576866d21c";
    assert_eq!(
        verify(
            &key,
            REQUEST_A,
            &cup2key,
            b"Response_B",
            &format!(
                "{altered_request}:80e3ef1b373efe5f2a8383a0cf9c89fb2e0cbb8e85db4813655ff5dc05009e7e"
            )
        ),
        Err(CupError::RequestHashMismatch)
    );
    // ... and the slow reject when the hash was put back.
    assert_eq!(
        verify(
            &key,
            REQUEST_A,
            &cup2key,
            b"Response_B",
            &format!("{altered_request}:{HASH_A}")
        ),
        Err(CupError::BadSignature)
    );
    // Signed for another nonce (67890).
    let other_nonce = "3046022100d3bbb1fb4451c8e04a07fe95404cc39121ed0e0bc084f87de19d52eee50a97\
                       bf022100dd7d41d467be2af98d9116b0c7ba09740d54578c02a02f74da5f089834be3403";
    assert_eq!(
        verify(
            &key,
            REQUEST_A,
            &cup2key,
            RESPONSE_A,
            &format!("{other_nonce}:{HASH_A}")
        ),
        Err(CupError::BadSignature)
    );
    let nonce_67890 = Cup2Key::parse("8:67890").unwrap();
    assert_eq!(
        verify(
            &key,
            REQUEST_A,
            &nonce_67890,
            RESPONSE_A,
            &format!("{other_nonce}:{HASH_A}")
        ),
        Ok(())
    );
}

/// Chromium's malformed-proof cases (`ValidateResponse_TestETagParsing`): each is refused,
/// none panics.
#[test]
fn chromium_malformed_proofs_are_refused() {
    let key = chromium_key();
    let cup2key = cup2key_8_12345();
    let sig = "3044\
               02207fb15d24e66c168ac150458c7ae51f843c4858e27d41be3f9396d4919bbd5656\
               02202291bae598e4a41118ea1df24ce8494d4055b2842dc046e0223f5e17e86bd10e";
    let cases: Vec<(String, CupError)> = vec![
        (String::new(), CupError::ProofFormat),
        (":".into(), CupError::ProofFormat),
        (format!("{sig}:"), CupError::ProofFormat),
        (format!(":{HASH_A}"), CupError::ProofFormat),
        (
            format!("{}:{HASH_A}", sig.replacen("458c7a", "458__a", 1)),
            CupError::SignatureEncoding,
        ),
        (
            format!("{sig}:{}", HASH_A.replacen("1dd8", "1d__", 1)),
            CupError::Hash {
                what: "the proof's request hash",
            },
        ),
        (
            format!("{}:{HASH_A}", &sig[..sig.len() - 1]),
            CupError::SignatureEncoding,
        ),
        (
            format!("{sig}:{}", &HASH_A[..63]),
            CupError::Hash {
                what: "the proof's request hash",
            },
        ),
        (
            format!("{sig}:{}", &HASH_A[..62]),
            CupError::Hash {
                what: "the proof's request hash",
            },
        ),
        (
            format!("{sig}:{HASH_A}ff"),
            CupError::Hash {
                what: "the proof's request hash",
            },
        ),
        // An ASN.1 NULL: too short to be a signature.
        (format!("0500:{HASH_A}"), CupError::SignatureEncoding),
        // Well-formed in length, but both integers over 256 bits.
        (
            format!(
                "3048{}{}:{HASH_A}",
                "202207fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "202207fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            ),
            CupError::SignatureDer,
        ),
        // Over 72 bytes.
        (
            format!("{}:{HASH_A}", "30".repeat(73)),
            CupError::SignatureEncoding,
        ),
        // Valid DER, not an ECDSA signature: not a sequence, octet strings, a negative int.
        (format!("0406020100020100:{HASH_A}"), CupError::SignatureDer),
        (
            format!(
                "3044{0}{0}:{HASH_A}",
                "06200123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
            ),
            CupError::SignatureDer,
        ),
        (
            format!(
                "3046{}{}:{HASH_A}",
                "02047fffffff",
                "0220ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
            ),
            CupError::SignatureDer,
        ),
        // Not DER: no length, zero length, truncated and overlong integers, and a positive
        // integer padded with zeros.
        (format!("3000:{HASH_A}"), CupError::SignatureEncoding),
        (
            format!(
                "3044{}{}:{HASH_A}",
                "02207fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "02207fb15d24e66c168ac150458c7ae51f843c4858e27d41be3f9396d4919bbd5656"
            ),
            CupError::SignatureDer,
        ),
        (
            format!(
                "3044{}{}:{HASH_A}",
                "02207fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff00",
                "02207fb15d24e66c168ac150458c7ae51f843c4858e27d41be3f9396d4919bbd5656"
            ),
            CupError::SignatureDer,
        ),
        (
            format!(
                "3044{}{}:{HASH_A}",
                "022000007f24e66c168ac150458c7ae51f843c4858e27d41be3f9396d4919bbd5656",
                "02202291bae598e4a41118ea1df24ce8494d4055b2842dc046e0223f5e17e86bd10e"
            ),
            CupError::SignatureDer,
        ),
    ];
    for (proof, expected) in cases {
        assert_eq!(
            verify(&key, REQUEST_A, &cup2key, RESPONSE_A, &proof),
            Err(expected),
            "{proof:?}"
        );
    }
    // "30" alone: one byte, under the minimum.
    assert_eq!(
        verify(
            &key,
            REQUEST_A,
            &cup2key,
            RESPONSE_A,
            &format!("30:{HASH_A}")
        ),
        Err(CupError::SignatureEncoding)
    );
}

#[test]
fn the_signed_message_is_chromiums_layout() {
    // SHA-256(SHA-256("Request_A") ‖ SHA-256("Response_A") ‖ "8:12345"), computed by hand
    // from the layout: the proof of Chromium's test verifies against exactly this.
    use sha2::{Digest as _, Sha256};
    let mut buffer = Vec::new();
    buffer.extend_from_slice(&Sha256::digest(REQUEST_A));
    buffer.extend_from_slice(&Sha256::digest(RESPONSE_A));
    buffer.extend_from_slice(b"8:12345");
    let expected: [u8; 32] = Sha256::digest(&buffer).into();
    assert_eq!(
        signed_message(&RequestHash::of(REQUEST_A), RESPONSE_A, &cup2key_8_12345()),
        expected
    );
}

fn test_key(seed: u8) -> CupSigningKey {
    CupSigningKey::from_bytes(&[seed; 32]).unwrap()
}

#[test]
fn signing_is_deterministic_and_verifies() {
    let key = test_key(1);
    let cup2key = Cup2Key::new(KeyVersion::new(3).unwrap(), "AAECAwQ-_w").unwrap();
    let hash = RequestHash::of(b"<request/>");
    let first = key.sign(&hash, b"<response/>", &cup2key);
    assert_eq!(first, key.sign(&hash, b"<response/>", &cup2key));
    assert_eq!(first.request_hash(), hash);
    assert!(first.signature_der().len() >= 8 && first.signature_der().len() <= 72);
    let header = first.to_string();
    assert_eq!(header, header.to_lowercase());
    assert_eq!(
        verify(
            &key.public_key(),
            b"<request/>",
            &cup2key,
            b"<response/>",
            &header
        ),
        Ok(())
    );
    assert_eq!(
        verify(
            &key.public_key(),
            b"<request/>",
            &cup2key,
            b"<response/>",
            &first.to_etag()
        ),
        Ok(())
    );
    // Another key's signature does not verify.
    assert_eq!(
        verify(
            &test_key(2).public_key(),
            b"<request/>",
            &cup2key,
            b"<response/>",
            &header
        ),
        Err(CupError::BadSignature)
    );
}

#[test]
fn keys_round_trip_through_their_encodings() {
    let key = test_key(9);
    let again = CupSigningKey::from_pem(&key.to_pem()).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    assert!(key.to_pem().starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let public = key.public_key();
    assert_eq!(CupPublicKey::from_der(&public.to_der()).unwrap(), public);
    assert_eq!(CupPublicKey::from_pem(&public.to_pem()).unwrap(), public);
    assert!(public.to_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    // The Chromium key re-encodes to the bytes it was read from.
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(CHROMIUM_KEY_BASE64)
        .unwrap();
    assert_eq!(chromium_key().to_der(), der);
    assert_eq!(
        CupPublicKey::from_sec1(&der[der.len() - 65..]).unwrap(),
        chromium_key()
    );
}

/// What `openssl ecparam -name prime256v1 -genkey` writes: SEC1 after an `EC PARAMETERS`
/// block (this key was made so, for this test only), its public key as `openssl ec -pubout`
/// prints it, and a proof OpenSSL made with it by Chromium's recipe (`openssl dgst -sha256
/// -sign` over `SHA-256(SHA-256("Request_X") ‖ SHA-256("Response_X") ‖ "1:nonce-from-openssl")`).
const OPENSSL_SEC1_PEM: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIIIkGv0+Cl5/n0RFzn5xFwp4hLEucxHoRkppKyLXJmEWoAoGCCqGSM49
AwEHoUQDQgAE+TcLKL3mXSImEBgeh/qDlgcppDcKsPLO7HQYJW/U9Fp11+gnr8C0
X/AiroEtpHwltr0r7Vn3/MwffRBdr1aIsQ==
-----END EC PRIVATE KEY-----
";
const OPENSSL_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+TcLKL3mXSImEBgeh/qDlgcppDcK
sPLO7HQYJW/U9Fp11+gnr8C0X/AiroEtpHwltr0r7Vn3/MwffRBdr1aIsQ==
-----END PUBLIC KEY-----
";
const OPENSSL_PROOF: &str = "3045022100bc35cfaab512fe5c5a99e04ab79e307dc85de2e9ec4aae910b6e1d02d867b9aa\
                             02207a8c13b02c8e8ea143367f8dc628de5b633fbf5da6cb13e78f54732d99e79fd0\
                             :c53953e5e3348a5ac6df2b59b43513670fd6cc0778dfa7406e8b63fa76353d56";

#[test]
fn openssl_keys_and_signatures_agree() {
    let key = CupSigningKey::from_pem(OPENSSL_SEC1_PEM).unwrap();
    let public = CupPublicKey::from_pem(OPENSSL_PUBLIC_PEM).unwrap();
    assert_eq!(key.public_key(), public);
    assert_eq!(public.to_pem(), OPENSSL_PUBLIC_PEM);
    let cup2key = Cup2Key::parse("1:nonce-from-openssl").unwrap();
    assert_eq!(
        verify(
            &public,
            b"Request_X",
            &cup2key,
            b"Response_X",
            OPENSSL_PROOF
        ),
        Ok(())
    );
    // Our own signature over the same exchange verifies too, and differs from OpenSSL's
    // (which drew a random k; ours is RFC 6979's).
    let ours = key.sign(&RequestHash::of(b"Request_X"), b"Response_X", &cup2key);
    assert_ne!(ours.to_string(), OPENSSL_PROOF);
    assert_eq!(
        verify(
            &public,
            b"Request_X",
            &cup2key,
            b"Response_X",
            &ours.to_string()
        ),
        Ok(())
    );
    // Re-read as PKCS#8, the same key.
    let again = CupSigningKey::from_pem(&key.to_pem()).unwrap();
    assert_eq!(again.public_key(), public);
}

#[test]
fn bad_keys_are_refused() {
    assert_eq!(
        CupSigningKey::from_bytes(&[0; 32]).err(),
        Some(CupError::PrivateKey)
    );
    assert_eq!(
        CupSigningKey::from_bytes(&[0xff; 32]).err(),
        Some(CupError::PrivateKey)
    );
    assert_eq!(
        CupSigningKey::from_pem("hello").err(),
        Some(CupError::PrivateKey)
    );
    assert_eq!(
        CupSigningKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .err(),
        Some(CupError::PrivateKey)
    );
    assert_eq!(
        CupPublicKey::from_der(b"\x30\x00").err(),
        Some(CupError::PublicKey)
    );
    assert_eq!(CupPublicKey::from_pem("").err(), Some(CupError::PublicKey));
    assert_eq!(
        CupPublicKey::from_sec1(&[4; 65]).err(),
        Some(CupError::PublicKey)
    );
}

#[test]
fn cup2key_values() {
    let key = Cup2Key::parse("8:12345").unwrap();
    assert_eq!(key.key_version(), KeyVersion::new(8).unwrap());
    assert_eq!(key.nonce(), "12345");
    assert_eq!(key.as_str(), "8:12345");
    let made = Cup2Key::new(KeyVersion::new(8).unwrap(), "12345").unwrap();
    assert_eq!(made, key);
    // A nonce may hold a colon: only the first separates.
    assert_eq!(Cup2Key::parse("2:a:b").unwrap().nonce(), "a:b");
    for (text, expected) in [
        ("", CupError::Cup2KeyFormat),
        ("8", CupError::Cup2KeyFormat),
        (":abc", CupError::KeyVersion(String::new())),
        ("0:abc", CupError::KeyVersion("0".into())),
        ("-1:abc", CupError::KeyVersion("-1".into())),
        ("+1:abc", CupError::KeyVersion("+1".into())),
        ("4294967296:abc", CupError::KeyVersion("4294967296".into())),
        ("8:", CupError::Nonce { len: 0 }),
        ("8:a b", CupError::Nonce { len: 3 }),
        ("8:é", CupError::Nonce { len: 2 }),
    ] {
        assert_eq!(Cup2Key::parse(text), Err(expected), "{text:?}");
    }
    assert_eq!(
        Cup2Key::parse(&format!("1:{}", "n".repeat(129))),
        Err(CupError::Nonce { len: 129 })
    );
    assert!(Cup2Key::parse(&format!("4294967295:{}", "n".repeat(128))).is_ok());
}

#[test]
fn query_strings() {
    let hash = RequestHash::of(REQUEST_A);
    assert_eq!(CupQuery::from_query(""), Ok(None));
    assert_eq!(CupQuery::from_query("appid=x&foo"), Ok(None));
    assert_eq!(
        CupQuery::from_query(&format!("x=1&cup2key=8%3A12345&cup2hreq={HASH_A}")),
        Ok(Some(CupQuery {
            cup2key: cup2key_8_12345(),
            request_hash: Some(hash),
        }))
    );
    assert_eq!(
        CupQuery::from_query("cup2key=8:12345"),
        Ok(Some(CupQuery {
            cup2key: cup2key_8_12345(),
            request_hash: None,
        }))
    );
    for (query, expected) in [
        (
            "cup2key=8:1&cup2key=8:2",
            CupError::DuplicateParameter("cup2key"),
        ),
        (
            "cup2key=8:1&cup2hreq=00&cup2hreq=00",
            CupError::DuplicateParameter("cup2hreq"),
        ),
        ("cup2hreq=00", CupError::HashWithoutKey),
        (
            "cup2key=8:1&cup2hreq=00",
            CupError::Hash { what: "cup2hreq" },
        ),
        ("cup2key=8%3", CupError::Query),
        ("cup2key=8%zz1", CupError::Query),
        ("cup2key=8%FF1", CupError::Query),
        ("cup2key", CupError::Cup2KeyFormat),
    ] {
        assert_eq!(CupQuery::from_query(query), Err(expected), "{query:?}");
    }
    assert_eq!(
        CupQuery::from_query(&"a".repeat(4097)),
        Err(CupError::Query)
    );
    // What a client sends reads back as itself, escapes and all.
    let query = CupQuery::for_request(
        Cup2Key::new(KeyVersion::new(12).unwrap(), "a+b/c=d&e%").unwrap(),
        REQUEST_A,
    );
    let text = query.to_query();
    assert!(
        text.starts_with("cup2key=12:a%2Bb%2Fc%3Dd%26e%25&cup2hreq="),
        "{text}"
    );
    assert_eq!(CupQuery::from_query(&text), Ok(Some(query)));
}

#[test]
fn proofs_from_headers_prefer_x_cup_server_proof() {
    let good = GOOD_PROOFS[0];
    let other = GOOD_PROOFS[1];
    let pick = |proof: Option<&str>, etag: Option<&str>| {
        ServerProof::from_headers(proof, etag).map(|p| p.unwrap().to_string())
    };
    assert_eq!(pick(Some(good), Some(other)), Some(good.to_owned()));
    assert_eq!(
        pick(None, Some(&format!("W/\"{other}\""))),
        Some(other.to_owned())
    );
    assert_eq!(pick(None, Some(other)), Some(other.to_owned()));
    assert_eq!(pick(None, None), None);
}

/// One alteration of a signed exchange.
#[derive(Debug, Clone)]
enum Alteration {
    Request(usize, u8),
    Answer(usize, u8),
    Nonce(String),
    KeyVersion(u32),
    Signature(usize, u8),
}

fn alteration() -> impl Strategy<Value = Alteration> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Alteration::Request(i, x)),
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Alteration::Answer(i, x)),
        "[A-Za-z0-9_-]{1,43}".prop_map(Alteration::Nonce),
        (1..=u32::MAX).prop_map(Alteration::KeyVersion),
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Alteration::Signature(i, x)),
    ]
}

fn flip(bytes: &mut Vec<u8>, index: usize, xor: u8) {
    if bytes.is_empty() {
        bytes.push(xor);
    } else {
        let i = index % bytes.len();
        bytes[i] ^= xor;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every exchange signed verifies, and any alteration of the request, the answer, the
    /// nonce, the key version or the signature fails to.
    #[test]
    fn any_alteration_fails(
        seed in 1..=254u8,
        request in proptest::collection::vec(any::<u8>(), 0..512),
        answer in proptest::collection::vec(any::<u8>(), 0..512),
        version in 1..=u32::MAX,
        nonce in "[A-Za-z0-9_-]{1,43}",
        change in alteration(),
    ) {
        let key = test_key(seed);
        let pinned = key.public_key();
        let cup2key = Cup2Key::new(KeyVersion::new(version).unwrap(), &nonce).unwrap();
        let proof = key.sign(&RequestHash::of(&request), &answer, &cup2key);
        prop_assert_eq!(verify(&pinned, &request, &cup2key, &answer, &proof.to_string()), Ok(()));

        let (mut request2, mut answer2, mut cup2key2) = (request.clone(), answer.clone(), cup2key.clone());
        let mut proof_text = proof.to_string();
        match change {
            Alteration::Request(i, x) => flip(&mut request2, i, x),
            Alteration::Answer(i, x) => flip(&mut answer2, i, x),
            Alteration::Nonce(other) => {
                prop_assume!(other != nonce);
                cup2key2 = Cup2Key::new(cup2key.key_version(), &other).unwrap();
            }
            Alteration::KeyVersion(other) => {
                prop_assume!(other != version);
                cup2key2 = Cup2Key::new(KeyVersion::new(other).unwrap(), &nonce).unwrap();
            }
            Alteration::Signature(i, x) => {
                let mut der = proof.signature_der().to_vec();
                flip(&mut der, i, x);
                let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
                proof_text = format!("{hex}:{}", proof.request_hash());
            }
        }
        prop_assert!(verify(&pinned, &request2, &cup2key2, &answer2, &proof_text).is_err());
    }

    /// Whatever a proof header or query string holds, reading it returns, never panics.
    #[test]
    fn hostile_text_never_panics(text in ".{0,300}") {
        let _ = ServerProof::parse(&text);
        let _ = CupQuery::from_query(&text);
        let _ = Cup2Key::parse(&text);
        let _ = CupSigningKey::from_pem(&text);
        let _ = CupPublicKey::from_pem(&text);
    }
}
