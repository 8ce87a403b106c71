//! The PostgreSQL backend, for several replicas sharing one database.
//!
//! Atomicity of the grant path across replicas: [`WriteTx::lock_groups`] makes sure each
//! group has a state row, then takes `SELECT ... FOR UPDATE` on the rows in sorted order, so
//! two replicas deciding for the same group run one after the other, and two batches that
//! touch the same groups never deadlock.

use super::common::{impl_store, impl_write_tx, shared_batch_writes};
use super::{
    ActivityRecord, AppRecord, ChannelRecord, ConfigSnapshot, GrantRecord, GroupRecord,
    GroupStateRecord, HistoryRecord, InstanceFilter, InstanceRecord, PackageRecord, RollupDelta,
    RollupKind, RollupPoint, Sighting, Store, StoreError, UpstreamRecord, UserRecord, VersionCount,
    WriteTx,
};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, Postgres};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// The store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/database`) and applies the migrations.
    /// Replicas starting together are safe: the migrator serializes them with an advisory
    /// lock.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::Backend)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(StoreError::Backend)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(StoreError::Migration)?;
        Ok(Self { pool })
    }
}

shared_batch_writes!(Postgres, PgConnection);

impl_store!(PostgresStore, Postgres, {
    fn backend(&self) -> &'static str {
        "postgres"
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
