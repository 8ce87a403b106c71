//! End-to-end tests of the `updatectl` binary against a real `update-server` process
//! (started on 127.0.0.1:0 with a temporary data directory and a fixed admin key).
//!
//! The `update-server` binary is built on first use (`cargo build -p update-server`) into
//! the target directory this test binary lives in.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

mod access;
mod commands;
mod golden;
mod status;

const APP: &str = "e96281a6-d1af-4bde-9a0a-97b76e56dc57";
const KEY: &str = "test-admin-key-0123456789";

/// The `update-server` binary next to this test's target directory, built if missing.
fn server_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    static BUILD: Mutex<()> = Mutex::new(());
    BINARY
        .get_or_init(|| {
            let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
            // target/<profile>/deps/cli-<hash> → target/<profile>
            let exe = std::env::current_exe().expect("test exe path");
            let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
            let binary = profile_dir.join(format!("update-server{}", std::env::consts::EXE_SUFFIX));
            let target_dir = profile_dir.parent().expect("target root");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args([
                    "build",
                    "-p",
                    "update-server",
                    "--bin",
                    "update-server",
                    "--target-dir",
                ])
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build");
            assert!(status.success(), "building update-server failed");
            assert!(
                binary.exists(),
                "{} missing after the build",
                binary.display()
            );
            binary
        })
        .clone()
}

/// A running server; killed on drop.
struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
    _turn: Turn,
}

/// Servers of the tests run side by side, except a server started with
/// [`Server::start_alone`]: the test of 10,000 fake clients loads both cores by itself,
/// and beside the other tests' servers its writer missed its commit deadline. A test may
/// start several shared servers; one alone waits until none runs, and blocks new ones.
static TURNS: (Mutex<Turns>, std::sync::Condvar) = (
    Mutex::new(Turns {
        shared: 0,
        alone: false,
    }),
    std::sync::Condvar::new(),
);

struct Turns {
    shared: usize,
    alone: bool,
}

/// A server's turn, given back on drop.
enum Turn {
    Shared,
    Alone,
}

impl Turn {
    fn take(alone: bool) -> Self {
        let (lock, changed) = &TURNS;
        // A test that panicked while counting poisons nothing of value.
        let mut turns = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if !turns.alone && (!alone || turns.shared == 0) {
                break;
            }
            turns = changed.wait(turns).unwrap_or_else(|e| e.into_inner());
        }
        if alone {
            turns.alone = true;
            Self::Alone
        } else {
            turns.shared += 1;
            Self::Shared
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (lock, changed) = &TURNS;
        let mut turns = lock.lock().unwrap_or_else(|e| e.into_inner());
        match self {
            Self::Shared => turns.shared -= 1,
            Self::Alone => turns.alone = false,
        }
        changed.notify_all();
    }
}

impl Server {
    fn start() -> Self {
        Self::start_in(Turn::take(false))
    }

    /// A server while no other test's server runs.
    fn start_alone() -> Self {
        Self::start_in(Turn::take(true))
    }

    fn start_in(turn: Turn) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(server_binary())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log",
                "warn",
                "--admin-key",
                KEY,
                // The fake-fleet tests hold a keep-alive connection per simulated instance
                // (10,000), over the default connection limit.
                "--max-connections",
                "15000",
            ])
            .arg("--data-dir")
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start update-server");
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let first = lines.next().expect("a first line").expect("readable");
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url: format!("http://{addr}"),
            _data: data,
            _turn: turn,
        }
    }

    /// `updatectl` with the server, user and key set through the environment.
    fn ctl(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_updatectl"));
        cmd.env("UPDATECTL_SERVER", &self.url)
            .env("UPDATECTL_USER", "admin")
            .env("UPDATECTL_KEY", KEY);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.ctl().args(args).output().expect("run updatectl")
    }

    /// Runs and asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "updatectl {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn setup_app(server: &Server) {
    server.ok(&[
        "app",
        "create",
        &format!("--app-id={APP}"),
        "--label=FakeApp",
        "--description=Fake app for testing",
    ]);
}

/// The getting-started walkthrough, with the fake clients' sleeps shortened.
#[test]
fn walkthrough() {
    walkthrough_over(None);
}

/// The same walkthrough with the fake clients speaking Omaha JSON 3.1 on
/// `/v1/update/json`: the same polls, rate-limited grants, events and completions.
#[test]
fn walkthrough_over_json() {
    walkthrough_over(Some("json"));
}

/// The walkthrough with the fake clients' `--protocol` (`None`: not given, XML).
fn walkthrough_over(protocol: Option<&str>) {
    let server = Server::start();
    let app_id = format!("--app-id={APP}");
    let created = server.ok(&[
        "app",
        "create",
        &app_id,
        "--label=FakeApp",
        "--description=Fake app for testing",
    ]);
    assert!(
        created.contains(&format!("{APP}\tFakeApp\tFake app for testing\n")),
        "{created}"
    );
    let list = server.ok(&["app", "list"]);
    assert!(
        list.contains(&format!("{APP}\tFakeApp\tFake app for testing\n")),
        "{list}"
    );

    server.ok(&[
        "channel",
        "create",
        &app_id,
        "--channel=master",
        "--version=1.0.0",
    ]);
    let group = server.ok(&[
        "group",
        "create",
        &app_id,
        "--channel=master",
        "--group-id=fake1",
        "--label=Fake Clients",
    ]);
    assert!(group.contains("Fake Clients\t"), "{group}");

    // The walkthrough's `touch update-1.1.0.gz`, with a byte in it: an empty payload is
    // refused, since update_engine cannot install one.
    let dir = tempfile::tempdir().expect("temp dir");
    let payload = dir.path().join("update-1.1.0.gz");
    std::fs::write(&payload, b"fake update 1.1.0").expect("write payload");
    let file = format!("--file={}", payload.display());
    let created = server.run(&["package", "create", &app_id, "--version=1.1.0", &file]);
    if !created.status.success() {
        // The server build may not host payloads yet: the error must say so, and --url
        // registers an externally hosted payload instead.
        let stderr = String::from_utf8_lossy(&created.stderr);
        assert!(
            stderr.contains("does not accept package uploads"),
            "{stderr}"
        );
        server.ok(&[
            "package",
            "create",
            &app_id,
            "--version=1.1.0",
            &file,
            "--url=http://example.com/update-1.1.0.gz",
        ]);
    }
    let packages = server.ok(&["package", "list", &app_id]);
    assert!(packages.contains("1.1.0\t"), "{packages}");

    let mut fake = server.ctl();
    fake.args([
        "instance",
        "fake",
        "--clients-per-app=10",
        "--min-sleep=0.2",
        "--max-sleep=0.5",
        &app_id,
        "--group-id=fake1",
        "--version=1.0.0",
        "--errorrate=0",
        "--step-delay=50",
        "--exit-after-updates=10",
        "--duration=120",
    ]);
    if let Some(protocol) = protocol {
        // Every document on stdout too, to see what went over the wire.
        fake.args([&format!("--protocol={protocol}"), "--verbose"]);
    }
    let mut fake = fake
        .stdout(Stdio::piped())
        .spawn()
        .expect("start fake clients");
    let (tx, rx) = mpsc::channel();
    let stdout = fake.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first outcome of a poll. `--verbose` prints the documents before it: lines with
    // `: request: ` or `: response: `, and the lines after a newline in a document (the
    // XML declaration's, or the JSON answer's after its `)]}'` prefix).
    let mut traced = Vec::new();
    let first = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("fake clients poll");
        let trace = line.contains(": request: ")
            || line.contains(": response: ")
            || line.starts_with("{\"")
            || !line.starts_with('{');
        if trace {
            traced.push(line);
        } else {
            break line;
        }
    };
    assert!(
        first.starts_with("{fake-client-") && first.ends_with("}: noupdate"),
        "{first}"
    );
    // The ids of this run: `fake-client-<run tag>-NNN`.
    let prefix = first
        .trim_start_matches('{')
        .rsplit_once('-')
        .map(|(prefix, _)| format!("{prefix}-"))
        .expect("an id with a number");
    assert_eq!(prefix.len(), "fake-client-12345678-".len(), "{first}");

    let interval = 2;
    let updated = server.ok(&[
        "group",
        "update",
        &app_id,
        "--group-id=fake1",
        "--channel=master",
        "--update-count=2",
        &format!("--update-interval={interval}"),
    ]);
    assert!(
        updated.ends_with(&format!(
            "Fake Clients\t{APP}\tmaster\tfake1\tfalse\t2\t{interval}\n"
        )),
        "{updated:?}"
    );
    server.ok(&[
        "channel",
        "update",
        &app_id,
        "--channel=master",
        "--version=1.1.0",
    ]);

    let status = fake.wait().expect("fake clients exit");
    assert!(status.success(), "{status:?}");
    let lines: Vec<String> = rx.try_iter().collect();
    if protocol == Some("json") {
        // JSON 3.1 requests, answered in JSON after the safe-JSON prefix.
        let all = || traced.iter().chain(&lines);
        assert!(
            all().any(|l| l.contains(": request: {\"request\":{\"protocol\":\"3.1\"")),
            "no JSON request in {traced:#?}"
        );
        assert!(
            all().any(|l| l.ends_with(": response: )]}'")),
            "no JSON answer in {traced:#?}"
        );
        assert!(
            !all().any(|l| l.contains("<request") || l.contains("<response")),
            "XML over the JSON protocol"
        );
    }
    for i in 0..10 {
        let expected = format!("{{{prefix}{i:03}}}: updated from 1.0.0 to 1.1.0");
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in {lines:#?}"
        );
    }

    // Grants, read from each instance's history: never more than 2 per 2-second window.
    let mut grants = Vec::new();
    for i in 0..10 {
        let history = history(&server, &format!("{prefix}{i:03}"));
        let items = history["items"].as_array().cloned().unwrap_or_default();
        let mine: Vec<i64> = items
            .iter()
            .filter(|item| item["kind"] == "grant")
            .map(|item| {
                let t = &item["dateTime"];
                t.as_i64()
                    .or_else(|| t.as_str().and_then(|s| s.parse().ok()))
                    .expect("dateTime")
            })
            .collect();
        assert!(!mine.is_empty(), "no grant for client {i}: {history}");
        grants.extend(mine);
    }
    grants.sort_unstable();
    for (i, &t) in grants.iter().enumerate() {
        let in_window = grants[i..]
            .iter()
            .take_while(|&&u| u < t + interval)
            .count();
        assert!(
            in_window <= 2,
            "{in_window} grants in [{t}, {t}+{interval}): {grants:?}"
        );
    }
    let versions = server.ok(&["instance", "list-app-versions", &app_id, "--group-id=fake1"]);
    assert!(
        versions.contains(&format!("{APP}\tfake1\t1.1.0\t10")),
        "{versions}"
    );
    // Each instance went through the update's events in order, and the server shows it
    // complete on the new version.
    for i in 0..10 {
        let id = format!("{prefix}{i:03}");
        let history = history(&server, &id);
        let events: Vec<(String, String)> = history["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|item| item["kind"] == "event")
            .map(|item| {
                (
                    item["eventType"].as_str().unwrap_or_default().to_owned(),
                    item["eventResult"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let mut expected = [("13", "1"), ("14", "1"), ("3", "1"), ("3", "2")].into_iter();
        let mut next = expected.next();
        for (kind, result) in &events {
            if next == Some((kind.as_str(), result.as_str())) {
                next = expected.next();
            }
        }
        assert_eq!(next, None, "{id}: events {events:?}");
    }
    let found: serde_json::Value = serde_json::from_str(&server.ok(&[
        "--json",
        "instance",
        "search",
        &app_id,
        &format!("--id-prefix={prefix}"),
    ]))
    .expect("json");
    let found = found.as_array().expect("a list");
    assert_eq!(found.len(), 10, "{found:#?}");
    for instance in found {
        assert_eq!(instance["status"], "complete", "{instance}");
        assert_eq!(instance["version"], "1.1.0", "{instance}");
    }
}

/// `GET client/history?clientId=...` through the admin API, with curl-free Hawk: the
/// library's client.
fn history(server: &Server, client_id: &str) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = updatectl::client::connect(&server.url, "admin", KEY, false).expect("client");
    runtime
        .block_on(client.call::<serde_json::Value>(
            reqwest::Method::GET,
            &["client", "history"],
            &[("clientId", client_id.to_owned())],
            None::<&()>,
        ))
        .expect("client history")
}

#[test]
fn app_list_table_and_json_are_golden() {
    let server = Server::start();
    setup_app(&server);
    server.ok(&[
        "app",
        "create",
        "--app-id=x",
        "--label=L",
        "--description=D",
    ]);
    let table = server.ok(&["app", "list"]);
    let mut rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.remove(0), "Id\t\t\t\t\tLabel\tDescription");
    rows.sort_unstable();
    assert_eq!(
        rows,
        [
            "e96281a6-d1af-4bde-9a0a-97b76e56dc57\tFakeApp\tFake app for testing",
            "x\t\t\t\t\tL\tD",
        ]
    );
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "app", "list"])).expect("json");
    let mut items = json.as_array().expect("an array").clone();
    items.sort_by_key(|i| i["id"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        serde_json::Value::Array(items),
        serde_json::json!([
            {"id": APP, "label": "FakeApp", "description": "Fake app for testing"},
            {"id": "x", "label": "L", "description": "D"},
        ])
    );
    let channel = server.ok(&[
        "channel",
        "create",
        "--app-id=x",
        "--channel=beta",
        "--version=2.0.0",
    ]);
    assert_eq!(
        channel,
        "Label\tVersion\tPublish\tUpstream\nbeta\t2.0.0\tfalse\t\n"
    );
}

#[test]
fn usage_errors_exit_2_and_unknown_commands_3() {
    let ctl = || Command::new(env!("CARGO_BIN_EXE_updatectl"));
    let bad_flag = ctl()
        .args(["app", "list", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(bad_flag.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_flag.stderr).contains("Usage:"));
    let missing = ctl()
        .args(["channel", "create", "--app-id=a"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let unknown_sub = ctl().args(["app", "frobnicate"]).output().unwrap();
    assert_eq!(unknown_sub.status.code(), Some(2));
    let unknown = ctl().arg("frobnicate").output().unwrap();
    assert_eq!(unknown.status.code(), Some(3));
    let none = ctl().output().unwrap();
    assert_eq!(none.status.code(), Some(3));
    let go_style = ctl()
        .args(["-server=http://127.0.0.1:1", "app", "list"])
        .output()
        .unwrap();
    assert_eq!(
        go_style.status.code(),
        Some(1),
        "single-dash long flags are accepted"
    );
    let version = ctl().arg("--version").output().unwrap();
    assert_eq!(version.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("updatectl "));
}

#[test]
fn api_and_io_errors_exit_1() {
    let server = Server::start();
    let out = server.run(&["app", "delete", "--app-id=no-such-app"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("googleapi: Error 404: "), "{stderr}");

    let bad_key = server
        .ctl()
        .env("UPDATECTL_KEY", "wrong")
        .args(["app", "list"])
        .output()
        .unwrap();
    assert_eq!(bad_key.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_key.stderr).starts_with("googleapi: "));

    let missing = server.run(&[
        "package",
        "create",
        "--app-id=a",
        "--version=1.0.0",
        "--file=/no/such/file",
        "--url=http://x/y",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/file"));

    let refused = Command::new(env!("CARGO_BIN_EXE_updatectl"))
        .args(["--server=http://127.0.0.1:1", "app", "list"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
}

#[test]
fn group_commands_print_the_group_table() {
    let server = Server::start();
    setup_app(&server);
    let app_id = format!("--app-id={APP}");
    server.ok(&[
        "channel",
        "create",
        &app_id,
        "--channel=stable",
        "--version=1.0.0",
    ]);
    server.ok(&[
        "group",
        "create",
        &app_id,
        "--channel=stable",
        "--group-id=g1",
        "--label=G",
    ]);
    let paused = server.ok(&["group", "pause", &app_id, "--group-id=g1"]);
    assert_eq!(
        paused,
        format!(
            "Label\tApp\t\t\t\t\tChannel\tId\tUpdates Paused\tPercent\tRollout Active\n\
             G\t{APP}\tstable\tg1\ttrue\t\t100\tfalse\n"
        )
    );
    let percent = server.ok(&[
        "group",
        "percent",
        &app_id,
        "--group-id=g1",
        "--update-percent=33.5",
    ]);
    assert_eq!(percent, "update percent set to 33.500000\n");
    let unpaused = server.ok(&["group", "unpause", &app_id, "--group-id=g1"]);
    assert!(unpaused.contains("\tfalse\t\t33.5\t"), "{unpaused:?}");
    let deleted = server.ok(&["group", "delete", &app_id, "--group-id=g1"]);
    assert!(deleted.contains("\tg1\t"), "{deleted}");
    assert_eq!(server.ok(&["group", "list", &app_id]).lines().count(), 1);
}

#[test]
fn package_create_hashes_the_payload_and_registers_the_url() {
    let server = Server::start();
    setup_app(&server);
    let dir = tempfile::tempdir().expect("temp dir");
    let payload = dir.path().join("update.gz");
    std::fs::write(&payload, b"hello").expect("write payload");
    let meta = dir.path().join("meta.json");
    std::fs::write(&meta, br#"{"metadata_size":"1024"}"#).expect("write meta");
    let file = format!("--file={}", payload.display());
    let meta = format!("--meta={}", meta.display());
    let app_id = format!("--app-id={APP}");
    let url = "--url=http://files.example.com/update.gz";
    let table = server.ok(&[
        "package",
        "create",
        &app_id,
        "--version=1.2.0",
        &file,
        &meta,
        url,
    ]);
    assert_eq!(
        table,
        "Version\tURL\t\t\t\t\tSize\n1.2.0\thttp://files.example.com/update.gz\t5\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&server.ok(&["--json", "package", "list", &app_id])).expect("json");
    let package = &json[0];
    assert_eq!(package["url"], "http://files.example.com/update.gz");
    assert_eq!(package["size"], "5");
    // The payload's digests, not the --meta file's (updateservicectl §11.2, fixed).
    assert_eq!(package["sha1Sum"], "qvTGHdzF6KLavt4PO0gs2a6pQ00=");
    assert_eq!(
        package["sha256Sum"],
        "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
    );
    assert_eq!(package["metadataSize"], "1024");
    let deleted = server.ok(&["package", "delete", &app_id, "--version=1.2.0"]);
    assert!(deleted.contains("1.2.0\t"), "{deleted}");
}

#[test]
fn package_create_without_url_says_when_uploads_are_missing() {
    // A server that answers 404 to everything, like one without /package-upload.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
            );
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let payload = dir.path().join("update.gz");
    std::fs::write(&payload, b"hello").expect("write payload");
    let out = Command::new(env!("CARGO_BIN_EXE_updatectl"))
        .arg(format!("--server=http://{addr}"))
        .args(["package", "create", "--app-id=a", "--version=1.0.0"])
        .arg(format!("--file={}", payload.display()))
        .output()
        .expect("run updatectl");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not accept package uploads"),
        "{stderr}"
    );
    assert!(stderr.contains("--url"), "{stderr}");
}

fn setup_group(server: &Server, group: &str, version: &str) {
    setup_app(server);
    let app_id = format!("--app-id={APP}");
    server.ok(&[
        "channel",
        "create",
        &app_id,
        "--channel=stable",
        &format!("--version={version}"),
    ]);
    server.ok(&[
        "group",
        "create",
        &app_id,
        "--channel=stable",
        &format!("--group-id={group}"),
    ]);
}

/// Checks what every `instance bench --json` report of an up-to-date group holds (real
/// figures, no failure, every answer a noupdate); returns the number of responses.
fn assert_bench_report(report: &serde_json::Value, clients: u64) -> u64 {
    let responses = report["responses"].as_u64().expect("responses");
    assert!(responses > 0, "{report}");
    assert_eq!(report["failures"], 0, "{report}");
    assert_eq!(report["clients"], clients, "{report}");
    // Every answer is a noupdate: the channel is at the version the clients run.
    assert_eq!(report["statuses"]["noupdate"].as_u64(), Some(responses));
    let latency = &report["latencyMs"];
    assert!(latency["p50"].as_f64().unwrap() > 0.0, "{report}");
    assert!(latency["p50"].as_f64() <= latency["p99"].as_f64());
    assert!(latency["p99"].as_f64() <= latency["max"].as_f64());
    responses
}

/// Waits until the group `bench` holds at least `responses` instances: each response of a
/// bench came from a new machine id (sightings are written behind, within a few seconds).
fn assert_instances_registered(server: &Server, responses: u64) {
    let app_id = format!("--app-id={APP}");
    let mut counted = 0;
    for _ in 0..50 {
        let versions: serde_json::Value = serde_json::from_str(&server.ok(&[
            "--json",
            "instance",
            "list-app-versions",
            &app_id,
            "--group-id=bench",
        ]))
        .expect("json");
        counted = versions[0]["count"].as_u64().unwrap_or(0);
        if counted >= responses {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        counted >= responses,
        "{counted} instances for {responses} responses"
    );
}

#[test]
fn instance_bench_reports_throughput_and_registers_every_client() {
    let server = Server::start();
    setup_group(&server, "bench", "1.0.0");
    let app_id = format!("--app-id={APP}");
    let json = server.ok(&[
        "--json",
        "instance",
        "bench",
        &app_id,
        "--group-id=bench",
        "--clients-per-app=4",
        "--seconds=2",
        "--version=1.0.0",
    ]);
    let report: serde_json::Value = serde_json::from_str(&json).expect("json report");
    let responses = assert_bench_report(&report, 4);
    assert_instances_registered(&server, responses);

    let text = server.ok(&[
        "instance",
        "bench",
        &app_id,
        "--group-id=bench",
        "--clients-per-app=2",
        "--seconds=2",
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("Got ") && lines[0].contains(" responses so far, average "),
        "{text}"
    );
    assert!(
        lines.contains(&"Ran 2 seconds with 2 concurrent requests"),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Total responses to unique new clients: ")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Responses per second : ")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.starts_with("Latency (ms): p50 ")));

    let zero = server.run(&[
        "instance",
        "bench",
        &app_id,
        "--group-id=bench",
        "--seconds=0",
    ]);
    assert_eq!(zero.status.code(), Some(2));
    let missing = server.run(&["instance", "bench", &app_id]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn instance_bench_over_json_reports_real_figures() {
    let server = Server::start();
    setup_group(&server, "bench", "1.0.0");
    let app_id = format!("--app-id={APP}");
    let json = server.ok(&[
        "--json",
        "instance",
        "bench",
        &app_id,
        "--group-id=bench",
        "--clients-per-app=4",
        "--seconds=2",
        "--version=1.0.0",
        "--protocol=json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&json).expect("json report");
    let responses = assert_bench_report(&report, 4);
    let rate = report["responsesPerSecond"].as_f64().expect("rate");
    let seconds = report["seconds"].as_f64().expect("seconds");
    assert!((rate * seconds - responses as f64).abs() < 1.0, "{report}");
    // Every answered check made an instance, as over XML.
    assert_instances_registered(&server, responses);

    // What goes over the wire: JSON 3.1 requests, JSON answers.
    let traced = server.ok(&[
        "instance",
        "bench",
        &app_id,
        "--group-id=bench",
        "--clients-per-app=1",
        "--seconds=1",
        "--protocol=json",
        "--verbose",
    ]);
    assert!(
        traced
            .lines()
            .any(|l| l.starts_with("request: {\"request\":{\"protocol\":\"3.1\"")),
        "{traced}"
    );
    assert!(traced.lines().any(|l| l == "response: )]}'"), "{traced}");
    assert!(!traced.contains("<request"), "{traced}");
}

#[test]
fn a_bad_protocol_is_a_usage_error_naming_the_choices() {
    for command in ["fake", "bench"] {
        let out = Command::new(env!("CARGO_BIN_EXE_updatectl"))
            .args([
                "instance",
                command,
                "--app-id=a",
                "--group-id=g",
                "--protocol=soap",
            ])
            .output()
            .expect("run updatectl");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("invalid value 'soap' for '--protocol <PROTOCOL>'"),
            "{stderr}"
        );
        assert!(stderr.contains("[possible values: xml, json]"), "{stderr}");
    }
}

/// One recorded exchange of `tests/data/updateservicectl-walkthrough.txt`.
#[derive(Debug, Default)]
struct Exchange {
    /// `GET`, `POST`, ... or `UPLOAD` (a multipart `POST`).
    method: String,
    /// The path and query as the Go client signs them (decoded).
    path: String,
    body: String,
    status: u16,
    /// `=`, `!` and `~` lines.
    checks: Vec<(char, String)>,
    /// The comment above it: what the client ran.
    what: String,
}

fn exchanges(script: &str) -> Vec<Exchange> {
    let mut all: Vec<Exchange> = Vec::new();
    let mut comment = String::new();
    let mut in_body = false;
    for line in script.lines() {
        if let Some(request) = line.strip_prefix("> ") {
            let (method, path) = request.split_once(' ').expect("> METHOD PATH");
            all.push(Exchange {
                method: method.to_owned(),
                path: path.to_owned(),
                what: std::mem::take(&mut comment),
                ..Exchange::default()
            });
            in_body = true;
        } else if let Some(status) = line.strip_prefix("< ") {
            all.last_mut().expect("a request first").status = status.parse().expect("status");
            in_body = false;
        } else if in_body {
            let exchange = all.last_mut().expect("a request first");
            if !exchange.body.is_empty() {
                exchange.body.push('\n');
            }
            exchange.body.push_str(line);
        } else if let Some(c) = line.chars().next().filter(|c| matches!(c, '=' | '!' | '~')) {
            let check = line[1..].trim().to_owned();
            all.last_mut()
                .expect("a request first")
                .checks
                .push((c, check));
        } else if let Some(text) = line.strip_prefix('#') {
            comment.push_str(text.trim());
            comment.push(' ');
        } else if line.trim().is_empty() {
            if all.last().is_some_and(|e| e.status != 0) {
                comment.clear();
            }
        } else {
            panic!("unexpected line {line:?}");
        }
    }
    all
}

/// Escapes each segment of a decoded path as the Go client puts it on the wire.
fn escape_path(decoded: &str) -> String {
    let (path, query) = match decoded.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (decoded, None),
    };
    let mut out = String::new();
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The `Authorization` header exactly as the Go client (hawk-go) builds it: the MAC over
/// the decoded path, no payload hash, no ext, an 8-character nonce.
fn go_hawk(server_url: &str, method: &str, decoded_path: &str) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit as _, Mac as _};
    let url = reqwest::Url::parse(server_url).expect("server URL");
    let host = url.host_str().expect("host");
    let port = url.port_or_known_default().expect("port");
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let random: [u8; 8] = std::array::from_fn(|_| fastrand::u8(..));
    let nonce: String = base64::engine::general_purpose::STANDARD
        .encode(random)
        .chars()
        .take(8)
        .collect();
    let normalized =
        format!("hawk.1.header\n{ts}\n{nonce}\n{method}\n{decoded_path}\n{host}\n{port}\n\n\n");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(KEY.as_bytes()).expect("any key");
    mac.update(normalized.as_bytes());
    let mac = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!(r#"Hawk id="admin", mac="{mac}", ts="{ts}", nonce="{nonce}""#)
}

/// The walkthrough as the real `updateservicectl` sends it: every recorded exchange,
/// Hawk-signed as the Go client signs (decoded paths), `package create` without `--url`,
/// then `package upload`, and the fake clients' polls.
#[test]
fn walkthrough_as_updateservicectl_sends_it() {
    let script = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/updateservicectl-walkthrough.txt"
    ))
    .expect("recorded exchanges");
    let server = Server::start();
    let fill = |text: &str| text.replace("$APP", APP).replace("$SERVER", &server.url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let http = reqwest::Client::new();
    let all = exchanges(&script);
    assert!(all.len() > 15, "the script parses: {all:#?}");
    for exchange in all {
        let decoded = fill(&exchange.path);
        let url = format!("{}{}", server.url, escape_path(&decoded));
        let body = fill(&exchange.body);
        let request = match exchange.method.as_str() {
            "UPLOAD" => {
                let (name, content) = body.split_once(' ').expect("UPLOAD: NAME CONTENT");
                let boundary = "0123456789abcdef0123456789abcdef";
                let multipart = format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                     filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n\
                     {content}\n\r\n--{boundary}--\r\n"
                );
                http.post(&url)
                    .header("authorization", go_hawk(&server.url, "POST", &decoded))
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={boundary}"),
                    )
                    .body(multipart)
            }
            method => {
                let method: reqwest::Method = method.parse().expect("a method");
                let mut request = http.request(method.clone(), &url);
                if decoded.starts_with("/_ah/api/") {
                    request = request
                        .header(
                            "authorization",
                            go_hawk(&server.url, method.as_str(), &decoded),
                        )
                        .header("user-agent", "google-api-go-client/0.5");
                }
                if body.starts_with('<') {
                    request.header("content-type", "text/xml").body(body)
                } else if body.is_empty() {
                    request
                } else {
                    // The Go client's JSON ends with a newline.
                    request
                        .header("content-type", "application/json")
                        .body(format!("{body}\n"))
                }
            }
        };
        let (status, text) = runtime.block_on(async {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        });
        let what = format!("{} {} ({})", exchange.method, decoded, exchange.what);
        assert_eq!(status, exchange.status, "{what}: {text}");
        let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        for (kind, check) in &exchange.checks {
            let check = fill(check);
            match kind {
                '=' => {
                    let (pointer, expected) = check.split_once(' ').expect("= POINTER JSON");
                    let expected: serde_json::Value =
                        serde_json::from_str(expected).expect("expected JSON");
                    let got = json.as_ref().and_then(|j| j.pointer(pointer));
                    assert_eq!(got, Some(&expected), "{what}: {pointer} in {text}");
                }
                '!' => {
                    let got = json.as_ref().and_then(|j| j.pointer(&check));
                    assert_eq!(got, None, "{what}: {check} in {text}");
                }
                _ => assert!(text.contains(&check), "{what}: {check:?} in {text}"),
            }
        }
    }
}

/// `package list` shows a package registered without a URL as payload missing, a channel
/// pointing at it warns, creating an existing version is refused and `--replace` changes it.
#[test]
fn payload_missing_package_missing_and_replace() {
    let server = Server::start();
    setup_app(&server);
    let app_id = format!("--app-id={APP}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = updatectl::client::connect(&server.url, "admin", KEY, false).expect("client");
    // As updateservicectl registers it without --url.
    let _: serde_json::Value = runtime
        .block_on(client.call(
            reqwest::Method::POST,
            &["apps", APP, "packages", "1.1.0"],
            &[],
            Some(&serde_json::json!({"size": "5",
                "sha256Sum": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="})),
        ))
        .expect("registered");
    let list = server.ok(&["package", "list", &app_id]);
    assert!(list.contains("1.1.0\t(payload missing)\t5"), "{list}");

    let created = server.run(&[
        "channel",
        "create",
        &app_id,
        "--channel=master",
        "--version=1.1.0",
    ]);
    assert!(created.status.success());
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(
        stderr.contains("channel master points at 1.1.0, which has no package with a payload"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let payload = dir.path().join("update.gz");
    std::fs::write(&payload, b"hello").expect("write payload");
    let file = format!("--file={}", payload.display());
    let url = "--url=http://files.example.com/1.1.0/update.gz";
    let again = server.run(&["package", "create", &app_id, "--version=1.1.0", &file, url]);
    assert_eq!(again.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("Error 409") && stderr.contains("--replace"),
        "{stderr}"
    );
    let replaced = server.ok(&[
        "package",
        "create",
        &app_id,
        "--version=1.1.0",
        &file,
        url,
        "--replace",
    ]);
    assert!(
        replaced.contains("1.1.0\thttp://files.example.com/1.1.0/update.gz\t5"),
        "{replaced}"
    );
    let listed = server.run(&["channel", "list", &app_id]);
    assert!(listed.stderr.is_empty(), "{listed:?}");
}
