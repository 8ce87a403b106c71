//! The PostgreSQL backend, for several replicas sharing one database.
//!
//! Atomicity of the grant path across replicas: [`WriteTx::lock_groups`] makes sure each
//! group has a state row, then takes `SELECT ... FOR UPDATE` on the rows in sorted order, so
//! two replicas deciding for the same group run one after the other, and two batches that
//! touch the same groups never deadlock.

use super::common::{BACKUP_TABLES, impl_store};
use super::counts::shared_counts;
use super::write_tx::{impl_write_tx, shared_batch_writes};
use super::{
    ActivityRecord, AppRecord, ArchPackageRecord, BackupManifest, BlacklistRecord, ChannelRecord,
    ConfigSnapshot, FloorRecord, GrantRecord, GroupRecord, GroupStateRecord, HistoryRecord,
    InstanceFilter, InstanceRecord, PackageFileRecord, PackageRecord, RollupDelta, RollupKind,
    RollupPoint, SchemaStatus, Sighting, StatusCount, Store, StoreError, StoreTimeouts,
    TokenRecord, UpstreamRecord, UserRecord, VersionCount, WriteTx,
};
use futures_util::TryStreamExt as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres};
use sqlx::{ConnectOptions as _, Connection as _, FromRow as _, Row};
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

/// The migrations of this backend, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    timeouts: StoreTimeouts,
}

impl PostgresStore {
    /// Deletes a user (`access` `None`) or sets its role and scope, unless that leaves no
    /// administrator of every app (`Ok(false)`, nothing changed). Every user row is locked
    /// first, so of two concurrent changes the second sees the first one's outcome.
    async fn change_user_unless_last_admin(
        &self,
        name: &str,
        access: Option<(
            crate::access::Role,
            Option<&std::collections::BTreeSet<String>>,
        )>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::Backend)?;
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT name, role, apps FROM users ORDER BY name FOR UPDATE")
                .fetch_all(&mut *tx)
                .await
                .map_err(StoreError::Backend)?;
        if !rows.iter().any(|(n, _, _)| n == name) {
            return Err(StoreError::not_found(format!("user {name}")));
        }
        let full_admin = |role: &str, apps: &str| role == "admin" && apps == "[]";
        let stays_full_admin =
            access.is_some_and(|(role, apps)| role == crate::access::Role::Admin && apps.is_none());
        let others = rows
            .iter()
            .any(|(n, role, apps)| n != name && full_admin(role, apps));
        let is_full_admin = rows
            .iter()
            .any(|(n, role, apps)| n == name && full_admin(role, apps));
        if is_full_admin && !stays_full_admin && !others {
            return Ok(false);
        }
        match access {
            None => sqlx::query("DELETE FROM users WHERE name = $1").bind(name),
            Some((role, apps)) => {
                sqlx::query("UPDATE users SET role = $2, apps = $3 WHERE name = $1")
                    .bind(name)
                    .bind(role.as_str())
                    .bind(crate::access::scope_to_stored(apps))
            }
        }
        .execute(&mut *tx)
        .await
        .map_err(StoreError::Backend)?;
        tx.commit().await.map_err(StoreError::Backend)?;
        Ok(true)
    }

    /// Connects to `url` (`postgres://user@host:port/database`) and applies the migrations.
    /// Replicas starting together are safe: the migrator serializes them with an advisory
    /// lock.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, StoreTimeouts::default()).await
    }

    /// [`PostgresStore::connect`] with these timeouts: every connection of the pool gets
    /// `statement_timeout`; the migrations run on a connection of their own without it (a
    /// migration of a large table may take longer).
    pub async fn connect_with(url: &str, timeouts: StoreTimeouts) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::Backend)?;
        let mut conn = tokio::time::timeout(timeouts.acquire, options.connect())
            .await
            .map_err(|_| StoreError::TimedOut {
                what: "connecting",
                after: timeouts.acquire,
            })?
            .map_err(StoreError::Backend)?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(StoreError::Migration)?;
        let _ = conn.close().await;
        let statement_ms = timeouts.statement.as_millis().max(1).to_string();
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(timeouts.acquire)
            .before_acquire(|conn, _| Box::pin(super::common::usable(conn)))
            // A transaction left open by a client that went away (a writer transaction
            // dropped at its timeout during a partition) releases its locks as well.
            .connect_with(options.options([
                ("statement_timeout", statement_ms.as_str()),
                ("idle_in_transaction_session_timeout", statement_ms.as_str()),
            ]))
            .await
            .map_err(StoreError::Backend)?;
        Ok(Self { pool, timeouts })
    }
}

/// The directory of a PostgreSQL backup that holds one `<table>.jsonl` per table.
const DUMP_DIR: &str = "db";
/// Tables whose `id` is `GENERATED ALWAYS AS IDENTITY`.
const IDENTITY_TABLES: [&str; 2] = ["instance_history", "activity"];
/// Rows per restore statement.
const RESTORE_BATCH: usize = 500;

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |err| StoreError::Backup(format!("{what}: {err}"))
}

impl PostgresStore {
    async fn schema_version(conn: &mut PgConnection) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
            .fetch_one(conn)
            .await
            .map_err(StoreError::Backend)
    }

    async fn backup_to(&self, dir: &Path) -> Result<BackupManifest, StoreError> {
        let out = dir.join(DUMP_DIR);
        tokio::fs::create_dir_all(&out)
            .await
            .map_err(io_err(format!("cannot create {}", out.display())))?;
        // One snapshot for every table: the copy is consistent while writers go on.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(StoreError::Backend)?;
        // A copy of a large database takes longer than any request's statement.
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::Backend)?;
        let schema_version = Self::schema_version(&mut tx).await?;
        let mut files = Vec::new();
        for table in BACKUP_TABLES {
            let name = format!("{DUMP_DIR}/{table}.jsonl");
            let path = dir.join(&name);
            let file = tokio::fs::File::create(&path)
                .await
                .map_err(io_err(format!("cannot create {}", path.display())))?;
            let mut writer = tokio::io::BufWriter::new(file);
            let sql = format!("SELECT row_to_json(t)::text FROM {table} t");
            let mut rows =
                sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).fetch(&mut *tx);
            while let Some(line) = rows.try_next().await.map_err(StoreError::Backend)? {
                writer
                    .write_all(line.as_bytes())
                    .await
                    .map_err(io_err(format!("cannot write {}", path.display())))?;
                writer
                    .write_all(b"\n")
                    .await
                    .map_err(io_err(format!("cannot write {}", path.display())))?;
            }
            drop(rows);
            writer
                .shutdown()
                .await
                .map_err(io_err(format!("cannot write {}", path.display())))?;
            files.push(name);
        }
        tx.commit().await.map_err(StoreError::Backend)?;
        let name = format!("{DUMP_DIR}/schema_version");
        let path = dir.join(&name);
        tokio::fs::write(&path, format!("{schema_version}\n"))
            .await
            .map_err(io_err(format!("cannot write {}", path.display())))?;
        files.push(name);
        Ok(BackupManifest {
            backend: "postgres".into(),
            schema_version,
            files,
        })
    }

    async fn restore_from(&self, dir: &Path, schema_version: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::Backend)?;
        sqlx::query("SET LOCAL statement_timeout = 0")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::Backend)?;
        let ours = Self::schema_version(&mut tx).await?;
        if ours != schema_version {
            return Err(StoreError::Backup(format!(
                "the backup is at schema version {schema_version}, this server at {ours}: \
                 restore it with the server version that made it"
            )));
        }
        for table in BACKUP_TABLES.iter().skip(1) {
            let rows: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::Backend)?;
            if rows > 0 {
                return Err(StoreError::Backup(format!(
                    "the database is not empty (table {table} has {rows} rows): \
                     restore into an empty database"
                )));
            }
        }
        sqlx::query("DELETE FROM config_generation")
            .execute(&mut *tx)
            .await
            .map_err(StoreError::Backend)?;
        for table in BACKUP_TABLES {
            let path = dir.join(DUMP_DIR).join(format!("{table}.jsonl"));
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(io_err(format!("cannot open {}", path.display())))?;
            let mut lines = tokio::io::BufReader::new(file).lines();
            let overriding = if IDENTITY_TABLES.contains(&table) {
                "OVERRIDING SYSTEM VALUE "
            } else {
                ""
            };
            let sql = format!(
                "INSERT INTO {table} {overriding}\
                 SELECT * FROM json_populate_recordset(NULL::{table}, $1::json)"
            );
            let mut batch: Vec<String> = Vec::with_capacity(RESTORE_BATCH);
            loop {
                let line = lines
                    .next_line()
                    .await
                    .map_err(io_err(format!("cannot read {}", path.display())))?;
                let done = line.is_none();
                if let Some(line) = line.filter(|l| !l.trim().is_empty()) {
                    batch.push(line);
                }
                if !batch.is_empty() && (done || batch.len() >= RESTORE_BATCH) {
                    let array = format!("[{}]", batch.join(","));
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(array)
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::Backend)?;
                    batch.clear();
                }
                if done {
                    break;
                }
            }
        }
        for table in IDENTITY_TABLES {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                 COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::Backend)?;
        }
        tx.commit().await.map_err(StoreError::Backend)
    }
}

shared_batch_writes!(Postgres, PgConnection);
shared_counts!(Postgres, PgConnection);

impl PostgresStore {
    /// One snapshot for every statement of the transaction.
    const SNAPSHOT_BEGIN: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    /// A reconciliation chunk's count, around its key range: the primary key's range scan
    /// serves it (a pass over a million instances takes about 90 s; `benches` `reconcile`).
    const CHUNK_COUNT_SQL: (&'static str, &'static str) = (
        "SELECT app_id, group_id, version, status, COUNT(*) AS n FROM instances WHERE 1 = 1",
        " GROUP BY app_id, group_id, version, status",
    );
    /// Read committed: after the advisory lock, the fold's statement sees what the previous
    /// fold did.
    const FOLD_BEGIN: &'static str = "BEGIN";
    /// One replica at a time (the advisory lock) moves the pending rows into the counts in
    /// one statement: the rows it deletes are exactly the rows it adds (rows appended
    /// meanwhile are left for the next fold), then drops the counts at zero. The triggers
    /// of other transactions only append pending rows, so nothing waits for the fold.
    const FOLD: &'static [&'static str] = &[
        // The key is "updtcnts" as a big-endian integer.
        "SELECT pg_advisory_xact_lock(8462374150876329075)",
        "WITH moved AS (DELETE FROM instance_count_deltas \
         RETURNING app_id, group_id, version, status, n) \
         INSERT INTO instance_counts (app_id, group_id, version, status, n) \
         SELECT app_id, group_id, version, status, SUM(n) FROM moved \
         GROUP BY app_id, group_id, version, status \
         ORDER BY app_id, group_id, version, status \
         ON CONFLICT (app_id, group_id, version, status) \
         DO UPDATE SET n = instance_counts.n + excluded.n",
        "DELETE FROM instance_counts WHERE n = 0",
    ];
    /// The statement of [`Self::FOLD`] whose rows are the counts written.
    const FOLD_COUNTED: usize = 1;
}

impl_store!(PostgresStore, Postgres, {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn backup(&self, dir: &Path) -> Result<BackupManifest, StoreError> {
        self.backup_to(dir).await
    }

    async fn restore(&self, dir: &Path) -> Result<(), StoreError> {
        let path = dir.join(DUMP_DIR).join("schema_version");
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(io_err(format!("cannot read {}", path.display())))?;
        let version = text.trim().parse().map_err(|_| {
            StoreError::Backup(format!("{} holds no schema version", path.display()))
        })?;
        self.restore_from(dir, version).await
    }

    async fn delete_user_unless_last(&self, name: &str) -> Result<bool, StoreError> {
        self.change_user_unless_last_admin(name, None).await
    }

    async fn set_user_access(
        &self,
        name: &str,
        role: crate::access::Role,
        apps: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<bool, StoreError> {
        self.change_user_unless_last_admin(name, Some((role, apps)))
            .await
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<super::DeliveryRecord>, StoreError> {
        // SKIP LOCKED: replicas claiming at once take different rows, none waits.
        sqlx::query(
            "UPDATE webhook_deliveries SET lease_until = $2 WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE status = 'pending' \
              AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
              ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
        )
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::Backend)?
        .iter()
        .map(super::webhooks::delivery_from_row)
        .collect()
    }

    async fn begin(&self) -> Result<Box<dyn WriteTx>, StoreError> {
        let tx = self.pool.begin().await.map_err(StoreError::Backend)?;
        Ok(Box::new(PgTx { tx }))
    }
});

struct PgTx {
    tx: sqlx::Transaction<'static, Postgres>,
}

impl_write_tx!(PgTx, {
    async fn lock_groups(
        &mut self,
        groups: &[(String, String)],
    ) -> Result<Vec<Option<GroupStateRecord>>, StoreError> {
        let mut sorted: Vec<&(String, String)> = groups.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mut found: HashMap<&(String, String), Option<GroupStateRecord>> = HashMap::new();
        for key in sorted {
            // A row to lock must exist: an empty placeholder (revision 0) stands for "never
            // written". Concurrent inserts of the placeholder are harmless.
            sqlx::query(
                "INSERT INTO group_rollout_state (app_id, group_id, state, revision) \
                 VALUES ($1, $2, ''::bytea, 0) ON CONFLICT (app_id, group_id) DO NOTHING",
            )
            .bind(&key.0)
            .bind(&key.1)
            .execute(&mut *self.tx)
            .await
            .map_err(StoreError::Backend)?;
            let row = sqlx::query(
                "SELECT state, revision FROM group_rollout_state \
                 WHERE app_id = $1 AND group_id = $2 FOR UPDATE",
            )
            .bind(&key.0)
            .bind(&key.1)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(StoreError::Backend)?;
            let revision: i64 = row.try_get("revision").map_err(StoreError::Backend)?;
            let state = if revision == 0 {
                None
            } else {
                Some(GroupStateRecord {
                    state: row.try_get("state").map_err(StoreError::Backend)?,
                    revision,
                })
            };
            found.insert(key, state);
        }
        Ok(groups
            .iter()
            .map(|key| found.get(key).cloned().flatten())
            .collect())
    }
});
