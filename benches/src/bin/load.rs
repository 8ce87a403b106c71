//! The load benchmark of the update endpoint, in scenarios:
//!
//! - `steady`: instances already on the channel's version (a fleet at rest);
//! - `waiting`: instances on 1.0.0, the channel on 1.1.0, the group limited to one update
//!   per hour, so every check but the first is refused (the common check of a slow rollout);
//! - `grant`: the same rollout with a fast rate limit (10,000 per second), each check from
//!   an instance never seen before, so grants flow;
//! - `fleet`: `steady` with a large number of instances (default 1,000,000), reporting the
//!   server's resident memory and the ceiling before and after the fleet is seeded.
//!
//! Each prints update checks per second over HTTP keep-alive, the rate of a trivial endpoint
//! of the same server in the same run (`GET /healthz`, the framework's ceiling), their ratio,
//! latency percentiles, and from the server's metrics the store round trips and group locks
//! per check.
//!
//! ```text
//! cargo build --release -p benches --bin load -p update-server --bin update-server
//! target/release/load --scenario waiting --store sqlite
//! target/release/load --scenario waiting --store postgres://postgres@127.0.0.1:5432/test
//! target/release/load --scenario fleet --instances 1000000
//! ```
//!
//! The server is the real `update-server` binary (by default the one next to this
//! program), a process of its own on 127.0.0.1 port 0, so its resident memory is its own:
//! the load generator shares the machine but not the process. The store is prepared before
//! the server starts: a fresh SQLite file in a temporary data directory, or a fresh schema
//! of the given PostgreSQL database (dropped afterwards). Each measurement is bounded by
//! `--seconds`; `--repeat N` measures N rounds of checks and ceiling, interleaved, and
//! prints the mean, lowest and highest of each figure, since single 10 s windows on a
//! shared machine vary by several per cent.
#![forbid(unsafe_code)]

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use omaha_proto::request::{App, Os};
use std::collections::HashMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use update_api::endpoint::UpdateProtocol;
use update_server::policy::GroupPolicy;
use update_server::store::{
    AppRecord, ChannelRecord, GroupRecord, PackageRecord, PostgresStore, SqliteStore, Store,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Up-to-date instances.
    Steady,
    /// Instances waiting behind a full rate window.
    Waiting,
    /// New instances granted under a fast rate limit.
    Grant,
    /// Up-to-date instances, many of them; reports the server's memory.
    Fleet,
}

#[derive(Debug, Parser)]
#[command(about = "Load benchmark of the update endpoint")]
struct Args {
    /// What the instances and the group look like.
    #[arg(long, value_enum, default_value = "steady")]
    scenario: Scenario,
    /// `sqlite` (a fresh file in a temporary data directory) or a `postgres://` URL (a
    /// fresh schema is created in it and dropped afterwards).
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Measurement rounds, each a window of update checks followed by a window of the
    /// ceiling, so that both see the same drift of the machine; with more than one the
    /// benchmark also prints the mean, lowest and highest of each figure.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// Distinct instances (default: steady 10,000; waiting 20,000; grant 200,000; fleet
    /// 1,000,000). In `grant` each check comes from an instance not seen before, up to this
    /// many.
    #[arg(long)]
    instances: Option<usize>,
    /// The `update-server` binary (default: the one next to this program).
    #[arg(long)]
    server: Option<PathBuf>,
    /// The wire protocol of the checks: Omaha v3 XML on `/v1/update/`, or the same
    /// check as Omaha JSON 3.1 on `/v1/update/json`.
    #[arg(long, value_enum, default_value = "xml")]
    protocol: UpdateProtocol,
}

const APP_ID: &str = "e96281a6-d1af-4bde-9a0a-97b76e56dc57";

/// Machine ids are this many hex digits.
const ID_DIGITS: usize = 32;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let instances = args.instances.unwrap_or(match args.scenario {
        Scenario::Steady => 10_000,
        Scenario::Waiting => 20_000,
        Scenario::Grant => 200_000,
        Scenario::Fleet => 1_000_000,
    });
    if instances == 0 {
        bail!("--instances must be at least 1");
    }
    let dir = std::env::temp_dir().join(format!("update-server-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let schema = (args.store != "sqlite").then(|| format!("load_{}", std::process::id()));
    let database_url = match &schema {
        None => None,
        Some(schema) => {
            admin_sql(&args.store, &format!("CREATE SCHEMA {schema}")).await?;
            let sep = if args.store.contains('?') { '&' } else { '?' };
            Some(format!(
                "{}{sep}options=-c%20search_path%3D{schema}",
                args.store
            ))
        }
    };
    let result = scenario(&args, instances, &dir, database_url.as_deref()).await;
    if let Some(schema) = schema {
        admin_sql(&args.store, &format!("DROP SCHEMA {schema} CASCADE")).await?;
    }
    std::fs::remove_dir_all(&dir).ok();
    result
}

async fn scenario(
    args: &Args,
    instances: usize,
    dir: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<()> {
    {
        let store: Arc<dyn Store> = match database_url {
            None => Arc::new(SqliteStore::open(&dir.join("update-server.sqlite3")).await?),
            Some(url) => Arc::new(PostgresStore::connect(url).await?),
        };
        populate(store.as_ref(), args.scenario).await?;
    }
    let server = ServerProcess::start(args.server.as_deref(), dir, database_url)?;
    let base = format!("http://{}", server.addr);
    let template = Arc::new(Template::new(args.protocol));
    let seconds = Duration::from_secs(args.seconds);
    println!(
        "scenario: {:?}, protocol: {:?}, store: {}, connections: {}, instances: {}, {} s per measurement, load {}",
        args.scenario,
        args.protocol,
        if database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        args.connections,
        instances,
        args.seconds,
        load_average()
    );
    println!("server RSS at start: {}", server.rss_text());

    let mut ceilings_before = Vec::new();
    if args.scenario == Scenario::Fleet {
        for round in 1..=args.repeat {
            let c = drive(
                &base,
                Target::Health,
                &template,
                args.connections,
                Some(seconds),
                1,
                0..usize::MAX,
            )
            .await?;
            c.print(&format!(
                "GET /healthz before seeding{}",
                round_label(args, round)
            ));
            ceilings_before.push(c.rate());
        }
    }
    if args.scenario != Scenario::Grant {
        // Every instance checks once, so the server knows them all.
        let started = Instant::now();
        let warm = drive(
            &base,
            Target::Check,
            &template,
            args.connections,
            None,
            instances,
            0..instances,
        )
        .await?;
        println!(
            "seeded: {} checks in {:.1} s ({} errors)",
            warm.count,
            started.elapsed().as_secs_f64(),
            warm.errors
        );
        // Let the write-behind flush what the seeding left.
        tokio::time::sleep(Duration::from_secs(3)).await;
        println!("server RSS after seeding: {}", server.rss_text());
    }

    let label = match args.scenario {
        Scenario::Grant => "update checks (new instances, grants flowing)",
        Scenario::Waiting => "update checks (waiting instances, refused)",
        Scenario::Steady | Scenario::Fleet => "update checks (up-to-date instances)",
    };
    let before = scrape(&base).await?;
    let mut rounds = Vec::new();
    let mut sent = 0;
    for round in 1..=args.repeat {
        let checks = match args.scenario {
            // Each check from an instance not seen before, across rounds too.
            Scenario::Grant => {
                drive(
                    &base,
                    Target::Check,
                    &template,
                    args.connections,
                    Some(seconds),
                    usize::MAX,
                    sent..instances,
                )
                .await?
            }
            Scenario::Waiting | Scenario::Steady | Scenario::Fleet => {
                drive(
                    &base,
                    Target::Check,
                    &template,
                    args.connections,
                    Some(seconds),
                    instances,
                    0..usize::MAX,
                )
                .await?
            }
        };
        sent += checks.count + checks.errors;
        checks.print(&format!("{label}{}", round_label(args, round)));
        let ceiling = drive(
            &base,
            Target::Health,
            &template,
            args.connections,
            Some(seconds),
            1,
            0..usize::MAX,
        )
        .await?;
        ceiling.print(&format!(
            "GET /healthz (framework ceiling){}",
            round_label(args, round)
        ));
        println!(
            "update checks reach {:.0} % of the ceiling",
            100.0 * checks.rate() / ceiling.rate()
        );
        rounds.push((checks, ceiling));
    }
    let after = scrape(&base).await?;
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    let n = rounds.iter().map(|(c, _)| c.count).sum::<usize>().max(1) as f64;
    let writer_trips = delta("update_server_store_round_trips_total{path=\"writer\"}");
    let behind_trips = delta("update_server_store_round_trips_total{path=\"write_behind\"}");
    let locks = delta("update_server_group_locks_total");
    let fast = delta("update_server_update_checks_total{path=\"fast\"}");
    let writer = delta("update_server_update_checks_total{path=\"writer\"}");
    let grants: f64 = after
        .iter()
        .filter(|(k, _)| k.starts_with("update_server_grants_total"))
        .map(|(k, v)| v - before.get(k).copied().unwrap_or(0.0))
        .sum();
    println!(
        "per check: {:.4} store round trips (writer {:.4}, write-behind {:.4}), {:.4} group locks; \
         checks answered fast {:.0}, by the writer {:.0}",
        (writer_trips + behind_trips) / n,
        writer_trips / n,
        behind_trips / n,
        locks / n,
        fast,
        writer
    );
    if args.scenario == Scenario::Grant {
        let elapsed: f64 = rounds.iter().map(|(c, _)| c.elapsed.as_secs_f64()).sum();
        println!(
            "grants: {:.0} in {:.1} s, {:.0} grants/s",
            grants,
            elapsed,
            grants / elapsed
        );
    }
    let check_rates: Vec<f64> = rounds.iter().map(|(c, _)| c.rate()).collect();
    let ceiling_rates: Vec<f64> = rounds.iter().map(|(_, c)| c.rate()).collect();
    let ratios: Vec<f64> = rounds
        .iter()
        .map(|(c, h)| 100.0 * c.rate() / h.rate())
        .collect();
    if args.repeat > 1 {
        println!(
            "over {} rounds: update checks {}/s; ceiling {}/s; checks {} % of the ceiling",
            args.repeat,
            Spread::of(&check_rates),
            Spread::of(&ceiling_rates),
            Spread::of(&ratios)
        );
        if !ceilings_before.is_empty() {
            println!(
                "over {} rounds: ceiling before seeding {}/s",
                args.repeat,
                Spread::of(&ceilings_before)
            );
        }
    }
    if !ceilings_before.is_empty() {
        println!(
            "ceiling after seeding is {:.0} % of the ceiling before (means)",
            100.0 * Spread::of(&ceiling_rates).mean / Spread::of(&ceilings_before).mean
        );
    }
    println!("server RSS at the end: {}", server.rss_text());
    println!("load average: {}", load_average());
    server.stop();
    Ok(())
}

/// " (round i of n)" when there are several rounds, else nothing.
fn round_label(args: &Args, round: u32) -> String {
    if args.repeat > 1 {
        format!(" (round {round} of {})", args.repeat)
    } else {
        String::new()
    }
}

/// The mean, lowest and highest of a figure over the rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    mean: f64,
    min: f64,
    max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Spread {
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Spread { mean, min, max }
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mean {:.0} (lowest {:.0}, highest {:.0})",
            self.mean, self.min, self.max
        )
    }
}

/// The real server binary, a process of its own.
struct ServerProcess {
    child: Child,
    addr: std::net::SocketAddr,
}

impl ServerProcess {
    fn start(
        binary: Option<&Path>,
        dir: &Path,
        database_url: Option<&str>,
    ) -> anyhow::Result<Self> {
        let binary = match binary {
            Some(b) => b.to_owned(),
            None => std::env::current_exe()?
                .parent()
                .context("no directory of this program")?
                .join("update-server"),
        };
        let mut command = Command::new(&binary);
        command
            .args(["--listen", "127.0.0.1:0", "--log", "warn", "--data-dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let stdout = child.stdout.take().context("stdout is piped")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let line = lines
            .next()
            .context("the server printed nothing")?
            .context("read the server's output")?;
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("no address in {line:?}"))?;
        // Keep reading what the server prints, so that its stdout never fills.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Ok(Self { child, addr })
    }

    /// The server's resident set size, from `/proc/<pid>/status`.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    fn rss_text(&self) -> String {
        match self.rss_kib() {
            Some(kib) => format!("{:.1} MB", kib as f64 / 1024.0),
            None => "unknown".into(),
        }
    }

    fn stop(mut self) {
        // SIGTERM for an orderly shutdown; kill if it does not end.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The update check update_engine sends every hour (ping, update check and the routine
/// 3/2) from an instance on 1.0.0, with a slot for the machine id.
struct Template {
    body: Vec<u8>,
    slot: usize,
    /// The endpoint's path.
    path: &'static str,
    content_type: &'static str,
}

impl Template {
    fn new(wire: UpdateProtocol) -> Self {
        let marker = "f".repeat(ID_DIGITS);
        let mut request = omaha_proto::Request::update_engine(
            "update_engine-0.4.10",
            "scheduler",
            Os::new("CoreOS", "Chateau", "1.0.0_x86_64"),
        )
        .with_app(
            App::new(&format!("{{{APP_ID}}}"), "1.0.0")
                .with_track("stable")
                .with_machine_id(&marker)
                .with_update_check(Some("")),
        );
        let body = wire.encode(&mut request);
        let slot = body
            .windows(ID_DIGITS)
            .position(|w| w == marker.as_bytes())
            .expect("the machine id is in the body");
        Self {
            body,
            slot,
            path: wire.path(),
            content_type: wire.content_type(),
        }
    }

    /// The body of instance `n`.
    fn body(&self, n: usize) -> Vec<u8> {
        let mut body = self.body.clone();
        let id = format!("{n:0ID_DIGITS$x}");
        body[self.slot..self.slot + ID_DIGITS].copy_from_slice(id.as_bytes());
        body
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Check,
    Health,
}

struct Measured {
    count: usize,
    errors: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    fn print(&self, what: &str) {
        println!(
            "{what}: {:.0} requests/s ({} in {:.1} s, {} errors), latency p50 {:.2} ms, p99 {:.2} ms",
            self.rate(),
            self.count,
            self.elapsed.as_secs_f64(),
            self.errors,
            self.percentile(0.50),
            self.percentile(0.99),
        );
    }
}

/// `connections` clients, each on one keep-alive connection, send the requests numbered
/// `numbers` or as many as `duration` allows. Check `n` comes from instance
/// `n % cycle`.
async fn drive(
    base: &str,
    target: Target,
    template: &Arc<Template>,
    connections: usize,
    duration: Option<Duration>,
    cycle: usize,
    numbers: std::ops::Range<usize>,
) -> anyhow::Result<Measured> {
    let limit = numbers.end;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(numbers.start));
    let start = Instant::now();
    let deadline = duration.map(|d| start + d);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .context("http client")?;
        let url = match target {
            Target::Check => format!("{base}{}", template.path),
            Target::Health => format!("{base}/healthz"),
        };
        let template = template.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let sent = Instant::now();
                let result = match target {
                    Target::Health => client.get(&url).send().await,
                    Target::Check => {
                        client
                            .post(&url)
                            .header("content-type", template.content_type)
                            .body(template.body(n % cycle))
                            .send()
                            .await
                    }
                };
                let ok = match result {
                    Ok(response) => {
                        let ok = response.status().is_success();
                        ok && response.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, e) = task.await?;
        all.extend(latencies);
        errors += e;
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    Ok(Measured {
        count: all.len(),
        errors,
        elapsed,
        latencies_us: all,
    })
}

/// The server's metrics, `name{labels}` to value.
async fn scrape(base: &str) -> anyhow::Result<HashMap<String, f64>> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .context("GET /metrics")?
        .text()
        .await
        .context("read /metrics")?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

async fn populate(store: &dyn Store, scenario: Scenario) -> anyhow::Result<()> {
    store
        .create_app(&AppRecord {
            id: APP_ID.into(),
            label: "load".into(),
            description: String::new(),
            hash_sha256: "hex".into(),
            created_at: 0,
        })
        .await?;
    for version in ["1.0.0", "1.1.0"] {
        store
            .put_package(&PackageRecord {
                app_id: APP_ID.into(),
                version: version.into(),
                url: format!("https://pkg.example.test/{version}/update.gz"),
                size: 5,
                sha1: "qvTGHdzF6KLavt4PO0gs2a6pQ00=".into(),
                sha256: "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=".into(),
                metadata_size: String::new(),
                metadata_signature_rsa: String::new(),
                signature: String::new(),
                release_notes: String::new(),
                required: false,
                created_at: 0,
            })
            .await?;
    }
    let (target, policy) = match scenario {
        Scenario::Steady | Scenario::Fleet => (
            "1.0.0",
            GroupPolicy {
                update_pooling: true,
                update_count: 2,
                update_interval_secs: 60,
                ..GroupPolicy::default()
            },
        ),
        Scenario::Waiting => (
            "1.1.0",
            GroupPolicy {
                update_pooling: true,
                update_count: 1,
                update_interval_secs: 3600,
                ..GroupPolicy::default()
            },
        ),
        Scenario::Grant => (
            "1.1.0",
            GroupPolicy {
                update_pooling: true,
                update_count: 10_000,
                update_interval_secs: 1,
                ..GroupPolicy::default()
            },
        ),
    };
    store
        .put_channel(&ChannelRecord {
            app_id: APP_ID.into(),
            name: "stable".into(),
            version: target.into(),
            publish: false,
            upstream: String::new(),
            created_at: 0,
        })
        .await?;
    store
        .create_group(&GroupRecord {
            app_id: APP_ID.into(),
            id: "stable".into(),
            label: "stable".into(),
            channel: "stable".into(),
            policy: policy.to_json(),
            created_at: 0,
        })
        .await?;
    Ok(())
}

async fn admin_sql(url: &str, statement: &str) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(url)
        .await
        .context("connect to PostgreSQL")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&pool)
        .await
        .with_context(|| format!("run {statement:?}"))?;
    pool.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn a_spread_is_the_mean_lowest_and_highest() {
        let s = Spread::of(&[50_000.0, 56_000.0, 53_000.0]);
        assert_eq!(
            s,
            Spread {
                mean: 53_000.0,
                min: 50_000.0,
                max: 56_000.0
            }
        );
        assert_eq!(s.to_string(), "mean 53000 (lowest 50000, highest 56000)");
        let one = Spread::of(&[7.0]);
        assert_eq!((one.mean, one.min, one.max), (7.0, 7.0, 7.0));
    }
}
