//! SQL of webhooks (`webhooks`) and their outbox (`webhook_deliveries`): one row per webhook
//! and event key, claimed by the backends' own statements, finished, listed and pruned here.

use super::StoreError;
use super::common::backend;
use sqlx::Row;

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

/// The `Store` methods of webhooks and their deliveries.
macro_rules! webhooks_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
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
                .map(super::webhooks::delivery_from_row)
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
        ], $rest }
    };
}
pub(super) use webhooks_sql;
