//! Flatcar fleets: a package per architecture.

use crate::support::{APP, TestServer, check_request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use omaha_proto::codes::UpdateCheckStatus;
use serde_json::json;
use sha2::Digest as _;
use update_server::policy::GroupPolicy;

fn arm64_package() -> serde_json::Value {
    json!({
        "url": "https://pkg.example.test/arm64-usr/1.1.0/flatcar_production_update.gz",
        "size": "4",
        "sha256Sum": BASE64.encode(sha2::Sha256::digest(b"arm!")),
    })
}

/// The URL of the update offered to `machine` on 1.0.0 reporting `board` and `<os arch>`,
/// `None` for no update.
async fn offered(
    s: &TestServer,
    machine: &str,
    board: Option<&str>,
    os_arch: Option<&str>,
) -> Option<String> {
    let mut request = check_request(machine, "1.0.0");
    request.apps[0].board = board.map(str::to_owned);
    if let Some(os) = request.os.as_mut() {
        os.arch = os_arch.map(str::to_owned);
    }
    let (status, response) = s.omaha(&request).await;
    assert_eq!(status, 200);
    let check = response.apps[0].update_check.as_ref().expect("an answer");
    if check.status != Some(UpdateCheckStatus::Ok) {
        return None;
    }
    let manifest = &check.manifests[0];
    Some(format!(
        "{}{}",
        check.urls[0].codebase.as_str(),
        manifest.packages[0].name
    ))
}

const DEFAULT_URL: &str = "https://pkg.example.test/1.1.0/update.gz";
const ARM64_URL: &str = "https://pkg.example.test/arm64-usr/1.1.0/flatcar_production_update.gz";

async fn each_architecture_gets_its_own_payload(s: TestServer) {
    let base = format!("/_ah/api/update/v1/apps/{APP}/packages");

    // The API: a version's package for an architecture needs the version's default
    // package, a valid architecture and a servable URL.
    let (status, body) = s
        .api(
            "PUT",
            &format!("{base}/9.9.9/arches/arm64"),
            Some(arm64_package()),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = s
        .api(
            "PUT",
            &format!("{base}/1.1.0/arches/arm-64"),
            Some(arm64_package()),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("architecture"), "{body}");
    let (status, body) = s
        .api(
            "PUT",
            &format!("{base}/1.1.0/arches/arm64"),
            Some(json!({"size": "4"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s
        .api(
            "PUT",
            &format!("{base}/1.1.0/arches/arm64"),
            Some(json!({"url": ARM64_URL, "size": "4"})),
        )
        .await;
    assert_eq!(
        status, 400,
        "a package without a SHA-256 is refused: {body}"
    );

    // An alias names the canonical architecture.
    let (status, body) = s
        .api(
            "PUT",
            &format!("{base}/1.1.0/arches/aarch64"),
            Some(arm64_package()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["arch"], "arm64");
    assert_eq!(body["url"], ARM64_URL);
    // PUT again replaces it.
    let (status, _) = s
        .api(
            "PUT",
            &format!("{base}/1.1.0/arches/arm64"),
            Some(arm64_package()),
        )
        .await;
    assert_eq!(status, 200);
    let (status, list) = s.api("GET", &format!("{base}/1.1.0/arches"), None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["arch"], "arm64");
    // The default package's JSON names no architecture.
    let (_, all) = s.api("GET", &base, None).await;
    assert!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("arch").is_none()),
        "{all}"
    );

    s.move_channel("1.1.0").await;
    let cases: [(&str, Option<&str>, Option<&str>, &str); 6] = [
        ("a-arm-board", Some("arm64-usr"), None, ARM64_URL),
        ("a-amd-board", Some("amd64-usr"), None, DEFAULT_URL),
        ("a-no-arch", None, None, DEFAULT_URL),
        ("a-os-aarch64", None, Some("aarch64"), ARM64_URL),
        ("a-os-x64", None, Some("x64"), DEFAULT_URL),
        (
            "a-board-first",
            Some("amd64-usr"),
            Some("arm64"),
            DEFAULT_URL,
        ),
    ];
    for (machine, board, os_arch, url) in cases {
        assert_eq!(
            offered(&s, machine, board, os_arch).await.as_deref(),
            Some(url),
            "{machine}"
        );
    }
    // Asked again, the granted instance gets the same payload.
    assert_eq!(
        offered(&s, "a-arm-board", Some("arm64-usr"), None)
            .await
            .as_deref(),
        Some(ARM64_URL)
    );

    // Deleted, the architecture gets the default package again.
    let (status, body) = s
        .api("DELETE", &format!("{base}/1.1.0/arches/arm64"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = s
        .api("DELETE", &format!("{base}/1.1.0/arches/arm64"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        offered(&s, "b-arm-board", Some("arm64-usr"), None)
            .await
            .as_deref(),
        Some(DEFAULT_URL)
    );

    // Deleting a version deletes its packages for architectures with it.
    let (status, _) = s
        .api(
            "PUT",
            &format!("{base}/1.0.0/arches/arm64"),
            Some(arm64_package()),
        )
        .await;
    assert_eq!(status, 200);
    s.move_channel("1.1.0").await;
    let (status, body) = s.api("DELETE", &format!("{base}/1.0.0"), None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = s.api("GET", &format!("{base}/1.0.0/arches"), None).await;
    assert_eq!(status, 404);

    // Every change is in the activity log.
    let (_, activity) = s.api("GET", "/_ah/api/update/v1/activity", None).await;
    let text = activity.to_string();
    assert!(text.contains("package.arch.put"), "{text}");
    assert!(text.contains("package.arch.delete"), "{text}");
    s.stop().await;
}

#[tokio::test]
async fn each_architecture_gets_its_own_payload_sqlite() {
    each_architecture_gets_its_own_payload(TestServer::start_sqlite(GroupPolicy::default()).await)
        .await;
}

#[tokio::test]
async fn each_architecture_gets_its_own_payload_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        each_architecture_gets_its_own_payload(s).await;
    }
}
