//! Fuzz target: the CUP-ECDSA parsers (`omaha_proto::cup`), which read what a client or a
//! server sends (query strings, proof headers) and what an operator hands over (keys).
//! None may panic on any input, and what one accepts writes back to a value it reads
//! again as the same:
//!
//! - a `cup2key` (`Cup2Key::parse`) is kept byte for byte, and its parts make it again;
//! - a query (`CupQuery::from_query`) written with `to_query` reads back the same;
//! - a proof (`ServerProof::parse`) reads back from its header value and its `ETag`;
//! - a public key (`CupPublicKey::from_pem`, `from_der`, `from_sec1`) reads back from its
//!   PEM and its DER;
//! - a signing key (`CupSigningKey::from_pem`) reads back from its PEM, and its signature
//!   verifies with its public key.
//!
//! A parsed proof is also checked against a fixed key (it must not panic; it is not
//! expected to verify).
//!
//! Seeds (`fuzz/seeds/cup_parse/`): a `cup2key` (and one with a zero-padded version), a
//! query with both parameters, a proof as a weak `ETag`, the OpenSSL-made key pair of
//! `omaha-proto/tests/cup.rs` (SEC1 private key; public key as PEM, DER and a SEC1 point)
//! and a PKCS#8 private key made for these seeds (`openssl genpkey`), none used elsewhere.
#![forbid(unsafe_code)]
#![no_main]

use libfuzzer_sys::fuzz_target;
use omaha_proto::cup::{
    Cup2Key, CupPublicKey, CupQuery, CupSigningKey, KeyVersion, RequestHash, ServerProof,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        cup2key(text);
        query(text);
        proof(text);
        if let Ok(key) = CupPublicKey::from_pem(text) {
            public_key(&key);
        }
        signing_key(text);
    }
    if let Ok(key) = CupPublicKey::from_der(data) {
        public_key(&key);
    }
    if let Ok(key) = CupPublicKey::from_sec1(data) {
        public_key(&key);
    }
});

fn cup2key(text: &str) {
    let Ok(key) = Cup2Key::parse(text) else {
        return;
    };
    assert_eq!(key.as_str(), text, "a cup2key is kept as sent");
    assert_eq!(key.to_string(), text);
    assert_eq!(Cup2Key::parse(key.as_str()).as_ref(), Ok(&key));
    let version = key.key_version();
    assert_eq!(version.to_string().parse::<KeyVersion>(), Ok(version));
    let rebuilt = Cup2Key::new(version, key.nonce()).expect("a parsed nonce is valid");
    assert_eq!(rebuilt.key_version(), version);
    assert_eq!(rebuilt.nonce(), key.nonce());
    // Equal as text unless the version was written with leading zeros (`01:n`).
    if text.starts_with(&format!("{version}:")) {
        assert_eq!(rebuilt, key);
    }
}

fn query(text: &str) {
    let Ok(Some(query)) = CupQuery::from_query(text) else {
        return;
    };
    let written = query.to_query();
    assert_eq!(
        CupQuery::from_query(&written).as_ref(),
        Ok(&Some(query.clone())),
        "{written}"
    );
    if let Some(hash) = query.request_hash {
        let hex = hash.to_string();
        assert_eq!(RequestHash::parse_hex(&hex, "cup2hreq"), Ok(hash));
    }
}

fn proof(text: &str) {
    let Ok(proof) = ServerProof::parse(text) else {
        return;
    };
    assert_eq!(ServerProof::parse(&proof.to_string()).as_ref(), Ok(&proof));
    assert_eq!(ServerProof::parse(&proof.to_etag()).as_ref(), Ok(&proof));
    assert_eq!(
        ServerProof::from_headers(None, Some(&proof.to_etag())),
        Some(Ok(proof.clone()))
    );
    // Whatever DER the signature holds, checking it only answers.
    let key = fixed_key();
    let cup2key = Cup2Key::parse("1:fuzz").expect("a valid cup2key");
    let _ = key
        .public_key()
        .verify_signature(&proof.request_hash(), b"answer", &cup2key, &proof);
}

fn public_key(key: &CupPublicKey) {
    assert_eq!(CupPublicKey::from_pem(&key.to_pem()).as_ref(), Ok(key));
    assert_eq!(CupPublicKey::from_der(&key.to_der()).as_ref(), Ok(key));
}

fn signing_key(text: &str) {
    let Ok(key) = CupSigningKey::from_pem(text) else {
        return;
    };
    let again = CupSigningKey::from_pem(&key.to_pem()).expect("a written key reads back");
    assert_eq!(again.public_key(), key.public_key());
    let cup2key = Cup2Key::parse("1:fuzz").expect("a valid cup2key");
    let request = RequestHash::of(b"request");
    let proof = key.sign(&request, b"answer", &cup2key);
    assert_eq!(
        key.public_key()
            .verify_signature(&request, b"answer", &cup2key, &proof),
        Ok(())
    );
}

/// A signing key from a fixed scalar.
fn fixed_key() -> CupSigningKey {
    CupSigningKey::from_bytes(&[7; 32]).expect("a valid scalar")
}
