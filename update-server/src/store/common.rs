//! What every part of the shared SQL uses, and how the parts become one `impl Store`.
//!
//! SQLite and PostgreSQL differ in how a transaction takes its locks, and in little else this
//! store needs: both take `$N` placeholders, `ON CONFLICT ... DO UPDATE` and multi-row
//! `VALUES`. The shared statements are written once, per table or aggregate in a module of
//! their own (`apps.rs`, `channels.rs`, ...), each as a macro of `Store` methods expanded
//! inside each backend's `impl` (sqlx's traits make the same code generic over the two
//! databases only with a wall of higher-ranked bounds; a macro keeps it plain). Each backend
//! writes by hand only what differs: connecting, migrating, `begin` and `lock_groups`.

use super::StoreError;

/// Most rows one multi-row statement carries; keeps the bound parameters under both
/// backends' limits.
pub(super) const CHUNK: usize = 500;

/// The tables a backup holds, in an order that restores without breaking references.
/// (`hawk_nonces` is left out: a nonce lives a few minutes.)
pub(super) const BACKUP_TABLES: [&str; 19] = [
    "config_generation",
    "apps",
    "channels",
    "channel_floors",
    "channel_blacklist",
    "packages",
    "package_arches",
    "package_files",
    "groups",
    "group_rollout_state",
    "grants",
    "instances",
    "instance_history",
    "rollups",
    "users",
    "api_tokens",
    "activity",
    "upstreams",
    "webhooks",
];

/// Maps a database error, turning constraint violations into typed errors.
pub(super) fn db_err(err: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            return StoreError::Conflict { what: what() };
        }
        if db.is_foreign_key_violation() {
            return StoreError::MissingReference {
                what: format!("{} refers to a missing record", what()),
            };
        }
    }
    StoreError::Backend(err)
}

/// Maps an error that has no constraint to explain.
pub(super) fn backend(err: sqlx::Error) -> StoreError {
    StoreError::Backend(err)
}

/// Bumps the configuration generation inside a transaction.
macro_rules! bump_generation {
    ($tx:expr) => {
        sqlx::query("UPDATE config_generation SET generation = generation + 1 WHERE id = 1")
            .execute(&mut *$tx)
            .await
            .map_err(super::common::backend)?
    };
}
pub(super) use bump_generation;

/// Deletes one configuration row by its key (the values bound to `$1`, `$2`, ... in order)
/// in a transaction that bumps the generation; [`StoreError::NotFound`] names `$what` when
/// there is no such row.
macro_rules! delete_config_row {
    ($store:expr, $sql:literal, [$($key:expr),+ $(,)?], $what:expr) => {{
        use super::common::backend;
        let mut tx = $store.pool.begin().await.map_err(backend)?;
        let done = sqlx::query($sql)
            $(.bind($key))+
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found($what));
        }
        super::common::bump_generation!(tx);
        tx.commit().await.map_err(backend)
    }};
}
pub(super) use delete_config_row;

/// Whether a pooled connection may be handed out: not while it is still inside a
/// transaction. A transaction whose `COMMIT` failed (SQLite on a full disk rolls it back
/// itself, so the rollback on drop fails too) leaves the connection's transaction depth
/// behind; such a connection would refuse every `BEGIN` from then on, so the pool closes
/// it and opens a fresh one. (The pool's ping before this drains any rollback still
/// queued on the connection.)
pub(crate) async fn usable<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    Ok(!conn.is_in_transaction())
}

/// `impl Store` for a backend: the methods both backends implement with the same SQL, plus
/// the backend's own (`$own`). The backend's struct has a `pool` field. The shared methods
/// come from one macro per table or aggregate, listed here: each hands the methods gathered
/// so far, with its own, to the next ([`store_part`]), so that `#[async_trait]` sees every
/// method of the one `impl` as written.
macro_rules! impl_store {
    ($store:ty, $db:ty, { $($own:tt)* }) => {
        super::common::store_part! {
            $store, $db, [$($own)*],
            [
                super::common::common_sql,
                super::config::config_sql,
                super::apps::apps_sql,
                super::channels::channels_sql,
                super::packages::packages_sql,
                super::groups::groups_sql,
                super::users::users_sql,
                super::tokens::tokens_sql,
                super::activity::activity_sql,
                super::webhooks::webhooks_sql,
                super::upstreams::upstreams_sql,
                super::instances::instances_sql,
                super::counts::counts_sql,
                super::history::history_sql,
                super::rollups::rollups_sql
            ]
        }
    };
}
pub(super) use impl_store;

/// One step of [`impl_store`]: hands the methods gathered so far to the next part of the
/// list, or, after the last, writes the `impl Store` that holds them all.
macro_rules! store_part {
    ($store:ty, $db:ty, [$($methods:tt)*], []) => {
        #[async_trait::async_trait]
        impl Store for $store {
        $($methods)*
        }
    };
    ($store:ty, $db:ty, [$($methods:tt)*], [$($next:ident)::+ $(, $($rest:tt)*)?]) => {
        $($next)::+! { $store, $db, [$($methods)*], [$($($rest)*)?] }
    };
}
pub(super) use store_part;

/// The store-wide methods: the timeouts, the write probe and the schema status.
macro_rules! common_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
        fn timeouts(&self) -> super::StoreTimeouts {
            self.timeouts
        }

        async fn probe_write(&self) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO writer_probe (id, writes) VALUES (1, 1) \
                 ON CONFLICT (id) DO UPDATE SET writes = writer_probe.writes + 1",
            )
            .execute(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
            let applied: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(SchemaStatus {
                applied,
                expected: MIGRATOR.migrations.iter().map(|m| m.version).max().unwrap_or(0),
            })
        }
        ], $rest }
    };
}
pub(super) use common_sql;
