//! SQL of instances as read and written outside the writer: the sightings flush, one
//! instance, a filtered page, the count of a filter, clearing a retry delay.

/// The `WHERE` clause of an instance filter, pushed onto a query builder.
macro_rules! push_instance_filter {
    ($qb:expr, $filter:expr) => {{
        let filter: &super::InstanceFilter = $filter;
        $qb.push(" WHERE 1 = 1");
        if let Some(v) = &filter.app_id {
            $qb.push(" AND app_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.machine_id {
            $qb.push(" AND machine_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.machine_id_prefix {
            // Not LIKE: no character of the prefix is a wildcard, and the comparison is
            // exact (case-sensitive) on both backends, whatever the collation.
            $qb.push(" AND substr(machine_id, 1, length(")
                .push_bind(v.clone())
                .push(")) = ")
                .push_bind(v.clone());
        }
        if let Some(v) = &filter.status {
            $qb.push(" AND status = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.group_id {
            $qb.push(" AND group_id = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.version {
            $qb.push(" AND version = ").push_bind(v.clone());
        }
        if let Some(v) = &filter.oem {
            $qb.push(" AND oem = ").push_bind(v.clone());
        }
        if let Some(v) = filter.event_type {
            $qb.push(" AND last_event_type = ").push_bind(v);
        }
        if let Some(v) = filter.event_result {
            $qb.push(" AND last_event_result = ").push_bind(v);
        }
        if let Some(v) = filter.seen_after {
            $qb.push(" AND last_seen >= ").push_bind(v);
        }
        if let Some(v) = filter.seen_before {
            $qb.push(" AND last_seen <= ").push_bind(v);
        }
    }};
}
pub(super) use push_instance_filter;

/// The `Store` methods of instances.
macro_rules! instances_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
        async fn record_sightings(
            &self,
            sightings: &[Sighting],
            rollups: &[RollupDelta],
        ) -> Result<(), StoreError> {
            use super::common::backend;
            if sightings.is_empty() && rollups.is_empty() {
                return Ok(());
            }
            let mut tx = self.pool.begin().await.map_err(backend)?;
            write_sightings(&mut *tx, sightings).await?;
            write_rollups(&mut *tx, rollups).await?;
            tx.commit().await.map_err(backend)
        }

        async fn instance(
            &self,
            app_id: &str,
            machine_id: &str,
        ) -> Result<Option<InstanceRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT * FROM instances WHERE app_id = $1 AND machine_id = $2")
                .bind(app_id)
                .bind(machine_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?
                .map(|row| InstanceRecord::from_row(&row).map_err(backend))
                .transpose()
        }

        async fn instances(
            &self,
            filter: &InstanceFilter,
            limit: i64,
            skip: i64,
        ) -> Result<Vec<InstanceRecord>, StoreError> {
            use super::common::backend;
            let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT * FROM instances");
            super::instances::push_instance_filter!(qb, filter);
            qb.push(" ORDER BY last_seen DESC, app_id, machine_id LIMIT ")
                .push_bind(limit.max(0))
                .push(" OFFSET ")
                .push_bind(skip.max(0));
            qb.build()
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?
                .iter()
                .map(|row| InstanceRecord::from_row(row).map_err(backend))
                .collect()
        }

        async fn clear_retry_delay(
            &self,
            app_id: &str,
            group_id: &str,
            machine_id: Option<&str>,
        ) -> Result<u64, StoreError> {
            let mut qb = sqlx::QueryBuilder::<$db>::new(
                "UPDATE instances SET failures = 0, retry_until = NULL, retry_version = NULL \
                 WHERE app_id = ",
            );
            qb.push_bind(app_id.to_owned())
                .push(" AND group_id = ")
                .push_bind(group_id.to_owned());
            if let Some(machine_id) = machine_id {
                qb.push(" AND machine_id = ").push_bind(machine_id.to_owned());
            }
            qb.push(" AND (failures <> 0 OR retry_until IS NOT NULL)");
            let done = qb
                .build()
                .execute(&self.pool)
                .await
                .map_err(super::common::backend)?;
            Ok(done.rows_affected())
        }

        async fn count_instances(&self, filter: &InstanceFilter) -> Result<i64, StoreError> {
            use super::common::backend;
            let mut qb = if filter.is_counted() {
                sqlx::QueryBuilder::<$db>::new(
                    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM (",
                )
            } else {
                sqlx::QueryBuilder::<$db>::new("SELECT COUNT(*) FROM instances")
            };
            if filter.is_counted() {
                qb.push(super::counts::kept_counts_sql!("app_id, group_id, version, status"));
                super::instances::push_instance_filter!(qb, filter);
                qb.push(" GROUP BY app_id, group_id, version, status HAVING SUM(d) > 0) AS k");
            } else {
                super::instances::push_instance_filter!(qb, filter);
            }
            qb.build_query_scalar()
                .fetch_one(&self.pool)
                .await
                .map_err(backend)
        }
        ], $rest }
    };
}
pub(super) use instances_sql;
