//! SQL of groups: `groups` (with the policy document, replaced by compare-and-swap when a
//! timed rollout ends) and `group_rollout_state` as read outside the writer.

/// The `Store` methods of groups.
macro_rules! groups_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
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
            .bind(super::activity::changes_json(&activity.changes))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)?;
            Ok(true)
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
        ], $rest }
    };
}
pub(super) use groups_sql;
