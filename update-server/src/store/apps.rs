//! SQL of the `apps` table: create, update, delete (with everything of the app).

/// The `Store` methods of apps.
macro_rules! apps_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
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
        ], $rest }
    };
}
pub(super) use apps_sql;
