//! Payload hosting: uploads, ranged downloads that resume, detached signatures, and the
//! Omaha response naming a hosted payload.

use crate::support::{ADMIN_KEY, APP, TestServer, check_request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use omaha_proto::codes::UpdateCheckStatus;
use sha2::Digest as _;
use update_server::policy::GroupPolicy;

pub fn basic_auth() -> String {
    format!("Basic {}", BASE64.encode(format!("admin:{ADMIN_KEY}")))
}

/// A multipart/form-data body with one part `file` named `filename`.
pub fn multipart(filename: &str, payload: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----update-server-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(payload);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// POSTs a payload to `base/package-upload`: status and JSON body.
pub async fn upload(
    base: &str,
    authorization: Option<&str>,
    filename: &str,
    payload: &[u8],
) -> (u16, serde_json::Value) {
    let (content_type, body) = multipart(filename, payload);
    let mut request = reqwest::Client::new()
        .post(format!("{base}/package-upload"))
        .header("content-type", content_type)
        .body(body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

pub fn test_payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

async fn get_range(url: &str, range: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn an_uploaded_payload_resumes_halfway_and_reaches_the_omaha_response() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let base = format!("http://{}", s.addr());
    let payload = test_payload(100_000);
    let (status, body) = upload(&base, Some(&basic_auth()), "update.gz", &payload).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "update.gz");
    assert_eq!(body["size"], 100_000);
    assert_eq!(
        body["sha1Sum"],
        BASE64.encode(sha1::Sha1::digest(&payload)).as_str()
    );
    assert_eq!(
        body["sha256Sum"],
        BASE64.encode(sha2::Sha256::digest(&payload)).as_str()
    );
    let url = body["url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("{base}/packages/update.gz"));
    assert!(s.data.path().join("packages/update.gz").is_file());

    // The same payload again (a retried upload) is fine; a different one of that name is not.
    let (status, again) = upload(&base, Some(&basic_auth()), "update.gz", &payload).await;
    assert_eq!((status, &again), (200, &body));
    let (status, conflict) = upload(&base, Some(&basic_auth()), "update.gz", b"other").await;
    assert_eq!(status, 409, "{conflict}");

    // HEAD: the size and that ranges work, no body.
    let head = reqwest::Client::new().head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), "100000");
    assert_eq!(header(&head, "accept-ranges"), "bytes");

    // A download interrupted halfway resumes where it stopped.
    let first = get_range(&url, Some("bytes=0-49999")).await;
    assert_eq!(first.status(), 206);
    assert_eq!(header(&first, "content-range"), "bytes 0-49999/100000");
    let mut downloaded = first.bytes().await.unwrap().to_vec();
    assert_eq!(downloaded.len(), 50_000);
    let second = get_range(&url, Some(&format!("bytes={}-", downloaded.len()))).await;
    assert_eq!(second.status(), 206);
    assert_eq!(header(&second, "content-range"), "bytes 50000-99999/100000");
    downloaded.extend_from_slice(&second.bytes().await.unwrap());
    assert_eq!(downloaded, payload);

    // The last bytes; the whole; out of range.
    let tail = get_range(&url, Some("bytes=-10")).await;
    assert_eq!(tail.status(), 206);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &payload[99_990..]);
    let whole = get_range(&url, None).await;
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.bytes().await.unwrap().as_ref(), payload.as_slice());
    let beyond = get_range(&url, Some("bytes=100000-")).await;
    assert_eq!(beyond.status(), 416);
    assert_eq!(header(&beyond, "content-range"), "bytes */100000");

    // Registered with the URL the upload answered, with a signature.
    let signature = BASE64.encode([7u8; 64]);
    let (status, package) = s
        .api(
            "POST",
            &format!("/_ah/api/update/v1/apps/{APP}/packages/1.2.0"),
            Some(serde_json::json!({
                "url": url,
                "size": body["size"].to_string(),
                "sha1Sum": body["sha1Sum"],
                "sha256Sum": body["sha256Sum"],
                "signature": signature,
            })),
        )
        .await;
    assert_eq!(status, 200, "{package}");

    // The SDK's detached signature next to the payload.
    let sig = get_range(&format!("{url}.sig"), None).await;
    assert_eq!(sig.status(), 200);
    assert_eq!(sig.text().await.unwrap(), signature);
    let missing = get_range(&format!("{base}/packages/other.gz.sig"), None).await;
    assert_eq!(missing.status(), 404);
    let missing = get_range(&format!("{base}/packages/other.gz"), None).await;
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = serde_json::from_slice(&missing.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], 404);

    // Instances are sent to it.
    s.move_channel("1.2.0").await;
    let (_, response) = s.omaha(&check_request("hosted-1", "1.0.0")).await;
    let update = response.apps[0].update_check.clone().unwrap();
    assert_eq!(update.status, Some(UpdateCheckStatus::Ok));
    assert_eq!(
        update.urls[0].codebase.as_str(),
        format!("{base}/packages/")
    );
    let package = &update.manifests[0].packages[0];
    assert_eq!(
        (package.name.as_str(), package.size),
        ("update.gz", 100_000)
    );
    s.stop().await;
}

#[tokio::test]
async fn uploads_need_auth_a_plain_name_and_a_size_under_the_limit() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let base = format!("http://{}", s.addr());

    let (status, body) = upload(&base, None, "update.gz", b"hello").await;
    assert_eq!(status, 401, "{body}");
    let wrong = format!("Basic {}", BASE64.encode("admin:wrong"));
    let (status, _) = upload(&base, Some(&wrong), "update.gz", b"hello").await;
    assert_eq!(status, 401);

    // The test server's limit is 1 MiB.
    let (status, body) = upload(
        &base,
        Some(&basic_auth()),
        "big.gz",
        &test_payload(1_100_000),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--max-upload-size")
    );

    for name in ["../escape.gz", "a/b.gz", "..", ".hidden", "c:\\\\x.gz"] {
        let (status, body) = upload(&base, Some(&basic_auth()), name, b"hello").await;
        assert_eq!(status, 400, "{name}: {body}");
    }
    assert!(!s.data.path().join("escape.gz").exists());
    // Nothing was left behind: no payload, no temporary file.
    let left: Vec<_> = std::fs::read_dir(s.data.path().join("packages"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // Not multipart; no `file` part.
    let response = reqwest::Client::new()
        .post(format!("{base}/package-upload"))
        .header("authorization", basic_auth())
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = reqwest::Client::new()
        .post(format!("{base}/package-upload"))
        .header("authorization", basic_auth())
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // A traversal in the download path finds nothing.
    let response = reqwest::Client::new()
        .get(format!("{base}/packages/..%2Fdb.sqlite3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    s.stop().await;
}

/// A request for a signature, present or missing, is answered from the in-memory
/// configuration: with the store's package table out of reach, the signature that exists is
/// still served and a missing one is a 404, not a store read.
async fn signatures_come_from_the_configuration_cache(s: TestServer) {
    let base = format!("http://{}", s.addr());
    let signature = BASE64.encode([9u8; 64]);
    let (status, package) = s
        .api(
            "POST",
            &format!("/_ah/api/update/v1/apps/{APP}/packages/1.3.0"),
            Some(serde_json::json!({
                "url": format!("{base}/packages/signed.gz"),
                "size": "5",
                "sha1Sum": "qvTGHdzF6KLavt4PO0gs2a6pQ00=",
                "sha256Sum": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=",
                "signature": signature,
            })),
        )
        .await;
    assert_eq!(status, 200, "{package}");
    s.execute_sql("ALTER TABLE packages RENAME TO packages_away")
        .await;
    for _ in 0..50 {
        let missing = get_range(&format!("{base}/packages/missing.gz.sig"), None).await;
        assert_eq!(missing.status(), 404, "a missing signature reads no store");
    }
    let sig = get_range(&format!("{base}/packages/signed.gz.sig"), None).await;
    assert_eq!(sig.status(), 200);
    assert_eq!(sig.text().await.unwrap(), signature);
    s.execute_sql("ALTER TABLE packages_away RENAME TO packages")
        .await;
    s.stop().await;
}

#[tokio::test]
async fn signatures_come_from_the_configuration_cache_sqlite() {
    signatures_come_from_the_configuration_cache(
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn signatures_come_from_the_configuration_cache_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        signatures_come_from_the_configuration_cache(s).await;
    }
}

/// A Hawk header signed over a body of `content_type` (its payload hash included).
fn hawk_with_hash(
    s: &TestServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> String {
    use update_server::auth::{HawkHeader, HawkRequest, PayloadHash, hawk_mac};
    static NONCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut header = HawkHeader {
        id: "admin".into(),
        ts: update_server::clock::Clock::now(s.clock.as_ref()).as_second(),
        nonce: format!(
            "h{:07}",
            NONCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        hash: PayloadHash::of(content_type, body),
        ..HawkHeader::default()
    };
    let addr = s.addr();
    header.mac = hawk_mac(
        ADMIN_KEY,
        &header,
        &HawkRequest {
            method,
            resource: path,
            host: &addr.ip().to_string(),
            port: addr.port(),
        },
    );
    format!(
        r#"Hawk id="admin", mac="{}", ts="{}", nonce="{}", hash="{}""#,
        header.mac, header.ts, header.nonce, header.hash
    )
}

/// A request signed with a payload hash over body A is refused with body B, on the admin
/// API (before the handler runs: nothing is created) and on a streamed upload (nothing is
/// kept); with the body it was signed over, it is accepted.
async fn hawk_payload_hashes_are_checked(s: TestServer) {
    let base = format!("http://{}", s.addr());
    let client = reqwest::Client::new();
    let path = format!("/_ah/api/update/v1/apps/{APP}/channels");
    let signed = br#"{"label":"beta","version":"1.0.0"}"#;
    let swapped = br#"{"label":"evil","version":"1.1.0"}"#;
    let send = |auth: String, body: &'static [u8]| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .header("authorization", auth)
            .body(body)
            .send()
    };
    let response = send(
        hawk_with_hash(&s, "POST", &path, "application/json", signed),
        swapped,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.text().await.unwrap().contains("payload hash"));
    let response = send(
        hawk_with_hash(&s, "POST", &path, "application/json", signed),
        signed,
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let channels = s.store.load_config().await.unwrap().channels;
    assert!(channels.iter().any(|c| c.name == "beta"));
    assert!(!channels.iter().any(|c| c.name == "evil"));

    // A streamed upload signed over one payload, carrying another.
    let (content_type, good) = multipart("hashed.bin", &test_payload(300_000));
    let (_, evil) = multipart("hashed.bin", &test_payload(300_001));
    let upload_with = |auth: String, body: Vec<u8>| {
        client
            .post(format!("{base}/package-upload"))
            .header("content-type", content_type.clone())
            .header("authorization", auth)
            .body(body)
            .send()
    };
    let auth = hawk_with_hash(&s, "POST", "/package-upload", &content_type, &good);
    let response = upload_with(auth, evil).await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!(status == 400 || status == 401, "{status} {text}");
    assert!(text.contains("payload hash"), "{text}");
    let kept: Vec<_> = std::fs::read_dir(s.data.path().join("packages"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(kept.is_empty(), "nothing kept: {kept:?}");
    let auth = hawk_with_hash(&s, "POST", "/package-upload", &content_type, &good);
    let response = upload_with(auth, good.clone()).await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert!(s.data.path().join("packages/hashed.bin").exists());
    s.stop().await;
}

#[tokio::test]
async fn hawk_payload_hashes_are_checked_sqlite() {
    hawk_payload_hashes_are_checked(TestServer::start_sqlite(GroupPolicy::default()).await).await;
}

#[tokio::test]
async fn hawk_payload_hashes_are_checked_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        hawk_payload_hashes_are_checked(s).await;
    }
}
