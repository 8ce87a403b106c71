//! SQL of the activity log (`activity`): append, read (newest first, by app or action), prune.
//! An entry's changes are stored as a JSON array.

use super::StoreError;
use super::common::backend;
use sqlx::Row;

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

/// The `Store` methods of the activity log.
macro_rules! activity_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
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
            .bind(super::activity::changes_json(&e.changes))
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
                .map(super::activity::activity_from_row)
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
            .map(super::activity::activity_from_row)
            .collect()
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
        ], $rest }
    };
}
pub(super) use activity_sql;
