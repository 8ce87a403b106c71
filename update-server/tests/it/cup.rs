//! CUP-ECDSA over HTTP on 127.0.0.1: signed answers verify with the public key the server
//! lists, each nonce gets its own proof, unknown key versions and altered requests are
//! refused before anything is stored, two key versions are served during a rotation, and
//! the keys survive a restart.

use crate::support::{self, TestServer};
use omaha_proto::cup::{Cup2Key, CupPublicKey, CupQuery, KeyVersion, verify};
use std::path::Path;
use update_server::cup::{CupKeyError, CupKeys, KEYS_DIR, load_keys};
use update_server::policy::GroupPolicy;

fn cup2key(version: u32, nonce: &str) -> Cup2Key {
    Cup2Key::new(KeyVersion::new(version).unwrap(), nonce).unwrap()
}

/// An answer as a client sees it.
struct Answer {
    status: u16,
    proof: Option<String>,
    etag: Option<String>,
    body: Vec<u8>,
}

async fn post(server: &TestServer, query: &str, body: &[u8]) -> Answer {
    let url = if query.is_empty() {
        format!("http://{}/v1/update/", server.addr())
    } else {
        format!("http://{}/v1/update/?{query}", server.addr())
    };
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "text/xml")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        proof: header("x-cup-server-proof"),
        etag: header("etag"),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

/// `GET /v1/cup/keys`: the versions and public keys (read from their PEM and checked
/// against their DER).
async fn served_keys(server: &TestServer) -> Vec<(u32, CupPublicKey)> {
    use base64::Engine as _;
    let response = reqwest::get(format!("http://{}/v1/cup/keys", server.addr()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let listing: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    listing["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let key = CupPublicKey::from_pem(k["publicKeyPem"].as_str().unwrap()).unwrap();
            let der = base64::engine::general_purpose::STANDARD
                .decode(k["publicKeyDer"].as_str().unwrap())
                .unwrap();
            assert_eq!(CupPublicKey::from_der(&der).unwrap(), key);
            (
                u32::try_from(k["keyVersion"].as_u64().unwrap()).unwrap(),
                key,
            )
        })
        .collect()
}

fn keys_in(dir: &Path) -> CupKeys {
    CupKeys::load_or_create(dir).unwrap()
}

async fn signed_answers_verify(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) =
        TestServer::start_with_cup_keys(postgres, GroupPolicy::default(), keys_in(dir.path()))
            .await
    else {
        return;
    };
    let served = served_keys(&server).await;
    assert_eq!(served.len(), 1);
    let (version, pinned) = served[0];
    assert_eq!(version, 1);

    let body = support::check_request("m-signed", "1.0.0").encode();
    let first = cup2key(1, "c2lnbmVkLWFuc3dlcnMtMQ");
    let a = post(
        &server,
        &CupQuery::for_request(first.clone(), &body).to_query(),
        &body,
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let proof = a.proof.clone().expect("a signed answer");
    assert_eq!(verify(&pinned, &body, &first, &a.body, &proof), Ok(()));
    // The ETag carries the same proof, weak.
    assert_eq!(a.etag, Some(format!("W/\"{proof}\"")));
    assert_eq!(
        verify(&pinned, &body, &first, &a.body, a.etag.as_deref().unwrap()),
        Ok(())
    );
    // The answer is a real one.
    let answer = omaha_proto::Response::decode(&a.body).unwrap();
    assert_eq!(answer.apps.len(), 1);

    // Another nonce, the same request: another proof, valid for its own nonce only.
    let second = cup2key(1, "c2lnbmVkLWFuc3dlcnMtMg");
    let b = post(
        &server,
        &CupQuery::for_request(second.clone(), &body).to_query(),
        &body,
    )
    .await;
    assert_eq!(b.status, 200);
    let proof_b = b.proof.expect("a signed answer");
    assert_ne!(proof_b, proof);
    assert_eq!(verify(&pinned, &body, &second, &b.body, &proof_b), Ok(()));
    // A replay of the first answer to the second request fails.
    assert!(verify(&pinned, &body, &second, &a.body, &proof).is_err());
    // An altered answer fails.
    let mut altered = b.body.clone();
    let at = altered.len() / 2;
    altered[at] ^= 1;
    assert!(verify(&pinned, &body, &second, &altered, &proof_b).is_err());

    // cup2hreq is optional: the server hashes the body it received.
    let third = cup2key(1, "12345");
    let c = post(&server, &format!("cup2key={third}"), &body).await;
    assert_eq!(c.status, 200);
    assert_eq!(
        verify(&pinned, &body, &third, &c.body, &c.proof.unwrap()),
        Ok(())
    );
    server.stop().await;
}

#[tokio::test]
async fn signed_answers_verify_with_the_served_key_sqlite() {
    signed_answers_verify(false).await;
}

#[tokio::test]
async fn signed_answers_verify_with_the_served_key_postgres() {
    signed_answers_verify(true).await;
}

#[tokio::test]
async fn without_cup2key_the_answer_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        TestServer::start_with_cup_keys(false, GroupPolicy::default(), keys_in(dir.path()))
            .await
            .unwrap();
    let body = support::check_request("m-plain", "1.0.0").encode();
    let plain = post(&server, "", &body).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.proof, None);
    assert_eq!(plain.etag, None);
    // The same request signed: the very same bytes, with the proof beside them.
    let key = cup2key(1, "dW50b3VjaGVk");
    let signed = post(
        &server,
        &CupQuery::for_request(key.clone(), &body).to_query(),
        &body,
    )
    .await;
    assert_eq!(signed.status, 200);
    assert_eq!(signed.body, plain.body);
    assert!(signed.proof.is_some());
    // Other query parameters are no request for a signature either.
    let other = post(&server, "appid=x&cup2=1", &body).await;
    assert_eq!(other.body, plain.body);
    assert_eq!(other.proof, None);
    server.stop().await;
}

async fn refusals(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) =
        TestServer::start_with_cup_keys(postgres, GroupPolicy::default(), keys_in(dir.path()))
            .await
    else {
        return;
    };
    let body = support::check_request("m-refused", "1.0.0").encode();
    let text = |a: &Answer| String::from_utf8_lossy(&a.body).into_owned();

    // A key version the server has no key for.
    let unknown = post(
        &server,
        &CupQuery::for_request(cup2key(7, "bm9uY2U"), &body).to_query(),
        &body,
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.proof, None);
    assert!(
        text(&unknown).contains("unknown CUP key version 7")
            && text(&unknown).contains("key versions 1 ")
            && text(&unknown).contains("/v1/cup/keys"),
        "{}",
        text(&unknown)
    );

    // A body altered on its way: cup2hreq names another body.
    let altered = post(
        &server,
        &CupQuery::for_request(cup2key(1, "bm9uY2U"), b"<request/>").to_query(),
        &body,
    )
    .await;
    assert_eq!(altered.status, 400);
    assert!(text(&altered).contains("altered"), "{}", text(&altered));

    // Malformed parameters.
    for (query, says) in [
        ("cup2key=1", "no `:`"),
        ("cup2key=0:abc", "key version"),
        ("cup2key=x:abc", "key version"),
        ("cup2key=1:", "nonce"),
        ("cup2key=1:a&cup2key=1:b", "more than once"),
        ("cup2key=1:a&cup2hreq=zz", "cup2hreq"),
        ("cup2hreq=00", "without cup2key"),
        ("cup2key=1:%zz", "malformed"),
    ] {
        let answer = post(&server, query, &body).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(text(&answer).contains(says), "{query}: {}", text(&answer));
    }

    // None of these requests was processed: the instance is unknown.
    server.flush().await;
    assert!(
        server
            .store
            .instance(support::APP, "m-refused")
            .await
            .unwrap()
            .is_none()
    );
    // A body over the limit gets the endpoint's 413, signed request or not.
    let big = vec![b' '; update_server::http::MAX_BODY + 1];
    let over = post(&server, &format!("cup2key={}", cup2key(1, "big")), &big).await;
    assert_eq!(over.status, 413);
    server.stop().await;
}

#[tokio::test]
async fn unknown_key_versions_and_altered_requests_are_refused_sqlite() {
    refusals(false).await;
}

#[tokio::test]
async fn unknown_key_versions_and_altered_requests_are_refused_postgres() {
    refusals(true).await;
}

#[tokio::test]
async fn a_server_without_keys_refuses_every_cup2key() {
    let server = TestServer::start_sqlite(GroupPolicy::default()).await;
    let body = support::check_request("m-keyless", "1.0.0").encode();
    let answer = post(&server, "cup2key=1:abc", &body).await;
    assert_eq!(answer.status, 400);
    assert!(String::from_utf8_lossy(&answer.body).contains("key versions none"));
    server.stop().await;
}

#[tokio::test]
async fn a_rotation_serves_both_key_versions() {
    let dir = tempfile::tempdir().unwrap();
    let old = keys_in(dir.path());
    let (next, _) = CupKeys::create_next(dir.path()).unwrap();
    assert_eq!(next.get(), 2);
    let keys = CupKeys::load_dir(dir.path()).unwrap();
    assert_eq!(
        keys.versions().map(KeyVersion::get).collect::<Vec<_>>(),
        [1, 2]
    );
    // Version 1 is still the key it was.
    assert_eq!(
        keys.get(KeyVersion::new(1).unwrap()).unwrap().public_key(),
        old.get(KeyVersion::new(1).unwrap()).unwrap().public_key()
    );
    let server = TestServer::start_with_cup_keys(false, GroupPolicy::default(), keys)
        .await
        .unwrap();
    let served = served_keys(&server).await;
    assert_eq!(served.iter().map(|(v, _)| *v).collect::<Vec<_>>(), [1, 2]);
    assert_ne!(served[0].1, served[1].1);

    let body = support::check_request("m-rotation", "1.0.0").encode();
    for (i, (version, pinned)) in served.iter().enumerate() {
        let key = cup2key(*version, "cm90YXRpb24");
        let answer = post(
            &server,
            &CupQuery::for_request(key.clone(), &body).to_query(),
            &body,
        )
        .await;
        assert_eq!(answer.status, 200);
        let proof = answer.proof.unwrap();
        assert_eq!(verify(pinned, &body, &key, &answer.body, &proof), Ok(()));
        // The other version's key does not verify it.
        let other = &served[1 - i].1;
        assert!(verify(other, &body, &key, &answer.body, &proof).is_err());
    }

    // Retiring version 1: its clients are refused, version 2's still verify.
    server.stop().await;
    std::fs::remove_file(dir.path().join("1.pem")).unwrap();
    let server = TestServer::start_with_cup_keys(
        false,
        GroupPolicy::default(),
        CupKeys::load_dir(dir.path()).unwrap(),
    )
    .await
    .unwrap();
    let retired = post(&server, "cup2key=1:abc", &body).await;
    assert_eq!(retired.status, 400);
    let key = cup2key(2, "YWZ0ZXI");
    let answer = post(&server, &format!("cup2key={key}"), &body).await;
    assert_eq!(
        verify(
            &served[1].1,
            &body,
            &key,
            &answer.body,
            &answer.proof.unwrap()
        ),
        Ok(())
    );
    server.stop().await;
}

#[tokio::test]
async fn the_key_survives_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let config = update_server::config::Config::load_from(
        ["update-server", "--data-dir", data.path().to_str().unwrap()],
        |_| None,
    )
    .unwrap();
    let first = load_keys(&config).unwrap();
    let key_file = data.path().join(KEYS_DIR).join("1.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key_file), 0o600);
        assert_eq!(mode(&data.path().join(KEYS_DIR)), 0o700);
    }
    let server = TestServer::start_with_cup_keys(false, GroupPolicy::default(), first)
        .await
        .unwrap();
    let before = served_keys(&server).await;
    server.stop().await;

    // The next start reads the same key; nothing new is created.
    let again = load_keys(&config).unwrap();
    assert_eq!(
        std::fs::read_dir(data.path().join(KEYS_DIR))
            .unwrap()
            .count(),
        1
    );
    let server = TestServer::start_with_cup_keys(false, GroupPolicy::default(), again)
        .await
        .unwrap();
    assert_eq!(served_keys(&server).await, before);
    // And an answer signed after the restart verifies with the key pinned before it.
    let body = support::check_request("m-restart", "1.0.0").encode();
    let key = cup2key(1, "cmVzdGFydA");
    let answer = post(&server, &format!("cup2key={key}"), &body).await;
    assert_eq!(
        verify(
            &before[0].1,
            &body,
            &key,
            &answer.body,
            &answer.proof.unwrap()
        ),
        Ok(())
    );
    server.stop().await;
}

#[test]
fn a_key_directory_given_must_hold_a_usable_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = |key_dir: &Path| {
        update_server::config::Config::load_from(
            [
                "update-server",
                "--data-dir",
                dir.path().join("data").to_str().unwrap(),
                "--cup-key-dir",
                key_dir.to_str().unwrap(),
            ],
            |_| None,
        )
        .unwrap()
    };
    let keys = dir.path().join("keys");
    // Missing or empty: an error naming the directory, and no key is made behind the
    // operator's back.
    let err = load_keys(&config(&keys)).unwrap_err();
    assert!(matches!(err, CupKeyError::NoKeys { .. }), "{err}");
    assert!(err.to_string().contains("keys"), "{err}");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("README"), "not a key").unwrap();
    assert!(matches!(
        load_keys(&config(&keys)),
        Err(CupKeyError::NoKeys { .. })
    ));
    // A key file that is no key: an error naming the file.
    std::fs::write(keys.join("3.pem"), "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let err = load_keys(&config(&keys)).unwrap_err();
    assert!(err.to_string().contains("3.pem"), "{err}");
    // A key made elsewhere (PKCS#8 PEM) is served under its file's version.
    let key = omaha_proto::cup::CupSigningKey::from_bytes(&[5; 32]).unwrap();
    std::fs::write(keys.join("3.pem"), key.to_pem()).unwrap();
    let loaded = load_keys(&config(&keys)).unwrap();
    assert_eq!(
        loaded.versions().map(KeyVersion::get).collect::<Vec<_>>(),
        [3]
    );
    assert_eq!(
        loaded
            .get(KeyVersion::new(3).unwrap())
            .unwrap()
            .public_key(),
        key.public_key()
    );
    // The data directory was left alone.
    assert!(!dir.path().join("data").join(KEYS_DIR).exists());
    // `create_next` continues from the highest version.
    let (next, _) = CupKeys::create_next(&keys).unwrap();
    assert_eq!(next.get(), 4);
}

/// `update-server cup-keys`: what an operator pins, and `--new` for a rotation.
#[test]
fn the_cup_keys_command_prints_the_public_keys() {
    let data = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_update-server"))
            .env_clear()
            .arg("cup-keys")
            .args(extra)
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let pems = |text: &str| -> Vec<CupPublicKey> {
        text.split("-----BEGIN PUBLIC KEY-----")
            .skip(1)
            .map(|rest| {
                let end = rest.find("-----END PUBLIC KEY-----").unwrap();
                CupPublicKey::from_pem(&format!(
                    "-----BEGIN PUBLIC KEY-----{}-----END PUBLIC KEY-----\n",
                    &rest[..end]
                ))
                .unwrap()
            })
            .collect()
    };
    // The first run creates key version 1, as the server's first start would.
    let first = run(&[]);
    assert!(first.starts_with("key version 1:\n"), "{first}");
    let one = pems(&first);
    assert_eq!(one.len(), 1);
    let on_disk = CupKeys::load_dir(&data.path().join(KEYS_DIR)).unwrap();
    assert_eq!(
        on_disk.public_keys(),
        [(KeyVersion::new(1).unwrap(), one[0])]
    );
    // The same key the next time.
    assert_eq!(pems(&run(&[])), one);
    // --new: version 2 beside it.
    let rotated = run(&["--new"]);
    assert!(
        rotated.starts_with("created CUP key version 2 in "),
        "{rotated}"
    );
    assert!(rotated.contains("key version 1:\n") && rotated.contains("key version 2:\n"));
    let both = pems(&rotated);
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], one[0]);
    assert_ne!(both[1], one[0]);
}
