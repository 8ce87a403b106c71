//! Backups while serving, and restores into a fresh data directory or an empty database.

use crate::packages::{basic_auth, test_payload, upload};
use crate::support::{self, APP, TestServer, check_request};
use base64::Engine as _;
use std::path::Path;
use update_server::policy::GroupPolicy;
use update_server::store::{
    AppRecord, ChannelRecord, GroupRecord, InstanceFilter, InstanceRecord, PackageRecord,
    SqliteStore, Store, UpstreamRecord, UserRecord,
};

const V1: &str = "/_ah/api/update/v1";

/// What a restore must bring back.
#[derive(Debug, PartialEq)]
struct Contents {
    generation: i64,
    apps: Vec<AppRecord>,
    channels: Vec<ChannelRecord>,
    groups: Vec<GroupRecord>,
    packages: Vec<PackageRecord>,
    arch_packages: Vec<update_server::store::ArchPackageRecord>,
    package_files: Vec<update_server::store::PackageFileRecord>,
    floors: Vec<update_server::store::FloorRecord>,
    blacklist: Vec<update_server::store::BlacklistRecord>,
    users: Vec<UserRecord>,
    upstreams: Vec<UpstreamRecord>,
    instances: Vec<InstanceRecord>,
    activity: usize,
}

async fn contents(store: &dyn Store) -> Contents {
    let config = store.load_config().await.unwrap();
    let mut instances = store
        .instances(&InstanceFilter::default(), 10_000, 0)
        .await
        .unwrap();
    instances.sort_by(|a, b| a.machine_id.cmp(&b.machine_id));
    Contents {
        generation: config.generation,
        apps: config.apps,
        channels: config.channels,
        groups: config.groups,
        packages: config.packages,
        arch_packages: config.arch_packages,
        package_files: config.package_files,
        floors: config.floors,
        blacklist: config.blacklist,
        users: store.users().await.unwrap(),
        upstreams: store.upstreams().await.unwrap(),
        instances,
        activity: store.activity(None, 10_000, 0).await.unwrap().len(),
    }
}

/// Fills the server through its API and its update endpoint: a hosted payload with its
/// package, a user (returns its key), an upstream, instances.
async fn fill(s: &TestServer) -> String {
    let base = format!("http://{}", s.addr());
    let (status, uploaded) = upload(
        &base,
        Some(&basic_auth()),
        "update.gz",
        &test_payload(70_000),
    )
    .await;
    assert_eq!(status, 200, "{uploaded}");
    let (status, body) = s
        .api(
            "POST",
            &format!("{V1}/apps/{APP}/packages/1.2.0"),
            Some(serde_json::json!({
                "url": uploaded["url"],
                "size": uploaded["size"].to_string(),
                "sha1Sum": uploaded["sha1Sum"],
                "sha256Sum": uploaded["sha256Sum"],
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A package for arm64, an extra file, a floor and a blacklisted version.
    let sha256 = uploaded["sha256Sum"].clone();
    for (path, body) in [
        (
            format!("{V1}/apps/{APP}/packages/1.2.0/arches/arm64"),
            Some(serde_json::json!({
                "url": "https://pkg.example.test/arm64/1.2.0/update.gz",
                "size": "7",
                "sha256Sum": sha256,
            })),
        ),
        (
            format!("{V1}/apps/{APP}/packages/1.2.0/files/oem-qemu.gz?arch=arm64"),
            Some(serde_json::json!({"size": "9", "sha256Sum": sha256})),
        ),
        (
            format!("{V1}/apps/{APP}/channels/stable/floors/1.0.5"),
            Some(serde_json::json!({"reason": "migration"})),
        ),
        (
            format!("{V1}/apps/{APP}/channels/stable/blacklist/1.0.7"),
            None,
        ),
    ] {
        let (status, answer) = s.api("PUT", &path, body).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let (status, user) = s
        .api(
            "POST",
            &format!("{V1}/admin/user"),
            Some(serde_json::json!({"userName": "ops@example.com"})),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    let (status, body) = s
        .api(
            "POST",
            &format!("{V1}/upstream"),
            Some(serde_json::json!({"label": "public", "url": "http://127.0.0.1:9"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    s.move_channel("1.1.0").await;
    for i in 0..5 {
        s.omaha(&check_request(&format!("backup-{i}"), "1.0.0"))
            .await;
    }
    s.flush().await;
    user["token"].as_str().unwrap().to_owned()
}

/// `GET /db/backup` while update checks go on; returns the archive.
async fn backup_while_serving(s: &TestServer) -> Vec<u8> {
    let url = format!("http://{}/v1/update/", s.addr());
    let client = reqwest::Client::new();
    let traffic = tokio::spawn({
        let client = client.clone();
        async move { support::concurrent_checks(&client, &[url], 100..140).await }
    });
    let response = client
        .get(format!("http://{}/db/backup", s.addr()))
        .header("authorization", basic_auth())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-compressed-tar"
    );
    let archive = response.bytes().await.unwrap().to_vec();
    traffic.await.unwrap();
    archive
}

fn secret() -> update_server::auth::Secret {
    update_server::auth::Secret::from_hex(&"5e".repeat(32)).unwrap()
}

/// Serves a restored store and checks that the user authenticates with its key and the
/// payload is served.
async fn serve_restored(store: std::sync::Arc<dyn Store>, data_dir: &Path, user_key: &str) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = update_server::Running::start_with(
        listener,
        store,
        std::sync::Arc::new(update_server::clock::SystemClock),
        update_server::ServerOptions {
            data_dir: Some(data_dir.to_owned()),
            ..update_server::ServerOptions::new("restored", secret())
        },
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("ops@example.com:{user_key}"))
    );
    let response = client
        .get(format!("http://{}{V1}/apps", running.addr()))
        .header("authorization", basic)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the user's key still works");
    let payload = client
        .get(format!("http://{}/packages/update.gz", running.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(payload.status(), 200);
    assert_eq!(
        payload.bytes().await.unwrap().as_ref(),
        test_payload(70_000)
    );
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_into_a_fresh_data_directory() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let key = fill(&s).await;
    let archive_bytes = backup_while_serving(&s).await;
    s.flush().await;
    let scratch = tempfile::tempdir().unwrap();
    let archive = scratch.path().join("backup.tar.gz");
    std::fs::write(&archive, &archive_bytes).unwrap();
    let before_traffic = contents(s.store.as_ref()).await;

    // The command operators run, into a fresh data directory.
    let data_dir = scratch.path().join("restored");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_update-server"))
        .arg("restore")
        .arg(&archive)
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("restored the sqlite backup"));

    // Again into the same directory: refused, it is not empty any more.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_update-server"))
        .arg("restore")
        .arg(&archive)
        .arg("--data-dir")
        .arg(&data_dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let restored = SqliteStore::open(&data_dir.join("update-server.sqlite3"))
        .await
        .unwrap();
    let restored_contents = contents(&restored).await;
    // The backup is of one moment during the traffic: everything made before it is there,
    // and the configuration is exactly the server's.
    assert_eq!(restored_contents.apps, before_traffic.apps);
    assert_eq!(restored_contents.channels, before_traffic.channels);
    assert_eq!(restored_contents.groups, before_traffic.groups);
    assert_eq!(restored_contents.packages, before_traffic.packages);
    assert_eq!(
        restored_contents.arch_packages,
        before_traffic.arch_packages
    );
    assert_eq!(
        restored_contents.package_files,
        before_traffic.package_files
    );
    assert_eq!(restored_contents.floors, before_traffic.floors);
    assert_eq!(restored_contents.blacklist, before_traffic.blacklist);
    assert_eq!(restored_contents.floors.len(), 1);
    assert_eq!(restored_contents.users, before_traffic.users);
    assert_eq!(restored_contents.upstreams, before_traffic.upstreams);
    for i in 0..5 {
        let machine = format!("backup-{i}");
        let ours = s.store.instance(APP, &machine).await.unwrap();
        assert_eq!(restored.instance(APP, &machine).await.unwrap(), ours);
    }
    assert!(data_dir.join("packages/update.gz").is_file());
    serve_restored(std::sync::Arc::new(restored), &data_dir, &key).await;
    s.stop().await;
}

#[tokio::test]
async fn a_quiet_backup_restores_everything_exactly() {
    let s = TestServer::start_sqlite(GroupPolicy::default()).await;
    let key = fill(&s).await;
    // A version's payload, stored per app and version.
    let (content_type, body) = crate::packages::multipart("update.gz", b"version 1.2.0");
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/package-upload?appId={APP}&version=1.2.0",
            s.addr()
        ))
        .header("content-type", content_type)
        .header("authorization", basic_auth())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The arm64 package's payload, stored in a directory of the architecture's own.
    let (content_type, body) = crate::packages::multipart("update.gz", b"arm64 1.2.0");
    let response = reqwest::Client::new()
        .post(format!(
            "http://{}/package-upload?appId={APP}&version=1.2.0&arch=arm64",
            s.addr()
        ))
        .header("content-type", content_type)
        .header("authorization", basic_auth())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = reqwest::Client::new()
        .get(format!("http://{}/db/backup", s.addr()))
        .header("authorization", basic_auth())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let scratch = tempfile::tempdir().unwrap();
    let archive = scratch.path().join("backup.tar.gz");
    std::fs::write(&archive, response.bytes().await.unwrap()).unwrap();
    let before = contents(s.store.as_ref()).await;

    let data_dir = scratch.path().join("restored");
    std::fs::create_dir_all(&data_dir).unwrap();
    let restored = SqliteStore::open(&data_dir.join("update-server.sqlite3"))
        .await
        .unwrap();
    let summary = update_server::backup::restore(&archive, &restored, &data_dir)
        .await
        .unwrap();
    assert_eq!(
        summary.manifest.packages,
        vec![
            format!("{APP}/1.2.0/arm64/update.gz"),
            format!("{APP}/1.2.0/update.gz"),
            "update.gz".to_owned()
        ]
    );
    assert_eq!(summary.payloads_restored, 3);
    assert_eq!(
        std::fs::read(data_dir.join(format!("packages/{APP}/1.2.0/arm64/update.gz"))).unwrap(),
        b"arm64 1.2.0"
    );
    assert_eq!(
        std::fs::read(data_dir.join(format!("packages/{APP}/1.2.0/update.gz"))).unwrap(),
        b"version 1.2.0"
    );
    let mut after = contents(&restored).await;
    // The backup itself is in the activity log of the original, after the copy was taken.
    after.activity += 1;
    assert_eq!(after, before);
    serve_restored(std::sync::Arc::new(restored), &data_dir, &key).await;

    // Without authentication there is no backup.
    let response = reqwest::Client::new()
        .get(format!("http://{}/db/backup", s.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Garbage is not a backup.
    let garbage = scratch.path().join("garbage.tar.gz");
    std::fs::write(&garbage, b"not an archive").unwrap();
    let (_, empty) = support::sqlite().await;
    let err = update_server::backup::restore(&garbage, &empty, scratch.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
    s.stop().await;
}

#[tokio::test]
async fn a_postgres_backup_restores_into_an_empty_database() {
    let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await else {
        return;
    };
    let key = fill(&s).await;
    let archive_bytes = backup_while_serving(&s).await;
    s.flush().await;
    let scratch = tempfile::tempdir().unwrap();
    let archive = scratch.path().join("backup.tar.gz");
    std::fs::write(&archive, &archive_bytes).unwrap();
    let before = contents(s.store.as_ref()).await;

    let (schema, restored) = support::postgres().await.unwrap();
    let data_dir = scratch.path().join("restored");
    let summary = update_server::backup::restore(&archive, &restored, &data_dir)
        .await
        .unwrap();
    assert_eq!(summary.manifest.backend, "postgres");
    let after = contents(&restored).await;
    assert_eq!(after.apps, before.apps);
    assert_eq!(after.channels, before.channels);
    assert_eq!(after.groups, before.groups);
    assert_eq!(after.packages, before.packages);
    assert_eq!(after.users, before.users);
    assert_eq!(after.upstreams, before.upstreams);
    for i in 0..5 {
        let machine = format!("backup-{i}");
        let ours = s.store.instance(APP, &machine).await.unwrap();
        assert_eq!(restored.instance(APP, &machine).await.unwrap(), ours);
    }
    // New rows after the restore get fresh ids (the identity sequences moved on).
    restored
        .append_activity(&update_server::store::ActivityRecord {
            id: 0,
            at: 1,
            actor: "test".into(),
            action: "test".into(),
            app_id: String::new(),
            group_id: String::new(),
            detail: String::new(),
            changes: Vec::new(),
        })
        .await
        .unwrap();
    // A second restore into the now full database is refused.
    let err = update_server::backup::restore(&archive, &restored, &data_dir)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    // A PostgreSQL backup does not go into SQLite.
    let (_, sqlite) = support::sqlite().await;
    let err = update_server::backup::restore(&archive, &sqlite, scratch.path())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("--database-url"), "{err}");
    serve_restored(std::sync::Arc::new(restored), &data_dir, &key).await;
    schema.drop().await;
    s.stop().await;
}
