//! The instance counts the database keeps (migration 0007) against a full recount of the
//! instances, on both backends: after new instances, version, group and status changes,
//! stale reports, deletions and several replicas writing at once; after drift the
//! reconciliation repairs; after the migration of a database that has instances already.
//!
//! A recount is what the store answers to a filter the counts cannot answer (`seen_after`):
//! a grouped scan of the instances.

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use update_server::store::{
    InstanceFilter, InstanceRecord, PostgresStore, ReconcilePace, Reconciliation, Sighting,
    SqliteStore, Store, VersionCount,
};

const APPS: [&str; 2] = [
    "e96281a6-d1af-4bde-9a0a-97b76e56dc57",
    "6a2b9c1e-0000-4000-8000-000000000001",
];
const GROUPS: [&str; 3] = ["stable", "beta", "alpha"];
const VERSIONS: [&str; 4] = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"];
const STATUSES: [&str; 5] = ["unknown", "downloading", "installed", "complete", "error"];

/// Raw SQL on the store's database, for what no store call does: deleting instances
/// (retention, an operator), and corrupting the counts.
#[derive(Clone)]
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    async fn exec(&self, sql: &str) -> u64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Self::Sqlite(pool) => sqlx::raw_sql(sql)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected(),
            Self::Postgres(pool) => sqlx::raw_sql(sql)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected(),
        }
    }
}

/// Replicas of one database, and a raw connection to it.
struct Fleet {
    replicas: Vec<Arc<dyn Store>>,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
    schema: Option<crate::support::PgSchema>,
}

impl Fleet {
    async fn sqlite(replicas: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let mut stores: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..replicas {
            stores.push(Arc::new(SqliteStore::open(&path).await.unwrap()));
        }
        let raw = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&path)
                    .busy_timeout(Duration::from_secs(10)),
            )
            .await
            .unwrap();
        Self {
            replicas: stores,
            raw: Raw::Sqlite(raw),
            _dir: Some(dir),
            schema: None,
        }
    }

    async fn postgres(replicas: usize) -> Option<Self> {
        let (schema, first) = crate::support::postgres().await?;
        let mut stores: Vec<Arc<dyn Store>> = vec![Arc::new(first)];
        for _ in 1..replicas {
            stores.push(Arc::new(PostgresStore::connect(&schema.url).await.unwrap()));
        }
        let raw = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&schema.url)
            .await
            .unwrap();
        Some(Self {
            replicas: stores,
            raw: Raw::Postgres(raw),
            _dir: None,
            schema: Some(schema),
        })
    }

    async fn done(self) {
        if let Some(schema) = self.schema {
            if let Raw::Postgres(pool) = self.raw {
                pool.close().await;
            }
            schema.drop().await;
        }
    }
}

type Counts = BTreeMap<(String, String, String, String), i64>;

/// The counts as kept, and as a grouped scan of the instances gives them.
async fn kept_and_recounted(store: &dyn Store) -> (Counts, Counts) {
    let to_map = |rows: Vec<update_server::store::StatusCount>| -> Counts {
        rows.into_iter()
            .map(|c| ((c.app_id, c.group_id, c.version, c.status), c.count))
            .collect()
    };
    let kept = to_map(
        store
            .instance_status_counts(&InstanceFilter::default())
            .await
            .unwrap(),
    );
    let scan = InstanceFilter {
        seen_after: Some(i64::MIN),
        ..InstanceFilter::default()
    };
    assert!(!scan.is_counted());
    let recounted = to_map(store.instance_status_counts(&scan).await.unwrap());
    (kept, recounted)
}

/// Every count the store answers from its kept counts equals the recount: per status, per
/// version, totals, and with filters of app, group, version and status.
async fn assert_exact(store: &dyn Store) {
    let (kept, recounted) = kept_and_recounted(store).await;
    assert_eq!(kept, recounted, "kept counts differ from a full recount");
    let total: i64 = recounted.values().sum();
    let scan_all = InstanceFilter {
        seen_after: Some(i64::MIN),
        ..InstanceFilter::default()
    };
    assert_eq!(store.count_instances(&scan_all).await.unwrap(), total);
    assert_eq!(
        store
            .count_instances(&InstanceFilter::default())
            .await
            .unwrap(),
        total
    );
    let mut by_version: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for ((app, group, version, _), n) in &recounted {
        *by_version
            .entry((app.clone(), group.clone(), version.clone()))
            .or_default() += n;
    }
    let expected: Vec<VersionCount> = by_version
        .into_iter()
        .map(|((app_id, group_id, version), count)| VersionCount {
            app_id,
            group_id,
            version,
            count,
        })
        .collect();
    assert_eq!(
        store
            .version_counts(&InstanceFilter::default())
            .await
            .unwrap(),
        expected
    );
    for group in GROUPS {
        for status in ["complete", "error"] {
            let filter = InstanceFilter {
                app_id: Some(APPS[0].into()),
                group_id: Some(group.into()),
                status: Some(status.into()),
                ..InstanceFilter::default()
            };
            assert!(filter.is_counted());
            let scan = InstanceFilter {
                seen_after: Some(i64::MIN),
                ..filter.clone()
            };
            assert_eq!(
                store.count_instances(&filter).await.unwrap(),
                store.count_instances(&scan).await.unwrap(),
                "{group} {status}"
            );
            assert_eq!(
                store.version_counts(&filter).await.unwrap(),
                store.version_counts(&scan).await.unwrap()
            );
        }
    }
}

/// A small deterministic generator (xorshift), so the concurrent test needs no seed plumbing.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[usize::try_from(self.next() % of.len() as u64).unwrap()]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn sighting(app: &str, machine: &str, group: &str, version: &str, seq: i64) -> Sighting {
    Sighting {
        app_id: app.into(),
        machine_id: machine.into(),
        group_id: group.into(),
        version: version.into(),
        oem: "qemu".into(),
        at: seq,
        seq,
    }
}

fn record(
    app: &str,
    machine: &str,
    group: &str,
    version: &str,
    status: &str,
    seq: i64,
) -> InstanceRecord {
    InstanceRecord {
        app_id: app.into(),
        machine_id: machine.into(),
        group_id: group.into(),
        version: version.into(),
        oem: "qemu".into(),
        status: status.into(),
        last_event_type: Some(3),
        last_event_result: Some(2),
        last_error_code: None,
        grant_version: None,
        granted_at: None,
        first_seen: seq,
        last_seen: seq,
        report_seq: seq,
        failures: 0,
        retry_until: None,
        retry_version: None,
    }
}

/// One replica's share of the traffic: batches of sightings (new instances, reports of
/// other versions and groups, stale reports), writer transactions that change statuses
/// and versions as events do, and deletions.
async fn traffic(store: Arc<dyn Store>, raw: Raw, replica: u64, rounds: u64) {
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (replica + 1).wrapping_mul(0x1234_5678_9abc));
    for round in 0..rounds {
        let seq = |dice: &mut Dice| -> i64 {
            // Mostly newer than anything before, sometimes stale.
            let base = i64::try_from(round * 1000 + replica).unwrap();
            if dice.below(5) == 0 {
                base - 50_000
            } else {
                base + 1_000_000
            }
        };
        let mut batch = Vec::new();
        for _ in 0..dice.below(40) + 1 {
            let machine = format!("m{}", dice.below(300));
            let app = dice.pick(&APPS);
            batch.push(sighting(
                app,
                &machine,
                dice.pick(&GROUPS),
                dice.pick(&VERSIONS),
                seq(&mut dice),
            ));
        }
        store.record_sightings(&batch, &[]).await.unwrap();

        // The writer: read some instances, change their status (and, as a completion
        // does, their version), create a few.
        let keys: Vec<(String, String)> = (0..dice.below(30) + 1)
            .map(|_| (dice.pick(&APPS).to_owned(), format!("m{}", dice.below(300))))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut tx = store.begin().await.unwrap();
        let found = tx.instances_by_key(&keys).await.unwrap();
        let mut changed: Vec<InstanceRecord> = Vec::new();
        for (app, machine) in &keys {
            let mut row = found
                .iter()
                .find(|r| &r.app_id == app && &r.machine_id == machine)
                .cloned()
                .unwrap_or_else(|| {
                    record(app, machine, "stable", "1.0.0", "unknown", seq(&mut dice))
                });
            row.status = dice.pick(&STATUSES).to_owned();
            if row.status == "complete" {
                row.version = dice.pick(&VERSIONS).to_owned();
                row.report_seq = seq(&mut dice);
            }
            changed.push(row);
        }
        tx.put_instances(&changed).await.unwrap();
        if dice.below(4) == 0 {
            // A transaction that rolls back moves no count.
            drop(tx);
        } else {
            tx.commit().await.unwrap();
        }

        if dice.below(6) == 0 {
            // One row per statement: concurrent writes lock instance rows in key order.
            for _ in 0..2 {
                let (app, machine) = (dice.pick(&APPS), dice.below(300));
                raw.exec(&format!(
                    "DELETE FROM instances WHERE app_id = '{app}' AND machine_id = 'm{machine}'"
                ))
                .await;
            }
        }
        if dice.below(3) == 0 {
            store.fold_instance_counts().await.unwrap();
        }
    }
}

async fn counts_follow_every_change(fleet: Fleet) {
    let mut tasks = Vec::new();
    for (i, store) in fleet.replicas.iter().enumerate() {
        tasks.push(tokio::spawn(traffic(
            store.clone(),
            fleet.raw.clone(),
            i as u64,
            60,
        )));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let store = fleet.replicas[0].as_ref();
    // Exact with rows still pending, and after the fold.
    assert_exact(store).await;
    store.fold_instance_counts().await.unwrap();
    assert_exact(store).await;
    let (kept, _) = kept_and_recounted(store).await;
    assert!(
        kept.len() > 20,
        "the traffic spread over many keys: {kept:?}"
    );
    fleet.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_follow_every_change_sqlite() {
    counts_follow_every_change(Fleet::sqlite(3).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_follow_every_change_postgres() {
    let Some(fleet) = Fleet::postgres(3).await else {
        return;
    };
    counts_follow_every_change(fleet).await;
}

async fn seed(store: &dyn Store, n: usize) {
    let batch: Vec<Sighting> = (0..n)
        .map(|i| {
            sighting(
                APPS[i % 2],
                &format!("m{i}"),
                GROUPS[i % 3],
                VERSIONS[i % 4],
                1,
            )
        })
        .collect();
    store.record_sightings(&batch, &[]).await.unwrap();
}

fn pace(chunk: i64, pause_ms: u64) -> ReconcilePace {
    ReconcilePace {
        chunk,
        pause: Duration::from_millis(pause_ms),
        min_interval_ms: 0,
    }
}

async fn reconciliation_repairs_drift_while_replicas_write(fleet: Fleet, postgres: bool) {
    let store = fleet.replicas[0].clone();
    seed(store.as_ref(), 500).await;
    // Drift the triggers cannot see: counts edited by hand, a row that counts nothing, and
    // (PostgreSQL) instances deleted with the triggers off, as a restore tool may do.
    let mut injected = 0;
    injected += 5 * fleet
        .raw
        .exec(&format!(
            "UPDATE instance_counts SET n = n + 5 WHERE app_id = '{}' AND group_id = 'stable'",
            APPS[0]
        ))
        .await;
    fleet
        .raw
        .exec(
            "INSERT INTO instance_counts (app_id, group_id, version, status, n) \
             VALUES ('ghost', 'g', '0.0.1', 'unknown', 3)",
        )
        .await;
    injected += 3;
    if postgres {
        injected += fleet
            .raw
            .exec(
                "SET session_replication_role = replica; \
                 DELETE FROM instances WHERE machine_id IN ('m1', 'm2', 'm3'); \
                 SET session_replication_role = origin;",
            )
            .await;
    } else {
        injected += 2 * fleet
            .raw
            .exec("UPDATE instance_counts SET n = n - 2 WHERE version = '2.0.0'")
            .await;
    }
    let (kept, recounted) = kept_and_recounted(store.as_ref()).await;
    assert_ne!(kept, recounted, "the drift shows before the reconciliation");

    // Replicas 1 and 2 write while replicas 0 and 1 reconcile in small paced chunks.
    let writers: Vec<_> = fleet.replicas[1..]
        .iter()
        .enumerate()
        .map(|(i, s)| tokio::spawn(traffic(s.clone(), fleet.raw.clone(), 10 + i as u64, 25)))
        .collect();
    let a = {
        let s = fleet.replicas[0].clone();
        tokio::spawn(async move { s.reconcile_instance_counts(1_000, &pace(37, 2)).await })
    };
    let b = {
        let s = fleet.replicas[1].clone();
        tokio::spawn(async move { s.reconcile_instance_counts(1_000, &pace(53, 1)).await })
    };
    let results = [a.await.unwrap().unwrap(), b.await.unwrap().unwrap()];
    for w in writers {
        w.await.unwrap();
    }
    // Each correction was measured against its own snapshot and applied only if no other
    // was applied meanwhile: together they are the drift, once.
    let mut repaired = 0;
    let mut applied = 0;
    for r in results {
        match r {
            Reconciliation::Done { drift, chunks, .. } => {
                assert!(chunks > 5, "{chunks} chunks");
                repaired += drift;
                applied += 1;
            }
            Reconciliation::Superseded => {}
            Reconciliation::NotDue { .. } => panic!("due: the interval is 0"),
        }
    }
    assert!(applied >= 1);
    assert_eq!(repaired, i64::try_from(injected).unwrap());
    assert_exact(store.as_ref()).await;
    store.fold_instance_counts().await.unwrap();
    assert_exact(store.as_ref()).await;

    // Exact now: the next finds nothing; one within the interval does not run.
    let again = store
        .reconcile_instance_counts(2_000, &pace(100, 0))
        .await
        .unwrap();
    assert!(
        matches!(again, Reconciliation::Done { drift: 0, instances, .. } if instances > 0),
        "{again:?}"
    );
    let interval = ReconcilePace {
        min_interval_ms: 60_000,
        ..pace(100, 0)
    };
    assert_eq!(
        store
            .reconcile_instance_counts(50_000, &interval)
            .await
            .unwrap(),
        Reconciliation::NotDue {
            reconciled_at: 2_000
        }
    );
    assert!(matches!(
        store
            .reconcile_instance_counts(62_000, &interval)
            .await
            .unwrap(),
        Reconciliation::Done { drift: 0, .. }
    ));
    fleet.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciliation_repairs_drift_while_replicas_write_sqlite() {
    reconciliation_repairs_drift_while_replicas_write(Fleet::sqlite(3).await, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reconciliation_repairs_drift_while_replicas_write_postgres() {
    let Some(fleet) = Fleet::postgres(3).await else {
        return;
    };
    reconciliation_repairs_drift_while_replicas_write(fleet, true).await;
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Op {
    /// A sighting: newer or older than what the instance row holds.
    See {
        app: usize,
        machine: u8,
        group: usize,
        version: usize,
        newer: bool,
    },
    /// The writer sets an instance's status (and version), creating it if new.
    Write {
        app: usize,
        machine: u8,
        status: usize,
        version: usize,
    },
    /// An instance deleted (retention, an operator).
    Delete {
        machine: u8,
    },
    /// The counts of a key edited by hand: drift for the reconciliation.
    Corrupt {
        group: usize,
        version: usize,
        status: usize,
        by: i8,
    },
    Fold,
    Reconcile,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..2usize, 0..24u8, 0..3usize, 0..4usize, any::<bool>()).prop_map(
            |(app, machine, group, version, newer)| Op::See { app, machine, group, version, newer }
        ),
        6 => (0..2usize, 0..24u8, 0..5usize, 0..4usize).prop_map(
            |(app, machine, status, version)| Op::Write { app, machine, status, version }
        ),
        2 => (0..24u8).prop_map(|machine| Op::Delete { machine }),
        1 => (0..3usize, 0..4usize, 0..5usize, -3..4i8).prop_map(
            |(group, version, status, by)| Op::Corrupt { group, version, status, by }
        ),
        1 => Just(Op::Fold),
        1 => Just(Op::Reconcile),
    ]
}

async fn run_ops(ops: Vec<Op>) {
    let fleet = Fleet::sqlite(1).await;
    let store = fleet.replicas[0].clone();
    let mut seq = 1_000_000i64;
    // The net hand edits per key since the last reconciliation.
    let mut edits: BTreeMap<(usize, usize, usize), i64> = BTreeMap::new();
    let check_reconciliation = |done: Reconciliation, edits: &BTreeMap<_, i64>| {
        let expected: i64 = edits.values().map(|n: &i64| n.abs()).sum();
        assert!(
            matches!(done, Reconciliation::Done { drift, .. } if drift == expected),
            "{done:?}, expected drift {expected}"
        );
    };
    for op in ops {
        seq += 1;
        match op {
            Op::See {
                app,
                machine,
                group,
                version,
                newer,
            } => {
                let at = if newer { seq } else { seq - 500_000 };
                let s = sighting(
                    APPS[app],
                    &format!("m{machine}"),
                    GROUPS[group],
                    VERSIONS[version],
                    at,
                );
                store.record_sightings(&[s], &[]).await.unwrap();
            }
            Op::Write {
                app,
                machine,
                status,
                version,
            } => {
                let key = (APPS[app].to_owned(), format!("m{machine}"));
                let mut tx = store.begin().await.unwrap();
                let found = tx
                    .instances_by_key(std::slice::from_ref(&key))
                    .await
                    .unwrap();
                let mut row = found
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| record(&key.0, &key.1, "stable", "1.0.0", "unknown", seq));
                row.status = STATUSES[status].to_owned();
                row.version = VERSIONS[version].to_owned();
                tx.put_instances(&[row]).await.unwrap();
                tx.commit().await.unwrap();
            }
            Op::Delete { machine } => {
                fleet
                    .raw
                    .exec(&format!(
                        "DELETE FROM instances WHERE machine_id = 'm{machine}'"
                    ))
                    .await;
            }
            Op::Corrupt {
                group,
                version,
                status,
                by,
            } => {
                fleet
                    .raw
                    .exec(&format!(
                        "INSERT INTO instance_counts (app_id, group_id, version, status, n) \
                         VALUES ('{}', '{}', '{}', '{}', {by}) \
                         ON CONFLICT (app_id, group_id, version, status) \
                         DO UPDATE SET n = n + {by}",
                        APPS[0], GROUPS[group], VERSIONS[version], STATUSES[status]
                    ))
                    .await;
                *edits.entry((group, version, status)).or_default() += i64::from(by);
            }
            Op::Fold => {
                store.fold_instance_counts().await.unwrap();
            }
            Op::Reconcile => {
                let done = store
                    .reconcile_instance_counts(seq, &pace(5, 0))
                    .await
                    .unwrap();
                check_reconciliation(done, &edits);
                edits.clear();
                assert_exact(store.as_ref()).await;
            }
        }
        if edits.values().all(|n| *n == 0) {
            // Without hand edits outstanding, the counts are exact after every step.
            let (kept, recounted) = kept_and_recounted(store.as_ref()).await;
            assert_eq!(kept, recounted);
        }
    }
    let done = store
        .reconcile_instance_counts(seq + 1, &pace(3, 0))
        .await
        .unwrap();
    check_reconciliation(done, &edits);
    assert_exact(store.as_ref()).await;
    fleet.done().await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the sequence of reports, writes, deletions, folds and hand edits, the
    /// counts equal a recount whenever no hand edit is outstanding, and a reconciliation
    /// finds exactly the hand edits and makes them equal again.
    #[test]
    fn counts_equal_a_recount_after_any_sequence(ops in proptest::collection::vec(op(), 1..60)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_ops(ops));
    }
}

/// A database of the version before the counts (migrations up to 0006), with instances.
async fn older_database(backend: &str, raw: &Raw) {
    let dir = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0007" {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    let mut migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    // Later migrations a test schema may hold already are not this one's business.
    migrator.set_ignore_missing(true);
    match raw {
        Raw::Sqlite(pool) => migrator.run(pool).await.unwrap(),
        Raw::Postgres(pool) => migrator.run(pool).await.unwrap(),
    }
    let mut values = Vec::new();
    for i in 0..300 {
        values.push(format!(
            "('{}', 'm{i}', '{}', '{}', 'qemu', '{}', 1, 1, 0)",
            APPS[i % 2],
            GROUPS[i % 3],
            VERSIONS[i % 4],
            STATUSES[i % 5]
        ));
    }
    raw.exec(&format!(
        "INSERT INTO instances (app_id, machine_id, group_id, version, oem, status, \
         first_seen, last_seen, report_seq) VALUES {}",
        values.join(", ")
    ))
    .await;
}

#[tokio::test]
async fn the_migration_counts_the_instances_of_an_older_database_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let raw = Raw::Sqlite(
        sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap(),
    );
    older_database("sqlite", &raw).await;
    let store = SqliteStore::open(&path).await.unwrap();
    let (kept, recounted) = kept_and_recounted(&store).await;
    assert_eq!(recounted.values().sum::<i64>(), 300);
    assert_eq!(kept, recounted);
    assert_exact(&store).await;
}

#[tokio::test]
async fn the_migration_counts_the_instances_of_an_older_database_postgres() {
    // An empty schema of its own: the store of `support::postgres` migrates it at once.
    let Some((schema, store)) = crate::support::postgres().await else {
        return;
    };
    drop(store);
    let raw = sqlx::PgPool::connect(&schema.url).await.unwrap();
    sqlx::raw_sql(
        "DROP TABLE instance_counts, instance_count_deltas, instance_counts_state CASCADE; \
         DROP FUNCTION instance_count_change, instance_count_truncate CASCADE",
    )
    .execute(&raw)
    .await
    .unwrap();
    let raw = Raw::Postgres(raw);
    raw.exec("DELETE FROM _sqlx_migrations WHERE version = 7")
        .await;
    older_database("postgres", &raw).await;
    let store = PostgresStore::connect(&schema.url).await.unwrap();
    let (kept, recounted) = kept_and_recounted(&store).await;
    assert_eq!(recounted.values().sum::<i64>(), 300);
    assert_eq!(kept, recounted);
    assert_exact(&store).await;
    // TRUNCATE fires no row trigger: its own trigger empties the counts.
    raw.exec("TRUNCATE instances").await;
    let (kept, recounted) = kept_and_recounted(&store).await;
    assert!(kept.is_empty() && recounted.is_empty(), "{kept:?}");
    if let Raw::Postgres(pool) = raw {
        pool.close().await;
    }
    schema.drop().await;
}
