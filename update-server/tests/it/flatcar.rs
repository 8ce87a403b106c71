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

/// POSTs `payload` as `name` to `package-upload?appId=..&version=..`: status and body.
async fn upload_for(s: &TestServer, version: &str, name: &str, payload: &[u8]) -> (u16, String) {
    let (content_type, body) = crate::packages::multipart(name, payload);
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/package-upload?appId={APP}&version={version}",
            s.addr()
        ))
        .header("authorization", crate::packages::basic_auth())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn sums(payload: &[u8]) -> serde_json::Value {
    json!({
        "size": payload.len().to_string(),
        "sha1Sum": BASE64.encode(sha1::Sha1::digest(payload)),
        "sha256Sum": BASE64.encode(sha2::Sha256::digest(payload)),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The packages of the update offered to `machine` on 1.0.0 with OEM `qemu` on `board`:
/// (name, size, required, SHA-1, SHA-256) each, and the codebase.
async fn offered_packages(
    s: &TestServer,
    machine: &str,
    board: &str,
) -> (
    String,
    Vec<(String, u64, bool, Option<[u8; 20]>, Option<[u8; 32]>)>,
) {
    let mut request = check_request(machine, "1.0.0");
    request.apps[0].board = Some(board.to_owned());
    request.apps[0].oem = Some("qemu".to_owned());
    let (status, response) = s.omaha(&request).await;
    assert_eq!(status, 200);
    let check = response.apps[0].update_check.as_ref().expect("an answer");
    assert_eq!(check.status, Some(UpdateCheckStatus::Ok), "{check:?}");
    assert_eq!(check.manifests.len(), 1);
    let packages = check.manifests[0]
        .packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.size,
                p.required,
                p.hash.as_ref().and_then(|h| h.digest()).map(|d| d.0),
                p.hash_sha256.as_ref().and_then(|h| h.digest()).map(|d| d.0),
            )
        })
        .collect();
    (check.urls[0].codebase.as_str().to_owned(), packages)
}

async fn extra_files_come_in_the_same_answer(s: TestServer) {
    let base = format!("/_ah/api/update/v1/apps/{APP}/packages");
    let main = crate::packages::test_payload(3000);
    let oem: Vec<u8> = b"qemu oem sysext image".repeat(40);

    // Version 1.2.0 for the server's hosting, its OEM file registered before any upload.
    let (status, body) = s
        .api("POST", &format!("{base}/1.2.0"), Some(sums(&main)))
        .await;
    assert_eq!(status, 200, "{body}");
    let files = format!("{base}/1.2.0/files");
    let (status, body) = s
        .api("PUT", &format!("{files}/oem-qemu.gz"), Some(sums(&oem)))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "oem-qemu.gz");
    assert_eq!(
        body["url"], "",
        "no codebase while the payload is missing: {body}"
    );

    // What the API refuses.
    let refused: [(&str, serde_json::Value, u16); 6] = [
        ("/9.9.9/files/oem-qemu.gz", sums(&oem), 404),
        ("/1.2.0/files/oem-qemu.gz?arch=arm64", sums(&oem), 404),
        ("/1.2.0/files/oem-qemu.gz?arch=arm-64", sums(&oem), 400),
        (
            "/1.2.0/files/oem-qemu.gz",
            json!({"size": "0", "sha256Sum": sums(&oem)["sha256Sum"]}),
            400,
        ),
        ("/1.2.0/files/oem-qemu.gz", json!({"size": "5"}), 400),
        ("/1.2.0/files/%2Eoem.gz", sums(&oem), 400),
    ];
    for (path, body, expected) in refused {
        let (status, answer) = s.api("PUT", &format!("{base}{path}"), Some(body)).await;
        assert_eq!(status, expected, "{path}: {answer}");
    }

    // The OEM file first, then the payload: both land in the version's directory; another
    // file under the registered name is refused.
    let (status, body) = upload_for(&s, "1.2.0", "oem-qemu.gz", b"not the registered file").await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = upload_for(&s, "1.2.0", "oem-qemu.gz", &oem).await;
    assert_eq!(status, 200, "{body}");
    let (_, package) = s.api("GET", &format!("{base}?version=1.2.0"), None).await;
    assert_eq!(package["items"][0]["payloadMissing"], true, "{package}");
    let (status, body) = upload_for(&s, "1.2.0", "flatcar_production_update.gz", &main).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .api(
            "PUT",
            &format!("{files}/flatcar_production_update.gz"),
            Some(sums(&main)),
        )
        .await;
    assert_eq!(status, 400, "the payload is no extra file: {body}");
    let (status, list) = s.api("GET", &files, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1);
    let file_url = list["items"][0]["url"].as_str().unwrap().to_owned();
    assert!(
        file_url.ends_with(&format!("/packages/{APP}/1.2.0/oem-qemu.gz")),
        "{file_url}"
    );

    // An update_engine-shaped check of an amd64 qemu instance: the payload, then the OEM
    // file, in one answer.
    s.move_channel("1.2.0").await;
    let (codebase, packages) = offered_packages(&s, "qemu-1", "amd64-usr").await;
    let sha1 = |b: &[u8]| -> Option<[u8; 20]> { sha1::Sha1::digest(b).as_slice().try_into().ok() };
    let sha256 =
        |b: &[u8]| -> Option<[u8; 32]> { sha2::Sha256::digest(b).as_slice().try_into().ok() };
    assert_eq!(packages.len(), 2, "{packages:?}");
    assert_eq!(packages[0].0, "flatcar_production_update.gz");
    assert_eq!(packages[0].1, 3000);
    assert_eq!(
        packages[1],
        (
            "oem-qemu.gz".to_owned(),
            oem.len() as u64,
            false,
            sha1(&oem),
            sha256(&oem)
        )
    );
    assert_eq!(format!("{codebase}oem-qemu.gz"), file_url);
    // hash_sha256 in hex, as ue-rs reads it.
    let mut request = check_request("qemu-2", "1.0.0");
    request.apps[0].oem = Some("qemu".to_owned());
    let (_, xml) = s.post_raw(request.encode()).await;
    assert!(
        xml.contains(&format!(
            "name=\"oem-qemu.gz\" hash=\"{}\" hash_sha256=\"{}\"",
            BASE64.encode(sha1::Sha1::digest(&oem)),
            hex(&sha2::Sha256::digest(&oem))
        )),
        "{xml}"
    );

    // Served with ranges like the payload.
    let response = reqwest::Client::new()
        .get(&file_url)
        .header("range", "bytes=100-")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 206);
    assert_eq!(&response.bytes().await.unwrap()[..], &oem[100..]);

    // An arm64 package has files of its own.
    let arm_oem = b"arm64 qemu oem".repeat(10);
    let (status, body) = s
        .api(
            "PUT",
            &format!("{base}/1.2.0/arches/arm64"),
            Some(json!({
                "url": "https://pkg.example.test/arm64-usr/1.2.0/flatcar_production_update.gz",
                "size": "4",
                "sha256Sum": BASE64.encode(sha2::Sha256::digest(b"arm!")),
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .api(
            "PUT",
            &format!("{files}/oem-qemu.gz?arch=aarch64"),
            Some(sums(&arm_oem)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["arch"], "arm64");
    assert_eq!(
        body["url"],
        "https://pkg.example.test/arm64-usr/1.2.0/oem-qemu.gz"
    );
    let (codebase, packages) = offered_packages(&s, "qemu-arm", "arm64-usr").await;
    assert_eq!(codebase, "https://pkg.example.test/arm64-usr/1.2.0/");
    assert_eq!(packages.len(), 2, "{packages:?}");
    assert_eq!(packages[1].1, arm_oem.len() as u64);
    assert_eq!(packages[1].4, sha256(&arm_oem));
    let (_, packages) = offered_packages(&s, "qemu-amd", "amd64-usr").await;
    assert_eq!(packages[1].4, sha256(&oem));

    // Deleted, a file is no longer listed.
    let (status, body) = s.api("DELETE", &format!("{files}/oem-qemu.gz"), None).await;
    assert_eq!(status, 200, "{body}");
    let (_, packages) = offered_packages(&s, "qemu-3", "amd64-usr").await;
    assert_eq!(packages.len(), 1, "{packages:?}");
    let (status, _) = s.api("DELETE", &format!("{files}/oem-qemu.gz"), None).await;
    assert_eq!(status, 404);
    // Deleting the arm64 package deletes its files.
    let (status, _) = s
        .api("DELETE", &format!("{base}/1.2.0/arches/arm64"), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .api(
            "PUT",
            &format!("{base}/1.2.0/arches/arm64"),
            Some(arm64_package()),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = s.api("GET", &format!("{files}?arch=arm64"), None).await;
    assert_eq!(list["total"], 0, "{list}");

    let (_, activity) = s.api("GET", "/_ah/api/update/v1/activity", None).await;
    let text = activity.to_string();
    assert!(text.contains("package.file.put"), "{text}");
    assert!(text.contains("package.file.delete"), "{text}");
    s.stop().await;
}

#[tokio::test]
async fn extra_files_come_in_the_same_answer_sqlite() {
    extra_files_come_in_the_same_answer(TestServer::start_sqlite(GroupPolicy::default()).await)
        .await;
}

#[tokio::test]
async fn extra_files_come_in_the_same_answer_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        extra_files_come_in_the_same_answer(s).await;
    }
}

/// Registers package `version` at an external URL.
async fn register(s: &TestServer, version: &str) {
    let (status, body) = s
        .api(
            "POST",
            &format!("/_ah/api/update/v1/apps/{APP}/packages/{version}"),
            Some(json!({
                "url": format!("https://pkg.example.test/{version}/flatcar_production_update.gz"),
                "size": "4",
                "sha256Sum": BASE64.encode(sha2::Sha256::digest(version.as_bytes())),
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The manifests offered to `machine` reporting `version` (and, when it moved there, the
/// completion from `previous`): (version, is_floor, floor_reason, is_target, codebase).
async fn exchange(
    s: &TestServer,
    machine: &str,
    version: &str,
    previous: Option<&str>,
    multi: bool,
) -> Vec<(String, Option<bool>, Option<String>, Option<bool>, String)> {
    let mut request = check_request(machine, version);
    request.apps[0].multi_manifest_ok = multi.then_some(true);
    if let Some(previous) = previous {
        request.apps[0]
            .events
            .push(omaha_proto::request::Event::update_complete(previous));
    }
    let (status, response) = s.omaha(&request).await;
    assert_eq!(status, 200);
    let check = response.apps[0].update_check.as_ref().expect("an answer");
    if check.status != Some(UpdateCheckStatus::Ok) {
        return Vec::new();
    }
    assert_eq!(
        check.urls.len(),
        check.manifests.len(),
        "a codebase per manifest"
    );
    check
        .manifests
        .iter()
        .zip(&check.urls)
        .map(|(m, u)| {
            (
                m.version.clone(),
                m.is_floor,
                m.floor_reason.clone(),
                m.is_target,
                u.codebase.as_str().to_owned(),
            )
        })
        .collect()
}

async fn floors_and_blacklists(s: TestServer) {
    let channel = format!("/_ah/api/update/v1/apps/{APP}/channels/stable");
    for version in ["2.0.0", "3.0.0", "4.0.0", "5.0.0"] {
        register(&s, version).await;
    }
    // Floors 2.0.0 and 3.0.0, given out of order; one for arm64 only.
    for (version, reason) in [
        ("3.0.0", "bootloader update"),
        ("2.0.0", "partition migration"),
    ] {
        let (status, body) = s
            .api(
                "PUT",
                &format!("{channel}/floors/{version}"),
                Some(json!({"reason": reason})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["reason"], reason);
    }
    let (status, body) = s
        .api(
            "PUT",
            &format!("{channel}/floors/3.5.0?arch=arm64"),
            Some(json!({"reason": "arm64 firmware"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, list) = s.api("GET", &format!("{channel}/floors"), None).await;
    assert_eq!(status, 200, "{list}");
    let versions: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["2.0.0", "3.0.0", "3.5.0"]);
    assert_eq!(list["items"][2]["arch"], "arm64");
    for (path, expected) in [
        ("/floors/not-a-version", 400),
        ("/floors/2.5.0?arch=arm-64", 400),
        ("-nope/floors/2.5.0", 404),
    ] {
        let (status, body) = s
            .api(
                "PUT",
                &format!("{channel}{path}"),
                Some(json!({"reason": "x"})),
            )
            .await;
        assert_eq!(status, expected, "{path}: {body}");
    }
    let (status, body) = s
        .api(
            "PUT",
            &format!("{channel}/floors/2.5.0"),
            Some(json!({"reason": "bad\u{7}reason"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // The channel moves to 4.0.0: an instance on 1.0.0 goes floor by floor, in three
    // exchanges, each completing the one before.
    let (status, body) = s
        .api("PATCH", &channel, Some(json!({"version": "4.0.0"})))
        .await;
    assert_eq!(status, 200, "{body}");
    let floor = |v: &str, reason: &str| {
        vec![(
            v.to_owned(),
            Some(true),
            Some(reason.to_owned()),
            None,
            format!("https://pkg.example.test/{v}/"),
        )]
    };
    let target = vec![(
        "4.0.0".to_owned(),
        None,
        None,
        None,
        "https://pkg.example.test/4.0.0/".to_owned(),
    )];
    assert_eq!(
        exchange(&s, "step", "1.0.0", None, false).await,
        floor("2.0.0", "partition migration")
    );
    // Asked again before installing, the same floor.
    assert_eq!(
        exchange(&s, "step", "1.0.0", None, false).await,
        floor("2.0.0", "partition migration")
    );
    assert_eq!(
        exchange(&s, "step", "2.0.0", Some("1.0.0"), false).await,
        floor("3.0.0", "bootloader update")
    );
    assert_eq!(
        exchange(&s, "step", "3.0.0", Some("2.0.0"), false).await,
        target
    );
    assert_eq!(
        exchange(&s, "step", "4.0.0", Some("3.0.0"), false).await,
        Vec::new()
    );
    // An instance between the floors starts at the next one.
    assert_eq!(
        exchange(&s, "between", "2.5.0", None, false).await,
        floor("3.0.0", "bootloader update")
    );

    // A multi_manifest_ok client gets every floor and the target in one answer, in order.
    let all = exchange(&s, "multi", "1.0.0", None, true).await;
    assert_eq!(
        all,
        vec![
            floor("2.0.0", "partition migration").remove(0),
            floor("3.0.0", "bootloader update").remove(0),
            (
                "4.0.0".to_owned(),
                None,
                None,
                Some(true),
                "https://pkg.example.test/4.0.0/".to_owned()
            ),
        ]
    );
    // An arm64 client also passes the arm64 floor, which has no package yet: it is held
    // back rather than skip it.
    let mut arm = check_request("arm-step", "3.0.0");
    arm.apps[0].board = Some("arm64-usr".into());
    let (_, response) = s.omaha(&arm).await;
    let check = response.apps[0].update_check.as_ref().unwrap();
    assert_eq!(check.status, Some(UpdateCheckStatus::NoUpdate));
    register(&s, "3.5.0").await;
    let (_, response) = s.omaha(&arm).await;
    let check = response.apps[0].update_check.as_ref().unwrap();
    assert_eq!(check.manifests[0].version, "3.5.0");
    assert_eq!(
        check.manifests[0].floor_reason.as_deref(),
        Some("arm64 firmware")
    );

    // The blacklist: the API refuses a floor, the channel's version, and pointing the
    // channel at a blacklisted version; a floor cannot be made of a blacklisted one.
    let blacklist = format!("{channel}/blacklist");
    let (status, body) = s.api("PUT", &format!("{blacklist}/2.0.0"), None).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = s.api("PUT", &format!("{blacklist}/4.0.0"), None).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = s.api("PUT", &format!("{blacklist}/5.0.0"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], "5.0.0");
    let (status, body) = s
        .api("PATCH", &channel, Some(json!({"version": "5.0.0"})))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = s
        .api(
            "PUT",
            &format!("{channel}/floors/5.0.0"),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (_, list) = s.api("GET", &blacklist, None).await;
    assert_eq!(list["total"], 1, "{list}");
    // Pointed at it anyway (by the store, as a sync might), the check never serves it.
    s.move_channel("5.0.0").await;
    assert_eq!(
        exchange(&s, "black-1", "4.0.0", None, false).await,
        Vec::new()
    );
    assert_eq!(
        exchange(&s, "black-2", "1.0.0", None, true).await,
        Vec::new()
    );
    // Known now, black-1 is answered on the fast path. All three refusals are counted as
    // what they are: the target is blacklisted, not missing.
    let before = crate::ops::scrape(&reqwest::Client::new(), s.addr()).await;
    s.flush().await;
    assert_eq!(
        exchange(&s, "black-1", "4.0.0", None, false).await,
        Vec::new()
    );
    s.flush().await;
    let after = crate::ops::scrape(&reqwest::Client::new(), s.addr()).await;
    let count = |m: &std::collections::BTreeMap<String, f64>, reason: &str| {
        m.get(&format!(
            "update_server_decisions_total{{reason=\"{reason}\"}}"
        ))
        .copied()
        .unwrap_or(0.0)
    };
    assert!(count(&before, "target_blacklisted") >= 2.0, "{before:?}");
    assert_eq!(
        count(&after, "target_blacklisted") - count(&before, "target_blacklisted"),
        1.0
    );
    assert_eq!(count(&after, "no_target"), 0.0);
    // Off the blacklist, it is offered.
    let (status, _) = s.api("DELETE", &format!("{blacklist}/5.0.0"), None).await;
    assert_eq!(status, 200);
    let (status, _) = s.api("DELETE", &format!("{blacklist}/5.0.0"), None).await;
    assert_eq!(status, 404);
    assert_eq!(
        exchange(&s, "black-3", "4.0.0", None, false).await[0].0,
        "5.0.0"
    );

    // Deleted floors no longer hold instances back.
    for version in ["2.0.0", "3.0.0"] {
        let (status, _) = s
            .api("DELETE", &format!("{channel}/floors/{version}"), None)
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = s
        .api("DELETE", &format!("{channel}/floors/3.5.0"), None)
        .await;
    assert_eq!(
        status, 404,
        "the arm64 floor is named with its architecture"
    );
    assert_eq!(
        exchange(&s, "free", "1.0.0", None, false).await[0].0,
        "5.0.0"
    );

    let (_, activity) = s.api("GET", "/_ah/api/update/v1/activity", None).await;
    let text = activity.to_string();
    for action in [
        "channel.floor.put",
        "channel.floor.delete",
        "channel.blacklist.put",
        "channel.blacklist.delete",
    ] {
        assert!(text.contains(action), "{action}: {text}");
    }
    s.stop().await;
}

#[tokio::test]
async fn floors_and_blacklists_sqlite() {
    floors_and_blacklists(TestServer::start_sqlite(GroupPolicy::default()).await).await;
}

#[tokio::test]
async fn floors_and_blacklists_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        floors_and_blacklists(s).await;
    }
}

/// The raw XML answer to an update check of `machine` on 1.0.0.
async fn answer(s: &TestServer, machine: &str) -> String {
    s.post_raw(check_request(machine, "1.0.0").encode()).await.1
}

async fn hash_sha256_is_written_as_the_app_asks(s: TestServer) {
    let app = format!("/_ah/api/update/v1/apps/{APP}");
    let oem = b"oem file".to_vec();
    let (status, body) = s
        .api(
            "PUT",
            &format!("{app}/packages/1.1.0/files/oem-qemu.gz"),
            Some(sums(&oem)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    s.move_channel("1.1.0").await;
    // The payload of every test package is "hello".
    let payload_b64 = BASE64.encode(sha2::Sha256::digest(b"hello"));
    let payload_hex = hex(&sha2::Sha256::digest(b"hello"));
    let oem_b64 = BASE64.encode(sha2::Sha256::digest(&oem));
    let oem_hex = hex(&sha2::Sha256::digest(&oem));

    // Hex by default.
    let xml = answer(&s, "hash-1").await;
    assert!(
        xml.contains(&format!("hash_sha256=\"{payload_hex}\"")),
        "{xml}"
    );
    assert!(xml.contains(&format!("hash_sha256=\"{oem_hex}\"")), "{xml}");
    assert!(xml.contains(&format!("sha256=\"{payload_b64}\"")), "{xml}");
    let (_, body) = s.api("GET", &app, None).await;
    assert!(body.get("hashSha256").is_none(), "{body}");

    // Base64 when the app asks for it; the action's sha256 is base64 either way.
    let (status, body) = s
        .api(
            "PATCH",
            &app,
            Some(json!({"label": "Flatcar", "hashSha256": "base64"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hashSha256"], "base64");
    let xml = answer(&s, "hash-2").await;
    assert!(
        xml.contains(&format!("hash_sha256=\"{payload_b64}\"")),
        "{xml}"
    );
    assert!(xml.contains(&format!("hash_sha256=\"{oem_b64}\"")), "{xml}");
    assert!(xml.contains(&format!(" sha256=\"{payload_b64}\"")), "{xml}");
    assert!(!xml.contains(&payload_hex), "{xml}");

    // An update without the field keeps the choice; anything but hex or base64 is refused.
    let (status, _) = s
        .api("PATCH", &app, Some(json!({"label": "Flatcar OS"})))
        .await;
    assert_eq!(status, 200);
    let (_, body) = s.api("GET", &app, None).await;
    assert_eq!(body["hashSha256"], "base64", "{body}");
    let (status, body) = s
        .api(
            "PATCH",
            &app,
            Some(json!({"label": "x", "hashSha256": "b64"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = s
        .api(
            "POST",
            "/_ah/api/update/v1/apps",
            Some(json!({"label": "y", "hashSha256": "HEX!"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = s
        .api(
            "PATCH",
            &app,
            Some(json!({"label": "Flatcar", "hashSha256": "hex"})),
        )
        .await;
    assert_eq!(status, 200);
    let xml = answer(&s, "hash-3").await;
    assert!(xml.contains(&format!("hash_sha256=\"{oem_hex}\"")), "{xml}");
    s.stop().await;
}

#[tokio::test]
async fn hash_sha256_is_written_as_the_app_asks_sqlite() {
    hash_sha256_is_written_as_the_app_asks(TestServer::start_sqlite(GroupPolicy::default()).await)
        .await;
}

#[tokio::test]
async fn hash_sha256_is_written_as_the_app_asks_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        hash_sha256_is_written_as_the_app_asks(s).await;
    }
}
