//! The SQLite backend: the embedded default, one file in the data directory, WAL mode.
//!
//! Atomicity of the grant path: write transactions start with `BEGIN IMMEDIATE`, which takes
//! SQLite's single write lock up front, so a read-decide-write runs alone. Durability:
//! `synchronous = FULL`, so a committed transaction survives a crash of the process or the
//! machine.

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
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{FromRow as _, Row};
use std::path::Path;
use std::time::Duration;

/// The migrations of this backend, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The store on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    timeouts: StoreTimeouts,
}

impl SqliteStore {
    /// Opens (creating it if needed) the database file and applies the migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, StoreTimeouts::default()).await
    }

    /// [`SqliteStore::open`] with these timeouts (the statement timeout is SQLite's busy
    /// timeout: how long a statement waits for the database's lock).
    pub async fn open_with(path: &Path, timeouts: StoreTimeouts) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(timeouts.statement);
        // Create the file, switch it to WAL and migrate it on one connection before the
        // pool opens several: connections opening a new file at once race to switch its
        // journal mode, and the loser is told "database is locked" at once, whatever the
        // busy timeout (seen when a server started on a loaded machine).
        let first = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeouts.acquire)
            .connect_with(options.clone())
            .await
            .map_err(StoreError::Backend)?;
        MIGRATOR.run(&first).await.map_err(StoreError::Migration)?;
        first.close().await;
        Self::connect(options, 8, timeouts).await
    }

    /// A private in-memory database, for tests and experiments. One connection, since every
    /// connection to `:memory:` would see a database of its own.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        Self::connect(options, 1, StoreTimeouts::default()).await
    }

    async fn connect(
        options: SqliteConnectOptions,
        max: u32,
        timeouts: StoreTimeouts,
    ) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .acquire_timeout(timeouts.acquire)
            .before_acquire(|conn, _| Box::pin(super::common::usable(conn)))
            // An in-memory database lives as long as its one connection.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(StoreError::Backend)?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migration)?;
        Ok(Self { pool, timeouts })
    }
}

/// The database file in a backup of a SQLite store.
pub const SQLITE_BACKUP_FILE: &str = "update-server.sqlite3";

impl SqliteStore {
    async fn backup_to(&self, dir: &Path) -> Result<BackupManifest, StoreError> {
        let target = dir.join(SQLITE_BACKUP_FILE);
        let path = target.to_str().ok_or_else(|| {
            StoreError::Backup(format!("{} is not valid UTF-8", target.display()))
        })?;
        // A consistent copy of the database as of one transaction, while writers go on.
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await
            .map_err(StoreError::Backend)?;
        let schema_version: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::Backend)?;
        Ok(BackupManifest {
            backend: "sqlite".into(),
            schema_version,
            files: vec![SQLITE_BACKUP_FILE.into()],
        })
    }

    async fn restore_from(&self, dir: &Path) -> Result<(), StoreError> {
        let file = dir.join(SQLITE_BACKUP_FILE);
        if !file.is_file() {
            return Err(StoreError::Backup(format!(
                "{SQLITE_BACKUP_FILE} is missing from the backup"
            )));
        }
        // Bring the copy to this server's schema (a backup of an older version), so that
        // its tables match these column for column.
        let copy = Self::open(&file).await?;
        copy.pool.close().await;
        let path = file
            .to_str()
            .ok_or_else(|| StoreError::Backup(format!("{} is not valid UTF-8", file.display())))?;
        let mut conn = self.pool.acquire().await.map_err(StoreError::Backend)?;
        for table in BACKUP_TABLES.iter().skip(1) {
            let rows: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(StoreError::Backend)?;
            if rows > 0 {
                return Err(StoreError::Backup(format!(
                    "the database is not empty (table {table} has {rows} rows): \
                     restore into a fresh data directory"
                )));
            }
        }
        // SQLite may answer "database is locked" while the copy's last connection is still
        // being torn down: try again a few times before giving up.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match copy_attached(&mut conn, path).await {
                Err(err) if attempt < 10 && is_busy(&err) => {
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                result => return result.map_err(StoreError::Backend),
            }
        }
    }
}

/// Copies every table of the backup database at `path` into this (empty) one, in one
/// transaction, through `ATTACH`. Statements are not cached (`persistent(false)`): a cached
/// statement on the attached database would keep `DETACH` from succeeding.
async fn copy_attached(conn: &mut SqliteConnection, path: &str) -> Result<(), sqlx::Error> {
    sqlx::query("ATTACH DATABASE $1 AS backup")
        .bind(path)
        .persistent(false)
        .execute(&mut *conn)
        .await?;
    let copied = async {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query("DELETE FROM main.config_generation")
            .persistent(false)
            .execute(&mut *tx)
            .await?;
        for table in BACKUP_TABLES {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO main.{table} SELECT * FROM backup.{table}"
            )))
            .persistent(false)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
    .await;
    let detached = sqlx::query("DETACH DATABASE backup")
        .persistent(false)
        .execute(&mut *conn)
        .await;
    copied?;
    detached?;
    Ok(())
}

/// Whether SQLite said the database is busy or locked (codes 5 and 6).
fn is_busy(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("5" | "6")))
}

shared_batch_writes!(Sqlite, SqliteConnection);
shared_counts!(Sqlite, SqliteConnection);

impl SqliteStore {
    /// A read transaction: in WAL mode, one snapshot from its first statement on.
    const SNAPSHOT_BEGIN: &'static str = "BEGIN";
    /// A reconciliation chunk's count, around its key range. The rows are read by key in a
    /// subquery that keeps the key order: a plain `GROUP BY` is served from the
    /// `instances_group` index constrained by the app alone, reading every instance of the
    /// app for each chunk (at a million instances of one app a pass took over six minutes;
    /// it takes about ten seconds, eight of them the pauses; `benches` `reconcile`).
    const CHUNK_COUNT_SQL: (&'static str, &'static str) = (
        "SELECT app_id, group_id, version, status, COUNT(*) AS n FROM \
         (SELECT app_id, group_id, version, status FROM instances WHERE 1 = 1",
        " ORDER BY app_id, machine_id) AS chunk GROUP BY app_id, group_id, version, status",
    );
    /// The fold takes the single write lock: nobody appends meanwhile.
    const FOLD_BEGIN: &'static str = "BEGIN IMMEDIATE";
    /// Adds the pending rows into the counts, deletes them, and drops the counts at zero.
    /// (The triggers add into the counts directly: the pending rows are only the
    /// reconciliation's corrections.)
    const FOLD: &'static [&'static str] = &[
        "INSERT INTO instance_counts (app_id, group_id, version, status, n) \
         SELECT app_id, group_id, version, status, SUM(n) FROM instance_count_deltas \
         WHERE true GROUP BY app_id, group_id, version, status \
         ON CONFLICT (app_id, group_id, version, status) \
         DO UPDATE SET n = instance_counts.n + excluded.n",
        "DELETE FROM instance_count_deltas",
        "DELETE FROM instance_counts WHERE n = 0",
    ];
    /// The statement of [`Self::FOLD`] whose rows are the counts written.
    const FOLD_COUNTED: usize = 0;
}

impl_store!(SqliteStore, Sqlite, {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn backup(&self, dir: &Path) -> Result<BackupManifest, StoreError> {
        self.backup_to(dir).await
    }

    async fn restore(&self, dir: &Path) -> Result<(), StoreError> {
        self.restore_from(dir).await
    }

    async fn delete_user_unless_last(&self, name: &str) -> Result<bool, StoreError> {
        // One statement: SQLite runs writes one at a time, so two concurrent deletes (or a
        // delete and a role change) of the last two administrators cannot both see the
        // other one.
        let done = sqlx::query(
            "DELETE FROM users WHERE name = $1 AND (NOT (role = 'admin' AND apps = '[]') \
             OR EXISTS (SELECT 1 FROM users WHERE name <> $1 AND role = 'admin' AND apps = '[]'))",
        )
        .bind(name)
        .execute(&self.pool)
        .await
        .map_err(StoreError::Backend)?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        match self.user(name).await? {
            Some(_) => Ok(false),
            None => Err(StoreError::not_found(format!("user {name}"))),
        }
    }

    async fn set_user_access(
        &self,
        name: &str,
        role: crate::access::Role,
        apps: Option<&std::collections::BTreeSet<String>>,
    ) -> Result<bool, StoreError> {
        let apps = crate::access::scope_to_stored(apps);
        // One statement, as above: the change is made when the user stays an administrator
        // of every app, or is not one, or another one is left.
        let done = sqlx::query(
            "UPDATE users SET role = $2, apps = $3 WHERE name = $1 AND (($2 = 'admin' AND $3 = '[]') \
             OR NOT (role = 'admin' AND apps = '[]') \
             OR EXISTS (SELECT 1 FROM users WHERE name <> $1 AND role = 'admin' AND apps = '[]'))",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(&apps)
        .execute(&self.pool)
        .await
        .map_err(StoreError::Backend)?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        match self.user(name).await? {
            Some(_) => Ok(false),
            None => Err(StoreError::not_found(format!("user {name}"))),
        }
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<super::DeliveryRecord>, StoreError> {
        // One statement: SQLite runs writes one at a time, so two claims never take the
        // same row.
        sqlx::query(
            "UPDATE webhook_deliveries SET lease_until = $2 WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE status = 'pending' \
              AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
              ORDER BY next_attempt_at, id LIMIT $3) \
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
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::Backend)?;
        Ok(Box::new(SqliteTx { tx }))
    }
});

struct SqliteTx {
    tx: sqlx::Transaction<'static, Sqlite>,
}

impl_write_tx!(SqliteTx, {
    async fn lock_groups(
        &mut self,
        groups: &[(String, String)],
    ) -> Result<Vec<Option<GroupStateRecord>>, StoreError> {
        // `BEGIN IMMEDIATE` holds the database's write lock already: reading is enough.
        let mut states = Vec::with_capacity(groups.len());
        for (app_id, group_id) in groups {
            let row = sqlx::query(
                "SELECT state, revision FROM group_rollout_state \
                 WHERE app_id = $1 AND group_id = $2",
            )
            .bind(app_id)
            .bind(group_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(StoreError::Backend)?;
            states.push(
                row.map(|row| {
                    Ok::<_, sqlx::Error>(GroupStateRecord {
                        state: row.try_get("state")?,
                        revision: row.try_get("revision")?,
                    })
                })
                .transpose()
                .map_err(StoreError::Backend)?,
            );
        }
        Ok(states)
    }
});

#[cfg(test)]
mod tests {
    use super::SqliteStore;

    /// A reconciliation chunk reads its key range through the primary key. Served from
    /// `instances_group` (the app alone constraining it), each chunk read every instance
    /// of the app, and a pass over a million took minutes instead of seconds.
    #[tokio::test]
    async fn a_reconciliation_chunk_is_read_by_its_key_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("plan.sqlite3"))
            .await
            .unwrap();
        let (head, tail) = SqliteStore::CHUNK_COUNT_SQL;
        let sql = format!(
            "EXPLAIN QUERY PLAN {head} AND (app_id, machine_id) > ($1, $2) \
             AND (app_id, machine_id) <= ($3, $4){tail}"
        );
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind("app")
            .bind("machine-0")
            .bind("app")
            .bind("machine-9")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        let plan: Vec<&str> = rows.iter().map(|row| row.3.as_str()).collect();
        assert!(
            plan.iter().any(|step| step.contains("SEARCH instances")
                && step.contains("(app_id,machine_id)>(?,?)")),
            "the chunk is read by its key range: {plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("instances_group")),
            "not through the group index: {plan:?}"
        );
    }
}
