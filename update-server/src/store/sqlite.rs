//! The SQLite backend: the embedded default, one file in the data directory, WAL mode.
//!
//! Atomicity of the grant path: write transactions start with `BEGIN IMMEDIATE`, which takes
//! SQLite's single write lock up front, so a read-decide-write runs alone. Durability:
//! `synchronous = FULL`, so a committed transaction survives a crash of the process or the
//! machine.

use super::common::{impl_store, impl_write_tx, shared_batch_writes};
use super::{
    ActivityRecord, AppRecord, ChannelRecord, ConfigSnapshot, GrantRecord, GroupRecord,
    GroupStateRecord, HistoryRecord, InstanceFilter, InstanceRecord, PackageRecord, RollupDelta,
    RollupKind, RollupPoint, Sighting, Store, StoreError, UpstreamRecord, UserRecord, VersionCount,
    WriteTx,
};
use sqlx::Row;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

/// The store on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it if needed) the database file and applies the migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::connect(options, 8).await
    }

    /// A private in-memory database, for tests and experiments. One connection, since every
    /// connection to `:memory:` would see a database of its own.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, max: u32) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            // An in-memory database lives as long as its one connection.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(StoreError::Backend)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::Migration)?;
        Ok(Self { pool })
    }
}

shared_batch_writes!(Sqlite, SqliteConnection);

impl_store!(SqliteStore, Sqlite, {
    fn backend(&self) -> &'static str {
        "sqlite"
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
