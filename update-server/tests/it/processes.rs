//! The `update-server` binary as operators run it: several replicas on one PostgreSQL, and
//! a crash (`kill -9`) in the middle of traffic.

use crate::support::{self, APP, concurrent_checks};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use update_server::policy::GroupPolicy;
use update_server::store::{ChannelRecord, SqliteStore, Store};

/// An `update-server` process.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl ServerProcess {
    /// Starts the binary on 127.0.0.1 port 0 and waits for it to say where it listens.
    pub(crate) async fn start(args: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", args).await
    }

    /// Starts the binary listening on `listen` and waits for it to say where it listens.
    pub(crate) async fn start_on(listen: &str, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_update-server"))
            .args(["--listen", listen, "--log", "warn"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the update-server binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines
            .next_line()
            .await
            .expect("read stdout")
            .expect("the server prints where it listens");
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        // Keep reading what the server prints, so that its stdout never fills or closes.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}/v1/update/", self.addr)
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// `kill -9`.
    pub(crate) async fn kill(mut self) {
        self.child.kill().await.expect("kill the server");
    }

    /// SIGTERM, then wait for a clean exit.
    pub(crate) async fn terminate(mut self) {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let exit = self.child.wait().await.expect("wait for the server");
        assert!(exit.success(), "update-server exits 0 on SIGTERM: {exit:?}");
    }
}

fn rate_limited() -> GroupPolicy {
    GroupPolicy {
        update_pooling: true,
        update_count: 5,
        update_interval_secs: 60,
        ..GroupPolicy::default()
    }
}

fn channel_at(version: &str) -> ChannelRecord {
    ChannelRecord {
        app_id: APP.into(),
        name: "stable".into(),
        version: version.into(),
        publish: false,
        upstream: String::new(),
        created_at: 0,
    }
}

#[tokio::test]
async fn three_replicas_on_one_postgres_grant_exactly_the_limit() {
    let Some((schema, store)) = support::postgres().await else {
        return;
    };
    support::populate(&store, &rate_limited()).await;
    let replicas = [
        ServerProcess::start(&["--database-url", &schema.url]).await,
        ServerProcess::start(&["--database-url", &schema.url]).await,
        ServerProcess::start(&["--database-url", &schema.url]).await,
    ];
    let urls: Vec<String> = replicas.iter().map(ServerProcess::url).collect();
    let client = reqwest::Client::new();
    assert_eq!(
        concurrent_checks(&client, &urls, 0..3).await,
        0,
        "up to date"
    );

    // The channel moves through the store, as another replica's admin API would move it:
    // every replica notices within a second (the wait is bounded at five).
    store.put_channel(&channel_at("1.1.0")).await.unwrap();
    let started = std::time::Instant::now();
    for i in 0..urls.len() {
        while concurrent_checks(&client, &urls[i..=i], i..i + 1).await == 0 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "replica {i} did not see the new channel version"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    // Instances m0000 to m0002 hold grants now; 300 checks through all three replicas
    // re-issue those and grant two more, never more.
    let granted = concurrent_checks(&client, &urls, 0..300).await;
    assert_eq!(
        granted, 5,
        "300 instances through three replicas: exactly update_count grants"
    );

    let mut tx = store.begin().await.unwrap();
    let grants = tx.grants(APP, "stable").await.unwrap();
    assert_eq!(grants.len(), 5);
    drop(tx);
    for replica in replicas {
        replica.terminate().await;
    }
    schema.drop().await;
}

#[tokio::test]
async fn a_killed_server_loses_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    {
        let store = SqliteStore::open(&dir.path().join("update-server.sqlite3"))
            .await
            .unwrap();
        support::populate(&store, &rate_limited()).await;
        store.put_channel(&channel_at("1.1.0")).await.unwrap();
    }
    let server = ServerProcess::start(&["--data-dir", &data_dir]).await;
    let client = reqwest::Client::new();

    // The rate limit's five grants go out before the crash.
    assert_eq!(concurrent_checks(&client, &[server.url()], 0..100).await, 5);

    // Clients post events; the server is killed while they do.
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (client, url) = (client.clone(), server.url());
            let (acked, answered, enough) = (acked.clone(), answered.clone(), enough.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let machine = format!("crash-{c}-{i}");
                    let request = omaha_proto::Request::update_engine(
                        "update_engine-0.4.10",
                        "scheduler",
                        omaha_proto::request::Os::new("CoreOS", "Chateau", ""),
                    )
                    .with_app(
                        omaha_proto::request::App::new(APP, "1.0.0")
                            .with_track("stable")
                            .with_machine_id(&machine)
                            .with_event(omaha_proto::request::Event::download_started()),
                    );
                    match client.post(&url).body(request.encode()).send().await {
                        Ok(response) if response.status() == 200 => {
                            acked.lock().unwrap().push(machine);
                            if answered.fetch_add(1, Ordering::SeqCst) + 1 == 200 {
                                enough.notify_one();
                            }
                        }
                        // Anything else (a refused connection once the server is gone) ends
                        // this client.
                        _ => return,
                    }
                }
            })
        })
        .collect();
    enough.notified().await;
    server.kill().await;
    for client in clients {
        client.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200);

    // Restarted on the same data, it has every acknowledged event...
    let server = ServerProcess::start(&["--data-dir", &data_dir]).await;
    let store = SqliteStore::open(&dir.path().join("update-server.sqlite3"))
        .await
        .unwrap();
    for machine in &acked {
        let history = store.history(Some(APP), machine, 10).await.unwrap();
        assert!(
            history
                .iter()
                .any(|h| (h.event_type, h.event_result) == (Some(13), Some(1))),
            "event of {machine} was acknowledged before the crash but is missing"
        );
    }
    // ...and the rate limit still holds: the window is used up by the grants before the
    // crash, so other instances get nothing.
    assert_eq!(
        concurrent_checks(&client, &[server.url()], 100..200).await,
        0
    );
    // The five holders get their update again.
    assert_eq!(concurrent_checks(&client, &[server.url()], 0..100).await, 5);
    server.terminate().await;
}
