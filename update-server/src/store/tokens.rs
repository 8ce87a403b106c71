//! SQL of API tokens (`api_tokens`): create, read, list, revoke, and the last use written
//! at most once a minute.

use super::StoreError;
use super::common::backend;
use sqlx::Row;

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

/// The `Store` methods of API tokens.
macro_rules! tokens_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
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
                .map(|row| super::tokens::token_from_row(&row))
                .transpose()
        }

        async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT * FROM api_tokens ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(super::tokens::token_from_row)
                .collect()
        }

        async fn delete_token(&self, name: &str) -> Result<TokenRecord, StoreError> {
            use super::common::backend;
            sqlx::query("DELETE FROM api_tokens WHERE name = $1 RETURNING *")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .map(|row| super::tokens::token_from_row(&row))
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
        ], $rest }
    };
}
pub(super) use tokens_sql;
