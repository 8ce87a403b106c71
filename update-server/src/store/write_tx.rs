//! The writer's transaction: the batch writes of history, rollups, instances and sightings
//! (through a connection, so the sightings flush shares them), and `impl WriteTx` for a
//! backend's transaction.

use super::Sighting;

/// Keeps the latest sighting per instance (by order key): a multi-row upsert may not touch
/// a row twice. In key order, so that concurrent writes lock the rows in the same order
/// (no deadlock between replicas on PostgreSQL).
pub(super) fn latest_sightings(sightings: &[Sighting]) -> Vec<&Sighting> {
    let mut latest: std::collections::HashMap<(&str, &str), &Sighting> =
        std::collections::HashMap::with_capacity(sightings.len());
    for s in sightings {
        latest
            .entry((s.app_id.as_str(), s.machine_id.as_str()))
            .and_modify(|cur| {
                if (s.seq, s.at) >= (cur.seq, cur.at) {
                    *cur = s;
                }
            })
            .or_insert(s);
    }
    let mut latest: Vec<&Sighting> = latest.into_values().collect();
    latest.sort_unstable_by(|a, b| {
        (a.app_id.as_str(), a.machine_id.as_str()).cmp(&(b.app_id.as_str(), b.machine_id.as_str()))
    });
    latest
}

/// Writes rows of history, sightings or rollups through an executor (a transaction).
macro_rules! shared_batch_writes {
    ($db:ty, $conn:ty) => {
        async fn write_history(conn: &mut $conn, entries: &[HistoryRecord]) -> Result<(), StoreError> {
            for chunk in entries.chunks(super::common::CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO instance_history (app_id, machine_id, at, group_id, version, \
                     kind, event_type, event_result, error_code, target_version, install_source, \
                     previous_version) ",
                );
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(e.app_id.clone())
                        .push_bind(e.machine_id.clone())
                        .push_bind(e.at)
                        .push_bind(e.group_id.clone())
                        .push_bind(e.version.clone())
                        .push_bind(e.kind.as_str())
                        .push_bind(e.event_type)
                        .push_bind(e.event_result)
                        .push_bind(e.error_code)
                        .push_bind(e.target_version.clone())
                        .push_bind(e.install_source.clone())
                        .push_bind(e.previous_version.clone());
                });
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(super::common::backend)?;
            }
            Ok(())
        }

        async fn write_rollups(conn: &mut $conn, deltas: &[RollupDelta]) -> Result<(), StoreError> {
            let merged = super::merge_rollups(deltas);
            for chunk in merged.chunks(super::common::CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO rollups (app_id, group_id, resolution, bucket, version, \
                     event_type, event_result, count) ",
                );
                qb.push_values(chunk, |mut b, (key, resolution, bucket, count)| {
                    let (t, r) = key
                        .event
                        .unwrap_or((super::REQUESTS_EVENT, super::REQUESTS_EVENT));
                    b.push_bind(key.app_id.clone())
                        .push_bind(key.group_id.clone())
                        .push_bind(*resolution)
                        .push_bind(*bucket)
                        .push_bind(key.version.clone())
                        .push_bind(t)
                        .push_bind(r)
                        .push_bind(*count);
                });
                qb.push(
                    " ON CONFLICT (app_id, group_id, resolution, bucket, version, event_type, \
                     event_result) DO UPDATE SET count = rollups.count + excluded.count",
                );
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(super::common::backend)?;
            }
            Ok(())
        }

        async fn read_instances(
            conn: &mut $conn,
            keys: &[(String, String)],
        ) -> Result<Vec<InstanceRecord>, StoreError> {
            use super::common::backend;
            let mut found = Vec::with_capacity(keys.len());
            for chunk in keys.chunks(super::common::CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "SELECT * FROM instances WHERE (app_id, machine_id) IN (",
                );
                qb.push_values(chunk, |mut b, (app_id, machine_id)| {
                    b.push_bind(app_id.clone()).push_bind(machine_id.clone());
                });
                qb.push(")");
                for row in qb
                    .build()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?
                {
                    found.push(
                        <InstanceRecord as sqlx::FromRow<'_, _>>::from_row(&row)
                            .map_err(backend)?,
                    );
                }
            }
            Ok(found)
        }

        async fn write_instances(
            conn: &mut $conn,
            instances: &[InstanceRecord],
        ) -> Result<(), StoreError> {
            // In key order, like every multi-row write of instances: two transactions
            // (replicas) writing some of the same rows lock them in the same order, so they
            // wait for one another instead of deadlocking on PostgreSQL.
            let mut sorted: Vec<&InstanceRecord> = instances.iter().collect();
            sorted.sort_unstable_by(|a, b| {
                (a.app_id.as_str(), a.machine_id.as_str())
                    .cmp(&(b.app_id.as_str(), b.machine_id.as_str()))
            });
            // 17 parameters a row: stay far below both backends' limits.
            for chunk in sorted.chunks(super::common::CHUNK / 2) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO instances (app_id, machine_id, group_id, version, oem, status, \
                     last_event_type, last_event_result, last_error_code, grant_version, \
                     granted_at, first_seen, last_seen, report_seq, failures, retry_until, \
                     retry_version) ",
                );
                qb.push_values(chunk, |mut b, i| {
                    b.push_bind(i.app_id.clone())
                        .push_bind(i.machine_id.clone())
                        .push_bind(i.group_id.clone())
                        .push_bind(i.version.clone())
                        .push_bind(i.oem.clone())
                        .push_bind(i.status.clone())
                        .push_bind(i.last_event_type)
                        .push_bind(i.last_event_result)
                        .push_bind(i.last_error_code)
                        .push_bind(i.grant_version.clone())
                        .push_bind(i.granted_at)
                        .push_bind(i.first_seen)
                        .push_bind(i.last_seen)
                        .push_bind(i.report_seq)
                        .push_bind(i.failures)
                        .push_bind(i.retry_until)
                        .push_bind(i.retry_version.clone());
                });
                // What the instance reports (group, version, OEM, last seen) is applied only
                // over an older report: a write-behind sighting of a later request may have
                // landed since the writer read the row. The status, grant and retry delay are
                // the writer's alone.
                qb.push(
                    " ON CONFLICT (app_id, machine_id) DO UPDATE SET \
                     group_id = CASE WHEN excluded.report_seq >= instances.report_seq \
                       THEN excluded.group_id ELSE instances.group_id END, \
                     version = CASE WHEN excluded.report_seq >= instances.report_seq \
                       THEN excluded.version ELSE instances.version END, \
                     oem = CASE WHEN excluded.report_seq >= instances.report_seq \
                       THEN excluded.oem ELSE instances.oem END, \
                     last_seen = CASE WHEN excluded.last_seen >= instances.last_seen \
                       THEN excluded.last_seen ELSE instances.last_seen END, \
                     report_seq = CASE WHEN excluded.report_seq >= instances.report_seq \
                       THEN excluded.report_seq ELSE instances.report_seq END, \
                     status = excluded.status, \
                     last_event_type = excluded.last_event_type, \
                     last_event_result = excluded.last_event_result, \
                     last_error_code = excluded.last_error_code, \
                     grant_version = excluded.grant_version, granted_at = excluded.granted_at, \
                     failures = excluded.failures, retry_until = excluded.retry_until, \
                     retry_version = excluded.retry_version",
                );
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(super::common::backend)?;
            }
            Ok(())
        }

        async fn write_sightings(conn: &mut $conn, sightings: &[Sighting]) -> Result<(), StoreError> {
            let latest = super::write_tx::latest_sightings(sightings);
            for chunk in latest.chunks(super::common::CHUNK) {
                let mut qb = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO instances (app_id, machine_id, group_id, version, oem, status, \
                     first_seen, last_seen, report_seq) ",
                );
                qb.push_values(chunk, |mut b, s| {
                    b.push_bind(s.app_id.clone())
                        .push_bind(s.machine_id.clone())
                        .push_bind(s.group_id.clone())
                        .push_bind(s.version.clone())
                        .push_bind(s.oem.clone())
                        .push_bind("unknown")
                        .push_bind(s.at)
                        .push_bind(s.at)
                        .push_bind(s.seq);
                });
                // Newest wins: only over a report of an earlier request (the writer may have
                // stored a later one since this sighting was buffered).
                qb.push(
                    " ON CONFLICT (app_id, machine_id) DO UPDATE SET \
                     group_id = excluded.group_id, version = excluded.version, \
                     oem = excluded.oem, last_seen = excluded.last_seen, \
                     report_seq = excluded.report_seq \
                     WHERE instances.report_seq < excluded.report_seq",
                );
                qb.build()
                    .execute(&mut *conn)
                    .await
                    .map_err(super::common::backend)?;
            }
            Ok(())
        }
    };
}
pub(super) use shared_batch_writes;

/// `impl WriteTx` for a backend's transaction: the methods both backends implement with the
/// same SQL, plus the backend's own (`$own`). The struct has a
/// `tx: sqlx::Transaction<'static, DB>` field.
macro_rules! impl_write_tx {
    ($tx_type:ty, { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl WriteTx for $tx_type {
        $($own)*

        async fn put_group_state(
            &mut self,
            app_id: &str,
            group_id: &str,
            state: &[u8],
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO group_rollout_state (app_id, group_id, state, revision) \
                 VALUES ($1, $2, $3, 1) ON CONFLICT (app_id, group_id) DO UPDATE \
                 SET state = excluded.state, revision = group_rollout_state.revision + 1",
            )
            .bind(app_id)
            .bind(group_id)
            .bind(state)
            .execute(&mut *self.tx)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn grants(
            &mut self,
            app_id: &str,
            group_id: &str,
        ) -> Result<Vec<GrantRecord>, StoreError> {
            use super::common::backend;
            sqlx::query(
                "SELECT * FROM grants WHERE app_id = $1 AND group_id = $2 ORDER BY machine_id",
            )
            .bind(app_id)
            .bind(group_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| GrantRecord::from_row(row).map_err(backend))
            .collect()
        }

        async fn put_grant(&mut self, g: &GrantRecord) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO grants (app_id, group_id, machine_id, version, granted_at, \
                 expires_at, scheduled) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (app_id, group_id, machine_id) DO UPDATE SET \
                 version = excluded.version, granted_at = excluded.granted_at, \
                 expires_at = excluded.expires_at, scheduled = excluded.scheduled",
            )
            .bind(&g.app_id)
            .bind(&g.group_id)
            .bind(&g.machine_id)
            .bind(&g.version)
            .bind(g.granted_at)
            .bind(g.expires_at)
            .bind(g.scheduled)
            .execute(&mut *self.tx)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn delete_grant(
            &mut self,
            app_id: &str,
            group_id: &str,
            machine_id: &str,
        ) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM grants WHERE app_id = $1 AND group_id = $2 AND machine_id = $3")
                .bind(app_id)
                .bind(group_id)
                .bind(machine_id)
                .execute(&mut *self.tx)
                .await
                .map_err(super::common::backend)?;
            Ok(())
        }

        async fn instance(
            &mut self,
            app_id: &str,
            machine_id: &str,
        ) -> Result<Option<InstanceRecord>, StoreError> {
            use super::common::backend;
            sqlx::query("SELECT * FROM instances WHERE app_id = $1 AND machine_id = $2")
                .bind(app_id)
                .bind(machine_id)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(backend)?
                .map(|row| InstanceRecord::from_row(&row).map_err(backend))
                .transpose()
        }

        async fn clear_instance_grant(
            &mut self,
            app_id: &str,
            machine_id: &str,
            version: &str,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE instances SET grant_version = NULL, granted_at = NULL \
                 WHERE app_id = $1 AND machine_id = $2 AND grant_version = $3",
            )
            .bind(app_id)
            .bind(machine_id)
            .bind(version)
            .execute(&mut *self.tx)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn instances_by_key(
            &mut self,
            keys: &[(String, String)],
        ) -> Result<Vec<InstanceRecord>, StoreError> {
            read_instances(&mut *self.tx, keys).await
        }

        async fn put_instances(&mut self, instances: &[InstanceRecord]) -> Result<(), StoreError> {
            write_instances(&mut *self.tx, instances).await
        }

        async fn put_instance(&mut self, i: &InstanceRecord) -> Result<(), StoreError> {
            self.put_instances(std::slice::from_ref(i)).await
        }

        async fn append_history(&mut self, entries: &[HistoryRecord]) -> Result<(), StoreError> {
            write_history(&mut *self.tx, entries).await
        }

        async fn add_rollups(&mut self, deltas: &[RollupDelta]) -> Result<(), StoreError> {
            write_rollups(&mut *self.tx, deltas).await
        }

        async fn append_activity(&mut self, e: &ActivityRecord) -> Result<(), StoreError> {
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
            .execute(&mut *self.tx)
            .await
            .map_err(super::common::backend)?;
            Ok(())
        }

        async fn commit(self: Box<Self>) -> Result<(), StoreError> {
            self.tx.commit().await.map_err(super::common::backend)
        }
        }
    };
}
pub(super) use impl_write_tx;
