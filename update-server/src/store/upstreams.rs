//! SQL of upstreams (`upstreams`) and the result of each one's last sync.

/// The `Store` methods of upstreams.
macro_rules! upstreams_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
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
        ], $rest }
    };
}
pub(super) use upstreams_sql;
