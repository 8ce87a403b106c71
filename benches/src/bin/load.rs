//! The load benchmark of the update endpoint: update checks per second from up-to-date
//! instances (a fleet's steady state) over HTTP keep-alive, with latency percentiles, and
//! the rate of a trivial endpoint of the same server (`/healthz`) as the framework's
//! ceiling.
//!
//! ```text
//! cargo run --release -p benches --bin load -- --store sqlite
//! cargo run --release -p benches --bin load -- --store postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! The server runs in this process on 127.0.0.1 (port 0) over a fresh store holding one app,
//! one channel, one group and `--instances` instances that already run the channel's
//! version; the load generator shares the machine. Each run is bounded by `--seconds`.
#![forbid(unsafe_code)]

use anyhow::Context as _;
use clap::Parser;
use omaha_proto::request::{App, Os};
use std::sync::Arc;
use std::time::{Duration, Instant};
use update_server::clock::SystemClock;
use update_server::policy::GroupPolicy;
use update_server::store::{
    AppRecord, ChannelRecord, GroupRecord, PackageRecord, PostgresStore, SqliteStore, Store,
};

#[derive(Debug, Parser)]
#[command(about = "Load benchmark of the update endpoint")]
struct Args {
    /// `sqlite` (a fresh file in a temporary directory) or a `postgres://` URL (a fresh
    /// schema is created in it and dropped afterwards).
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load per endpoint.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Distinct instances.
    #[arg(long, default_value_t = 10_000)]
    instances: usize,
}

const APP_ID: &str = "e96281a6-d1af-4bde-9a0a-97b76e56dc57";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile_dir()?;
    let (store, schema): (Arc<dyn Store>, Option<(String, String)>) = if args.store == "sqlite" {
        let path = dir.join("load.sqlite3");
        (Arc::new(SqliteStore::open(&path).await?), None)
    } else {
        let schema = format!("load_{}", std::process::id());
        admin_sql(&args.store, &format!("CREATE SCHEMA {schema}")).await?;
        let sep = if args.store.contains('?') { '&' } else { '?' };
        let url = format!("{}{sep}options=-c%20search_path%3D{schema}", args.store);
        (
            Arc::new(PostgresStore::connect(&url).await?),
            Some((args.store.clone(), schema)),
        )
    };
    populate(store.as_ref()).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let server =
        update_server::Running::start(listener, store.clone(), Arc::new(SystemClock), "load")
            .await?;
    let base = format!("http://{}", server.addr());
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..args.instances)
            .map(|i| check_body(&format!("{i:032x}")))
            .collect(),
    );
    println!(
        "store: {}, connections: {}, instances: {}, {} s per endpoint",
        store.backend(),
        args.connections,
        args.instances,
        args.seconds
    );

    // Warm-up: every instance checks once, so the server knows them all.
    let warm = drive(
        &base,
        "/v1/update/",
        &bodies,
        args.connections,
        None,
        args.instances,
    )
    .await?;
    println!("warm-up: {} checks", warm.count);
    server.flush().await?;

    let checks = drive(
        &base,
        "/v1/update/",
        &bodies,
        args.connections,
        Some(Duration::from_secs(args.seconds)),
        usize::MAX,
    )
    .await?;
    checks.print("update checks (up-to-date instances)");
    let ceiling = drive(
        &base,
        "/healthz",
        &bodies,
        args.connections,
        Some(Duration::from_secs(args.seconds)),
        usize::MAX,
    )
    .await?;
    ceiling.print("GET /healthz (framework ceiling)");
    println!(
        "update checks reach {:.0} % of the ceiling",
        100.0 * checks.rate() / ceiling.rate()
    );
    server.stop().await?;
    if let Some((url, schema)) = schema {
        admin_sql(&url, &format!("DROP SCHEMA {schema} CASCADE")).await?;
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
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

/// `connections` clients, each on one keep-alive connection, send requests until `limit`
/// requests were sent in all or `duration` passed.
async fn drive(
    base: &str,
    path: &str,
    bodies: &Arc<Vec<Vec<u8>>>,
    connections: usize,
    duration: Option<Duration>,
    limit: usize,
) -> anyhow::Result<Measured> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = duration.map(|d| start + d);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .context("http client")?;
        let url = format!("{base}{path}");
        let bodies = bodies.clone();
        let next = next.clone();
        let health = path == "/healthz";
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let sent = Instant::now();
                let result = if health {
                    client.get(&url).send().await
                } else {
                    client
                        .post(&url)
                        .header("content-type", "text/xml")
                        .body(bodies[n % bodies.len()].clone())
                        .send()
                        .await
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

/// The update check update_engine sends every hour: ping, update check and the routine
/// 3/2, from an instance already on the channel's version.
fn check_body(machine: &str) -> Vec<u8> {
    omaha_proto::Request::update_engine(
        "update_engine-0.4.10",
        "scheduler",
        Os::new("CoreOS", "Chateau", "1.0.0_x86_64"),
    )
    .with_app(
        App::new(&format!("{{{APP_ID}}}"), "1.0.0")
            .with_track("stable")
            .with_machine_id(machine)
            .with_update_check(Some("")),
    )
    .encode()
}

async fn populate(store: &dyn Store) -> anyhow::Result<()> {
    store
        .create_app(&AppRecord {
            id: APP_ID.into(),
            label: "load".into(),
            description: String::new(),
            hash_sha256: "hex".into(),
            created_at: 0,
        })
        .await?;
    store
        .put_package(&PackageRecord {
            app_id: APP_ID.into(),
            version: "1.0.0".into(),
            url: "https://pkg.example.test/1.0.0/update.gz".into(),
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
    store
        .put_channel(&ChannelRecord {
            app_id: APP_ID.into(),
            name: "stable".into(),
            version: "1.0.0".into(),
            publish: false,
            upstream: String::new(),
            created_at: 0,
        })
        .await?;
    let policy = GroupPolicy {
        update_pooling: true,
        update_count: 2,
        update_interval_secs: 60,
        ..GroupPolicy::default()
    };
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

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("update-server-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
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
