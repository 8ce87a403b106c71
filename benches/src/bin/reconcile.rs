//! The pace of the instance counts' reconciliation at a large fleet.
//!
//! The server keeps the instance counts per app, group, version and status in the database
//! (`update-server/src/counts.rs`) and every ten minutes reconciles them: it counts the
//! instances again in chunks of keys, pausing between chunks, in one snapshot. This program
//! measures how long one pass takes at a given number of instances, and how much of that is
//! the counting itself (a pass without the pauses):
//!
//! ```text
//! cargo build --release --locked -p benches --bin reconcile
//! target/release/reconcile --store sqlite --instances 1000000
//! target/release/reconcile --store postgres://postgres@127.0.0.1:5432/test --instances 1000000
//! ```
//!
//! The store is a fresh one (a SQLite file in a temporary directory, or a schema of its own
//! in the PostgreSQL database, dropped afterwards) with the server's migrations; the
//! instances are inserted with one SQL statement, through the triggers that keep the counts,
//! so each pass finds the counts exact. Each pass runs through the store's own
//! `reconcile_instance_counts`, the function the server's background task calls.
#![forbid(unsafe_code)]

use anyhow::{Context as _, bail};
use clap::Parser;
use sqlx::Connection as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use update_server::store::{PostgresStore, ReconcilePace, Reconciliation, SqliteStore, Store};

#[derive(Debug, Parser)]
#[command(about = "Pace of the instance counts' reconciliation")]
struct Args {
    /// `sqlite` (a fresh file in a temporary directory) or a `postgres://` URL (a fresh
    /// schema is created in it and dropped afterwards).
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// Instances in the store, spread over four groups and three versions.
    #[arg(long, default_value_t = 1_000_000)]
    instances: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.instances == 0 {
        bail!("--instances must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let pid = std::process::id();
    if args.store == "sqlite" {
        let dir = std::env::temp_dir().join(format!("update-server-reconcile-{pid}"));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("update-server.sqlite3");
        let result = async {
            let store = Arc::new(SqliteStore::open(&path).await?);
            let url = format!("sqlite://{}", path.display());
            let mut conn = sqlx::SqliteConnection::connect(&url)
                .await
                .context("open the SQLite file")?;
            let started = Instant::now();
            sqlx::query(insert_sql(true))
                .bind(instance_count(&args)?)
                .execute(&mut conn)
                .await?;
            measure(&args, store, "sqlite", started.elapsed()).await
        }
        .await;
        std::fs::remove_dir_all(&dir).ok();
        return result;
    }
    let schema = format!("reconcile_{pid}");
    let mut admin = sqlx::PgConnection::connect(&args.store)
        .await
        .context("connect to PostgreSQL")?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await?;
    let sep = if args.store.contains('?') { '&' } else { '?' };
    let url = format!("{}{sep}options=-c%20search_path%3D{schema}", args.store);
    let result = async {
        let store = Arc::new(PostgresStore::connect(&url).await?);
        let mut conn = sqlx::PgConnection::connect(&url).await?;
        let started = Instant::now();
        sqlx::query(insert_sql(false))
            .bind(instance_count(&args)?)
            .execute(&mut conn)
            .await?;
        measure(&args, store, "postgres", started.elapsed()).await
    }
    .await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await?;
    result
}

fn instance_count(args: &Args) -> anyhow::Result<i64> {
    i64::try_from(args.instances).context("--instances")
}

/// One statement inserting `$1` instances, through the triggers that keep the counts.
fn insert_sql(sqlite: bool) -> &'static str {
    if sqlite {
        "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < $1) \
         INSERT INTO instances (app_id, machine_id, group_id, version, oem, status, \
         first_seen, last_seen) \
         SELECT 'e96281a6-d1af-4bde-9a0a-97b76e56dc57', 'machine-' || CAST(n AS TEXT), \
         'group-' || CAST(n % 4 AS TEXT), '1.' || CAST(n % 3 AS TEXT) || '.0', '', \
         'complete', 0, 0 FROM seq"
    } else {
        "INSERT INTO instances (app_id, machine_id, group_id, version, oem, status, \
         first_seen, last_seen) \
         SELECT 'e96281a6-d1af-4bde-9a0a-97b76e56dc57', 'machine-' || CAST(n AS TEXT), \
         'group-' || CAST(n % 4 AS TEXT), '1.' || CAST(n % 3 AS TEXT) || '.0', '', \
         'complete', 0, 0 FROM generate_series(0, $1 - 1) AS seq(n)"
    }
}

/// Runs a paced pass and a pass without pauses over the inserted instances.
async fn measure(
    args: &Args,
    store: Arc<dyn Store>,
    backend: &str,
    inserted_in: Duration,
) -> anyhow::Result<()> {
    let paced = update_server::counts::pace();
    println!(
        "store: {backend}, instances: {}, chunk {} keys, pause {} ms, load {}",
        args.instances,
        paced.chunk,
        paced.pause.as_millis(),
        load_average()
    );
    println!(
        "inserted {} instances in {:.1} s",
        args.instances,
        inserted_in.as_secs_f64()
    );

    // Each pass must be due: the interval is zero, and `now` moves on.
    let now = 1_000_000_000_000;
    let unpaced = ReconcilePace {
        chunk: paced.chunk,
        pause: Duration::ZERO,
        min_interval_ms: 0,
    };
    let paced = ReconcilePace {
        min_interval_ms: 0,
        ..paced
    };
    for (what, pace, at) in [
        ("paced (as the server runs it)", &paced, now),
        ("without pauses (the counting alone)", &unpaced, now + 1),
    ] {
        let started = Instant::now();
        let done = store.reconcile_instance_counts(at, pace).await?;
        let elapsed = started.elapsed();
        match done {
            Reconciliation::Done {
                instances,
                chunks,
                drift,
            } => {
                let paused = pace.pause * u32::try_from(chunks.saturating_sub(1)).unwrap_or(0);
                println!(
                    "{what}: {instances} instances in {chunks} chunks, {:.1} s \
                     ({:.1} s of it paused, {:.1} ms of counting per chunk), drift {drift}",
                    elapsed.as_secs_f64(),
                    paused.as_secs_f64(),
                    (elapsed.saturating_sub(paused)).as_secs_f64() * 1000.0 / chunks.max(1) as f64,
                );
                if u64::try_from(instances).ok() != Some(args.instances) || drift != 0 {
                    bail!("the pass counted {instances} instances with drift {drift}");
                }
            }
            other => bail!("the pass did not run: {other:?}"),
        }
    }
    println!("load average: {}", load_average());
    Ok(())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
