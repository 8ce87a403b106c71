//! End-to-end tests of the commands beyond the walkthrough, each against a fresh server
//! process.

use super::{APP, Server, setup_app, setup_group};
use std::io::Read as _;
use std::process::Command;

fn app_id() -> String {
    format!("--app-id={APP}")
}

#[test]
fn admin_users_are_created_listed_used_and_deleted() {
    let server = Server::start();
    let created = server.ok(&["admin-user", "create", "bob@example.com"]);
    let token = created.trim_end();
    assert!(
        !token.is_empty() && !token.contains(char::is_whitespace),
        "{created:?}"
    );
    assert_eq!(created.lines().count(), 1);
    // The new user's key works.
    let as_bob = server
        .ctl()
        .env("UPDATECTL_USER", "bob@example.com")
        .env("UPDATECTL_KEY", token)
        .args(["app", "list"])
        .output()
        .unwrap();
    assert!(as_bob.status.success(), "{as_bob:?}");
    let mut users: Vec<String> = server
        .ok(&["admin-user", "list"])
        .lines()
        .map(str::to_owned)
        .collect();
    users.sort();
    assert_eq!(users, ["admin", "bob@example.com"]);
    assert_eq!(
        server.ok(&["admin-user", "delete", "bob@example.com"]),
        "User bob@example.com deleted\n"
    );
    let after = server
        .ctl()
        .env("UPDATECTL_USER", "bob@example.com")
        .env("UPDATECTL_KEY", token)
        .args(["app", "list"])
        .output()
        .unwrap();
    assert_eq!(
        after.status.code(),
        Some(1),
        "a deleted user's key is refused"
    );
    // Nobody deletes itself (nor, so, the last user).
    let itself = server.run(&["admin-user", "delete", "admin"]);
    assert_eq!(itself.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&itself.stderr).trim_end(),
        "googleapi: Error 403: user admin cannot delete itself: sign in as another user to delete it, forbidden"
    );
    let unknown = server.run(&["admin-user", "delete", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).starts_with("googleapi: Error 404"));
    let missing = server.run(&["admin-user", "create"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn database_init_and_backup() {
    let server = Server::start();
    setup_app(&server);
    // No credentials needed for init.
    let init = server
        .ctl()
        .env_remove("UPDATECTL_KEY")
        .args(["database", "init"])
        .output()
        .unwrap();
    assert_eq!(init.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&init.stdout), "ok\n");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.tar.gz");
    let out = server.ok(&["database", "backup", file.to_str().unwrap()]);
    assert!(out.starts_with("wrote "), "{out}");
    let mut magic = [0u8; 2];
    std::fs::File::open(&file)
        .unwrap()
        .read_exact(&mut magic)
        .unwrap();
    assert_eq!(magic, [0x1f, 0x8b], "a gzip archive");

    let refused = dir.path().join("refused.tar.gz");
    let bad = server
        .ctl()
        .env("UPDATECTL_KEY", "wrong")
        .args(["database", "backup", refused.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(!refused.exists(), "no partial file is left behind");
    assert_eq!(server.run(&["database", "backup"]).status.code(), Some(2));
}

#[test]
fn database_init_exits_1_unless_the_answer_is_ok() {
    // A server that answers something else than `ok`.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::Write as _;
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot ready",
            );
        }
    });
    let out = Command::new(env!("CARGO_BIN_EXE_updatectl"))
        .arg(format!("--server=http://{addr}"))
        .args(["database", "init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "not ready\n");
}

#[test]
fn rollouts_are_created_shown_activated_and_deactivated() {
    let server = Server::start();
    setup_group(&server, "g1", "1.0.0");
    let app = app_id();
    let group = "--group-id=g1";
    assert_eq!(
        server.ok(&[
            "rollout",
            "create",
            "linear",
            &app,
            group,
            "--frame-size=30",
            "--duration=100"
        ]),
        "rollout set\n"
    );
    assert_eq!(
        server.ok(&["rollout", &app, group]),
        "rollout:\n\
         Frame 0:\tPercent:\t25.000000\n\t\tDuration:\t30\n\
         Frame 1:\tPercent:\t50.000000\n\t\tDuration:\t30\n\
         Frame 2:\tPercent:\t75.000000\n\t\tDuration:\t30\n\
         Frame 3:\tPercent:\t100.000000\n\t\tDuration:\t10\n\
         Frame 4:\tPercent:\t100.000000\n\t\tDuration:\t0\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "rollout", &app, group])).unwrap();
    assert_eq!(json["rollout"].as_array().map(Vec::len), Some(5));
    assert_eq!(json["rollout"][3]["duration"], "10");

    assert_eq!(
        server.ok(&["rollout", "activate", &app, group]),
        "rollout activated\n"
    );
    let groups = server.ok(&["group", "list", &app]);
    assert!(
        groups.lines().nth(1).unwrap().ends_with("\ttrue"),
        "{groups}"
    );
    assert_eq!(
        server.ok(&["rollout", "deactivate", &app, group]),
        "rollout deactivated\n"
    );
    let groups = server.ok(&["group", "list", &app]);
    assert!(
        groups.lines().nth(1).unwrap().ends_with("\t25\tfalse"),
        "deactivating keeps the percent in force: {groups}"
    );
    // An explicit percentage stops a running rollout, and says so.
    server.ok(&["rollout", "activate", &app, group]);
    assert_eq!(
        server.ok(&["group", "percent", &app, group, "--update-percent=10"]),
        "update percent set to 10.000000\n\
         the group's timed rollout was running: it is stopped now\n"
    );
    let groups = server.ok(&["group", "list", &app]);
    assert!(
        groups.lines().nth(1).unwrap().ends_with("\t10\tfalse"),
        "{groups}"
    );
    assert_eq!(
        server.ok(&["group", "percent", &app, group, "--update-percent=20"]),
        "update percent set to 20.000000\n"
    );

    // `rollout create` alone and a zero frame are usage errors; an unknown group is an
    // API error.
    assert_eq!(server.run(&["rollout", "create"]).status.code(), Some(2));
    let zero = server.run(&["rollout", "create", "linear", &app, group, "--frame-size=0"]);
    assert_eq!(zero.status.code(), Some(2));
    assert_eq!(server.run(&["rollout", &app]).status.code(), Some(2));
    let unknown = server.run(&["rollout", &app, "--group-id=nope"]);
    assert_eq!(unknown.status.code(), Some(1));
}

#[test]
fn upstreams_are_managed_and_synced() {
    let upstream = Server::start();
    setup_app(&upstream);
    let app = app_id();
    let (_keep, payload) = file_with(b"payload");
    upstream.ok(&[
        "package",
        "create",
        &app,
        "--version=2.0.0",
        &format!("--file={}", payload.display()),
        "--url=http://files.example.com/update.gz",
    ]);
    upstream.ok(&[
        "channel",
        "create",
        &app,
        "--channel=stable",
        "--version=2.0.0",
        "--publish",
    ]);

    let server = Server::start();
    setup_app(&server);
    let created = server.ok(&[
        "upstream",
        "create",
        &format!("--url={}", upstream.url),
        "--label=origin",
    ]);
    let cells = |line: &str| -> Vec<String> {
        line.split('\t')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut lines = created.lines();
    assert_eq!(cells(lines.next().unwrap()), ["Id", "Url", "Label"]);
    let row = cells(lines.next().unwrap());
    let id = row[0].clone();
    assert_eq!(row[1..], [upstream.url.clone(), "origin".to_owned()]);
    assert!(server.ok(&["upstream", "list"]).contains(&id));

    let synced = server.ok(&["upstream", "sync"]);
    assert!(synced.starts_with("Status: ok\n"), "{synced}");
    let channels = server.ok(&["channel", "list", &app]);
    assert!(channels.contains("stable\t2.0.0\ttrue\t"), "{channels}");
    assert!(server.ok(&["package", "list", &app]).contains("2.0.0\t"));

    let updated = server.ok(&[
        "upstream",
        "update",
        &format!("--id={id}"),
        &format!("--url={}", upstream.url),
        "--label=renamed",
    ]);
    assert!(updated.trim_end().ends_with("\trenamed"), "{updated}");
    let deleted = server.ok(&["upstream", "delete", &format!("--id={id}")]);
    assert!(deleted.contains(&id));
    assert_eq!(server.ok(&["upstream", "list"]).lines().count(), 1);
    assert_eq!(
        server
            .run(&["upstream", "delete", "--id=nope"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(server.run(&["upstream", "create"]).status.code(), Some(2));
}

#[test]
fn omaha_upstreams_follow_every_architecture_and_host_the_payloads() {
    // The upstream: version 2.0.0 hosted for amd64 and arm64, each with an oem-qemu.gz.
    let upstream = Server::start();
    setup_app(&upstream);
    let app = app_id();
    let dir = tempfile::tempdir().unwrap();
    let mut files = std::collections::BTreeMap::new();
    for arch in ["amd64", "arm64"] {
        std::fs::create_dir(dir.path().join(arch)).unwrap();
        for name in ["flatcar_production_update.gz", "oem-qemu.gz"] {
            let path = dir.path().join(arch).join(name);
            let bytes = format!("{name} for {arch}\n").repeat(30).into_bytes();
            std::fs::write(&path, &bytes).unwrap();
            files.insert((arch, name), (path.display().to_string(), bytes));
        }
    }
    let file = |arch, name| format!("--file={}", files[&(arch, name)].0);
    upstream.ok(&[
        "package",
        "create",
        &app,
        "--version=2.0.0",
        &file("amd64", "flatcar_production_update.gz"),
    ]);
    upstream.ok(&[
        "package",
        "add-file",
        &app,
        "--version=2.0.0",
        &file("amd64", "oem-qemu.gz"),
        "--upload",
    ]);
    // Without --url the arm64 payload is hosted too, beside its own extra file.
    let arm = upstream.ok(&[
        "package",
        "create",
        &app,
        "--version=2.0.0",
        "--arch=arm64",
        &file("arm64", "flatcar_production_update.gz"),
    ]);
    assert!(
        arm.contains("/2.0.0/arm64/flatcar_production_update.gz"),
        "{arm}"
    );
    upstream.ok(&[
        "package",
        "add-file",
        &app,
        "--version=2.0.0",
        "--arch=arm64",
        &file("arm64", "oem-qemu.gz"),
        "--upload",
    ]);
    upstream.ok(&[
        "channel",
        "create",
        &app,
        "--channel=stable",
        "--version=2.0.0",
    ]);
    upstream.ok(&[
        "group",
        "create",
        &app,
        "--channel=stable",
        "--group-id=stable",
    ]);

    // The follower.
    let server = Server::start();
    setup_app(&server);
    let created = server.ok(&[
        "upstream",
        "create",
        "--kind=omaha",
        &format!("--url={}/v1/update/", upstream.url),
        "--label=flatcar",
        &app,
        "--track=stable",
        "--arch=amd64,arm64",
        "--download",
    ]);
    assert_eq!(
        created
            .lines()
            .next()
            .unwrap()
            .split('\t')
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>(),
        ["Id", "Url", "Label"],
        "{created}"
    );
    let bad = server.run(&[
        "upstream",
        "create",
        "--kind=omaha",
        "--url=http://x/",
        &app,
    ]);
    assert_eq!(bad.status.code(), Some(1), "no track");

    let synced: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "upstream", "sync"])).unwrap();
    assert_eq!(synced["status"], "ok", "{synced}");
    let detail = synced["detail"].as_str().unwrap();
    assert!(
        detail.contains(
            "2 packages, 2 files, 0 floors and 1 channels updated, 4 payloads downloaded"
        ),
        "{detail}"
    );
    let status = server.ok(&["upstream", "status"]);
    let mut lines = status.lines();
    assert_eq!(
        lines
            .next()
            .unwrap()
            .split('\t')
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>(),
        ["Id", "Kind", "Follows", "Last Sync", "Status", "Detail"]
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains("\tomaha\t")
            && row.contains("tracks stable (amd64,arm64), downloads")
            && row.contains("\tok\t"),
        "{row}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "upstream", "list"])).unwrap();
    assert_eq!(listed[0]["kind"], "omaha", "{listed}");
    assert_eq!(listed[0]["lastStatus"], "ok", "{listed}");
    assert!(
        server
            .ok(&["channel", "list", &app])
            .contains("stable\t2.0.0\tfalse\t1")
    );

    // The follower hosts every file itself.
    let arches: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "package", "arches", &app, "--version=2.0.0"]))
            .unwrap();
    let url = arches[0]["url"].as_str().unwrap();
    assert_eq!(
        url,
        format!(
            "{}/packages/{APP}/2.0.0/arm64/flatcar_production_update.gz",
            server.url
        )
    );
    assert_eq!(
        fetch(url),
        files[&("arm64", "flatcar_production_update.gz")].1
    );
    assert_eq!(
        fetch(&url.replace("flatcar_production_update.gz", "oem-qemu.gz")),
        files[&("arm64", "oem-qemu.gz")].1
    );
    assert_eq!(
        fetch(&format!("{}/packages/{APP}/2.0.0/oem-qemu.gz", server.url)),
        files[&("amd64", "oem-qemu.gz")].1
    );
}

/// A temporary file with `contents`; the directory lives as long as the first value.
fn file_with(contents: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("update.gz");
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

/// `GET url` with a plain client; the body.
fn fetch(url: &str) -> Vec<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        assert!(response.status().is_success(), "GET {url}: {response:?}");
        response.bytes().await.unwrap().to_vec()
    })
}

#[test]
fn packages_move_between_servers_by_download_create_bulk_and_upload_bulk() {
    let origin = Server::start();
    setup_app(&origin);
    let app = app_id();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (_keep, file) = file_with(&payload);
    // Without --url the payload is uploaded and served by the server.
    origin.ok(&[
        "package",
        "create",
        &app,
        "--version=1.1.0",
        &format!("--file={}", file.display()),
    ]);
    origin.ok(&[
        "channel",
        "create",
        &app,
        "--channel=stable",
        "--version=1.1.0",
        "--publish",
    ]);
    let hosted: serde_json::Value =
        serde_json::from_str(&origin.ok(&["--json", "package", "list", &app])).unwrap();
    let url = hosted[0]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&origin.url), "{url}");
    assert_eq!(fetch(&url), payload);

    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("mirror");
    let out = origin.ok(&[
        "package",
        "download",
        &app,
        &format!("--dir={}", dir.display()),
    ]);
    let saved = dir.join(format!("{APP}_1.1.0_update.gz"));
    assert_eq!(out, format!("downloaded {}\n", saved.display()));
    assert_eq!(std::fs::read(&saved).unwrap(), payload);
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{APP}_1.1.0_info.json"))).unwrap())
            .unwrap();
    assert_eq!(info["version"], "1.1.0");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    // --min-version above every package: nothing to download.
    let none = origin.ok(&[
        "package",
        "download",
        &app,
        "--min-version=2.0.0",
        &format!("--dir={}", work.path().join("none").display()),
    ]);
    assert_eq!(none, "");
    assert_eq!(
        origin
            .run(&[
                "package",
                "download",
                "--version=1.0.0",
                "--min-version=1.0.0"
            ])
            .status
            .code(),
        Some(2)
    );

    // The air-gapped workflow into a second server.
    let mirror = Server::start();
    setup_app(&mirror);
    let base = format!("{}/packages", mirror.url);
    let created = mirror.ok(&[
        "package",
        "create",
        "bulk",
        &format!("--dir={}", dir.display()),
        &format!("--base-url={base}"),
    ]);
    let mirrored_url = format!("{base}/{APP}_1.1.0_update.gz");
    assert!(
        created.contains(&format!("1.1.0\t{mirrored_url}\t200000")),
        "{created}"
    );
    let uploaded = mirror.ok(&[
        "package",
        "upload",
        "bulk",
        &format!("--dir={}", dir.display()),
    ]);
    assert_eq!(uploaded, format!("uploaded {APP}_1.1.0_update.gz\n"));
    assert_eq!(fetch(&mirrored_url), payload);

    // A single upload.
    let (_keep2, single) = file_with(b"single payload");
    let one = mirror.ok(&["package", "upload", &format!("--file={}", single.display())]);
    assert_eq!(one, format!("uploaded file {}\n", single.display()));
    assert_eq!(fetch(&format!("{base}/update.gz")), b"single payload");
    assert_eq!(mirror.run(&["package", "upload"]).status.code(), Some(2));
}

#[test]
fn a_download_that_does_not_match_its_package_fails_and_is_removed() {
    let server = Server::start();
    setup_app(&server);
    let app = app_id();
    // Register a package whose digest is of other bytes than the hosted payload.
    let (_a, hosted) = file_with(b"the real payload");
    let uploaded = server.ok(&["package", "upload", &format!("--file={}", hosted.display())]);
    assert!(uploaded.starts_with("uploaded file "));
    let (_b, other) = file_with(b"other bytes!!!!!");
    server.ok(&[
        "package",
        "create",
        &app,
        "--version=3.0.0",
        &format!("--file={}", other.display()),
        &format!("--url={}/packages/update.gz", server.url),
    ]);
    server.ok(&[
        "channel",
        "create",
        &app,
        "--channel=stable",
        "--version=3.0.0",
        "--publish",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let out = server.run(&[
        "package",
        "download",
        &app,
        &format!("--dir={}", dir.path().display()),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SHA-1 mismatch"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing left behind"
    );
}

#[test]
fn watch_runs_the_command_once_per_new_version_and_reports_back() {
    let server = Server::start();
    setup_group(&server, "w", "1.0.0");
    let app = app_id();
    let (_keep, file) = file_with(b"v1.1.0");
    server.ok(&[
        "package",
        "create",
        &app,
        "--version=1.1.0",
        &format!("--file={}", file.display()),
        "--url=http://files.example.com/pkgs/update-1.1.0.gz",
    ]);
    server.ok(&[
        "channel",
        "update",
        &app,
        "--channel=stable",
        "--version=1.1.0",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    let script = format!(
        "echo \"$UPDATE_SERVICE_APP_ID $UPDATE_SERVICE_OLD_VERSION $UPDATE_SERVICE_VERSION $UPDATE_SERVICE_URL\" >> {}",
        log.display()
    );
    let out = server
        .ctl()
        .args([
            "watch",
            &app,
            "--group-id=w",
            "--interval=1",
            "--version=1.0.0",
            "--client-id=watcher-1",
            "--checks=3",
            "sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let runs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        runs,
        format!("{APP} 1.0.0 1.1.0 http://files.example.com/pkgs/update-1.1.0.gz\n"),
        "the command ran once, with the offered version"
    );
    // The watcher reported completion: the server sees it on 1.1.0.
    let listed = server.ok(&["instance", "search", &app, "--id-prefix=watcher"]);
    let row = listed.lines().nth(1).unwrap_or_default();
    assert!(row.contains("\twatcher-1\t1.1.0\tcomplete\t"), "{listed}");
    // list-updates sends the app filter without a group (fixing §11.3).
    let updates = server.ok(&["instance", "list-updates", &app]);
    let cells: Vec<&str> = updates
        .lines()
        .find(|l| l.contains("watcher-1"))
        .unwrap_or_else(|| panic!("watcher-1 in {updates}"))
        .split('\t')
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells[..3], [APP, "watcher-1", "1.1.0"]);
    server.ok(&["app", "create", "--app-id=other"]);
    let other = server.ok(&["instance", "list-updates", "--app-id=other"]);
    assert_eq!(other.lines().count(), 1, "only the header: {other}");
    let history = server.ok(&["instance", "history", "--client-id=watcher-1"]);
    assert!(
        history.lines().any(|l| l.contains("\tgrant\t")),
        "{history}"
    );

    // A failing command keeps the old version and reports the error.
    let failing = server
        .ctl()
        .args([
            "watch",
            &app,
            "--group-id=w",
            "--version=1.0.0",
            "--client-id=watcher-2",
            "--checks=1",
            "false",
        ])
        .output()
        .unwrap();
    assert!(failing.status.success());
    assert!(String::from_utf8_lossy(&failing.stderr).contains("staying on 1.0.0"));
    let row = server.ok(&["instance", "search", &app, "--id-prefix=watcher-2"]);
    assert!(row.contains("\twatcher-2\t1.0.0\terror"), "{row}");
    assert_eq!(
        server.run(&["watch", &app, "--group-id=w"]).status.code(),
        Some(2),
        "a command is required"
    );
}

#[test]
fn group_show_versions_events_and_the_extra_policy_fields() {
    let server = Server::start();
    setup_group(&server, "g", "1.0.0");
    let app = app_id();
    let updated = server.ok(&[
        "--json",
        "group",
        "update",
        &app,
        "--group-id=g",
        "--max-in-flight=5",
        "--update-timeout=3600",
        "--failure-threshold-count=3",
        "--failure-window=20",
        "--allow-downgrade=true",
        "--maintenance-time-zone=Europe/Berlin",
        "--maintenance-windows=mon,tue 02-05",
    ]);
    let json: serde_json::Value = serde_json::from_str(&updated).unwrap();
    assert_eq!(json["maxInFlight"], 5);
    assert_eq!(json["allowDowngrade"], true);
    let shown = server.ok(&["group", "show", &app, "--group-id=g"]);
    for expected in [
        "Max In Flight\t\t\t5",
        "Update Timeout\t\t\t3600",
        "Failure Threshold Count\t\t3",
        "Maintenance Time Zone\t\tEurope/Berlin",
        "Allow Downgrade\t\t\ttrue",
    ] {
        assert!(shown.contains(expected), "{expected:?} in {shown}");
    }
    // Setting one back to 0 sends the 0.
    server.ok(&["group", "update", &app, "--group-id=g", "--max-in-flight=0"]);
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "group", "show", &app, "--group-id=g"]))
            .unwrap();
    assert_eq!(json["maxInFlight"], 0);
    assert_eq!(json["updateTimeout"], 3600, "fields not given are kept");
    let bad = server.run(&[
        "group",
        "update",
        &app,
        "--group-id=g",
        "--maintenance-windows=whenever",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("maintenanceWindows"));

    // Traffic for the graphs.
    server.ok(&[
        "instance",
        "bench",
        &app,
        "--group-id=g",
        "--version=1.0.0",
        "--clients-per-app=2",
        "--seconds=1",
    ]);
    let mut versions = String::new();
    for _ in 0..50 {
        versions = server.ok(&["group", "versions", &app, "--group-id=g"]);
        if versions.lines().count() > 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut lines = versions.lines();
    assert_eq!(lines.next(), Some("Version\tTimestamp\tCount"));
    let row: Vec<&str> = lines.next().expect("a row").split('\t').collect();
    assert_eq!(row[0], "1.0.0");
    assert!(row[2].parse::<u64>().unwrap() > 0, "{versions}");
    // The census counts the bench's instances (one per response), within a census period.
    let mut census = String::new();
    for _ in 0..150 {
        census = server.ok(&["group", "instances", &app, "--group-id=g"]);
        if census.lines().count() > 1 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut lines = census.lines();
    assert_eq!(lines.next(), Some("Version\tTimestamp\tInstances"));
    let row: Vec<&str> = lines.next().expect("a census row").split('\t').collect();
    assert_eq!(row[0], "1.0.0");
    let counted: u64 = row[2].parse().unwrap();
    let known: serde_json::Value = serde_json::from_str(&server.ok(&[
        "--json",
        "instance",
        "list-app-versions",
        &app,
        "--group-id=g",
    ]))
    .unwrap();
    assert!(
        counted > 0 && counted <= known[0]["count"].as_u64().unwrap(),
        "{census} vs {known}"
    );
    let events = server.ok(&["group", "events", &app, "--group-id=g", "--resolution=3600"]);
    let mut lines = events.lines();
    let cells = |line: &str| -> Vec<String> {
        line.split('\t')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        cells(lines.next().unwrap()),
        ["Version", "Event", "Time", "Count"]
    );
    let row = lines
        .map(cells)
        .find(|c| c[..2] == ["1.0.0", "installed (3/1)"])
        .unwrap_or_else(|| panic!("the bench's 3/1 events: {events}"));
    let time = &row[2];
    assert!(
        time.parse::<jiff::Timestamp>().is_ok() && time.ends_with('Z'),
        "an RFC 3339 time: {row:?}"
    );
    // --json keeps the codes.
    let json: serde_json::Value = serde_json::from_str(&server.ok(&[
        "--json",
        "group",
        "events",
        &app,
        "--group-id=g",
        "--resolution=3600",
    ]))
    .unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .any(|i| i["type"] == "3" && i["result"] == "1"),
        "{json}"
    );
    assert_eq!(
        server
            .run(&["group", "versions", &app, "--group-id=g", "--resolution=7"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn activity_lists_who_changed_what() {
    let server = Server::start();
    setup_group(&server, "g", "1.0.0");
    server.ok(&["group", "pause", &app_id(), "--group-id=g"]);
    let activity = server.ok(&["activity", &app_id()]);
    let mut lines = activity.lines();
    assert_eq!(
        lines
            .next()
            .map(|h| h.split('\t').filter(|c| !c.is_empty()).collect::<Vec<_>>()),
        Some(vec![
            "Time", "Actor", "Action", "App", "Group", "Detail", "Changes"
        ])
    );
    let newest = lines.next().unwrap();
    assert!(newest.contains("\tadmin\t"), "{activity}");
    assert!(newest.contains("\tg\t"), "{activity}");
    // What changed, and nothing else.
    assert!(
        newest.ends_with("\tupdatesPaused: false -> true"),
        "{activity}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "activity", "--limit=2"])).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2));
    assert_eq!(
        json[0]["changes"],
        serde_json::json!([{"field": "updatesPaused", "old": "false", "new": "true"}])
    );
    // A channel moved: its version, old and new; the table says so readably.
    server.ok(&[
        "channel",
        "update",
        &app_id(),
        "--channel=stable",
        "--version=1.0.1",
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "activity", "--limit=1"])).unwrap();
    assert_eq!(json[0]["action"], "channel.update", "{json}");
    assert_eq!(
        json[0]["changes"],
        serde_json::json!([{"field": "version", "old": "1.0.0", "new": "1.0.1"}]),
        "{json}"
    );
    let table = server.ok(&["activity", "--limit=1"]);
    assert!(table.contains("version: 1.0.0 -> 1.0.1"), "{table}");
}

#[test]
fn webhooks_are_created_listed_tested_and_deleted() {
    let server = Server::start();
    setup_app(&server);
    let created = server.ok(&[
        "webhook",
        "create",
        "--url=http://127.0.0.1:9/hook",
        &app_id(),
        "--events=stalled,auto_paused",
        "--failure-rate-percent=30",
    ]);
    let secret = created
        .lines()
        .find_map(|l| l.strip_prefix("Secret: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{created}"));
    assert_eq!(secret.len(), 64, "{created}");
    let list: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "webhook", "list"])).unwrap();
    let hook = &list[0];
    let id = hook["id"].as_str().unwrap().to_owned();
    assert_eq!(
        hook["events"],
        serde_json::json!(["stalled", "auto_paused"])
    );
    assert_eq!(hook["failureRatePercent"], 30.0);
    assert_eq!(hook["enabled"], true);
    assert_eq!(hook["secret"], "", "never listed");
    let table = server.ok(&["webhook", "list"]);
    assert!(
        table.contains("http://127.0.0.1:9/hook") && !table.contains(secret),
        "{table}"
    );
    // Update: what is not given stays.
    let id_flag = format!("--id={id}");
    server.ok(&[
        "webhook",
        "update",
        &id_flag,
        "--disable",
        "--stalled-after=600",
    ]);
    let list: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "webhook", "list"])).unwrap();
    assert_eq!(list[0]["enabled"], false);
    assert_eq!(list[0]["stalledAfterSecs"], 600);
    assert_eq!(list[0]["failureRatePercent"], 30.0);
    assert_eq!(list[0]["url"], "http://127.0.0.1:9/hook");
    // A test delivery is logged (port 9 refuses it: its error shows once tried).
    let test = server.ok(&["webhook", "test", &id_flag]);
    assert!(test.contains("\ttest\t"), "{test}");
    let log: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "webhook", "deliveries", &id_flag])).unwrap();
    assert_eq!(log[0]["event"], "test", "{log}");
    // Bad input: a clear error.
    let bad = server.run(&["webhook", "create", "--url=http://x.test/", "--events=nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown event \"nope\""),
        "{bad:?}"
    );
    server.ok(&["webhook", "delete", &id_flag]);
    assert_eq!(server.ok(&["--json", "webhook", "list"]).trim(), "[]");
    let gone = server.run(&["webhook", "deliveries", &id_flag]);
    assert_eq!(gone.status.code(), Some(1));
}

#[test]
fn help_prints_usage_and_rejects_unknown_commands() {
    let ctl = || Command::new(env!("CARGO_BIN_EXE_updatectl"));
    let all = ctl().arg("help").output().unwrap();
    assert_eq!(all.status.code(), Some(0));
    let text = String::from_utf8_lossy(&all.stdout);
    for command in [
        "admin-user",
        "app",
        "channel",
        "database",
        "group",
        "instance",
        "package",
        "rollout",
        "upstream",
        "watch",
    ] {
        assert!(text.contains(command), "{command} in {text}");
    }
    let one = ctl().args(["help", "rollout"]).output().unwrap();
    assert_eq!(one.status.code(), Some(0));
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(text.contains("updatectl rollout"), "{text}");
    assert!(text.contains("linear") || text.contains("create"), "{text}");
    let unknown = ctl().args(["help", "bogus"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&unknown.stdout),
        "Unrecognized command: bogus\n"
    );
}

/// `instance fake` for `group` until each of its `n` instances polled: the ids it printed.
fn fake_run(server: &Server, group: &str, n: usize, prefix: Option<&str>) -> Vec<String> {
    let mut args = vec![
        "instance".to_owned(),
        "fake".to_owned(),
        app_id(),
        format!("--group-id={group}"),
        format!("--clients-per-app={n}"),
        "--min-sleep=0.05".to_owned(),
        "--max-sleep=0.1".to_owned(),
        "--version=1.0.0".to_owned(),
        "--errorrate=0".to_owned(),
        "--duration=60".to_owned(),
    ];
    if let Some(prefix) = prefix {
        args.push(format!("--client-prefix={prefix}"));
    }
    let mut fake = server
        .ctl()
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = fake.stdout.take().unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
        let id = line
            .strip_prefix('{')
            .and_then(|l| l.split_once("}: noupdate"))
            .map(|(id, _)| id.to_owned())
            .unwrap_or_else(|| panic!("unexpected {line:?}"));
        ids.insert(id);
        if ids.len() == n {
            break;
        }
    }
    let _ = fake.kill();
    let _ = fake.wait();
    ids.into_iter().collect()
}

/// Two simulations for two groups of one app: each run has instances of its own (they
/// were `fake-client-000`, ... every time, so the second took over the first's), unless
/// `--client-prefix` pins the ids.
#[test]
fn each_fake_run_has_instances_of_its_own() {
    let server = Server::start();
    setup_group(&server, "g1", "1.0.0");
    server.ok(&[
        "group",
        "create",
        &app_id(),
        "--channel=stable",
        "--group-id=g2",
    ]);
    let first = fake_run(&server, "g1", 3, None);
    let second = fake_run(&server, "g2", 3, None);
    assert!(
        first.iter().all(|id| !second.contains(id)),
        "{first:?} {second:?}"
    );
    let count = |group: &str| -> u64 {
        let json: serde_json::Value = serde_json::from_str(&server.ok(&[
            "--json",
            "instance",
            "list-app-versions",
            &app_id(),
            &format!("--group-id={group}"),
        ]))
        .unwrap();
        json[0]["count"].as_u64().unwrap_or(0)
    };
    assert_eq!(
        (count("g1"), count("g2")),
        (3, 3),
        "the first group keeps its instances"
    );
    // A pinned prefix runs the same instances again.
    let pinned = fake_run(&server, "g2", 2, Some("fake-client-"));
    assert_eq!(pinned, ["fake-client-000", "fake-client-001"]);
    assert_eq!(fake_run(&server, "g2", 2, Some("fake-client-")), pinned);
    assert_eq!(count("g2"), 5);
}

/// 10,000 clients with the default sleeps in one process: every one polls, none fails.
/// Run by hand (`cargo test -p updatectl --test cli -- --ignored ten_thousand`): alone on
/// a quiet machine it passes in about 20 s. On a machine kept busy by other builds (load
/// average 8 to 10) the debug server stores 6,000 to 7,400 instances, then nothing for about
/// 200 s. Meanwhile pooled connections are acquired after 10 to 27 s and the writer's
/// transactions miss their 10 s deadline, and a stack dump shows both runtime workers busy
/// with checks answered without the writer; why the waits grow that long is not settled.
/// The kept instance counts matched `COUNT(*)` throughout: they are not the cause. With the
/// bundled SQLite built optimized in debug builds (the workspace's dev profile), it passed
/// once and failed once at a load average of 9 to 12 (eight busy loops beside it).
#[test]
#[ignore = "a starved debug server stops storing new instances for minutes (see above)"]
fn ten_thousand_fake_clients_run_in_one_process() {
    let server = Server::start_alone();
    setup_group(&server, "many", "1.0.0");
    let app = app_id();
    let mut fake = server
        .ctl()
        .args([
            "instance",
            "fake",
            &app,
            "--group-id=many",
            "--clients-per-app=10000",
            // The default sleeps (1 to 10 s): every client polls within 10 s.
            "--version=1.0.0",
            "--errorrate=0",
            "--duration=240",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut count = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(230);
    while std::time::Instant::now() < deadline {
        let json: serde_json::Value = serde_json::from_str(&server.ok(&[
            "--json",
            "instance",
            "list-app-versions",
            &app,
            "--group-id=many",
        ]))
        .unwrap();
        count = json[0]["count"].as_u64().unwrap_or(0);
        if count >= 10_000 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let _ = fake.kill();
    let out = fake.wait_with_output().unwrap();
    assert_eq!(count, 10_000, "every fake client polled");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "no failed exchange: {stderr}");
}

#[test]
fn transfers_show_progress_on_a_terminal_only() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("payload.bin");
    std::fs::write(&file, vec![7u8; 3 << 20]).unwrap();
    let upload = format!("--file={}", file.display());
    // Not a terminal: the result line only, nothing on stderr.
    let plain = server.run(&["package", "upload", &upload]);
    assert!(plain.status.success());
    assert_eq!(
        String::from_utf8_lossy(&plain.stdout),
        format!("uploaded file {}\n", file.display())
    );
    assert!(plain.stderr.is_empty(), "{plain:?}");
    // On a terminal (util-linux `script` gives the command one): a byte-counting bar.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped the terminal half: no `script` command");
        return;
    }
    let line = format!(
        "{} package upload {upload}",
        env!("CARGO_BIN_EXE_updatectl")
    );
    let tty = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("UPDATECTL_SERVER", &server.url)
        .env("UPDATECTL_USER", "admin")
        .env("UPDATECTL_KEY", super::KEY)
        .output()
        .unwrap();
    assert!(tty.status.success(), "{tty:?}");
    let text = String::from_utf8_lossy(&tty.stdout);
    // Redraws are rate-limited: some count of the 3 MiB shows, then the bar is cleared.
    assert!(text.contains("/3.00 MiB"), "a byte-counting bar: {text:?}");
    assert!(
        text.contains("\u{1b}[2K"),
        "the bar is redrawn in place: {text:?}"
    );
    assert!(text.contains("uploaded file"), "{text:?}");
}

/// Posts an update_engine request of `machine` in group `g` reporting a failed install
/// (3/0 with `code`), over a plain HTTP/1.1 connection.
fn report_failure(server: &Server, machine: &str, code: i64) {
    use std::io::Write as _;
    let request = omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        omaha_proto::request::Os::new("CoreOS", "Chateau", ""),
    )
    .with_app(
        omaha_proto::request::App::new(APP, "1.0.0")
            .with_track("g")
            .with_machine_id(machine)
            .with_event(omaha_proto::request::Event::error(code)),
    );
    let body = request.encode();
    let addr = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/update/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn errors_and_overview_say_what_failed_and_what_needs_attention() {
    let server = Server::start();
    setup_group(&server, "g", "1.0.0");
    report_failure(&server, "m1", 2503);
    report_failure(&server, "m1", 2503);
    report_failure(&server, "m2", 0x1000_0000 | 15);
    let table = server.ok(&["errors", &app_id(), "--group-id=g"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split('\t').filter(|c| !c.is_empty()).collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "Instance", "Group", "Version", "Error", "Times", "First", "Last"
        ]
    );
    assert_eq!(rows.len(), 3, "{table}");
    let m1 = rows.iter().find(|r| r[0] == "m1").expect("m1");
    assert_eq!(&m1[1..5], ["g", "1.0.0", "HTTP 503 (2503)", "2"]);
    let m2 = rows.iter().find(|r| r[0] == "m2").expect("m2");
    assert_eq!(m2[3], "new rootfs verification error (268435471)");
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "errors", "--limit=1"])).unwrap();
    assert_eq!(json["total"], "2");
    assert_eq!(json["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["items"][0]["clientId"], "m2", "the most recent first");
    // A time in the future: nothing; a time that is not one: a usage of the API refused.
    let later = server.ok(&["--json", "errors", "--since=4000000000"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&later).unwrap()["total"],
        "0"
    );
    let bad = server.run(&["errors", "--since=yesterday"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("googleapi: Error 400"));

    // Three failures and no completion in the last hour: g is failing. The channel's
    // version has no package, so the group has no target.
    let overview = server.ok(&["overview"]);
    let line = overview
        .lines()
        .find(|l| l.contains("\tg\t"))
        .unwrap_or_else(|| panic!("{overview}"));
    let cells: Vec<&str> = line.split('\t').filter(|c| !c.is_empty()).collect();
    assert_eq!(
        cells,
        [
            "FakeApp",
            "g",
            "no target",
            "failing",
            "2/2 (100%)",
            "1.0.0",
            "3",
            "stopped"
        ],
        "{overview}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "overview", &app_id()])).unwrap();
    assert_eq!(json["items"][0]["state"], "no_target");
    assert_eq!(
        json["items"][0]["attention"],
        serde_json::json!(["failing"])
    );
}
