//! Users: the service always keeps a user who can sign in (nobody deletes itself or the last
//! user), `update-server reset-admin-key` gives `admin` a new key offline, and an
//! `--admin-key` that cannot apply is a warning. On SQLite and PostgreSQL, over HTTP and
//! with the real binary.

use crate::support::{self, TestServer};
use base64::Engine as _;
use serde_json::json;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use update_server::policy::GroupPolicy;
use update_server::store::UserRecord;

const V1: &str = "/_ah/api/update/v1";

async fn nobody_deletes_itself_or_the_last_user(s: TestServer) {
    let (status, answer) = s
        .api("DELETE", &format!("{V1}/admin/user/admin"), None)
        .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        "user admin cannot delete itself: sign in as another user to delete it"
    );
    let (status, bob) = s
        .api(
            "POST",
            &format!("{V1}/admin/user"),
            Some(json!({"userName": "bob"})),
        )
        .await;
    assert_eq!(status, 200, "{bob}");
    let bob_key = bob["token"].as_str().unwrap().to_owned();
    let (status, _) = s
        .api_as(
            "bob",
            &bob_key,
            "DELETE",
            &format!("{V1}/admin/user/bob"),
            None,
        )
        .await;
    assert_eq!(status, 403, "bob cannot delete himself either");
    // Another user may be deleted.
    let (status, _) = s
        .api_as(
            "bob",
            &bob_key,
            "DELETE",
            &format!("{V1}/admin/user/admin"),
            None,
        )
        .await;
    assert_eq!(status, 200, "bob deletes admin");
    let (_, users) = s
        .api_as("bob", &bob_key, "GET", &format!("{V1}/admin/user"), None)
        .await;
    assert_eq!(
        users["users"],
        json!([{"user": "bob", "token": "", "role": "admin"}]),
        "created without a role, bob is an admin of every app"
    );
    let (status, answer) = s
        .api_as(
            "bob",
            &bob_key,
            "DELETE",
            &format!("{V1}/admin/user/bob"),
            None,
        )
        .await;
    assert_eq!(status, 403, "{answer}");
    let (status, _) = s
        .api_as(
            "bob",
            &bob_key,
            "DELETE",
            &format!("{V1}/admin/user/nobody"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Two users deleting each other at once: the store lets only one go (409 for the other
    // through the API), so a user is always left.
    for name in ["carol", "dave"] {
        s.store
            .create_user(&UserRecord {
                name: name.into(),
                key_sealed: vec![1],
                created_at: 0,
                role: update_server::access::Role::Admin,
                apps: None,
            })
            .await
            .unwrap();
    }
    s.store.delete_user("bob").await.unwrap();
    let (a, b) = tokio::join!(
        s.store.delete_user_unless_last("carol"),
        s.store.delete_user_unless_last("dave"),
    );
    assert_eq!(
        usize::from(a.unwrap()) + usize::from(b.unwrap()),
        1,
        "exactly one of the last two is deleted"
    );
    assert_eq!(s.store.users().await.unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn nobody_deletes_itself_or_the_last_user_on_sqlite() {
    nobody_deletes_itself_or_the_last_user(TestServer::start_sqlite(GroupPolicy::default()).await)
        .await;
}

#[tokio::test]
async fn nobody_deletes_itself_or_the_last_user_on_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        nobody_deletes_itself_or_the_last_user(s).await;
    }
}

/// A server process: its address, and its stderr once it stopped.
struct Process {
    child: tokio::process::Child,
    addr: std::net::SocketAddr,
}

impl Process {
    async fn start(args: &[&str]) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_update-server"))
            .args(["--listen", "127.0.0.1:0", "--log", "warn"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the update-server binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next_line().await.unwrap().expect("a first line");
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr }
    }

    /// `GET .../admin/user` with Basic `admin:key`: the status.
    async fn users_status(&self, key: &str) -> u16 {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{key}"));
        reqwest::Client::new()
            .get(format!("http://{}{V1}/admin/user", self.addr))
            .header("authorization", format!("Basic {basic}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// SIGTERM, a clean exit; returns what it logged.
    async fn stop(mut self) -> String {
        let pid = self.child.id().expect("running");
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        assert!(self.child.wait().await.unwrap().success());
        stderr
    }
}

/// `update-server reset-admin-key` with `store_args`: the key it printed.
async fn reset_admin_key(store_args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_update-server"))
        .arg("reset-admin-key")
        .args(store_args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("new key for user admin: "))
        .unwrap_or_else(|| panic!("no key in {stdout:?}"))
        .to_owned()
}

async fn reset_admin_key_recovers_a_lost_key(store_args: &[&str]) {
    let first = "first-key-0123456789";
    let mut args = store_args.to_vec();
    args.extend(["--admin-key", first]);
    let server = Process::start(&args).await;
    assert_eq!(server.users_status(first).await, 200);
    // The key is lost: a new one, given while the server runs.
    let new_key = reset_admin_key(store_args).await;
    assert_ne!(new_key, first);
    assert_eq!(
        server.users_status(&new_key).await,
        200,
        "the new key works"
    );
    assert_eq!(
        server.users_status(first).await,
        401,
        "the old one does not"
    );
    assert!(!server.stop().await.contains("--admin-key is ignored"));

    // Restarted with an --admin-key: there are users, so it cannot apply, and says so.
    let mut args = store_args.to_vec();
    args.extend(["--admin-key", "another-key-0123456789"]);
    let server = Process::start(&args).await;
    assert_eq!(server.users_status("another-key-0123456789").await, 401);
    assert_eq!(server.users_status(&new_key).await, 200);
    let log = server.stop().await;
    assert!(
        log.contains("--admin-key is ignored") && log.contains("reset-admin-key"),
        "{log}"
    );
}

#[tokio::test]
async fn reset_admin_key_recovers_a_lost_key_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    reset_admin_key_recovers_a_lost_key(&["--data-dir", data.to_str().unwrap()]).await;
    // The key is sealed with the data directory's secret, like every key.
    assert!(Path::new(&data).join("secret.key").exists());
}

#[tokio::test]
async fn reset_admin_key_recovers_a_lost_key_on_postgres() {
    let Some((schema, _store)) = support::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let secret = "7a".repeat(32);
    reset_admin_key_recovers_a_lost_key(&[
        "--data-dir",
        data.to_str().unwrap(),
        "--database-url",
        &schema.url,
        "--secret",
        &secret,
    ])
    .await;
    schema.drop().await;
}

/// A one-character `--admin-key` is refused at start with a message that names the rule and
/// not the key; `--admin-key-file` (or its environment variable) keeps the key out of the
/// process list, read from the file and trimmed.
#[tokio::test]
async fn admin_keys_are_long_enough_and_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for (args, env) in [
        (vec!["--admin-key", "x"], None),
        (vec![], Some(("UPDATE_SERVER_ADMIN_KEY", "shortkey1"))),
    ] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_update-server"));
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir", data])
            .args(&args)
            .env_remove("UPDATE_SERVER_ADMIN_KEY")
            .env_remove("UPDATE_SERVER_ADMIN_KEY_FILE");
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success(), "{args:?} {env:?} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("too short") && stderr.contains("at least 16"),
            "{stderr}"
        );
        assert!(!stderr.contains("shortkey1"), "the key is echoed: {stderr}");
        assert!(
            !Path::new(data).join("db.sqlite3").exists(),
            "refused before the store is touched"
        );
    }

    // From a file, trimmed: the key works, and is nowhere in the arguments.
    let key = "file-key-0123456789abcdef";
    let file = dir.path().join("admin.key");
    std::fs::write(&file, format!("  {key}\n")).unwrap();
    let server = Process::start(&[
        "--data-dir",
        data,
        "--admin-key-file",
        file.to_str().unwrap(),
    ])
    .await;
    assert_eq!(server.users_status(key).await, 200);
    assert_eq!(server.users_status(&format!("  {key}\n")).await, 401);
    server.stop().await;

    // Both at once is a usage error; a missing file says which.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_update-server"))
        .args(["--data-dir", data, "--admin-key", key, "--admin-key-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_update-server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir", data])
        .env("UPDATE_SERVER_ADMIN_KEY_FILE", dir.path().join("nothing"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read the admin key file"),
        "{stderr}"
    );
}

/// A client connecting from `127.0.0.<last>`.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, last]))
        .build()
        .unwrap()
}

async fn get_users(
    client: &reqwest::Client,
    s: &TestServer,
    user: &str,
    key: &str,
) -> reqwest::Response {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"));
    client
        .get(format!("http://{}{V1}/admin/user", s.addr()))
        .header("authorization", format!("Basic {basic}"))
        .send()
        .await
        .unwrap()
}

/// 1000 wrong keys for `admin` from one address: after the address's burst they are
/// refused with 429 and `Retry-After` without being checked; the right key still works from
/// another address (Basic and Hawk), another user is not locked out, and the attacker's
/// address gets its turn back as the bucket refills.
async fn wrong_keys_are_throttled(s: TestServer) {
    use update_server::throttle::{ADDRESS_BURST, ADDRESS_REFILL_MS};
    let (status, alice) = s
        .api(
            "POST",
            &format!("{V1}/admin/user"),
            Some(json!({"userName": "alice"})),
        )
        .await;
    assert_eq!(status, 200, "{alice}");
    let alice_key = alice["token"].as_str().unwrap().to_owned();
    let attacker = client_from(2);
    let (mut unauthorized, mut throttled) = (0, 0);
    for i in 0..1000 {
        let response = get_users(&attacker, &s, "admin", &format!("wrong-{i:04}")).await;
        match response.status().as_u16() {
            401 => unauthorized += 1,
            429 => {
                let wait: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=6).contains(&wait), "{wait}");
                throttled += 1;
            }
            other => panic!("answered {other}"),
        }
    }
    assert_eq!(unauthorized, ADDRESS_BURST as usize, "checked keys");
    assert_eq!(throttled, 1000 - ADDRESS_BURST as usize);
    // The attacker's address waits, even with the right key.
    assert_eq!(
        get_users(&attacker, &s, "admin", support::ADMIN_KEY)
            .await
            .status(),
        429
    );
    // The right client: Basic from its own address, Hawk from another.
    let right = client_from(3);
    assert_eq!(
        get_users(&right, &s, "admin", support::ADMIN_KEY)
            .await
            .status(),
        200
    );
    let (status, _) = s.api("GET", &format!("{V1}/admin/user"), None).await;
    assert_eq!(status, 200, "Hawk from 127.0.0.1");
    // Another user, from another address.
    assert_eq!(
        get_users(&client_from(5), &s, "alice", &alice_key)
            .await
            .status(),
        200
    );
    // Wrong Hawk MACs count as well.
    let hawk_attacker = client_from(4);
    let mut hawk_throttled = 0;
    for i in 0..(ADDRESS_BURST + 5) {
        let path = format!("{V1}/admin/user");
        let header = s.hawk_header(
            "admin",
            "not-the-key-0123456789",
            "GET",
            &path,
            &format!("bad{i}"),
            update_server::clock::Clock::now(s.clock.as_ref()).as_second(),
        );
        let status = hawk_attacker
            .get(format!("http://{}{path}", s.addr()))
            .header("authorization", header)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 429 {
            hawk_throttled += 1;
        } else {
            assert_eq!(status, 401);
        }
    }
    assert_eq!(hawk_throttled, 5);
    // The metrics count what was checked and what was refused unchecked.
    let metrics = crate::ops::scrape(&reqwest::Client::new(), s.addr()).await;
    let throttled_total = 1000 - ADDRESS_BURST as usize + 1 + hawk_throttled;
    assert_eq!(
        metrics["update_server_logins_throttled_total"],
        throttled_total as f64
    );
    let failed_total = 2 * ADDRESS_BURST as usize;
    assert_eq!(
        metrics["update_server_logins_failed_total"],
        failed_total as f64
    );
    // Once the bucket refilled by one, the attacker's address may try again.
    s.clock.advance_secs(ADDRESS_REFILL_MS / 1000);
    assert_eq!(
        get_users(&attacker, &s, "admin", support::ADMIN_KEY)
            .await
            .status(),
        200
    );
    s.stop().await;
}

#[tokio::test]
async fn wrong_keys_are_throttled_on_sqlite() {
    wrong_keys_are_throttled(TestServer::start_sqlite(GroupPolicy::default()).await).await;
}

#[tokio::test]
async fn wrong_keys_are_throttled_on_postgres() {
    if let Some(s) = TestServer::start_postgres(GroupPolicy::default()).await {
        wrong_keys_are_throttled(s).await;
    }
}
