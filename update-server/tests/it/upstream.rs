//! Upstream sync between two `update-server` processes on loopback: on demand and on an
//! interval, never overwriting a local channel.

use crate::packages::{basic_auth, upload};
use crate::processes::ServerProcess;
use crate::support::{self, ADMIN_KEY, APP};
use std::path::Path;
use std::time::{Duration, Instant};
use update_server::policy::GroupPolicy;
use update_server::store::{
    AppRecord, ChannelRecord, PackageRecord, SqliteStore, Store, UpstreamRecord,
};

const V1: &str = "/_ah/api/update/v1";
/// An app only the upstream has.
const OTHER_APP: &str = "5b810680-e36c-4879-9b34-8ed1ce6e5b34";

fn channel(app: &str, name: &str, version: &str, publish: bool) -> ChannelRecord {
    ChannelRecord {
        app_id: app.into(),
        name: name.into(),
        version: version.into(),
        publish,
        upstream: String::new(),
        created_at: 0,
    }
}

fn package(app: &str, version: &str) -> PackageRecord {
    PackageRecord {
        app_id: app.into(),
        version: version.into(),
        url: format!("https://upstream.example.test/{version}/update.gz"),
        size: 5,
        sha1: "qvTGHdzF6KLavt4PO0gs2a6pQ00=".into(),
        sha256: "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=".into(),
        metadata_size: String::new(),
        metadata_signature_rsa: String::new(),
        signature: String::new(),
        release_notes: String::new(),
        required: false,
        created_at: 0,
    }
}

async fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(&dir.join("update-server.sqlite3"))
        .await
        .unwrap()
}

/// Calls a server process's admin API with Basic auth: status and JSON.
async fn api(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("http://{addr}{path}"))
        .header("authorization", basic_auth());
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

/// The upstream: app [`APP`] with packages 1.0.0 and 1.1.0, `stable` published at 1.0.0,
/// `beta` published at 1.1.0, `internal` not published; app [`OTHER_APP`] with `stable`
/// published at 2.0.0.
async fn upstream_data(dir: &Path) {
    let store = open(dir).await;
    support::populate(&store, &GroupPolicy::default()).await;
    store
        .put_channel(&channel(APP, "stable", "1.0.0", true))
        .await
        .unwrap();
    store
        .put_channel(&channel(APP, "beta", "1.1.0", true))
        .await
        .unwrap();
    store
        .put_channel(&channel(APP, "internal", "1.1.0", false))
        .await
        .unwrap();
    store
        .create_app(&AppRecord {
            id: OTHER_APP.into(),
            label: "Other".into(),
            description: String::new(),
            hash_sha256: "hex".into(),
            created_at: 0,
        })
        .await
        .unwrap();
    store
        .put_package(&package(OTHER_APP, "2.0.0"))
        .await
        .unwrap();
    store
        .put_channel(&channel(OTHER_APP, "stable", "2.0.0", true))
        .await
        .unwrap();
}

fn args<'a>(dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--data-dir", dir, "--admin-key", ADMIN_KEY];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn sync_on_demand_copies_published_channels_and_keeps_local_ones() {
    let up_dir = tempfile::tempdir().unwrap();
    let down_dir = tempfile::tempdir().unwrap();
    upstream_data(up_dir.path()).await;
    {
        // Downstream: app APP with a local `beta` channel of its own.
        let store = open(down_dir.path()).await;
        store
            .create_app(&AppRecord {
                id: APP.into(),
                label: "Flatcar".into(),
                description: String::new(),
                hash_sha256: "hex".into(),
                created_at: 0,
            })
            .await
            .unwrap();
        store
            .put_channel(&channel(APP, "beta", "0.9.0", false))
            .await
            .unwrap();
    }
    let up_path = up_dir.path().to_str().unwrap();
    let down_path = down_dir.path().to_str().unwrap();
    let upstream = ServerProcess::start(&args(up_path, &[])).await;
    let downstream = ServerProcess::start(&args(down_path, &["--disable-package-uploads"])).await;

    // Nothing configured: ok, nothing to do.
    let (status, body) = api(
        downstream.addr,
        "POST",
        &format!("{V1}/upstream/sync"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok", "{body}");

    let (status, created) = api(
        downstream.addr,
        "POST",
        &format!("{V1}/upstream"),
        Some(serde_json::json!({"label": "up", "url": format!("http://{}/", upstream.addr)})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let upstream_id = created["id"].as_str().unwrap().to_owned();

    let (status, body) = api(
        downstream.addr,
        "POST",
        &format!("{V1}/upstream/sync"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok", "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("channel beta of app") && detail.contains("is local"),
        "{detail}"
    );

    let store = open(down_dir.path()).await;
    let config = store.load_config().await.unwrap();
    let find = |app: &str, name: &str| {
        config
            .channels
            .iter()
            .find(|c| c.app_id == app && c.name == name)
            .cloned()
    };
    let stable = find(APP, "stable").expect("stable synced");
    assert_eq!(
        (
            stable.version.as_str(),
            stable.publish,
            stable.upstream.as_str()
        ),
        ("1.0.0", true, upstream_id.as_str())
    );
    let beta = find(APP, "beta").unwrap();
    assert_eq!(
        (beta.version.as_str(), beta.upstream.as_str()),
        ("0.9.0", ""),
        "the local channel is untouched"
    );
    assert!(
        find(APP, "internal").is_none(),
        "unpublished channels stay upstream"
    );
    let other = find(OTHER_APP, "stable").expect("the other app's channel");
    assert_eq!(other.version, "2.0.0");
    assert!(
        config.apps.iter().any(|a| a.id == OTHER_APP),
        "a missing app is created with the upstream's id"
    );
    let mut synced: Vec<(String, String, String)> = config
        .packages
        .iter()
        .map(|p| (p.app_id.clone(), p.version.clone(), p.url.clone()))
        .collect();
    synced.sort();
    let mut expected: Vec<(String, String, String)> = [
        (
            OTHER_APP,
            "2.0.0",
            "https://upstream.example.test/2.0.0/update.gz",
        ),
        (APP, "1.0.0", "https://pkg.example.test/1.0.0/update.gz"),
        (APP, "1.1.0", "https://pkg.example.test/1.1.0/update.gz"),
    ]
    .iter()
    .map(|(a, v, u)| ((*a).to_owned(), (*v).to_owned(), (*u).to_owned()))
    .collect();
    expected.sort();
    assert_eq!(synced, expected);
    let activity = store.activity(None, 100, 0).await.unwrap();
    assert!(activity.iter().any(|a| a.action == "upstream.sync"));
    assert!(activity.iter().any(|a| a.action == "channel.sync"));

    // A second sync changes nothing.
    let generation = config.generation;
    let (_, body) = api(
        downstream.addr,
        "POST",
        &format!("{V1}/upstream/sync"),
        None,
    )
    .await;
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(store.config_generation().await.unwrap(), generation);

    // An unreachable upstream is an error, said in the detail.
    let (status, _) = api(
        downstream.addr,
        "POST",
        &format!("{V1}/upstream"),
        Some(serde_json::json!({"label": "gone", "url": "http://127.0.0.1:9"})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = api(
        downstream.addr,
        "POST",
        &format!("{V1}/upstream/sync"),
        None,
    )
    .await;
    assert_eq!(body["status"], "error", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("127.0.0.1:9"));

    // This server has uploads turned off.
    let base = format!("http://{}", downstream.addr);
    let (status, body) = upload(&base, Some(&basic_auth()), "update.gz", b"hello").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--disable-package-uploads")
    );
    downstream.terminate().await;
    upstream.terminate().await;
}

#[tokio::test]
async fn the_interval_sync_follows_the_upstream() {
    let up_dir = tempfile::tempdir().unwrap();
    let down_dir = tempfile::tempdir().unwrap();
    upstream_data(up_dir.path()).await;
    let up_path = up_dir.path().to_str().unwrap();
    let down_path = down_dir.path().to_str().unwrap();
    let upstream = ServerProcess::start(&args(up_path, &[])).await;
    open(down_dir.path())
        .await
        .put_upstream(&UpstreamRecord {
            id: "1".into(),
            url: format!("http://{}", upstream.addr),
            label: "up".into(),
            ..UpstreamRecord::default()
        })
        .await
        .unwrap();
    let downstream =
        ServerProcess::start(&args(down_path, &["--upstream-sync-interval", "1"])).await;
    let store = open(down_dir.path()).await;

    let wait_for = |version: &'static str| {
        let store = store.clone();
        async move {
            let started = Instant::now();
            loop {
                let config = store.load_config().await.unwrap();
                if config
                    .channels
                    .iter()
                    .any(|c| c.app_id == APP && c.name == "stable" && c.version == version)
                {
                    return;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "channel stable did not reach {version}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    wait_for("1.0.0").await;

    // The upstream moves its channel; the downstream follows on its own.
    let (status, body) = api(
        upstream.addr,
        "PATCH",
        &format!("{V1}/apps/{APP}/channels/stable"),
        Some(serde_json::json!({"label": "stable", "version": "1.1.0", "publish": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for("1.1.0").await;
    let activity = store.activity(None, 100, 0).await.unwrap();
    assert!(
        activity
            .iter()
            .any(|a| a.actor == "system" && a.action == "channel.sync")
    );

    // SIGTERM stops the periodic sync with the rest: a clean exit.
    downstream.terminate().await;
    upstream.terminate().await;
}

/// An upstream whose package list never ends (64 MiB, chunked, with no length): the sync
/// from it fails as soon as the reply passes the limit, saying so, and the server stops
/// reading: it never holds the reply whole.
#[tokio::test]
async fn an_endless_upstream_reply_is_cut_off_at_the_limit() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const TOTAL: usize = 64 * 1024 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hostile = listener.local_addr().unwrap();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let serving = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = vec![0u8; 4096];
        let _ = stream.read(&mut head).await;
        let _ = stream
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                  transfer-encoding: chunked\r\n\r\n",
            )
            .await;
        let chunk = vec![b' '; 64 * 1024];
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        while counter.load(std::sync::atomic::Ordering::Relaxed) < TOTAL {
            if stream.write_all(&framed).await.is_err() {
                break;
            }
            counter.fetch_add(64 * 1024, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    open(dir.path())
        .await
        .put_upstream(&UpstreamRecord {
            id: "1".into(),
            url: format!("http://{hostile}"),
            label: "hostile".into(),
            ..UpstreamRecord::default()
        })
        .await
        .unwrap();
    let server = ServerProcess::start(&args(dir.path().to_str().unwrap(), &[])).await;
    let (status, body) = api(server.addr, "POST", &format!("{V1}/upstream/sync"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("larger than 16777216 bytes"), "{detail}");
    serving.await.unwrap();
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        sent < TOTAL / 2,
        "the server read {sent} bytes of a {TOTAL}-byte reply"
    );
    server.terminate().await;
}

#[tokio::test]
async fn sync_skips_packages_that_cannot_be_offered() {
    let up_dir = tempfile::tempdir().unwrap();
    let down_dir = tempfile::tempdir().unwrap();
    upstream_data(up_dir.path()).await;
    {
        // The upstream's 2.0.0 waits for its payload; 1.1.0 has no SHA-256.
        let store = open(up_dir.path()).await;
        let mut waiting = package(OTHER_APP, "2.0.0");
        waiting.url = String::new();
        store.put_package(&waiting).await.unwrap();
        let mut unhashed = package(APP, "1.1.0");
        unhashed.sha256 = String::new();
        store.put_package(&unhashed).await.unwrap();
    }
    let up_path = up_dir.path().to_str().unwrap();
    let down_path = down_dir.path().to_str().unwrap();
    let upstream = ServerProcess::start(&args(up_path, &[])).await;
    let downstream = ServerProcess::start(&args(down_path, &[])).await;
    let (status, created) = api(
        downstream.addr,
        "POST",
        &format!("{V1}/upstream"),
        Some(serde_json::json!({"label": "up", "url": format!("http://{}/", upstream.addr)})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let (status, body) = api(
        downstream.addr,
        "POST",
        &format!("{V1}/upstream/sync"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("package 2.0.0 of app") && detail.contains("cannot be offered"),
        "{detail}"
    );
    assert!(detail.contains("sha256Sum is required"), "{detail}");
    let store = open(down_dir.path()).await;
    let config = store.load_config().await.unwrap();
    let versions: Vec<&str> = config.packages.iter().map(|p| p.version.as_str()).collect();
    assert_eq!(versions, ["1.0.0"], "only the offerable package was copied");
}
