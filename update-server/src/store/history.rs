//! SQL of the instance history (`instance_history`): an instance's history, the failed
//! attempts and their count, the latest grant, pruning.

use super::common::backend;
use super::{HistoryKind, HistoryRecord, StoreError};
use sqlx::Row;

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

/// The `Store` methods of the instance history.
macro_rules! history_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
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
                .map(super::history::history_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            rows.reverse();
            Ok(rows)
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
            super::history::push_failure_filter!(qb, filter);
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
            super::history::push_failure_filter!(qb, filter);
            qb.push(" GROUP BY app_id, machine_id, group_id, version, error_code) AS rows_");
            qb.build_query_scalar()
                .fetch_one(&self.pool)
                .await
                .map_err(super::common::backend)
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
        ], $rest }
    };
}
pub(super) use history_sql;
