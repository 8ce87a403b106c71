//! The multi-replica soak: three `update-server` processes on one PostgreSQL under
//! `updatectl instance bench` load while a rate-limited rollout runs; one replica is killed
//! with `kill -9` partway and restarted on the same address. Bounded: about 35 seconds.
//!
//! Mixed in: per replica, routine checks of instances waiting behind the rate limit (the
//! waiting scenario of the load benchmark), refused without the group's lock once known.
//!
//! Checked afterwards: every request to the two other replicas succeeded (the bench's and
//! the test's own); no window of the group's rate limit ever held more grants than its limit
//! (from the grant history in the database); every event a replica acknowledged, the killed
//! one included, is stored; and the metrics of the replicas moved with the requests, grants
//! and events.

use crate::ops::scrape;
use crate::processes::ServerProcess;
use crate::support::{self, APP};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use update_server::policy::GroupPolicy;
use update_server::store::{ChannelRecord, Store};

/// Grants per window, and the window.
const LIMIT: u32 = 3;
const INTERVAL_SECS: u64 = 8;
/// How long the bench runs.
const BENCH_SECS: u64 = 30;
/// When the victim is killed, and how long it stays down.
const KILL_AFTER: Duration = Duration::from_secs(8);
const DOWN_FOR: Duration = Duration::from_secs(4);

/// The `updatectl` binary next to `update-server`, built (or found fresh) on first use.
fn updatectl() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            // target/<profile>/update-server → target/<profile>, target
            let server = PathBuf::from(env!("CARGO_BIN_EXE_update-server"));
            let profile_dir = server.parent().expect("profile directory");
            let target_dir = profile_dir.parent().expect("target directory");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = std::process::Command::new(cargo)
                .args([
                    "build",
                    "-p",
                    "updatectl",
                    "--bin",
                    "updatectl",
                    "--target-dir",
                ])
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build");
            assert!(status.success(), "building updatectl failed");
            let binary = profile_dir.join(format!("updatectl{}", std::env::consts::EXE_SUFFIX));
            assert!(binary.exists(), "{} missing", binary.display());
            binary
        })
        .clone()
}

/// `updatectl instance bench` against one replica: its JSON report.
async fn bench(addr: std::net::SocketAddr) -> serde_json::Value {
    let output = tokio::process::Command::new(updatectl())
        .env_clear()
        .args(["--server", &format!("http://{addr}"), "--json"])
        .args(["instance", "bench", "--app-id", APP, "--group-id", "stable"])
        .args(["--clients-per-app", "3", "--version", "1.0.0"])
        .args(["--seconds", &BENCH_SECS.to_string()])
        .kill_on_drop(true)
        .output()
        .await
        .expect("run updatectl instance bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench against {addr} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bench report: {e}\n{stdout}"))
}

/// What the test's own client of one replica saw.
#[derive(Default)]
struct Client {
    /// Machines whose 13/1 event the replica acknowledged (HTTP 200).
    acked: Vec<String>,
    /// Requests that got no 200.
    failed: usize,
}

/// Posts a 13/1 event of a new machine to `replica` back to back until `stop`.
async fn event_client(
    replica: usize,
    addr: Arc<Mutex<std::net::SocketAddr>>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Client>>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let machine = format!("soak-{replica}-{i:06}");
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
        let url = format!("http://{}/v1/update/", addr.lock().unwrap());
        match http.post(url).body(request.encode()).send().await {
            Ok(r) if r.status() == 200 => seen.lock().unwrap().acked.push(machine),
            _ => {
                seen.lock().unwrap().failed += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What a waiting client saw.
#[derive(Default)]
struct Waiting {
    answered: u64,
    failed: u64,
}

/// Routine update checks of a few instances on 1.0.0 waiting behind the rate limit, in a
/// loop, until `stop`: the traffic refused without the group's lock once each instance is
/// known. Any grant among them is a grant of the group like the others (checked with them).
async fn waiting_client(
    replica: usize,
    addr: Arc<Mutex<std::net::SocketAddr>>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Waiting>>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let machine = format!("wait-{replica}-{:02}", i % 20);
        let body = support::check_request(&machine, "1.0.0").encode();
        let url = format!("http://{}/v1/update/", addr.lock().unwrap());
        match http.post(url).body(body).send().await {
            Ok(r) if r.status() == 200 => seen.lock().unwrap().answered += 1,
            _ => {
                seen.lock().unwrap().failed += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn sample(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

fn family_sum(m: &BTreeMap<String, f64>, prefix: &str) -> f64 {
    m.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn three_replicas_under_bench_load_with_one_killed_and_restarted() {
    let Some((schema, store)) = support::postgres().await else {
        return;
    };
    let policy = GroupPolicy {
        update_pooling: true,
        update_count: LIMIT,
        update_interval_secs: INTERVAL_SECS,
        ..GroupPolicy::default()
    };
    support::populate(&store, &policy).await;
    store
        .put_channel(&ChannelRecord {
            app_id: APP.into(),
            name: "stable".into(),
            version: "1.1.0".into(),
            publish: false,
            upstream: String::new(),
            created_at: 0,
        })
        .await
        .unwrap();
    let bench_binary = tokio::task::spawn_blocking(updatectl).await.unwrap();
    assert!(bench_binary.exists());

    let args = ["--database-url", schema.url.as_str()];
    let mut replicas = vec![
        ServerProcess::start(&args).await,
        ServerProcess::start(&args).await,
        ServerProcess::start(&args).await,
    ];
    let addrs: Vec<_> = replicas.iter().map(|r| r.addr).collect();
    let http = reqwest::Client::new();
    let mut before = Vec::new();
    for addr in &addrs {
        before.push(scrape(&http, *addr).await);
    }

    // The load: a bench process per replica, and the test's own event client per replica.
    let benches: Vec<_> = addrs.iter().map(|a| tokio::spawn(bench(*a))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<Arc<Mutex<Client>>> = (0..3).map(|_| Arc::default()).collect();
    let targets: Vec<Arc<Mutex<std::net::SocketAddr>>> =
        addrs.iter().map(|a| Arc::new(Mutex::new(*a))).collect();
    let client_tasks: Vec<_> = (0..3)
        .map(|r| {
            tokio::spawn(event_client(
                r,
                targets[r].clone(),
                stop.clone(),
                clients[r].clone(),
            ))
        })
        .collect();
    let waiting: Vec<Arc<Mutex<Waiting>>> = (0..3).map(|_| Arc::default()).collect();
    let waiting_tasks: Vec<_> = (0..3)
        .map(|r| {
            tokio::spawn(waiting_client(
                r,
                targets[r].clone(),
                stop.clone(),
                waiting[r].clone(),
            ))
        })
        .collect();

    // Partway, replica 2 is killed; a while later it comes back on the same address.
    tokio::time::sleep(KILL_AFTER).await;
    let victim = replicas.pop().unwrap();
    let victim_addr = victim.addr;
    victim.kill().await;
    let acked_before_kill = clients[2].lock().unwrap().acked.len();
    tokio::time::sleep(DOWN_FOR).await;
    let restarted = ServerProcess::start_on(&victim_addr.to_string(), &args).await;
    assert_eq!(restarted.addr, victim_addr);
    replicas.push(restarted);

    let mut reports = Vec::new();
    for b in benches {
        reports.push(b.await.unwrap());
    }
    stop.store(true, Ordering::SeqCst);
    for t in client_tasks.into_iter().chain(waiting_tasks) {
        t.await.unwrap();
    }
    let mut after = Vec::new();
    for addr in &addrs {
        after.push(scrape(&http, *addr).await);
    }

    // Requests to the replicas that stayed up all succeeded.
    for r in 0..2 {
        let report = &reports[r];
        assert_eq!(report["failures"], 0, "bench against replica {r}: {report}");
        assert!(report["responses"].as_u64().unwrap() > 0, "{report}");
        let client = clients[r].lock().unwrap();
        assert_eq!(client.failed, 0, "the test's requests to replica {r}");
        assert!(!client.acked.is_empty());
        let waiting = waiting[r].lock().unwrap();
        assert_eq!(waiting.failed, 0, "the waiting checks to replica {r}");
        assert!(waiting.answered > 0);
    }
    // The victim's clients saw failures while it was down, and answers before and after.
    assert!(acked_before_kill > 0);
    assert!(clients[2].lock().unwrap().acked.len() > acked_before_kill);

    for replica in replicas {
        replica.terminate().await;
    }

    // Every acknowledged event is stored, the killed replica's included.
    let pool = sqlx::PgPool::connect(&schema.url).await.unwrap();
    let stored: std::collections::HashSet<String> = sqlx::query_scalar(
        "SELECT machine_id FROM instance_history WHERE kind = 'event' \
         AND event_type = 13 AND event_result = 1 AND machine_id LIKE 'soak-%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let mut acked_total = 0;
    for client in &clients {
        for machine in &client.lock().unwrap().acked {
            assert!(
                stored.contains(machine),
                "acknowledged event of {machine} is missing"
            );
            acked_total += 1;
        }
    }

    // No window of the rate limit ever held more grants than the limit. The grant rows
    // carry the time the engine decided at (the group's clock never runs backwards, so a
    // request that waited behind the group's lock is granted at the later time); the
    // history entries carry the arrival times. Both count the same grants.
    let grants: Vec<i64> = sqlx::query_scalar(
        "SELECT granted_at FROM grants WHERE app_id = $1 AND group_id = 'stable' \
         ORDER BY granted_at",
    )
    .bind(APP)
    .fetch_all(&pool)
    .await
    .unwrap();
    let history_grants: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM instance_history WHERE kind = 'grant' AND app_id = $1 \
         AND group_id = 'stable'",
    )
    .bind(APP)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(grants.len() as i64, history_grants);
    let longest_wait: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(g.granted_at - h.at) FROM grants g JOIN instance_history h \
         ON h.app_id = g.app_id AND h.machine_id = g.machine_id AND h.kind = 'grant'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let window_ms = i64::try_from(INTERVAL_SECS).unwrap() * 1000;
    for (i, start) in grants.iter().enumerate() {
        let in_window = grants[i..]
            .iter()
            .take_while(|t| **t - start < window_ms)
            .count();
        assert!(
            in_window <= LIMIT as usize,
            "{in_window} grants within {INTERVAL_SECS} s from {start}: {grants:?}"
        );
    }
    // The limit was reached again and again: the load asked far more than it allows.
    let windows = BENCH_SECS / INTERVAL_SECS;
    assert!(
        grants.len() as u64 >= windows * u64::from(LIMIT) / 2,
        "only {} grants in {BENCH_SECS} s",
        grants.len()
    );
    pool.close().await;

    // The metrics moved with the load: per replica that stayed up, every answered request,
    // its event and its decision are counted; grants add up to what the database holds.
    let delta = |r: usize, series: &str| sample(&after[r], series) - sample(&before[r], series);
    let mut grants_counted = 0.0;
    let mut rate_limited = 0.0;
    for r in 0..2 {
        let bench_responses = reports[r]["responses"].as_f64().unwrap();
        let acked = clients[r].lock().unwrap().acked.len() as f64;
        assert!(
            delta(r, "update_server_update_requests_total") >= bench_responses + acked,
            "replica {r}: requests"
        );
        assert!(
            delta(r, "update_server_update_checks_total{path=\"writer\"}") >= bench_responses,
            "replica {r}: checks"
        );
        // The waiting instances' checks were refused without the lock once they were known.
        assert!(
            delta(r, "update_server_update_checks_total{path=\"fast\"}") > 0.0,
            "replica {r}: no waiting check answered on the fast path"
        );
        assert!(
            delta(r, "update_server_events_total{type=\"3\",result=\"1\"}") >= bench_responses,
            "replica {r}: the bench's 3/1 events"
        );
        assert!(
            delta(r, "update_server_events_total{type=\"13\",result=\"1\"}") >= acked,
            "replica {r}: the test's 13/1 events"
        );
        assert!(
            delta(r, "update_server_http_responses_total{status=\"200\"}")
                >= bench_responses + acked
        );
        assert!(
            family_sum(
                &after[r],
                "update_server_batch_size_count{batch=\"writer\"}"
            ) > family_sum(
                &before[r],
                "update_server_batch_size_count{batch=\"writer\"}"
            )
        );
        grants_counted += family_sum(&after[r], "update_server_grants_total{")
            - family_sum(&before[r], "update_server_grants_total{");
        rate_limited += delta(r, "update_server_decisions_total{reason=\"rate_limited\"}");
    }
    // The restarted replica counts from its restart.
    grants_counted += family_sum(&after[2], "update_server_grants_total{");
    assert!(grants_counted >= 1.0 && grants_counted <= grants.len() as f64);
    assert!(rate_limited > 0.0, "the limit turned requests away");
    // The fleet gauges (from the shared database) see every instance the load created.
    let instances = family_sum(&after[0], "update_server_instances{");
    let bench_total: f64 = reports
        .iter()
        .map(|r| r["responses"].as_f64().unwrap())
        .sum();
    assert!(
        instances >= bench_total + acked_total as f64,
        "{instances} instances in the gauges, {bench_total} + {acked_total} created"
    );
    eprintln!(
        "soak: bench responses {bench_total} ({:.0} per s), test events acknowledged \
         {acked_total}, grants {} (at most {LIMIT} per {INTERVAL_SECS} s), longest wait \
         between a granted request's arrival and its decision {} ms",
        bench_total / BENCH_SECS as f64,
        grants.len(),
        longest_wait.unwrap_or(0)
    );
    schema.drop().await;
}
