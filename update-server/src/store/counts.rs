//! SQL of the instance counts the database keeps (migration 0007, see [`crate::counts`]):
//! reading them (`instance_counts` plus the pending `instance_count_deltas`), the
//! reconciliation that counts the instances again, and the fold of the pending rows.

use super::common::backend;
use super::{StoreError, VersionCount};
use sqlx::Row;

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
        ) -> Result<std::collections::BTreeMap<super::counts::CountKey, i64>, StoreError> {
            let rows = sqlx::query(concat!(
                super::counts::kept_counts_sql!("app_id, group_id, version, status"),
                " GROUP BY app_id, group_id, version, status"
            ))
            .fetch_all(&mut *conn)
            .await
            .map_err(super::common::backend)?;
            let mut kept = std::collections::BTreeMap::new();
            super::counts::add_count_rows(&mut kept, &rows)?;
            Ok(kept)
        }

        /// Counts the next `chunk` instances by key after `after` (from the first when
        /// `None`) into `into`; returns the last key counted, `None` at the end.
        /// `count_sql` is the backend's count statement, before and after its conditions
        /// on the key range (`CHUNK_COUNT_SQL`).
        async fn count_instance_chunk(
            conn: &mut $conn,
            after: Option<&(String, String)>,
            chunk: i64,
            count_sql: (&'static str, &'static str),
            into: &mut std::collections::BTreeMap<super::counts::CountKey, i64>,
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
            let mut qb = sqlx::QueryBuilder::<$db>::new(count_sql.0);
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
            qb.push(count_sql.1);
            let rows = qb.build().fetch_all(&mut *conn).await.map_err(backend)?;
            super::counts::add_count_rows(into, &rows)?;
            Ok(upper)
        }

        /// Appends corrections to the pending rows of the counts.
        async fn add_count_deltas(
            conn: &mut $conn,
            deltas: &[(super::counts::CountKey, i64)],
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

/// The `Store` methods of the instance counts.
macro_rules! counts_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
        async fn instance_status_counts(
            &self,
            filter: &InstanceFilter,
        ) -> Result<Vec<StatusCount>, StoreError> {
            use super::common::backend;
            let mut qb = if filter.is_counted() {
                sqlx::QueryBuilder::<$db>::new(super::counts::kept_counts_sql!(
                    "app_id, group_id, version, status"
                ))
            } else {
                sqlx::QueryBuilder::<$db>::new(
                    "SELECT app_id, group_id, version, status, COUNT(*) AS n FROM instances",
                )
            };
            super::instances::push_instance_filter!(qb, filter);
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

        async fn version_counts(
            &self,
            filter: &InstanceFilter,
        ) -> Result<Vec<VersionCount>, StoreError> {
            use super::common::backend;
            let mut qb = if filter.is_counted() {
                sqlx::QueryBuilder::<$db>::new(super::counts::kept_counts_sql!(
                    "app_id, group_id, version"
                ))
            } else {
                sqlx::QueryBuilder::<$db>::new(
                    "SELECT app_id, group_id, version, COUNT(*) AS n FROM instances",
                )
            };
            super::instances::push_instance_filter!(qb, filter);
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
                .map(|row| super::counts::version_count_from_row(row).map_err(backend))
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
                    count_instance_chunk(
                        &mut *tx,
                        after.as_ref(),
                        pace.chunk,
                        Self::CHUNK_COUNT_SQL,
                        &mut counted,
                    )
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
            let corrections = super::counts::count_corrections(&kept, &counted);
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
        ], $rest }
    };
}
pub(super) use counts_sql;
