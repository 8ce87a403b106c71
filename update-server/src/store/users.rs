//! SQL of users (`users`: name, sealed key, role, scope) and of the Hawk nonces
//! (`hawk_nonces`, each used once per user).

use super::StoreError;
use super::common::backend;
use sqlx::Row;

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

/// The `Store` methods of users and Hawk nonces.
macro_rules! users_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
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
                .map(|row| super::users::user_from_row(&row))
                .transpose()
        }

        async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT name, key_sealed, created_at, role, apps FROM users ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(super::users::user_from_row)
                .collect()
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
        ], $rest }
    };
}
pub(super) use users_sql;
