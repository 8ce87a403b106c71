//! Following an upstream Omaha server: one server of ours is a Flatcar-like upstream (two
//! floors and a target, each with an `oem-qemu.gz`, for amd64 and arm64, all hosted); a
//! second follows it over Omaha on loopback, downloads every file, and then serves its own
//! update_engine-shaped instances the upstream's answers, from its own hosting. A release
//! the upstream offers for arm64 only (an arm64 floor) is followed too, and offered to arm64
//! instances alone.

use crate::packages::{basic_auth, multipart};
use crate::support::{APP, TestServer, check_request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use omaha_proto::codes::UpdateCheckStatus;
use omaha_proto::response::UpdateCheck;
use serde_json::json;
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use update_server::policy::GroupPolicy;
use update_server::store::{ChannelRecord, GroupRecord};

const V1: &str = "/_ah/api/update/v1";
const PAYLOAD: &str = "flatcar_production_update.gz";
const OEM: &str = "oem-qemu.gz";
/// The upstream's releases on `stable`: two floors, then the target.
const RELEASES: [(&str, Option<&str>); 3] = [
    ("2.0.0", Some("disk layout migration")),
    ("2.5.0", Some("bootloader update")),
    ("3.0.0", None),
];
const ARCHES: [&str; 2] = ["amd64", "arm64"];

fn payload(version: &str, arch: &str) -> Vec<u8> {
    format!("Flatcar {version} for {arch}: the update payload\n")
        .repeat(60)
        .into_bytes()
}

fn oem(version: &str, arch: &str) -> Vec<u8> {
    format!("qemu OEM sysext of {version} for {arch}\n")
        .repeat(25)
        .into_bytes()
}

fn sums(bytes: &[u8]) -> serde_json::Value {
    json!({
        "size": bytes.len().to_string(),
        "sha1Sum": BASE64.encode(sha1::Sha1::digest(bytes)),
        "sha256Sum": BASE64.encode(sha2::Sha256::digest(bytes)),
    })
}

/// POSTs `bytes` as `name` to `package-upload?appId=..&version=..[&arch=..]`: the URL it
/// is served at.
async fn upload(
    s: &TestServer,
    version: &str,
    arch: Option<&str>,
    name: &str,
    bytes: &[u8],
) -> String {
    let (content_type, body) = multipart(name, bytes);
    let arch = arch.map(|a| format!("&arch={a}")).unwrap_or_default();
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/package-upload?appId={APP}&version={version}{arch}",
            s.addr()
        ))
        .header("authorization", basic_auth())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(status, 200, "{body}");
    body["url"].as_str().unwrap().to_owned()
}

/// Registers and hosts `version` on `s`: the default (amd64) package and its
/// `oem-qemu.gz`, and, with `arm64`, the arm64 package and its own `oem-qemu.gz`.
async fn release(s: &TestServer, version: &str, arm64: bool) {
    let base = format!("{V1}/apps/{APP}/packages/{version}");
    let main = payload(version, "amd64");
    let (status, body) = s.api("POST", &base, Some(sums(&main))).await;
    assert_eq!(status, 200, "{body}");
    upload(s, version, None, PAYLOAD, &main).await;
    let extra = oem(version, "amd64");
    let (status, body) = s
        .api("PUT", &format!("{base}/files/{OEM}"), Some(sums(&extra)))
        .await;
    assert_eq!(status, 200, "{body}");
    upload(s, version, None, OEM, &extra).await;
    if !arm64 {
        return;
    }
    let main = payload(version, "arm64");
    let url = upload(s, version, Some("arm64"), PAYLOAD, &main).await;
    assert!(
        url.ends_with(&format!("/{version}/arm64/{PAYLOAD}")),
        "{url}"
    );
    let mut package = sums(&main);
    package["url"] = json!(url);
    let (status, body) = s
        .api("PUT", &format!("{base}/arches/arm64"), Some(package))
        .await;
    assert_eq!(status, 200, "{body}");
    let extra = oem(version, "arm64");
    let (status, body) = s
        .api(
            "PUT",
            &format!("{base}/files/{OEM}?arch=arm64"),
            Some(sums(&extra)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    upload(s, version, Some("arm64"), OEM, &extra).await;
}

/// What an answer offers, without where from: per manifest its version, floor, target,
/// packages (name, size, required, SHA-1, SHA-256) and the action's SHA-256.
type Shape = Vec<(
    String,
    Option<bool>,
    Option<String>,
    Option<bool>,
    Vec<(String, u64, bool, Option<[u8; 20]>, Option<[u8; 32]>)>,
    Option<[u8; 32]>,
)>;

fn shape(check: &UpdateCheck) -> Shape {
    check
        .manifests
        .iter()
        .map(|m| {
            (
                m.version.clone(),
                m.is_floor,
                m.floor_reason.clone(),
                m.is_target,
                m.packages
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
                    .collect(),
                m.actions[0]
                    .sha256
                    .as_ref()
                    .and_then(|h| h.digest())
                    .map(|d| d.0),
            )
        })
        .collect()
}

/// An update_engine check of `machine` (OEM `qemu`, on `board`) running `version`, having
/// completed the update from `previous`.
async fn check(
    s: &TestServer,
    machine: &str,
    version: &str,
    previous: Option<&str>,
    arch: &str,
    multi: bool,
) -> UpdateCheck {
    let mut request = check_request(machine, version);
    request.apps[0].board = Some(format!("{arch}-usr"));
    request.apps[0].oem = Some("qemu".into());
    request.apps[0].multi_manifest_ok = multi.then_some(true);
    if let Some(previous) = previous {
        request.apps[0]
            .events
            .push(omaha_proto::request::Event::update_complete(previous));
    }
    let (_, response) = s.omaha(&request).await;
    response.apps[0].update_check.clone().expect("an answer")
}

async fn get_bytes(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "{url}");
    response.bytes().await.unwrap().to_vec()
}

/// The codebase the follower serves `version` for `arch` from.
fn local_codebase(s: &TestServer, version: &str, arch: &str) -> String {
    if arch == "amd64" {
        format!("http://{}/packages/{APP}/{version}/", s.addr())
    } else {
        format!("http://{}/packages/{APP}/{version}/{arch}/", s.addr())
    }
}

/// Every file under `dir`, with its modification time.
fn files_under(dir: &Path) -> BTreeMap<PathBuf, std::time::SystemTime> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                out.insert(entry.path(), meta.modified().unwrap());
            }
        }
    }
    out
}

async fn sync(s: &TestServer) -> (String, String) {
    let (status, body) = s.api("POST", &format!("{V1}/upstream/sync"), None).await;
    assert_eq!(status, 200, "{body}");
    (
        body["status"].as_str().unwrap().to_owned(),
        body["detail"].as_str().unwrap().to_owned(),
    )
}

async fn follow_an_omaha_upstream(up: TestServer, down: TestServer) {
    // The upstream: floors 2.0.0 and 2.5.0, channel stable at 3.0.0.
    for (version, _) in RELEASES {
        release(&up, version, true).await;
    }
    for (version, reason) in RELEASES {
        if let Some(reason) = reason {
            let (status, body) = up
                .api(
                    "PUT",
                    &format!("{V1}/apps/{APP}/channels/stable/floors/{version}"),
                    Some(json!({ "reason": reason })),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    }
    up.move_channel("3.0.0").await;

    // What the API refuses.
    let omaha_url = format!("http://{}/v1/update/", up.addr());
    let good = json!({
        "url": omaha_url, "label": "Flatcar-like", "kind": "omaha", "appId": APP,
        "tracks": ["stable"], "arches": ["amd64", "arm64"], "download": true,
    });
    let mut refused = Vec::new();
    for (field, value, expected) in [
        ("kind", json!("nebraska"), 400),
        ("tracks", json!([]), 400),
        ("tracks", json!(["sta ble"]), 400),
        ("arches", json!(["arm-64"]), 400),
        ("appId", json!("00000000-0000-0000-0000-000000000000"), 404),
        ("url", json!("ftp://example.test/"), 400),
    ] {
        let mut body = good.clone();
        body[field] = value;
        refused.push((
            field,
            expected,
            down.api("POST", &format!("{V1}/upstream"), Some(body))
                .await,
        ));
    }
    for (field, expected, (status, body)) in refused {
        assert_eq!(status, expected, "{field}: {body}");
    }
    let (status, body) = down
        .api(
            "POST",
            &format!("{V1}/upstream"),
            Some(json!({"url": omaha_url, "tracks": ["stable"]})),
        )
        .await;
    assert_eq!(status, 400, "tracks are for the omaha kind: {body}");

    let (status, created) = down
        .api("POST", &format!("{V1}/upstream"), Some(good))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["kind"], "omaha");
    assert_eq!(created["appId"], APP);
    assert_eq!(created["upstreamAppId"], APP);
    assert_eq!(created["arches"], json!(["amd64", "arm64"]));
    assert!(created.get("lastSync").is_none(), "{created}");

    // First sync: the follower's channel stable is its own, so it is left alone; the
    // packages, their files and their payloads are all here.
    let (status, detail) = sync(&down).await;
    assert_eq!(status, "ok", "{detail}");
    assert!(detail.contains("12 payloads downloaded"), "{detail}");
    assert!(
        detail.contains("channel stable of app") && detail.contains("is local"),
        "{detail}"
    );
    let config = down.store.load_config().await.unwrap();
    let stable = config.channels.iter().find(|c| c.name == "stable").unwrap();
    assert_eq!(
        (stable.version.as_str(), stable.upstream.as_str()),
        ("1.0.0", "")
    );
    for (version, _) in RELEASES {
        let default = config
            .packages
            .iter()
            .find(|p| p.version == version)
            .unwrap_or_else(|| panic!("package {version}"));
        assert_eq!(
            default.url,
            format!("{}{PAYLOAD}", local_codebase(&down, version, "amd64"))
        );
        assert_eq!(
            default.sha256,
            BASE64.encode(sha2::Sha256::digest(payload(version, "amd64")))
        );
        let arm = config
            .arch_packages
            .iter()
            .find(|p| p.arch == "arm64" && p.package.version == version)
            .unwrap_or_else(|| panic!("arm64 package {version}"));
        assert_eq!(
            arm.package.url,
            format!("{}{PAYLOAD}", local_codebase(&down, version, "arm64"))
        );
        for arch in ["", "arm64"] {
            let file = config
                .package_files
                .iter()
                .find(|f| f.version == version && f.arch == arch && f.name == OEM)
                .unwrap_or_else(|| panic!("{OEM} of {version} ({arch})"));
            let bytes = oem(version, if arch.is_empty() { "amd64" } else { arch });
            assert_eq!(file.sha256, BASE64.encode(sha2::Sha256::digest(&bytes)));
        }
    }

    // The operator gives the channel to the upstream: the group follows another channel
    // meanwhile, the local one goes, and the next sync creates it with the floors.
    down.store
        .put_channel(&ChannelRecord {
            app_id: APP.into(),
            name: "interim".into(),
            version: "1.0.0".into(),
            publish: false,
            upstream: String::new(),
            created_at: 0,
        })
        .await
        .unwrap();
    let group = |channel: &str| GroupRecord {
        app_id: APP.into(),
        id: "stable".into(),
        label: "Stable".into(),
        channel: channel.into(),
        policy: GroupPolicy::default().to_json(),
        created_at: 0,
    };
    down.store.update_group(&group("interim")).await.unwrap();
    down.store.delete_channel(APP, "stable").await.unwrap();
    down.refresh_config().await;
    let (status, detail) = sync(&down).await;
    assert_eq!(status, "ok", "{detail}");
    assert!(
        detail.contains(
            "0 packages, 0 files, 2 floors and 1 channels updated, 0 payloads downloaded"
        ),
        "{detail}"
    );
    let config = down.store.load_config().await.unwrap();
    let stable = config.channels.iter().find(|c| c.name == "stable").unwrap();
    assert_eq!(
        (stable.version.as_str(), stable.upstream.as_str()),
        ("3.0.0", "1")
    );
    let floors: Vec<(&str, &str, &str)> = config
        .floors
        .iter()
        .map(|f| (f.arch.as_str(), f.version.as_str(), f.reason.as_str()))
        .collect();
    assert_eq!(
        floors,
        [
            ("", "2.0.0", "disk layout migration"),
            ("", "2.5.0", "bootloader update")
        ]
    );
    down.store.update_group(&group("stable")).await.unwrap();
    down.refresh_config().await;

    // The follower answers as the upstream does, from its own hosting: floor by floor for
    // each architecture...
    for arch in ARCHES {
        let machine = format!("walker-{arch}");
        let (mut version, mut previous) = ("1.0.0".to_owned(), None::<String>);
        for (next, floor) in RELEASES {
            let ours = check(&down, &machine, &version, previous.as_deref(), arch, false).await;
            let theirs = check(&up, &machine, &version, previous.as_deref(), arch, false).await;
            assert_eq!(
                ours.status,
                Some(UpdateCheckStatus::Ok),
                "{arch} {version}: {ours:?}"
            );
            assert_eq!(shape(&ours), shape(&theirs), "{arch} on {version}");
            let manifest = &ours.manifests[0];
            assert_eq!(manifest.version, next);
            assert_eq!(manifest.floor_reason.as_deref(), floor);
            let codebase = ours.urls[0].codebase.as_str();
            assert_eq!(codebase, local_codebase(&down, next, arch));
            let names: Vec<&str> = manifest.packages.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, [PAYLOAD, OEM]);
            assert_eq!(
                get_bytes(&format!("{codebase}{PAYLOAD}")).await,
                payload(next, arch)
            );
            assert_eq!(
                get_bytes(&format!("{codebase}{OEM}")).await,
                oem(next, arch)
            );
            previous = Some(std::mem::replace(&mut version, next.to_owned()));
        }
        let ours = check(&down, &machine, &version, previous.as_deref(), arch, false).await;
        assert_eq!(
            ours.status,
            Some(UpdateCheckStatus::NoUpdate),
            "{arch}: {ours:?}"
        );
    }
    // ...and everything in one answer to a multi_manifest_ok client.
    for arch in ARCHES {
        let machine = format!("multi-{arch}");
        let ours = check(&down, &machine, "1.0.0", None, arch, true).await;
        let theirs = check(&up, &machine, "1.0.0", None, arch, true).await;
        assert_eq!(shape(&ours), shape(&theirs), "{arch}");
        let versions: Vec<&str> = ours.manifests.iter().map(|m| m.version.as_str()).collect();
        assert_eq!(versions, ["2.0.0", "2.5.0", "3.0.0"]);
        assert_eq!(ours.manifests[2].is_target, Some(true));
        let codebases: Vec<&str> = ours.urls.iter().map(|u| u.codebase.as_str()).collect();
        let expected: Vec<String> = RELEASES
            .iter()
            .map(|(v, _)| local_codebase(&down, v, arch))
            .collect();
        assert_eq!(codebases, expected);
    }

    // A sync with nothing new writes nothing and downloads nothing.
    let generation = down.store.config_generation().await.unwrap();
    let logged = down.store.activity(None, 10_000, 0).await.unwrap().len();
    let hosted = down.data.path().join("packages");
    let files = files_under(&hosted);
    let (status, detail) = sync(&down).await;
    assert_eq!(status, "ok", "{detail}");
    assert!(
        detail.contains(
            "0 packages, 0 files, 0 floors and 0 channels updated, 0 payloads downloaded"
        ),
        "{detail}"
    );
    assert_eq!(down.store.config_generation().await.unwrap(), generation);
    let activity = down.store.activity(None, 10_000, 0).await.unwrap();
    assert_eq!(activity.len(), logged + 1, "only the sync itself is logged");
    assert_eq!(activity[0].action, "upstream.sync");
    assert_eq!(files_under(&hosted), files);
    let (_, list) = down.api("GET", &format!("{V1}/upstream"), None).await;
    let state = &list["items"][0];
    assert_eq!(state["lastStatus"], "ok", "{list}");
    assert!(
        state["lastSync"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-")),
        "{list}"
    );
    assert!(
        state["lastDetail"]
            .as_str()
            .is_some_and(|d| d.contains("0 payloads downloaded")),
        "{list}"
    );

    // A payload that is not what the upstream's answer says is refused and logged, and
    // nothing of its release is kept.
    release(&up, "4.0.0", false).await;
    let served = up
        .data
        .path()
        .join(format!("packages/{APP}/4.0.0/{PAYLOAD}"));
    let mut bytes = std::fs::read(&served).unwrap();
    bytes[10] ^= 0x55;
    std::fs::write(&served, &bytes).unwrap();
    up.move_channel("4.0.0").await;
    let (status, detail) = sync(&down).await;
    assert_eq!(status, "error", "{detail}");
    assert!(detail.contains("SHA-256 mismatch"), "{detail}");
    let config = down.store.load_config().await.unwrap();
    assert!(!config.packages.iter().any(|p| p.version == "4.0.0"));
    let stable = config.channels.iter().find(|c| c.name == "stable").unwrap();
    assert_eq!(stable.version, "3.0.0", "the channel stays where it was");
    let left: Vec<PathBuf> = files_under(&hosted)
        .into_keys()
        .filter(|p| !files.contains_key(p))
        .collect();
    assert!(left.is_empty(), "nothing half-made: {left:?}");
    let activity = down.store.activity(None, 1, 0).await.unwrap();
    assert_eq!(activity[0].action, "upstream.sync");
    assert!(
        activity[0].detail.contains("SHA-256 mismatch"),
        "{}",
        activity[0].detail
    );
    let (_, list) = down.api("GET", &format!("{V1}/upstream"), None).await;
    assert_eq!(list["items"][0]["lastStatus"], "error", "{list}");

    down.stop().await;
    up.stop().await;
}

#[tokio::test]
async fn follow_an_omaha_upstream_sqlite() {
    follow_an_omaha_upstream(
        TestServer::start_sqlite(GroupPolicy::default()).await,
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn follow_an_omaha_upstream_postgres() {
    let Some(up) = TestServer::start_postgres(GroupPolicy::default()).await else {
        return;
    };
    let Some(down) = TestServer::start_postgres(GroupPolicy::default()).await else {
        return;
    };
    follow_an_omaha_upstream(up, down).await;
}

/// Registers and hosts `version` on `s` for arm64 only: its default package is the arm64
/// payload, with the arm64 `oem-qemu.gz` (an upstream offers it only where a floor of
/// arm64 leads).
async fn arm64_only_release(s: &TestServer, version: &str) {
    let base = format!("{V1}/apps/{APP}/packages/{version}");
    let main = payload(version, "arm64");
    let (status, body) = s.api("POST", &base, Some(sums(&main))).await;
    assert_eq!(status, 200, "{body}");
    upload(s, version, None, PAYLOAD, &main).await;
    let extra = oem(version, "arm64");
    let (status, body) = s
        .api("PUT", &format!("{base}/files/{OEM}"), Some(sums(&extra)))
        .await;
    assert_eq!(status, 200, "{body}");
    upload(s, version, None, OEM, &extra).await;
}

/// The versions an instance of `arch` on 1.0.0 is offered by `s`, one exchange per step,
/// each answer compared with the upstream's and its files fetched from `s`.
async fn walk(down: &TestServer, up: &TestServer, machine: &str, arch: &str) -> Vec<String> {
    let (mut version, mut previous) = ("1.0.0".to_owned(), None::<String>);
    let mut offered = Vec::new();
    loop {
        let ours = check(down, machine, &version, previous.as_deref(), arch, false).await;
        let theirs = check(up, machine, &version, previous.as_deref(), arch, false).await;
        assert_eq!(shape(&ours), shape(&theirs), "{arch} on {version}");
        if ours.status == Some(UpdateCheckStatus::NoUpdate) {
            return offered;
        }
        assert!(offered.len() < 5, "{arch}: no end to {offered:?}");
        let next = ours.manifests[0].version.clone();
        let codebase = ours.urls[0].codebase.as_str();
        assert_eq!(codebase, local_codebase(down, &next, arch), "{arch} {next}");
        assert_eq!(
            get_bytes(&format!("{codebase}{PAYLOAD}")).await,
            payload(&next, arch),
            "{arch} {next}"
        );
        assert_eq!(
            get_bytes(&format!("{codebase}{OEM}")).await,
            oem(&next, arch),
            "{arch} {next}"
        );
        offered.push(next.clone());
        previous = Some(std::mem::replace(&mut version, next));
    }
}

async fn follow_a_release_for_arm64_only(up: TestServer, down: TestServer) {
    // The upstream: 2.0.0 and 3.0.0 for both architectures, 2.7.0 for arm64 only, a floor
    // of arm64 alone; channel stable at 3.0.0.
    release(&up, "2.0.0", true).await;
    release(&up, "3.0.0", true).await;
    arm64_only_release(&up, "2.7.0").await;
    for (path, reason) in [
        ("2.0.0", "disk layout migration"),
        ("2.7.0?arch=arm64", "arm64 firmware"),
    ] {
        let (status, body) = up
            .api(
                "PUT",
                &format!("{V1}/apps/{APP}/channels/stable/floors/{path}"),
                Some(json!({ "reason": reason })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    up.move_channel("3.0.0").await;

    // The follower gives its channel stable to the upstream.
    down.store
        .put_channel(&ChannelRecord {
            app_id: APP.into(),
            name: "interim".into(),
            version: "1.0.0".into(),
            publish: false,
            upstream: String::new(),
            created_at: 0,
        })
        .await
        .unwrap();
    let group = |channel: &str| GroupRecord {
        app_id: APP.into(),
        id: "stable".into(),
        label: "Stable".into(),
        channel: channel.into(),
        policy: GroupPolicy::default().to_json(),
        created_at: 0,
    };
    down.store.update_group(&group("interim")).await.unwrap();
    down.store.delete_channel(APP, "stable").await.unwrap();
    down.refresh_config().await;
    let omaha_url = format!("http://{}/v1/update/", up.addr());
    let (status, created) = down
        .api(
            "POST",
            &format!("{V1}/upstream"),
            Some(json!({
                "url": omaha_url, "label": "Flatcar-like", "kind": "omaha", "appId": APP,
                "tracks": ["stable"], "arches": ["amd64", "arm64"], "download": true,
            })),
        )
        .await;
    assert_eq!(status, 200, "{created}");

    let (status, detail) = sync(&down).await;
    assert_eq!(status, "ok", "{detail}");
    assert!(
        !detail.contains(';'),
        "nothing left out or failed: {detail}"
    );
    assert!(detail.contains("10 payloads downloaded"), "{detail}");
    let config = down.store.load_config().await.unwrap();
    // 2.7.0's default package is the arm64 payload, hosted in the arm64 directory, with
    // the arm64 OEM file; it has no package of its own for any architecture.
    let default = config
        .packages
        .iter()
        .find(|p| p.version == "2.7.0")
        .expect("package 2.7.0");
    assert_eq!(
        default.url,
        format!("{}{PAYLOAD}", local_codebase(&down, "2.7.0", "arm64"))
    );
    assert_eq!(
        default.sha256,
        BASE64.encode(sha2::Sha256::digest(payload("2.7.0", "arm64")))
    );
    assert!(
        !config
            .arch_packages
            .iter()
            .any(|p| p.package.version == "2.7.0"),
        "{:?}",
        config.arch_packages
    );
    let files: Vec<(&str, &str)> = config
        .package_files
        .iter()
        .filter(|f| f.version == "2.7.0")
        .map(|f| (f.arch.as_str(), f.name.as_str()))
        .collect();
    assert_eq!(files, [("", OEM)]);
    let mut floors: Vec<(&str, &str, &str)> = config
        .floors
        .iter()
        .map(|f| (f.arch.as_str(), f.version.as_str(), f.reason.as_str()))
        .collect();
    floors.sort_unstable();
    assert_eq!(
        floors,
        [
            ("", "2.0.0", "disk layout migration"),
            ("arm64", "2.7.0", "arm64 firmware")
        ]
    );
    let stable = config.channels.iter().find(|c| c.name == "stable").unwrap();
    assert_eq!(
        (stable.version.as_str(), stable.upstream.as_str()),
        ("3.0.0", "1")
    );
    down.store.update_group(&group("stable")).await.unwrap();
    down.refresh_config().await;

    // An arm64 instance goes through 2.7.0; an amd64 one never sees it.
    assert_eq!(
        walk(&down, &up, "walker-arm64", "arm64").await,
        ["2.0.0", "2.7.0", "3.0.0"]
    );
    assert_eq!(
        walk(&down, &up, "walker-amd64", "amd64").await,
        ["2.0.0", "3.0.0"]
    );
    for (arch, expected) in [
        ("arm64", vec!["2.0.0", "2.7.0", "3.0.0"]),
        ("amd64", vec!["2.0.0", "3.0.0"]),
    ] {
        let machine = format!("multi-{arch}");
        let ours = check(&down, &machine, "1.0.0", None, arch, true).await;
        let theirs = check(&up, &machine, "1.0.0", None, arch, true).await;
        assert_eq!(shape(&ours), shape(&theirs), "{arch}");
        let versions: Vec<&str> = ours.manifests.iter().map(|m| m.version.as_str()).collect();
        assert_eq!(versions, expected, "{arch}");
    }

    // Synced again, nothing changes.
    let (status, detail) = sync(&down).await;
    assert_eq!(status, "ok", "{detail}");
    assert!(
        detail.contains(
            "0 packages, 0 files, 0 floors and 0 channels updated, 0 payloads downloaded"
        ),
        "{detail}"
    );
    down.stop().await;
    up.stop().await;
}

#[tokio::test]
async fn follow_a_release_for_arm64_only_sqlite() {
    follow_a_release_for_arm64_only(
        TestServer::start_sqlite(GroupPolicy::default()).await,
        TestServer::start_sqlite(GroupPolicy::default()).await,
    )
    .await;
}

#[tokio::test]
async fn follow_a_release_for_arm64_only_postgres() {
    let Some(up) = TestServer::start_postgres(GroupPolicy::default()).await else {
        return;
    };
    let Some(down) = TestServer::start_postgres(GroupPolicy::default()).await else {
        return;
    };
    follow_a_release_for_arm64_only(up, down).await;
}
