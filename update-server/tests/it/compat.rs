//! Compatibility with the real `updateservicectl` and refusing configuration that cannot
//! work: Hawk over decoded paths, packages registered without a URL and their payloads
//! per app and version, conflicts, and 404 for every unknown id. Each runs on SQLite and,
//! when `TEST_DATABASE_URL` is set, on PostgreSQL.

use crate::packages::{basic_auth, multipart, test_payload, upload};
use crate::support::{ADMIN_KEY, APP, TestServer, check_request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use omaha_proto::codes::UpdateCheckStatus;
use serde_json::{Value, json};
use sha2::Digest as _;
use std::sync::atomic::{AtomicU64, Ordering};
use update_server::policy::GroupPolicy;

const V1: &str = "/_ah/api/update/v1";

/// A server on each backend available.
async fn servers() -> Vec<TestServer> {
    let mut all = vec![TestServer::start_sqlite(GroupPolicy::default()).await];
    if let Some(pg) = TestServer::start_postgres(GroupPolicy::default()).await {
        all.push(pg);
    }
    all
}

/// Sends `path` (escaped, as on the wire) signed over `signed` (what the client signed).
async fn signed_over(
    s: &TestServer,
    user: &str,
    key: &str,
    method: &str,
    path: &str,
    signed: &str,
    body: Option<Value>,
) -> (u16, Value) {
    static NONCE: AtomicU64 = AtomicU64::new(0);
    let nonce = format!("c{:07}", NONCE.fetch_add(1, Ordering::Relaxed));
    let ts = update_server::clock::Clock::now(s.clock.as_ref()).as_second();
    let header = s.hawk_header(user, key, method, signed, &nonce, ts);
    s.api_with_header(method, path, body, Some(header)).await
}

/// The body `updateservicectl package create` sends for `payload` without `--url`.
fn go_package_body(payload: &[u8]) -> Value {
    json!({
        "sha1Sum": BASE64.encode(sha1::Sha1::digest(payload)),
        "sha256Sum": BASE64.encode(sha2::Sha256::digest(payload)),
        "size": payload.len().to_string(),
    })
}

/// Uploads a payload for `app`'s `version`, as `updatectl package create` does.
async fn upload_for(base: &str, version: &str, name: &str, payload: &[u8]) -> (u16, Value) {
    let (content_type, body) = multipart(name, payload);
    let response = reqwest::Client::new()
        .post(format!(
            "{base}/package-upload?appId={APP}&version={version}"
        ))
        .header("content-type", content_type)
        .header("authorization", basic_auth())
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or("").to_owned()
}

async fn metric(s: &TestServer, needle: &str) -> Option<String> {
    let text = reqwest::get(format!("http://{}/metrics", s.addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(needle))
        .map(str::to_owned)
}

#[tokio::test]
async fn the_go_clients_mac_over_the_decoded_path_is_accepted() {
    for s in servers().await {
        let (status, bob) = s
            .api(
                "POST",
                &format!("{V1}/admin/user"),
                Some(json!({"userName": "bob@example.com"})),
            )
            .await;
        assert_eq!(status, 200, "{bob}");
        let bob_key = bob["token"].as_str().unwrap().to_owned();
        for group in ["my group", "ops:eu"] {
            let (status, body) = s
                .api(
                    "POST",
                    &format!("{V1}/apps/{APP}/groups"),
                    Some(json!({"id": group, "channelId": "stable", "label": group})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
        let payload = test_payload(64);
        let mut body = go_package_body(&payload);
        body["url"] = json!("https://pkg.example.test/1.5.0+build.7/update.gz");
        let (status, created) = s
            .api(
                "POST",
                &format!("{V1}/apps/{APP}/packages/1.5.0%2Bbuild.7"),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["version"], "1.5.0+build.7");

        // (user, method, path on the wire, path as the Go client signs it, body, status)
        type Case<'a> = (&'a str, &'a str, String, String, Option<Value>, u16);
        let cases: Vec<Case<'_>> = vec![
            (
                "admin",
                "GET",
                format!("{V1}/admin/user/bob%40example.com?alt=json"),
                format!("{V1}/admin/user/bob@example.com?alt=json"),
                None,
                200,
            ),
            (
                "bob@example.com",
                "GET",
                format!("{V1}/apps/{APP}/groups/my%20group?alt=json"),
                format!("{V1}/apps/{APP}/groups/my group?alt=json"),
                None,
                200,
            ),
            (
                "bob@example.com",
                "POST",
                format!("{V1}/apps/{APP}/groups/ops%3Aeu?alt=json"),
                format!("{V1}/apps/{APP}/groups/ops:eu?alt=json"),
                Some(json!({"appId": APP, "id": "ops:eu", "updatePercent": 50.0})),
                200,
            ),
            (
                "bob@example.com",
                "GET",
                format!("{V1}/apps/{APP}/groups/my%20group/requests/versions/0/0?alt=json"),
                format!("{V1}/apps/{APP}/groups/my group/requests/versions/0/0?alt=json"),
                None,
                200,
            ),
            // The escaped form still works, as curl and updatectl sign it.
            (
                "bob@example.com",
                "GET",
                format!("{V1}/apps/{APP}/groups/my%20group?alt=json"),
                format!("{V1}/apps/{APP}/groups/my%20group?alt=json"),
                None,
                200,
            ),
            // A MAC over another path is no MAC at all.
            (
                "bob@example.com",
                "GET",
                format!("{V1}/apps/{APP}/groups/my%20group?alt=json"),
                format!("{V1}/apps/{APP}/groups/my group2?alt=json"),
                None,
                401,
            ),
            (
                "admin",
                "DELETE",
                format!("{V1}/apps/{APP}/packages/1.5.0%2Bbuild.7?alt=json"),
                format!("{V1}/apps/{APP}/packages/1.5.0+build.7?alt=json"),
                None,
                200,
            ),
            (
                "admin",
                "DELETE",
                format!("{V1}/admin/user/bob%40example.com?alt=json"),
                format!("{V1}/admin/user/bob@example.com?alt=json"),
                None,
                200,
            ),
        ];
        for (user, method, path, signed, body, expected) in cases {
            let key = if user == "admin" {
                ADMIN_KEY
            } else {
                bob_key.as_str()
            };
            let (status, answer) = signed_over(&s, user, key, method, &path, &signed, body).await;
            assert_eq!(status, expected, "{user} {method} {path}: {answer}");
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn a_package_without_url_waits_for_its_payload_stored_per_version() {
    for s in servers().await {
        let base = format!("http://{}", s.addr());
        let first = test_payload(3000);
        let second: Vec<u8> = test_payload(4000).iter().map(|b| b ^ 0x5a).collect();

        // `updateservicectl package create` without --url: registered, payload missing.
        let (status, created) = s
            .api(
                "POST",
                &format!("{V1}/apps/{APP}/packages/2.0.0"),
                Some(go_package_body(&first)),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        assert_eq!(created["payloadMissing"], true);
        assert_eq!(created["url"], "");
        let (_, channel) = s
            .api(
                "PATCH",
                &format!("{V1}/apps/{APP}/channels/stable"),
                Some(json!({"version": "2.0.0"})),
            )
            .await;
        assert_eq!(channel["packageMissing"], true, "{channel}");

        // Instances are told no update, for the reason that it is missing.
        let (_, response) = s.omaha(&check_request("waiting-1", "1.0.0")).await;
        let check = response.apps[0].update_check.clone().unwrap();
        assert_eq!(check.status, Some(UpdateCheckStatus::NoUpdate));
        s.flush().await;
        // Again, now that the instance is known: answered on the fast path, same reason.
        let (_, response) = s.omaha(&check_request("waiting-1", "1.0.0")).await;
        let check = response.apps[0].update_check.clone().unwrap();
        assert_eq!(check.status, Some(UpdateCheckStatus::NoUpdate));
        s.flush().await;
        let counted = metric(
            &s,
            "update_server_decisions_total{reason=\"payload_missing\"}",
        )
        .await
        .expect("payload_missing counted");
        assert!(counted.ends_with(" 2"), "{counted}");
        let fast = metric(&s, "update_server_update_checks_total{path=\"fast\"}").await;
        assert!(
            fast.as_deref().is_some_and(|f| f.ends_with(" 1")),
            "{fast:?}"
        );
        let gauge = metric(&s, "update_server_channel_package_missing{").await;
        assert!(
            gauge.as_deref().is_some_and(
                |g| g.contains("version=\"2.0.0\"") && g.contains("what=\"payload_missing\"")
            ),
            "{gauge:?}"
        );

        // `updateservicectl package upload`: it names no package; the size and SHA-256
        // say which one it is.
        let (status, uploaded) = upload(&base, Some(&basic_auth()), "update.gz", &first).await;
        assert_eq!(status, 200, "{uploaded}");
        let url = format!("{base}/packages/{APP}/2.0.0/update.gz");
        assert_eq!(uploaded["url"], url.as_str());
        let (_, list) = s
            .api(
                "GET",
                &format!("{V1}/apps/{APP}/packages?version=2.0.0"),
                None,
            )
            .await;
        assert_eq!(list["items"][0]["url"], url.as_str());
        assert!(list["items"][0].get("payloadMissing").is_none(), "{list}");
        let (_, response) = s.omaha(&check_request("waiting-1", "1.0.0")).await;
        let check = response.apps[0].update_check.clone().unwrap();
        assert_eq!(check.status, Some(UpdateCheckStatus::Ok));
        assert_eq!(
            check.urls[0].codebase.as_str(),
            format!("{base}/packages/{APP}/2.0.0/")
        );
        assert_eq!(check.manifests[0].packages[0].name, "update.gz");
        let served = reqwest::get(&url).await.unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(served.bytes().await.unwrap().as_ref(), first.as_slice());

        // Another version's payload named update.gz too (updatectl names its package).
        let (status, uploaded) = upload_for(&base, "2.1.0", "update.gz", &second).await;
        assert_eq!(status, 200, "{uploaded}");
        let url2 = format!("{base}/packages/{APP}/2.1.0/update.gz");
        assert_eq!(uploaded["url"], url2.as_str());
        let mut body = go_package_body(&second);
        body["url"] = json!(url2);
        let (status, created) = s
            .api(
                "POST",
                &format!("{V1}/apps/{APP}/packages/2.1.0"),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        let served = reqwest::get(&url2).await.unwrap();
        assert_eq!(served.bytes().await.unwrap().as_ref(), second.as_slice());
        let served = reqwest::get(&url).await.unwrap();
        assert_eq!(served.bytes().await.unwrap().as_ref(), first.as_slice());

        // A payload that matches no waiting package is stored flat, as before; the flat
        // layout of existing data directories keeps being served.
        std::fs::write(s.data.path().join("packages/legacy.gz"), b"legacy payload").unwrap();
        let served = reqwest::get(format!("{base}/packages/legacy.gz"))
            .await
            .unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(served.bytes().await.unwrap().as_ref(), b"legacy payload");
        let (status, flat) = upload(&base, Some(&basic_auth()), "other.gz", b"other").await;
        assert_eq!(status, 200, "{flat}");
        assert_eq!(flat["url"], format!("{base}/packages/other.gz").as_str());

        // An empty payload cannot be offered; a payload that contradicts its package is
        // refused.
        let (status, empty) = upload(&base, Some(&basic_auth()), "empty.gz", b"").await;
        assert_eq!(status, 400, "{empty}");
        s.api(
            "POST",
            &format!("{V1}/apps/{APP}/packages/2.2.0"),
            Some(go_package_body(b"registered")),
        )
        .await;
        let (status, wrong) = upload_for(&base, "2.2.0", "update.gz", b"something else").await;
        assert_eq!(status, 409, "{wrong}");
        s.stop().await;
    }
}

#[tokio::test]
async fn configuration_that_cannot_work_is_refused() {
    for s in servers().await {
        let pkg = |version: &str| format!("{V1}/apps/{APP}/packages/{version}");
        let mut good = go_package_body(b"hello");
        good["url"] = json!("https://pkg.example.test/3.0.0/update.gz");
        // (method, path, body, status, message part)
        let cases: Vec<(&str, String, Option<Value>, u16, &str)> = vec![
            (
                "POST",
                format!("{V1}/apps/{APP}/groups"),
                Some(json!({"id": "g1", "channelId": "nope"})),
                400,
                "channel nope does not exist",
            ),
            (
                "POST",
                format!("{V1}/apps/{APP}/groups"),
                Some(json!({"id": "g1"})),
                400,
                "channelId is required",
            ),
            (
                "PATCH",
                format!("{V1}/apps/{APP}/groups/stable"),
                Some(json!({"channelId": "nope"})),
                400,
                "channel nope does not exist",
            ),
            (
                "DELETE",
                format!("{V1}/apps/{APP}/channels/stable"),
                None,
                409,
                "in use by group(s) stable",
            ),
            (
                "DELETE",
                pkg("1.0.0"),
                None,
                409,
                "in use by channel(s) stable",
            ),
            (
                "POST",
                pkg("1.1.0"),
                Some(good.clone()),
                409,
                "exists already",
            ),
            ("POST", pkg("3.0.0"), Some(good.clone()), 200, ""),
            (
                "PATCH",
                pkg("3.0.0"),
                Some(
                    json!({"url": "https://pkg.example.test/3.0.0/", "size": "5",
                    "sha256Sum": good["sha256Sum"]}),
                ),
                400,
                "ends in a file name",
            ),
            (
                "PATCH",
                pkg("3.0.0"),
                Some(
                    json!({"url": "https://mirror.example.test/3.0.0/update.gz", "size": "5",
                    "sha256Sum": good["sha256Sum"]}),
                ),
                200,
                "",
            ),
            ("PATCH", pkg("3.9.0"), Some(good.clone()), 404, "not found"),
        ];
        for (method, path, body, status, part) in cases {
            let (got, answer) = s.api(method, &path, body).await;
            assert_eq!(got, status, "{method} {path}: {answer}");
            assert!(message(&answer).contains(part), "{method} {path}: {answer}");
        }
        let (_, list) = s
            .api(
                "GET",
                &format!("{V1}/apps/{APP}/packages?version=3.0.0"),
                None,
            )
            .await;
        assert_eq!(
            list["items"][0]["url"], "https://mirror.example.test/3.0.0/update.gz",
            "PATCH changed it"
        );

        // A channel may point at a version without a package; it says so, and so does
        // the metric.
        let (status, channel) = s
            .api(
                "POST",
                &format!("{V1}/apps/{APP}/channels"),
                Some(json!({"appId": APP, "label": "beta", "version": "9.0.0"})),
            )
            .await;
        assert_eq!(status, 200, "{channel}");
        assert_eq!(channel["packageMissing"], true);
        let (_, channels) = s
            .api("GET", &format!("{V1}/apps/{APP}/channels"), None)
            .await;
        let stable = channels["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["label"] == "stable")
            .unwrap();
        assert!(stable.get("packageMissing").is_none(), "{stable}");
        let gauge = metric(&s, "update_server_channel_package_missing{").await;
        assert!(
            gauge.as_deref().is_some_and(
                |g| g.contains("channel=\"beta\"") && g.contains("what=\"no_package\"")
            ),
            "{gauge:?}"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn unknown_ids_answer_404_everywhere() {
    for s in servers().await {
        let app = format!("{V1}/apps/{APP}");
        let ghost = format!("{V1}/apps/no-such-app");
        let any_package = json!({"url": "https://pkg.example.test/x/update.gz", "size": "5",
            "sha256Sum": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="});
        let cases: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", ghost.clone(), None),
            ("PATCH", ghost.clone(), Some(json!({"label": "x"}))),
            ("DELETE", ghost.clone(), None),
            ("GET", format!("{ghost}/packages"), None),
            (
                "POST",
                format!("{ghost}/packages/1.0.0"),
                Some(any_package.clone()),
            ),
            (
                "PATCH",
                format!("{ghost}/packages/1.0.0"),
                Some(any_package.clone()),
            ),
            (
                "PATCH",
                format!("{app}/packages/7.7.7"),
                Some(any_package.clone()),
            ),
            ("DELETE", format!("{ghost}/packages/1.0.0"), None),
            ("DELETE", format!("{app}/packages/7.7.7"), None),
            ("GET", format!("{ghost}/channels"), None),
            (
                "PATCH",
                format!("{ghost}/channels/stable"),
                Some(json!({"version": "1.0.0"})),
            ),
            (
                "PATCH",
                format!("{app}/channels/nope"),
                Some(json!({"version": "1.0.0"})),
            ),
            ("DELETE", format!("{ghost}/channels/stable"), None),
            ("DELETE", format!("{app}/channels/nope"), None),
            ("GET", format!("{ghost}/groups"), None),
            (
                "POST",
                format!("{ghost}/groups"),
                Some(json!({"id": "g", "channelId": "stable"})),
            ),
            ("GET", format!("{ghost}/groups/stable"), None),
            ("GET", format!("{app}/groups/nope"), None),
            (
                "PATCH",
                format!("{app}/groups/nope"),
                Some(json!({"channelId": "stable"})),
            ),
            (
                "POST",
                format!("{app}/groups/nope"),
                Some(json!({"updatePercent": 5.0})),
            ),
            ("DELETE", format!("{app}/groups/nope"), None),
            (
                "GET",
                format!("{app}/groups/nope/requests/versions/0/0"),
                None,
            ),
            (
                "GET",
                format!("{app}/groups/nope/requests/events/0/0"),
                None,
            ),
            (
                "GET",
                format!("{ghost}/groups/stable/requests/versions/0/0"),
                None,
            ),
            ("GET", format!("{app}/groups/nope/rollout"), None),
            (
                "POST",
                format!("{app}/groups/nope/rollout"),
                Some(json!({"rollout": [{"percent": 100.0}]})),
            ),
            ("GET", format!("{app}/groups/nope/rollout/active"), None),
            (
                "POST",
                format!("{app}/groups/nope/rollout/active"),
                Some(json!({"active": true})),
            ),
            ("GET", format!("{V1}/admin/user/nobody"), None),
            ("DELETE", format!("{V1}/admin/user/nobody"), None),
            ("PUT", format!("{V1}/admin/user/nobody/token/new"), None),
            (
                "PUT",
                format!("{V1}/upstream/999"),
                Some(json!({"url": "https://u.example/"})),
            ),
            ("DELETE", format!("{V1}/upstream/999"), None),
        ];
        let mut wrong = Vec::new();
        for (method, path, body) in cases {
            let (status, answer) = s.api(method, &path, body).await;
            if status != 404 || !answer["error"].is_object() {
                wrong.push(format!("{method} {path}: {status} {answer}"));
            }
        }
        assert!(wrong.is_empty(), "not 404: {wrong:#?}");
        s.stop().await;
    }
}
