//! SQL of the rollups (`rollups`): the census, the event totals, the points of a graph,
//! pruning per resolution.

/// The `Store` methods of the rollups.
macro_rules! rollups_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
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
        ], $rest }
    };
}
pub(super) use rollups_sql;
