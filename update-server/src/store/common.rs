//! The SQL both backends share.
//!
//! SQLite and PostgreSQL differ in how a transaction takes its locks, and in little else this
//! store needs: both take `$N` placeholders, `ON CONFLICT ... DO UPDATE` and multi-row
//! `VALUES`. The shared statements are written once here, as macros expanded inside each
//! backend's `impl` (sqlx's traits make the same code generic over the two databases only
//! with a wall of higher-ranked bounds; a macro keeps it plain). Each backend writes by hand
//! only what differs: connecting, migrating, `begin` and `lock_groups`.

use super::{HistoryKind, HistoryRecord, Sighting, StoreError, VersionCount};
use sqlx::Row;

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

/// The columns of a user row (`name, key_sealed, created_at, role, apps`).
pub(super) fn user_from_row<R: Row>(row: &R) -> Result<super::UserRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = row.try_get("role").map_err(backend)?;
    let apps: String = row.try_get("apps").map_err(backend)?;
    Ok(super::UserRecord {
        name: row.try_get("name").map_err(backend)?,
        key_sealed: row.try_get("key_sealed").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        role: crate::access::Role::parse(&role)
            .map_err(|e| StoreError::Corrupt(format!("user role: {e}")))?,
        apps: crate::access::scope_from_stored(&apps)
            .map_err(|e| StoreError::Corrupt(format!("user scope: {e}")))?,
    })
}

/// A row of `api_tokens`.
pub(super) fn token_from_row<R: Row>(row: &R) -> Result<super::TokenRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Vec<u8>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let role: String = row.try_get("role").map_err(backend)?;
    let apps: String = row.try_get("apps").map_err(backend)?;
    Ok(super::TokenRecord {
        id: row.try_get("id").map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        role: crate::access::Role::parse(&role)
            .map_err(|e| StoreError::Corrupt(format!("token role: {e}")))?,
        apps: crate::access::scope_from_stored(&apps)
            .map_err(|e| StoreError::Corrupt(format!("token scope: {e}")))?,
        secret_sealed: row.try_get("secret_sealed").map_err(backend)?,
        created_by: row.try_get("created_by").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
        last_used_at: row.try_get("last_used_at").map_err(backend)?,
    })
}

pub(super) fn history_from_row<R: Row>(row: &R) -> Result<HistoryRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let kind: String = row.try_get("kind").map_err(backend)?;
    Ok(HistoryRecord {
        app_id: row.try_get("app_id").map_err(backend)?,
        machine_id: row.try_get("machine_id").map_err(backend)?,
        at: row.try_get("at").map_err(backend)?,
        group_id: row.try_get("group_id").map_err(backend)?,
        version: row.try_get("version").map_err(backend)?,
        kind: HistoryKind::parse(&kind)?,
        event_type: row.try_get("event_type").map_err(backend)?,
        event_result: row.try_get("event_result").map_err(backend)?,
        error_code: row.try_get("error_code").map_err(backend)?,
        target_version: row.try_get("target_version").map_err(backend)?,
        install_source: row.try_get("install_source").map_err(backend)?,
        previous_version: row.try_get("previous_version").map_err(backend)?,
    })
}

/// The stored form of an activity entry's changes: a JSON array, empty text when none.
pub(super) fn changes_json(changes: &[super::ActivityChange]) -> String {
    if changes.is_empty() {
        String::new()
    } else {
        serde_json::to_string(changes).unwrap_or_default()
    }
}

pub(super) fn activity_from_row<R: Row>(row: &R) -> Result<super::ActivityRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let changes: String = row.try_get("changes").map_err(backend)?;
    let changes = if changes.is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(&changes)
            .map_err(|e| StoreError::Corrupt(format!("activity changes: {e}")))?
    };
    Ok(super::ActivityRecord {
        id: row.try_get("id").map_err(backend)?,
        at: row.try_get("at").map_err(backend)?,
        actor: row.try_get("actor").map_err(backend)?,
        action: row.try_get("action").map_err(backend)?,
        app_id: row.try_get("app_id").map_err(backend)?,
        group_id: row.try_get("group_id").map_err(backend)?,
        detail: row.try_get("detail").map_err(backend)?,
        changes,
    })
}

pub(super) fn delivery_from_row<R: Row>(row: &R) -> Result<super::DeliveryRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(super::DeliveryRecord {
        id: row.try_get("id").map_err(backend)?,
        hook_id: row.try_get("hook_id").map_err(backend)?,
        event_key: row.try_get("event_key").map_err(backend)?,
        event: row.try_get("event").map_err(backend)?,
        app_id: row.try_get("app_id").map_err(backend)?,
        group_id: row.try_get("group_id").map_err(backend)?,
        body: row.try_get("body").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        status: row.try_get("status").map_err(backend)?,
        attempts: row.try_get("attempts").map_err(backend)?,
        next_attempt_at: row.try_get("next_attempt_at").map_err(backend)?,
        lease_until: row.try_get("lease_until").map_err(backend)?,
        last_status: row.try_get("last_status").map_err(backend)?,
        last_error: row.try_get("last_error").map_err(backend)?,
        delivered_at: row.try_get("delivered_at").map_err(backend)?,
    })
}

pub(super) fn version_count_from_row<R: Row>(row: &R) -> Result<VersionCount, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(VersionCount {
        app_id: row.try_get("app_id")?,
        group_id: row.try_get("group_id")?,
        version: row.try_get("version")?,
        count: row.try_get("n")?,
    })
}

/// Keeps the latest sighting per instance (by order key): a multi-row upsert may not touch
/// a row twice. In key order, so that concurrent writes lock the rows in the same order
/// (no deadlock between replicas on PostgreSQL).
pub(super) fn latest_sightings(sightings: &[Sighting]) -> Vec<&Sighting> {
    let mut latest: std::collections::HashMap<(&str, &str), &Sighting> =
        std::collections::HashMap::with_capacity(sightings.len());
    for s in sightings {
        latest
            .entry((s.app_id.as_str(), s.machine_id.as_str()))
            .and_modify(|cur| {
                if (s.seq, s.at) >= (cur.seq, cur.at) {
                    *cur = s;
                }
            })
            .or_insert(s);
    }
    let mut latest: Vec<&Sighting> = latest.into_values().collect();
    latest.sort_unstable_by(|a, b| {
        (a.app_id.as_str(), a.machine_id.as_str()).cmp(&(b.app_id.as_str(), b.machine_id.as_str()))
    });
    latest
}

/// The `WHERE` clause of an instance filter, pushed onto a query builder.
macro_rules! push_instance_filter {
    ($qb:expr, $filter:expr) => {{
        let filter: &super::InstanceFilter = $filter;
        $qb.push(" WHERE 1 = 1");
        if let Some(v) = &filter.app_id {
            $qb.push(" AND app_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.machine_id {
            $qb.push(" AND machine_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.machine_id_prefix {
            // Not LIKE: no character of the prefix is a wildcard, and the comparison is
            // exact (case-sensitive) on both backends, whatever the collation.
            $qb.push(" AND substr(machine_id, 1, length(")
                .push_bind(v.clone())
                .push(")) = ")
                .push_bind(v.clone());
        }
        if let Some(v) = &filter.status {
            $qb.push(" AND status = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.group_id {
            $qb.push(" AND group_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.version {
            $qb.push(" AND version = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.oem {
            $qb.push(" AND oem = ").push_bind(v.clone());
        }
        if let Some(v) = filter.event_type {
            $qb.push(" AND last_event_type = ").push_bind(v);
        }
        if let Some(v) = filter.event_result {
            $qb.push(" AND last_event_result = ").push_bind(v);
        }
        if let Some(v) = filter.seen_after {
            $qb.push(" AND last_seen >= ").push_bind(v);
        }
        if let Some(v) = filter.seen_before {
            $qb.push(" AND last_seen <= ").push_bind(v);
        }
    }};
}
pub(super) use push_instance_filter;

/// Appends the `WHERE` clause of a [`super::FailureFilter`]: failed attempts (3/0) since
/// its time, narrowed to its app, group and version.
macro_rules! push_failure_filter {
    ($qb:ident, $filter:expr) => {{
        let filter: &super::FailureFilter = $filter;
        $qb.push(" WHERE event_type = 3 AND event_result = 0 AND at >= ")
            .push_bind(filter.since);
        if let Some(app_id) = &filter.app_id {
            $qb.push(" AND app_id = ").push_bind(app_id.clone());
        }
        if let Some(group_id) = &filter.group_id {
            $qb.push(" AND group_id = ").push_bind(group_id.clone());
        }
        if let Some(version) = &filter.version {
            $qb.push(" AND version = ").push_bind(version.clone());
        }
    }};
}
pub(super) use push_failure_filter;

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

/// Writes rows of history, sightings or rollups through an executor (a transaction).
macro_rules! shared_batch_writes {
    ($db:ty, $conn:ty) => {
        async fn write_history(conn: &mut $conn, entries: &[HistoryRecord]) -> Result<(), StoreError> {
            for chunk in entries.chunks(super::common::CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO instance_history (app_id, machine_id, at, group_id, version, \
                     kind, event_type, event_result, error_code, target_version, install_source, \
                     previous_version) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(e.app_id.clone())
                        .push_bind(e.machine_id.clone())
                        .push_bind(e.at)
                        .push_bind(e.group_id.clone())
                        .push_bind(e.version.clone())
                        .push_bind(e.kind.as_str())
                        .push_bind(e.event_type)
                        .push_bind(e.event_result)
                        .push_bind(e.error_code)
                        .push_bind(e.target_version.clone())
                        .push_bind(e.install_source.clone())
                        .push_bind(e.previous_version.clone());
                });
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(super::common::backend)?;
            }
            Ok(())
        }

        async fn write_rollups(conn: &mut $conn, deltas: &[RollupDelta]) -> Result<(), StoreError> {
            let merged = super::merge_rollups(deltas);
            for chunk in merged.chunks(super::common::CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO rollups (app_id, group_id, resolution, bucket, version, \
                     event_type, event_result, count) ",
                );
                qb.push_values(chunk, |mut b, (key, resolution, bucket, count)| {
                    let (t, r) = key
                        .event
                        .unwrap_or((super::REQUESTS_EVENT, super::REQUESTS_EVENT));
                    b.push_bind(key.app_id.clone())
                        .push_bind(key.group_id.clone())
                        .push_bind(*resolution)
                        .push_bind(*bucket)
                        .push_bind(key.version.clone())
                        .push_bind(t)
                        .push_bind(r)
                        .push_bind(*count);
                });
                qb.push(
                    " ON CONFLICT (app_id, group_id, resolution, bucket, version, event_type, \
                     event_result) DO UPDATE SET count = rollups.count + excluded.count",
                );
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(super::common::backend)?;
            }
            Ok(())
        }

        async fn read_instances(
            conn: &mut $conn,
            keys: &[(String, String)],
        ) -> Result<Vec<InstanceRecord>, StoreError> {
            use super::common::backend;
            let mut found = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(super::common::CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT * FROM instances WHERE (app_id, machine_id) IN (",
                );
                qb.push_values(chunk, |mut b, (app_id, machine_id)| {
                    b.push_bind(app_id.clone()).push_bind(machine_id.clone());
                });
                qb.push(")");
                for row in qb
                    .build()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?
                {
                    found.push(
                        <InstanceRecord as sqlx::FromRow<'_, _>>::from_row(&row)
                            .map_err(backend)?,
                    );
                }
            }
            Ok(found)
        }

        async fn write_instances(
            conn: &mut $conn,
            instances: &[InstanceRecord],
        ) -> Result<(), StoreError> {
            // In key order, like every multi-row write of instances: two transactions
            // (replicas) writing some of the same rows lock them in the same order, so they
            // wait for one another instead of deadlocking on PostgreSQL.
            let mut sorted: Vec<&InstanceRecord> = instances.iter().collect();
            sorted.sort_unstable_by(|a, b| {
                (a.app_id.as_str(), a.machine_id.as_str())
                    .cmp(&(b.app_id.as_str(), b.machine_id.as_str()))
            });
            // 17 parameters a row: stay far below both backends' limits.
            for chunk in sorted.chunks(super::common::CHUNK / 2) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO instances (app_id, machine_id, group_id, version, oem, status, \
                     last_event_type, last_event_result, last_error_code, grant_version, \
                     granted_at, first_seen, last_seen, report_seq, failures, retry_until, \
                     retry_version) ",
                );
                qb.push_values(chunk, |mut b, i| {
                    b.push_bind(i.app_id.clone())
                        .push_bind(i.machine_id.clone())
                        .push_bind(i.group_id.clone())
                        .push_bind(i.version.clone())
                        .push_bind(i.oem.clone())
                        .push_bind(i.status.clone())
                        .push_bind(i.last_event_type)
                        .push_bind(i.last_event_result)
                        .push_bind(i.last_error_code)
                        .push_bind(i.grant_version.clone())
                        .push_bind(i.granted_at)
                        .push_bind(i.first_seen)
                        .push_bind(i.last_seen)
                        .push_bind(i.report_seq)
                        .push_bind(i.failures)
                        .push_bind(i.retry_until)
                        .push_bind(i.retry_version.clone());
                });
                // What the instance reports (group, version, OEM, last seen) is applied only
                // over an older report: a write-behind sighting of a later request may have
                // landed since the writer read the row. The status, grant and retry delay are
                // the writer's alone.
                qb.push(
                    " ON CONFLICT (app_id, machine_id) DO UPDATE SET \
                     group_id = CASE WHEN excluded.report_seq >= instances.report_seq \
                       THEN excluded.group_id ELSE instances.group_id END, \
                     version = CASE WHEN excluded.report_seq >= instances.report_seq \
                       THEN excluded.version ELSE instances.version END, \
                     oem = CASE WHEN excluded.report_seq >= instances.report_seq \
                       THEN excluded.oem ELSE instances.oem END, \
                     last_seen = CASE WHEN excluded.last_seen >= instances.last_seen \
                       THEN excluded.last_seen ELSE instances.last_seen END, \
                     report_seq = CASE WHEN excluded.report_seq >= instances.report_seq \
                       THEN excluded.report_seq ELSE instances.report_seq END, \
                     status = excluded.status, \
                     last_event_type = excluded.last_event_type, \
                     last_event_result = excluded.last_event_result, \
                     last_error_code = excluded.last_error_code, \
                     grant_version = excluded.grant_version, granted_at = excluded.granted_at, \
                     failures = excluded.failures, retry_until = excluded.retry_until, \
                     retry_version = excluded.retry_version",
                );
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(super::common::backend)?;
            }
            Ok(())
        }

        async fn write_sightings(conn: &mut $conn, sightings: &[Sighting]) -> Result<(), StoreError> {
            let latest = super::common::latest_sightings(sightings);
            for chunk in latest.chunks(super::common::CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO instances (app_id, machine_id, group_id, version, oem, status, \
                     first_seen, last_seen, report_seq) ",
                );
                qb.push_values(chunk, |mut b, s| {
                    b.push_bind(s.app_id.clone())
                        .push_bind(s.machine_id.clone())
                        .push_bind(s.group_id.clone())
                        .push_bind(s.version.clone())
                        .push_bind(s.oem.clone())
                        .push_bind("unknown")
                        .push_bind(s.at)
                        .push_bind(s.at)
                        .push_bind(s.seq);
                });
                // Newest wins: only over a report of an earlier request (the writer may have
                // stored a later one since this sighting was buffered).
                qb.push(
                    " ON CONFLICT (app_id, machine_id) DO UPDATE SET \
                     group_id = excluded.group_id, version = excluded.version, \
                     oem = excluded.oem, last_seen = excluded.last_seen, \
                     report_seq = excluded.report_seq \
                     WHERE instances.report_seq < excluded.report_seq",
                );
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(super::common::backend)?;
            }
            Ok(())
        }
    };
}
pub(super) use shared_batch_writes;

/// `impl Store` for a backend: the methods both backends implement with the same SQL, plus
/// the backend's own (`$own`). The backend's struct has a `pool` field.
/// Whether a pooled connection may be handed out: not while it is still inside a
/// transaction. A transaction whose `COMMIT` failed (SQLite on a full disk rolls it back
/// itself, so the rollback on drop fails too) leaves the connection's transaction depth
/// behind; such a connection would refuse every `BEGIN` from then on, so the pool closes
/// it and opens a fresh one. (The pool's ping before this drains any rollback still
/// queued on the connection.)
pub(crate) async fn usable<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    Ok(!conn.is_in_transaction())
}

/// The instance counts the database keeps (migration 0007): the rows of `instance_counts`
/// plus the pending ones of `instance_count_deltas`, grouped by these columns.
macro_rules! kept_counts_sql {
    ($columns:literal) => {
        concat!(
            "SELECT ",
            $columns,
            ", CAST(SUM(d) AS BIGINT) AS n FROM (\
             SELECT app_id, group_id, version, status, n AS d FROM instance_counts \
             UNION ALL SELECT app_id, group_id, version, status, n AS d \
             FROM instance_count_deltas) AS c"
        )
    };
}
pub(super) use kept_counts_sql;

/// A key of the instance counts: (app, group, version, status).
pub(super) type CountKey = (String, String, String, String);

/// Reads `(app, group, version, status, n)` rows into a map, adding rows of the same key.
pub(super) fn add_count_rows<R: Row>(
    into: &mut std::collections::BTreeMap<CountKey, i64>,
    rows: &[R],
) -> Result<(), StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    for row in rows {
        let key = (
            row.try_get("app_id").map_err(backend)?,
            row.try_get("group_id").map_err(backend)?,
            row.try_get("version").map_err(backend)?,
            row.try_get("status").map_err(backend)?,
        );
        let n: i64 = row.try_get("n").map_err(backend)?;
        *into.entry(key).or_default() += n;
    }
    Ok(())
}

/// The corrections that turn `kept` into `counted`: `counted - kept` per key, without the
/// zeros.
pub(super) fn count_corrections(
    kept: &std::collections::BTreeMap<CountKey, i64>,
    counted: &std::collections::BTreeMap<CountKey, i64>,
) -> Vec<(CountKey, i64)> {
    let mut out: std::collections::BTreeMap<&CountKey, i64> = std::collections::BTreeMap::new();
    for (key, n) in counted {
        *out.entry(key).or_default() += n;
    }
    for (key, n) in kept {
        *out.entry(key).or_default() -= n;
    }
    out.into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(key, n)| (key.clone(), n))
        .collect()
}

/// The reads and writes of the reconciliation of the instance counts, through an executor
/// (a transaction).
macro_rules! shared_counts {
    ($db:ty, $conn:ty) => {
        /// The counts kept, at the transaction's snapshot.
        async fn kept_counts(
            conn: &mut $conn,
        ) -> Result<std::collections::BTreeMap<super::common::CountKey, i64>, StoreError> {
            let rows = sqlx::query(concat!(
                super::common::kept_counts_sql!("app_id, group_id, version, status"),
                " GROUP BY app_id, group_id, version, status"
            ))
            .fetch_all(&mut *conn)
            .await
            .map_err(super::common::backend)?;
            let mut kept = std::collections::BTreeMap::new();
            super::common::add_count_rows(&mut kept, &rows)?;
            Ok(kept)
        }

        /// Counts the next `chunk` instances by key after `after` (from the first when
        /// `None`) into `into`; returns the last key counted, `None` at the end.
        async fn count_instance_chunk(
            conn: &mut $conn,
            after: Option<&(String, String)>,
            chunk: i64,
            into: &mut std::collections::BTreeMap<super::common::CountKey, i64>,
        ) -> Result<Option<(String, String)>, StoreError> {
            use super::common::backend;
            let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT app_id, machine_id FROM instances");
            if let Some((app, machine)) = after {
                qb.push(" WHERE (app_id, machine_id) > (")
                    .push_bind(app.clone())
                    .push(", ")
                    .push_bind(machine.clone())
                    .push(")");
            }
            qb.push(" ORDER BY app_id, machine_id LIMIT 1 OFFSET ")
                .push_bind(chunk.max(1) - 1);
            let upper: Option<(String, String)> = qb
                .build_query_as()
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend)?;
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT app_id, group_id, version, status, COUNT(*) AS n FROM instances \
                 WHERE 1 = 1",
            );
            if let Some((app, machine)) = after {
                qb.push(" AND (app_id, machine_id) > (")
                    .push_bind(app.clone())
                    .push(", ")
                    .push_bind(machine.clone())
                    .push(")");
            }
            if let Some((app, machine)) = &upper {
                qb.push(" AND (app_id, machine_id) <= (")
                    .push_bind(app.clone())
                    .push(", ")
                    .push_bind(machine.clone())
                    .push(")");
            }
            qb.push(" GROUP BY app_id, group_id, version, status");
            let rows = qb.build().fetch_all(&mut *conn).await.map_err(backend)?;
            super::common::add_count_rows(into, &rows)?;
            Ok(upper)
        }

        /// Appends corrections to the pending rows of the counts.
        async fn add_count_deltas(
            conn: &mut $conn,
            deltas: &[(super::common::CountKey, i64)],
        ) -> Result<(), StoreError> {
            for chunk in deltas.chunks(super::common::CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO instance_count_deltas (app_id, group_id, version, status, n) ",
                );
                qb.push_values(chunk, |mut b, ((app, group, version, status), n)| {
                    b.push_bind(app.clone())
                        .push_bind(group.clone())
                        .push_bind(version.clone())
                        .push_bind(status.clone())
                        .push_bind(*n);
                });
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(super::common::backend)?;
            }
            Ok(())
        }
    };
}
pub(super) use shared_counts;

macro_rules! impl_store {
    ($store:ty, $db:ty, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl Store for $store {
        $($own)*

        async fn config_generation(&self) -> Result<i64, StoreError> {
            sqlx::query_scalar("SELECT generation FROM config_generation WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(super::common::backend)
        }

        async fn load_config(&self) -> Result<ConfigSnapshot, StoreError> {
            use super::common::backend;
            // One transaction, so the snapshot is consistent with its generation.
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let generation: i64 =
                sqlx::query_scalar("SELECT generation FROM config_generation WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
            let apps = sqlx::query("SELECT * FROM apps ORDER BY id")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?
                .iter()
                .map(AppRecord::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let channels = sqlx::query("SELECT * FROM channels ORDER BY app_id, name")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?
                .iter()
                .map(ChannelRecord::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let groups = sqlx::query("SELECT * FROM groups ORDER BY app_id, id")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?
                .iter()
                .map(GroupRecord::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let packages = sqlx::query("SELECT * FROM packages ORDER BY app_id, version")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?
                .iter()
                .map(PackageRecord::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let arch_packages =
                sqlx::query("SELECT * FROM package_arches ORDER BY app_id, version, arch")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?
                    .iter()
                    .map(ArchPackageRecord::from_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(backend)?;
            let package_files = sqlx::query(
                "SELECT * FROM package_files ORDER BY app_id, version, arch, name",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .iter()
            .map(PackageFileRecord::from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
            let floors = sqlx::query(
                "SELECT * FROM channel_floors ORDER BY app_id, channel, arch, version",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .iter()
            .map(FloorRecord::from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
            let blacklist =
                sqlx::query("SELECT * FROM channel_blacklist ORDER BY app_id, channel, version")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?
                    .iter()
                    .map(BlacklistRecord::from_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(ConfigSnapshot {
                generation,
                apps,
                channels,
                groups,
                packages,
                arch_packages,
                package_files,
                floors,
                blacklist,
            })
        }

        async fn create_app(&self, app: &AppRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO apps (id, label, description, hash_sha256, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&app.id)
            .bind(&app.label)
            .bind(&app.description)
            .bind(&app.hash_sha256)
            .bind(app.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_err(e, || format!("app {}", app.id)))?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn update_app(&self, app: &AppRecord) -> Result<(), StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let done = sqlx::query(
                "UPDATE apps SET label = $2, description = $3, hash_sha256 = $4 WHERE id = $1",
            )
                .bind(&app.id)
                .bind(&app.label)
                .bind(&app.description)
                .bind(&app.hash_sha256)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!("app {}", app.id)));
            }
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_app(&self, app_id: &str) -> Result<(), StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            for statement in [
                "DELETE FROM channel_floors WHERE app_id = $1",
                "DELETE FROM channel_blacklist WHERE app_id = $1",
                "DELETE FROM channels WHERE app_id = $1",
                "DELETE FROM package_files WHERE app_id = $1",
                "DELETE FROM package_arches WHERE app_id = $1",
                "DELETE FROM packages WHERE app_id = $1",
                "DELETE FROM groups WHERE app_id = $1",
                "DELETE FROM group_rollout_state WHERE app_id = $1",
                "DELETE FROM grants WHERE app_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(app_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            let done = sqlx::query("DELETE FROM apps WHERE id = $1")
                .bind(app_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!("app {app_id}")));
            }
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn put_channel(&self, channel: &ChannelRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO channels (app_id, name, version, publish, upstream, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (app_id, name) DO UPDATE SET version = excluded.version, \
                 publish = excluded.publish, upstream = excluded.upstream",
            )
            .bind(&channel.app_id)
            .bind(&channel.name)
            .bind(&channel.version)
            .bind(channel.publish)
            .bind(&channel.upstream)
            .bind(channel.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || format!("channel {} of app {}", channel.name, channel.app_id))
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_channel(&self, app_id: &str, name: &str) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM channels WHERE app_id = $1 AND name = $2",
                [app_id, name],
                format!("channel {name} of app {app_id}")
            )
        }

        async fn put_package(&self, package: &PackageRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let size = i64::try_from(package.size).map_err(|_| {
                StoreError::Corrupt(format!("package size {} out of range", package.size))
            })?;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO packages (app_id, version, url, size, sha1, sha256, metadata_size, \
                 metadata_signature_rsa, signature, release_notes, required, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (app_id, version) DO UPDATE SET url = excluded.url, \
                 size = excluded.size, sha1 = excluded.sha1, sha256 = excluded.sha256, \
                 metadata_size = excluded.metadata_size, \
                 metadata_signature_rsa = excluded.metadata_signature_rsa, \
                 signature = excluded.signature, release_notes = excluded.release_notes, \
                 required = excluded.required",
            )
            .bind(&package.app_id)
            .bind(&package.version)
            .bind(&package.url)
            .bind(size)
            .bind(&package.sha1)
            .bind(&package.sha256)
            .bind(&package.metadata_size)
            .bind(&package.metadata_signature_rsa)
            .bind(&package.signature)
            .bind(&package.release_notes)
            .bind(package.required)
            .bind(package.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("package {} of app {}", package.version, package.app_id)
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_package(&self, app_id: &str, version: &str) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM packages WHERE app_id = $1 AND version = $2",
                [app_id, version],
                format!("package {version} of app {app_id}")
            )
        }

        async fn put_arch_package(&self, record: &ArchPackageRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let package = &record.package;
            let size = i64::try_from(package.size).map_err(|_| {
                StoreError::Corrupt(format!("package size {} out of range", package.size))
            })?;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO package_arches (app_id, version, arch, url, size, sha1, sha256, \
                 metadata_size, metadata_signature_rsa, signature, release_notes, required, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (app_id, version, arch) DO UPDATE SET url = excluded.url, \
                 size = excluded.size, sha1 = excluded.sha1, sha256 = excluded.sha256, \
                 metadata_size = excluded.metadata_size, \
                 metadata_signature_rsa = excluded.metadata_signature_rsa, \
                 signature = excluded.signature, release_notes = excluded.release_notes, \
                 required = excluded.required",
            )
            .bind(&package.app_id)
            .bind(&package.version)
            .bind(&record.arch)
            .bind(&package.url)
            .bind(size)
            .bind(&package.sha1)
            .bind(&package.sha256)
            .bind(&package.metadata_size)
            .bind(&package.metadata_signature_rsa)
            .bind(&package.signature)
            .bind(&package.release_notes)
            .bind(package.required)
            .bind(package.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!(
                        "{} package {} of app {}",
                        record.arch, package.version, package.app_id
                    )
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_arch_package(
            &self,
            app_id: &str,
            version: &str,
            arch: &str,
        ) -> Result<(), StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "DELETE FROM package_files WHERE app_id = $1 AND version = $2 AND arch = $3",
            )
            .bind(app_id)
            .bind(version)
            .bind(arch)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            let done = sqlx::query(
                "DELETE FROM package_arches WHERE app_id = $1 AND version = $2 AND arch = $3",
            )
            .bind(app_id)
            .bind(version)
            .bind(arch)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!(
                    "{arch} package {version} of app {app_id}"
                )));
            }
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn put_package_file(&self, file: &PackageFileRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let size = i64::try_from(file.size).map_err(|_| {
                StoreError::Corrupt(format!("file size {} out of range", file.size))
            })?;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO package_files (app_id, version, arch, name, size, sha1, sha256, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (app_id, version, arch, name) DO UPDATE SET size = excluded.size, \
                 sha1 = excluded.sha1, sha256 = excluded.sha256",
            )
            .bind(&file.app_id)
            .bind(&file.version)
            .bind(&file.arch)
            .bind(&file.name)
            .bind(size)
            .bind(&file.sha1)
            .bind(&file.sha256)
            .bind(file.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("file {} of package {} of app {}", file.name, file.version, file.app_id)
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_package_file(
            &self,
            app_id: &str,
            version: &str,
            arch: &str,
            name: &str,
        ) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM package_files WHERE app_id = $1 AND version = $2 AND arch = $3 AND name = $4",
                [app_id, version, arch, name],
                format!("file {name} of package {version} of app {app_id}")
            )
        }

        async fn put_floor(&self, floor: &FloorRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO channel_floors (app_id, channel, arch, version, reason, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (app_id, channel, arch, version) DO UPDATE SET reason = excluded.reason",
            )
            .bind(&floor.app_id)
            .bind(&floor.channel)
            .bind(&floor.arch)
            .bind(&floor.version)
            .bind(&floor.reason)
            .bind(floor.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("floor {} of channel {} of app {}", floor.version, floor.channel, floor.app_id)
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_floor(
            &self,
            app_id: &str,
            channel: &str,
            arch: &str,
            version: &str,
        ) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM channel_floors WHERE app_id = $1 AND channel = $2 AND arch = $3 AND version = $4",
                [app_id, channel, arch, version],
                format!("floor {version} of channel {channel} of app {app_id}")
            )
        }

        async fn put_blacklisted(&self, entry: &BlacklistRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO channel_blacklist (app_id, channel, version, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (app_id, channel, version) DO NOTHING",
            )
            .bind(&entry.app_id)
            .bind(&entry.channel)
            .bind(&entry.version)
            .bind(entry.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("blacklisted {} of channel {} of app {}", entry.version, entry.channel, entry.app_id)
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_blacklisted(
            &self,
            app_id: &str,
            channel: &str,
            version: &str,
        ) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM channel_blacklist WHERE app_id = $1 AND channel = $2 AND version = $3",
                [app_id, channel, version],
                format!("blacklisted {version} of channel {channel} of app {app_id}")
            )
        }

        async fn create_group(&self, group: &GroupRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO groups (app_id, id, label, channel, policy, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&group.app_id)
            .bind(&group.id)
            .bind(&group.label)
            .bind(&group.channel)
            .bind(&group.policy)
            .bind(group.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_err(e, || format!("group {} of app {}", group.id, group.app_id)))?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn update_group(&self, group: &GroupRecord) -> Result<(), StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let done = sqlx::query(
                "UPDATE groups SET label = $3, channel = $4, policy = $5 \
                 WHERE app_id = $1 AND id = $2",
            )
            .bind(&group.app_id)
            .bind(&group.id)
            .bind(&group.label)
            .bind(&group.channel)
            .bind(&group.policy)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!(
                    "group {} of app {}",
                    group.id, group.app_id
                )));
            }
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_group(&self, app_id: &str, group_id: &str) -> Result<(), StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            for statement in [
                "DELETE FROM group_rollout_state WHERE app_id = $1 AND group_id = $2",
                "DELETE FROM grants WHERE app_id = $1 AND group_id = $2",
            ] {
                sqlx::query(statement)
                    .bind(app_id)
                    .bind(group_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            let done = sqlx::query("DELETE FROM groups WHERE app_id = $1 AND id = $2")
                .bind(app_id)
                .bind(group_id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!(
                    "group {group_id} of app {app_id}"
                )));
            }
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO users (name, key_sealed, created_at, role, apps) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&user.name)
            .bind(&user.key_sealed)
            .bind(user.created_at)
            .bind(user.role.as_str())
            .bind(crate::access::scope_to_stored(user.apps.as_ref()))
            .execute(&self.pool)
            .await
            .map_err(|e| super::common::db_err(e, || format!("user {}", user.name)))?;
            Ok(())
        }

        async fn user(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT name, key_sealed, created_at, role, apps FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .map(|row| super::common::user_from_row(&row))
                .transpose()
        }

        async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT name, key_sealed, created_at, role, apps FROM users ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(super::common::user_from_row)
                .collect()
        }

        async fn create_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO api_tokens (id, name, role, apps, secret_sealed, created_by, \
                 created_at, expires_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&token.id)
            .bind(&token.name)
            .bind(token.role.as_str())
            .bind(crate::access::scope_to_stored(token.apps.as_ref()))
            .bind(&token.secret_sealed)
            .bind(&token.created_by)
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.last_used_at)
            .execute(&self.pool)
            .await
            .map_err(|e| super::common::db_err(e, || format!("token {}", token.name)))?;
            Ok(())
        }

        async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT * FROM api_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .map(|row| super::common::token_from_row(&row))
                .transpose()
        }

        async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT * FROM api_tokens ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(super::common::token_from_row)
                .collect()
        }

        async fn delete_token(&self, name: &str) -> Result<TokenRecord, StoreError> {
            use super::common::backend;
            sqlx::query("DELETE FROM api_tokens WHERE name = $1 RETURNING *")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .map(|row| super::common::token_from_row(&row))
                .transpose()?
                .ok_or_else(|| StoreError::not_found(format!("token {name}")))
        }

        async fn touch_token(&self, id: &str, at: i64, unless_since: i64) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $2 WHERE id = $1 \
                 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(id)
            .bind(at)
            .bind(unless_since)
            .execute(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn replace_group_policy(
            &self,
            app_id: &str,
            group_id: &str,
            expected: &str,
            policy: &str,
            activity: &ActivityRecord,
        ) -> Result<bool, StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            // Under PostgreSQL's READ COMMITTED a concurrent UPDATE of the row waits for the
            // first and re-checks the condition on the new row: one of them wins.
            let done = sqlx::query(
                "UPDATE groups SET policy = $4 WHERE app_id = $1 AND id = $2 AND policy = $3",
            )
            .bind(app_id)
            .bind(group_id)
            .bind(expected)
            .bind(policy)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO activity (at, actor, action, app_id, group_id, detail, changes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(activity.at)
            .bind(&activity.actor)
            .bind(&activity.action)
            .bind(&activity.app_id)
            .bind(&activity.group_id)
            .bind(&activity.detail)
            .bind(super::common::changes_json(&activity.changes))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)?;
            Ok(true)
        }

        async fn set_user_key(&self, name: &str, key_sealed: &[u8]) -> Result<(), StoreError> {
            let done = sqlx::query("UPDATE users SET key_sealed = $2 WHERE name = $1")
                .bind(name)
                .bind(key_sealed)
                .execute(&self.pool)
                .await
                .map_err(super::common::backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!("user {name}")));
            }
            Ok(())
        }

        async fn delete_user(&self, name: &str) -> Result<(), StoreError> {
            let done = sqlx::query("DELETE FROM users WHERE name = $1")
                .bind(name)
                .execute(&self.pool)
                .await
                .map_err(super::common::backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!("user {name}")));
            }
            Ok(())
        }

        async fn use_nonce(
            &self,
            user: &str,
            nonce: &str,
            at: i64,
            forget_before: i64,
        ) -> Result<bool, StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query("DELETE FROM hawk_nonces WHERE at < $1")
                .bind(forget_before)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            let inserted = sqlx::query(
                "INSERT INTO hawk_nonces (user_name, nonce, at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_name, nonce) DO NOTHING",
            )
            .bind(user)
            .bind(nonce)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
            tx.commit().await.map_err(backend)?;
            Ok(inserted == 1)
        }

        async fn append_activity(&self, e: &ActivityRecord) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO activity (at, actor, action, app_id, group_id, detail, changes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.app_id)
            .bind(&e.group_id)
            .bind(&e.detail)
            .bind(super::common::changes_json(&e.changes))
            .execute(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn activity(
            &self,
            app_id: Option<&str>,
            limit: i64,
            skip: i64,
        ) -> Result<Vec<ActivityRecord>, StoreError> {
            use super::common::backend;
            let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT * FROM activity");
            if let Some(app_id) = app_id {
                qb.push(" WHERE app_id = ").push_bind(app_id.to_owned());
            }
            qb.push(" ORDER BY at DESC, id DESC LIMIT ")
                .push_bind(limit.max(0))
                .push(" OFFSET ")
                .push_bind(skip.max(0));
            qb.build()
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(super::common::activity_from_row)
                .collect()
        }

        async fn activity_by_action(
            &self,
            action: &str,
            since: i64,
            limit: i64,
        ) -> Result<Vec<ActivityRecord>, StoreError> {
            use super::common::backend;
            sqlx::query(
                "SELECT * FROM activity WHERE at >= $1 AND action = $2 \
                 ORDER BY at DESC, id DESC LIMIT $3",
            )
            .bind(since)
            .bind(action)
            .bind(limit.max(0))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(super::common::activity_from_row)
            .collect()
        }

        async fn put_webhook(&self, h: &super::WebhookRecord) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO webhooks (id, app_id, url, events, secret_sealed, \
                 failure_rate_percent, failure_min_attempts, stalled_after_secs, enabled, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (id) DO UPDATE SET app_id = excluded.app_id, url = excluded.url, \
                 events = excluded.events, secret_sealed = excluded.secret_sealed, \
                 failure_rate_percent = excluded.failure_rate_percent, \
                 failure_min_attempts = excluded.failure_min_attempts, \
                 stalled_after_secs = excluded.stalled_after_secs, enabled = excluded.enabled",
            )
            .bind(&h.id)
            .bind(&h.app_id)
            .bind(&h.url)
            .bind(&h.events)
            .bind(&h.secret_sealed)
            .bind(h.failure_rate_percent)
            .bind(h.failure_min_attempts)
            .bind(h.stalled_after_secs)
            .bind(h.enabled)
            .bind(h.created_at)
            .execute(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn webhooks(&self) -> Result<Vec<super::WebhookRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT * FROM webhooks ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(|row| {
                    Ok(super::WebhookRecord {
                        id: row.try_get("id").map_err(backend)?,
                        app_id: row.try_get("app_id").map_err(backend)?,
                        url: row.try_get("url").map_err(backend)?,
                        events: row.try_get("events").map_err(backend)?,
                        secret_sealed: row.try_get("secret_sealed").map_err(backend)?,
                        failure_rate_percent: row
                            .try_get("failure_rate_percent")
                            .map_err(backend)?,
                        failure_min_attempts: row
                            .try_get("failure_min_attempts")
                            .map_err(backend)?,
                        stalled_after_secs: row.try_get("stalled_after_secs").map_err(backend)?,
                        enabled: row.try_get("enabled").map_err(backend)?,
                        created_at: row.try_get("created_at").map_err(backend)?,
                    })
                })
                .collect()
        }

        async fn delete_webhook(&self, id: &str) -> Result<(), StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query("DELETE FROM webhook_deliveries WHERE hook_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!("webhook {id}")));
            }
            tx.commit().await.map_err(backend)
        }

        async fn enqueue_delivery(
            &self,
            d: &super::DeliveryRecord,
            max_pending: i64,
        ) -> Result<super::Enqueued, StoreError> {
            use super::common::backend;
            let done = sqlx::query(
                "INSERT INTO webhook_deliveries (hook_id, event_key, event, app_id, group_id, \
                 body, created_at, status, attempts, next_attempt_at, last_error) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, '' \
                 WHERE (SELECT COUNT(*) FROM webhook_deliveries \
                        WHERE hook_id = $1 AND status = 'pending') < $9 \
                 ON CONFLICT (hook_id, event_key) DO NOTHING",
            )
            .bind(&d.hook_id)
            .bind(&d.event_key)
            .bind(&d.event)
            .bind(&d.app_id)
            .bind(&d.group_id)
            .bind(&d.body)
            .bind(d.created_at)
            .bind(d.next_attempt_at)
            .bind(max_pending)
            .execute(&self.pool)
            .await
            .map_err(|e| super::common::db_err(e, || format!("webhook {}", d.hook_id)))?;
            if done.rows_affected() > 0 {
                return Ok(super::Enqueued::New);
            }
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM webhook_deliveries WHERE hook_id = $1 AND event_key = $2",
            )
            .bind(&d.hook_id)
            .bind(&d.event_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            Ok(if exists.is_some() {
                super::Enqueued::Duplicate
            } else {
                super::Enqueued::QueueFull
            })
        }

        async fn has_due_delivery(&self, now: i64) -> Result<bool, StoreError> {
            let due: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM webhook_deliveries WHERE status = 'pending' \
                 AND next_attempt_at <= $1 LIMIT 1",
            )
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(due.is_some())
        }

        async fn finish_attempt(
            &self,
            id: i64,
            lease_until: i64,
            o: &super::AttemptOutcome,
        ) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET status = $3, attempts = $4, next_attempt_at = $5, \
                 last_status = $6, last_error = $7, delivered_at = $8, lease_until = NULL \
                 WHERE id = $1 AND lease_until = $2",
            )
            .bind(id)
            .bind(lease_until)
            .bind(&o.status)
            .bind(o.attempts)
            .bind(o.next_attempt_at)
            .bind(o.last_status)
            .bind(&o.last_error)
            .bind(o.delivered_at)
            .execute(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(done.rows_affected() == 1)
        }

        async fn deliveries(
            &self,
            hook_id: Option<&str>,
            limit: i64,
        ) -> Result<Vec<super::DeliveryRecord>, StoreError> {
            use super::common::backend;
            let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT * FROM webhook_deliveries");
            if let Some(hook_id) = hook_id {
                qb.push(" WHERE hook_id = ").push_bind(hook_id.to_owned());
            }
            qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit.max(0));
            qb.build()
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(super::common::delivery_from_row)
                .collect()
        }

        async fn prune_deliveries(&self, before: i64, limit: i64) -> Result<u64, StoreError> {
            let done = sqlx::query(
                "DELETE FROM webhook_deliveries WHERE id IN \
                 (SELECT id FROM webhook_deliveries WHERE status <> 'pending' \
                  AND created_at < $1 ORDER BY id LIMIT $2)",
            )
            .bind(before)
            .bind(limit)
            .execute(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(done.rows_affected())
        }

        async fn group_state(
            &self,
            app_id: &str,
            group_id: &str,
        ) -> Result<Option<GroupStateRecord>, StoreError> {
            use super::common::backend;
            let row = sqlx::query(
                "SELECT state, revision FROM group_rollout_state \
                 WHERE app_id = $1 AND group_id = $2",
            )
            .bind(app_id)
            .bind(group_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
            row.map(|row| {
                Ok(GroupStateRecord {
                    state: row.try_get("state").map_err(backend)?,
                    revision: row.try_get("revision").map_err(backend)?,
                })
            })
            .transpose()
        }

        async fn put_upstream(&self, u: &UpstreamRecord) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO upstreams (id, url, label, kind, app_id, upstream_app_id, tracks, \
                 arches, download) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (id) DO UPDATE SET url = excluded.url, label = excluded.label, \
                 kind = excluded.kind, app_id = excluded.app_id, \
                 upstream_app_id = excluded.upstream_app_id, tracks = excluded.tracks, \
                 arches = excluded.arches, download = excluded.download",
            )
            .bind(&u.id)
            .bind(&u.url)
            .bind(&u.label)
            .bind(if u.kind.is_empty() {
                super::UPSTREAM_ADMIN
            } else {
                u.kind.as_str()
            })
            .bind(&u.app_id)
            .bind(&u.upstream_app_id)
            .bind(u.tracks.join(","))
            .bind(u.arches.join(","))
            .bind(u.download)
            .execute(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn upstreams(&self) -> Result<Vec<UpstreamRecord>, StoreError> {
            use super::common::backend;
            let list = |text: String| -> Vec<String> {
                text.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            sqlx::query(
                "SELECT id, url, label, kind, app_id, upstream_app_id, tracks, arches, download, \
                 last_sync_at, last_status, last_detail FROM upstreams ORDER BY id",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                Ok(UpstreamRecord {
                    id: row.try_get("id").map_err(backend)?,
                    url: row.try_get("url").map_err(backend)?,
                    label: row.try_get("label").map_err(backend)?,
                    kind: row.try_get("kind").map_err(backend)?,
                    app_id: row.try_get("app_id").map_err(backend)?,
                    upstream_app_id: row.try_get("upstream_app_id").map_err(backend)?,
                    tracks: list(row.try_get("tracks").map_err(backend)?),
                    arches: list(row.try_get("arches").map_err(backend)?),
                    download: row.try_get("download").map_err(backend)?,
                    last_sync_at: row.try_get("last_sync_at").map_err(backend)?,
                    last_status: row.try_get("last_status").map_err(backend)?,
                    last_detail: row.try_get("last_detail").map_err(backend)?,
                })
            })
            .collect()
        }

        async fn record_upstream_sync(
            &self,
            id: &str,
            at: i64,
            status: &str,
            detail: &str,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE upstreams SET last_sync_at = $2, last_status = $3, last_detail = $4 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(status)
            .bind(detail)
            .execute(&self.pool)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn delete_upstream(&self, id: &str) -> Result<(), StoreError> {
            let done = sqlx::query("DELETE FROM upstreams WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(super::common::backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!("upstream {id}")));
            }
            Ok(())
        }

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

        async fn instance_status_counts(
            &self,
            filter: &InstanceFilter,
        ) -> Result<Vec<StatusCount>, StoreError> {
            use super::common::backend;
            let mut qb = if filter.is_counted() {
                sqlx::QueryBuilder::<$db>::new(super::common::kept_counts_sql!(
                    "app_id, group_id, version, status"
                ))
            } else {
                sqlx::QueryBuilder::<$db>::new(
                    "SELECT app_id, group_id, version, status, COUNT(*) AS n FROM instances",
                )
            };
            super::common::push_instance_filter!(qb, filter);
            qb.push(" GROUP BY app_id, group_id, version, status");
            if filter.is_counted() {
                qb.push(" HAVING SUM(d) > 0");
            }
            let rows = qb.build().fetch_all(&self.pool).await.map_err(backend)?;
            rows.iter()
                .map(|row| {
                    Ok(StatusCount {
                        app_id: row.try_get("app_id").map_err(backend)?,
                        group_id: row.try_get("group_id").map_err(backend)?,
                        version: row.try_get("version").map_err(backend)?,
                        status: row.try_get("status").map_err(backend)?,
                        count: row.try_get("n").map_err(backend)?,
                    })
                })
                .collect()
        }

        async fn prune_history(&self, before: i64, limit: i64) -> Result<u64, StoreError> {
            sqlx::query(
                "DELETE FROM instance_history WHERE id IN \
                 (SELECT id FROM instance_history WHERE at < $1 ORDER BY at LIMIT $2)",
            )
            .bind(before)
            .bind(limit)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(super::common::backend)
        }

        async fn prune_activity(&self, before: i64, limit: i64) -> Result<u64, StoreError> {
            sqlx::query(
                "DELETE FROM activity WHERE id IN \
                 (SELECT id FROM activity WHERE at < $1 ORDER BY at LIMIT $2)",
            )
            .bind(before)
            .bind(limit)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(super::common::backend)
        }

        async fn prune_rollups(
            &self,
            resolution: i64,
            before_bucket: i64,
            limit: i64,
        ) -> Result<u64, StoreError> {
            sqlx::query(
                "DELETE FROM rollups WHERE (app_id, group_id, resolution, bucket, version, \
                 event_type, event_result) IN (SELECT app_id, group_id, resolution, bucket, \
                 version, event_type, event_result FROM rollups \
                 WHERE resolution = $1 AND bucket < $2 LIMIT $3)",
            )
            .bind(resolution)
            .bind(before_bucket)
            .bind(limit)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(super::common::backend)
        }

        async fn record_sightings(
            &self,
            sightings: &[Sighting],
            rollups: &[RollupDelta],
        ) -> Result<(), StoreError> {
            use super::common::backend;
            if sightings.is_empty() && rollups.is_empty() {
                return Ok(());
            }
            let mut tx = self.pool.begin().await.map_err(backend)?;
            write_sightings(&mut *tx, sightings).await?;
            write_rollups(&mut *tx, rollups).await?;
            tx.commit().await.map_err(backend)
        }

        async fn instance(
            &self,
            app_id: &str,
            machine_id: &str,
        ) -> Result<Option<InstanceRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT * FROM instances WHERE app_id = $1 AND machine_id = $2")
                .bind(app_id)
                .bind(machine_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .map(|row| InstanceRecord::from_row(&row).map_err(backend))
                .transpose()
        }

        async fn instances(
            &self,
            filter: &InstanceFilter,
            limit: i64,
            skip: i64,
        ) -> Result<Vec<InstanceRecord>, StoreError> {
            use super::common::backend;
            let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT * FROM instances");
            super::common::push_instance_filter!(qb, filter);
            qb.push(" ORDER BY last_seen DESC, app_id, machine_id LIMIT ")
                .push_bind(limit.max(0))
                .push(" OFFSET ")
                .push_bind(skip.max(0));
            qb.build()
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(|row| InstanceRecord::from_row(row).map_err(backend))
                .collect()
        }

        async fn clear_retry_delay(
            &self,
            app_id: &str,
            group_id: &str,
            machine_id: Option<&str>,
        ) -> Result<u64, StoreError> {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "UPDATE instances SET failures = 0, retry_until = NULL, retry_version = NULL \
                 WHERE app_id = ",
            );
            qb.push_bind(app_id.to_owned())
                .push(" AND group_id = ")
                .push_bind(group_id.to_owned());
            if let Some(machine_id) = machine_id {
                qb.push(" AND machine_id = ").push_bind(machine_id.to_owned());
            }
            qb.push(" AND (failures <> 0 OR retry_until IS NOT NULL)");
            let done = qb
                .build()
                .execute(&self.pool)
                .await
                .map_err(super::common::backend)?;
            Ok(done.rows_affected())
        }

        async fn count_instances(&self, filter: &InstanceFilter) -> Result<i64, StoreError> {
            use super::common::backend;
            let mut qb = if filter.is_counted() {
                sqlx::QueryBuilder::<$db>::new(
                    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM (",
                )
            } else {
                sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) FROM instances")
            };
            if filter.is_counted() {
                qb.push(super::common::kept_counts_sql!("app_id, group_id, version, status"));
                super::common::push_instance_filter!(qb, filter);
                qb.push(" GROUP BY app_id, group_id, version, status HAVING SUM(d) > 0) AS k");
            } else {
                super::common::push_instance_filter!(qb, filter);
            }
            qb.build_query_scalar()
                .fetch_one(&self.pool)
                .await
                .map_err(backend)
        }

        async fn version_counts(
            &self,
            filter: &InstanceFilter,
        ) -> Result<Vec<VersionCount>, StoreError> {
            use super::common::backend;
            let mut qb = if filter.is_counted() {
                sqlx::QueryBuilder::<$db>::new(super::common::kept_counts_sql!(
                    "app_id, group_id, version"
                ))
            } else {
                sqlx::QueryBuilder::<$db>::new(
                    "SELECT app_id, group_id, version, COUNT(*) AS n FROM instances",
                )
            };
            super::common::push_instance_filter!(qb, filter);
            qb.push(" GROUP BY app_id, group_id, version");
            if filter.is_counted() {
                qb.push(" HAVING SUM(d) > 0");
            }
            qb.push(" ORDER BY app_id, group_id, version");
            qb.build()
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(|row| super::common::version_count_from_row(row).map_err(backend))
                .collect()
        }

        async fn reconcile_instance_counts(
            &self,
            now: i64,
            pace: &super::ReconcilePace,
        ) -> Result<super::Reconciliation, StoreError> {
            use super::common::backend;
            use super::Reconciliation;
            // One snapshot for the counts kept and every chunk of the count: what was
            // written meanwhile moved the instances and the kept counts alike, so the
            // difference at the snapshot is the drift now.
            let mut tx = self
                .pool
                .begin_with(Self::SNAPSHOT_BEGIN)
                .await
                .map_err(backend)?;
            let (generation, reconciled_at): (i64, i64) = sqlx::query_as(
                "SELECT generation, reconciled_at FROM instance_counts_state WHERE id = 1",
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
            if reconciled_at <= now && now - reconciled_at < pace.min_interval_ms {
                tx.rollback().await.map_err(backend)?;
                return Ok(Reconciliation::NotDue { reconciled_at });
            }
            let kept = kept_counts(&mut *tx).await?;
            let mut counted = std::collections::BTreeMap::new();
            let mut after = None;
            let mut chunks = 0u64;
            loop {
                let upper =
                    count_instance_chunk(&mut *tx, after.as_ref(), pace.chunk, &mut counted)
                        .await?;
                chunks += 1;
                match upper {
                    Some(key) => after = Some(key),
                    None => break,
                }
                if !pace.pause.is_zero() {
                    tokio::time::sleep(pace.pause).await;
                }
            }
            tx.commit().await.map_err(backend)?;
            let corrections = super::common::count_corrections(&kept, &counted);
            let drift: i64 = corrections.iter().map(|(_, n)| n.abs()).sum();
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let applied = sqlx::query(
                "UPDATE instance_counts_state SET generation = generation + 1, \
                 reconciled_at = $1, drift = $2 WHERE id = 1 AND generation = $3",
            )
            .bind(now)
            .bind(drift)
            .bind(generation)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if applied.rows_affected() == 0 {
                tx.rollback().await.map_err(backend)?;
                return Ok(Reconciliation::Superseded);
            }
            add_count_deltas(&mut *tx, &corrections).await?;
            tx.commit().await.map_err(backend)?;
            self.fold_instance_counts().await?;
            Ok(Reconciliation::Done {
                instances: counted.values().sum(),
                chunks,
                drift,
            })
        }

        async fn fold_instance_counts(&self) -> Result<u64, StoreError> {
            use super::common::backend;
            let pending: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM instance_count_deltas)")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(backend)?;
            if !pending {
                return Ok(0);
            }
            let mut tx = self
                .pool
                .begin_with(Self::FOLD_BEGIN)
                .await
                .map_err(backend)?;
            let mut folded = 0;
            for (i, statement) in Self::FOLD.iter().enumerate() {
                let done = sqlx::query(*statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                if i == Self::FOLD_COUNTED {
                    folded = done.rows_affected();
                }
            }
            tx.commit().await.map_err(backend)?;
            Ok(folded)
        }

        async fn history(
            &self,
            app_id: Option<&str>,
            machine_id: &str,
            limit: i64,
        ) -> Result<Vec<HistoryRecord>, StoreError> {
            use super::common::backend;
            // The newest `limit` entries, returned oldest first.
            let mut qb =
                sqlx::QueryBuilder::<$db>::new("SELECT * FROM instance_history WHERE machine_id = ");
            qb.push_bind(machine_id.to_owned());
            if let Some(app_id) = app_id {
                qb.push(" AND app_id = ").push_bind(app_id.to_owned());
            }
            qb.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(limit.max(0));
            let mut rows = qb
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(super::common::history_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            rows.reverse();
            Ok(rows)
        }

        async fn record_census(
            &self,
            at: i64,
            counts: &[VersionCount],
        ) -> Result<(), StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            for resolution in super::ROLLUP_RESOLUTIONS {
                let bucket = at.div_euclid(resolution) * resolution;
                sqlx::query(
                    "DELETE FROM rollups WHERE resolution = $1 AND bucket = $2 \
                     AND event_type = $3",
                )
                .bind(resolution)
                .bind(bucket)
                .bind(super::CENSUS_EVENT)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
                for chunk in counts.chunks(super::common::CHUNK) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO rollups (app_id, group_id, resolution, bucket, version, \
                         event_type, event_result, count) ",
                    );
                    qb.push_values(chunk, |mut b, c| {
                        b.push_bind(c.app_id.clone())
                            .push_bind(c.group_id.clone())
                            .push_bind(resolution)
                            .push_bind(bucket)
                            .push_bind(c.version.clone())
                            .push_bind(super::CENSUS_EVENT)
                            .push_bind(super::CENSUS_EVENT)
                            .push_bind(c.count);
                    });
                    // Another replica may have written this bucket's census meanwhile:
                    // the later census wins.
                    qb.push(
                        " ON CONFLICT (app_id, group_id, resolution, bucket, version, \
                         event_type, event_result) DO UPDATE SET count = excluded.count",
                    );
                    qb.build().execute(&mut *tx).await.map_err(backend)?;
                }
            }
            tx.commit().await.map_err(backend)
        }

        async fn failures(
            &self,
            filter: &super::FailureFilter,
            limit: i64,
            skip: i64,
        ) -> Result<Vec<super::FailureRecord>, StoreError> {
            use super::common::backend;
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT app_id, machine_id, group_id, version, error_code, COUNT(*) AS n, \
                 MIN(at) AS first_at, MAX(at) AS last_at FROM instance_history",
            );
            super::common::push_failure_filter!(qb, filter);
            qb.push(
                " GROUP BY app_id, machine_id, group_id, version, error_code \
                 ORDER BY last_at DESC, app_id, machine_id, version, error_code LIMIT ",
            )
            .push_bind(limit.max(0))
            .push(" OFFSET ")
            .push_bind(skip.max(0));
            qb.build()
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(|row| {
                    Ok(super::FailureRecord {
                        app_id: row.try_get("app_id").map_err(backend)?,
                        machine_id: row.try_get("machine_id").map_err(backend)?,
                        group_id: row.try_get("group_id").map_err(backend)?,
                        version: row.try_get("version").map_err(backend)?,
                        error_code: row.try_get("error_code").map_err(backend)?,
                        count: row.try_get("n").map_err(backend)?,
                        first_at: row.try_get("first_at").map_err(backend)?,
                        last_at: row.try_get("last_at").map_err(backend)?,
                    })
                })
                .collect()
        }

        async fn count_failures(&self, filter: &super::FailureFilter) -> Result<i64, StoreError> {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "SELECT COUNT(*) FROM (SELECT 1 AS one FROM instance_history",
            );
            super::common::push_failure_filter!(qb, filter);
            qb.push(" GROUP BY app_id, machine_id, group_id, version, error_code) AS rows_");
            qb.build_query_scalar()
                .fetch_one(&self.pool)
                .await
                .map_err(super::common::backend)
        }

        async fn event_totals(
            &self,
            resolution: i64,
            from: i64,
            to: i64,
        ) -> Result<Vec<super::EventTotal>, StoreError> {
            use super::common::backend;
            sqlx::query(
                "SELECT app_id, group_id, event_type, event_result, CAST(SUM(count) AS BIGINT) AS n \
                 FROM rollups WHERE resolution = $1 AND bucket >= $2 AND bucket <= $3 \
                 AND event_type >= 0 \
                 GROUP BY app_id, group_id, event_type, event_result \
                 ORDER BY app_id, group_id, event_type, event_result",
            )
            .bind(resolution)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                Ok(super::EventTotal {
                    app_id: row.try_get("app_id").map_err(backend)?,
                    group_id: row.try_get("group_id").map_err(backend)?,
                    event: (
                        row.try_get("event_type").map_err(backend)?,
                        row.try_get("event_result").map_err(backend)?,
                    ),
                    count: row.try_get("n").map_err(backend)?,
                })
            })
            .collect()
        }

        async fn last_grant(
            &self,
            app_id: &str,
            group_id: &str,
        ) -> Result<Option<i64>, StoreError> {
            sqlx::query_scalar(
                "SELECT MAX(at) FROM instance_history \
                 WHERE app_id = $1 AND group_id = $2 AND kind = 'grant'",
            )
            .bind(app_id)
            .bind(group_id)
            .fetch_one(&self.pool)
            .await
            .map_err(super::common::backend)
        }

        async fn rollups(
            &self,
            app_id: &str,
            group_id: &str,
            kind: RollupKind,
            resolution: i64,
            from: i64,
            to: i64,
        ) -> Result<Vec<RollupPoint>, StoreError> {
            use super::common::backend;
            let events = matches!(kind, RollupKind::Events);
            let sql = if events {
                "SELECT version, event_type, event_result, bucket, count FROM rollups \
                 WHERE app_id = $1 AND group_id = $2 AND resolution = $3 \
                 AND bucket >= $4 AND bucket <= $5 AND event_type >= 0 \
                 ORDER BY version, event_type, event_result, bucket"
            } else {
                "SELECT version, event_type, event_result, bucket, count FROM rollups \
                 WHERE app_id = $1 AND group_id = $2 AND resolution = $3 \
                 AND bucket >= $4 AND bucket <= $5 AND event_type = $6 \
                 ORDER BY version, bucket"
            };
            let series = match kind {
                RollupKind::Instances => super::CENSUS_EVENT,
                RollupKind::CheckIns => super::CHECK_IN_EVENT,
                _ => super::REQUESTS_EVENT,
            };
            let mut query = sqlx::query(sql)
                .bind(app_id)
                .bind(group_id)
                .bind(resolution)
                .bind(from)
                .bind(to);
            if !events {
                query = query.bind(series);
            }
            let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
            rows.iter()
                .map(|row| {
                    let event_type: i64 = row.try_get("event_type")?;
                    let event_result: i64 = row.try_get("event_result")?;
                    Ok(RollupPoint {
                        version: row.try_get("version")?,
                        event: events.then_some((event_type, event_result)),
                        bucket: row.try_get("bucket")?,
                        count: row.try_get("count")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(backend)
        }
        }
    };
}
pub(super) use impl_store;

/// `impl WriteTx` for a backend's transaction: the methods both backends implement with the
/// same SQL, plus the backend's own (`$own`). The struct has a
/// `tx: sqlx::Transaction<'static, DB>` field.
macro_rules! impl_write_tx {
    ($tx_type:ty, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl WriteTx for $tx_type {
        $($own)*

        async fn put_group_state(
            &mut self,
            app_id: &str,
            group_id: &str,
            state: &[u8],
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO group_rollout_state (app_id, group_id, state, revision) \
                 VALUES ($1, $2, $3, 1) ON CONFLICT (app_id, group_id) DO UPDATE \
                 SET state = excluded.state, revision = group_rollout_state.revision + 1",
            )
            .bind(app_id)
            .bind(group_id)
            .bind(state)
            .execute(&mut *self.tx)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn grants(
            &mut self,
            app_id: &str,
            group_id: &str,
        ) -> Result<Vec<GrantRecord>, StoreError> {
            use super::common::backend;
            sqlx::query(
                "SELECT * FROM grants WHERE app_id = $1 AND group_id = $2 ORDER BY machine_id",
            )
            .bind(app_id)
            .bind(group_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| GrantRecord::from_row(row).map_err(backend))
            .collect()
        }

        async fn put_grant(&mut self, g: &GrantRecord) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO grants (app_id, group_id, machine_id, version, granted_at, \
                 expires_at, scheduled) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (app_id, group_id, machine_id) DO UPDATE SET \
                 version = excluded.version, granted_at = excluded.granted_at, \
                 expires_at = excluded.expires_at, scheduled = excluded.scheduled",
            )
            .bind(&g.app_id)
            .bind(&g.group_id)
            .bind(&g.machine_id)
            .bind(&g.version)
            .bind(g.granted_at)
            .bind(g.expires_at)
            .bind(g.scheduled)
            .execute(&mut *self.tx)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn delete_grant(
            &mut self,
            app_id: &str,
            group_id: &str,
            machine_id: &str,
        ) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM grants WHERE app_id = $1 AND group_id = $2 AND machine_id = $3")
                .bind(app_id)
                .bind(group_id)
                .bind(machine_id)
                .execute(&mut *self.tx)
                .await
                .map_err(super::common::backend)?;
            Ok(())
        }

        async fn instance(
            &mut self,
            app_id: &str,
            machine_id: &str,
        ) -> Result<Option<InstanceRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT * FROM instances WHERE app_id = $1 AND machine_id = $2")
                .bind(app_id)
                .bind(machine_id)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(backend)?
                .map(|row| InstanceRecord::from_row(&row).map_err(backend))
                .transpose()
        }

        async fn clear_instance_grant(
            &mut self,
            app_id: &str,
            machine_id: &str,
            version: &str,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE instances SET grant_version = NULL, granted_at = NULL \
                 WHERE app_id = $1 AND machine_id = $2 AND grant_version = $3",
            )
            .bind(app_id)
            .bind(machine_id)
            .bind(version)
            .execute(&mut *self.tx)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn instances_by_key(
            &mut self,
            keys: &[(String, String)],
        ) -> Result<Vec<InstanceRecord>, StoreError> {
            read_instances(&mut *self.tx, keys).await
        }

        async fn put_instances(&mut self, instances: &[InstanceRecord]) -> Result<(), StoreError> {
            write_instances(&mut *self.tx, instances).await
        }

        async fn put_instance(&mut self, i: &InstanceRecord) -> Result<(), StoreError> {
            self.put_instances(std::slice::from_ref(i)).await
        }

        async fn append_history(&mut self, entries: &[HistoryRecord]) -> Result<(), StoreError> {
            write_history(&mut *self.tx, entries).await
        }

        async fn add_rollups(&mut self, deltas: &[RollupDelta]) -> Result<(), StoreError> {
            write_rollups(&mut *self.tx, deltas).await
        }

        async fn append_activity(&mut self, e: &ActivityRecord) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO activity (at, actor, action, app_id, group_id, detail, changes) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.app_id)
            .bind(&e.group_id)
            .bind(&e.detail)
            .bind(super::common::changes_json(&e.changes))
            .execute(&mut *self.tx)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn commit(self: Box<Self>) -> Result<(), StoreError> {
            self.tx.commit().await.map_err(super::common::backend)
        }
        }
    };
}
pub(super) use impl_write_tx;
