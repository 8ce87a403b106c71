//! A [`WriteTx`] that counts its round trips to the store and the group locks it takes,
//! into the metrics (`update_server_store_round_trips_total{path="writer"}`,
//! `update_server_group_locks_total`), so the load benchmark can divide them by the checks
//! it sent.
//!
//! Each call is counted as one round trip, locking as one per group: the store's calls are
//! one statement each, except the bulk reads and writes of many rows (one statement per few
//! hundred rows, counted once) and PostgreSQL's lock (two statements per group). The count
//! is a lower bound, exact for batches of up to a few hundred jobs on SQLite.

use crate::metrics::{Metrics, RoundTrips};
use crate::store::{
    ActivityRecord, GrantRecord, GroupStateRecord, HistoryRecord, InstanceRecord, RollupDelta,
    StoreError, WriteTx,
};
use async_trait::async_trait;
use std::sync::Arc;

/// The writer's transaction, counted.
pub(super) struct CountingTx {
    inner: Box<dyn WriteTx>,
    metrics: Arc<Metrics>,
}

impl CountingTx {
    /// Wraps a transaction that was just begun (its `BEGIN` counts as one round trip).
    pub(super) fn new(inner: Box<dyn WriteTx>, metrics: Arc<Metrics>) -> Self {
        metrics.round_trips(RoundTrips::Writer, 1);
        Self { inner, metrics }
    }

    fn trip(&self) {
        self.metrics.round_trips(RoundTrips::Writer, 1);
    }
}

#[async_trait]
impl WriteTx for CountingTx {
    async fn lock_groups(
        &mut self,
        groups: &[(String, String)],
    ) -> Result<Vec<Option<GroupStateRecord>>, StoreError> {
        // One statement per group (PostgreSQL adds the placeholder insert of each).
        self.metrics
            .round_trips(RoundTrips::Writer, groups.len() as u64);
        self.metrics.group_locks(groups.len() as u64);
        self.inner.lock_groups(groups).await
    }

    async fn put_group_state(
        &mut self,
        app_id: &str,
        group_id: &str,
        state: &[u8],
    ) -> Result<(), StoreError> {
        self.trip();
        self.inner.put_group_state(app_id, group_id, state).await
    }

    async fn grants(
        &mut self,
        app_id: &str,
        group_id: &str,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.trip();
        self.inner.grants(app_id, group_id).await
    }

    async fn put_grant(&mut self, grant: &GrantRecord) -> Result<(), StoreError> {
        self.trip();
        self.inner.put_grant(grant).await
    }

    async fn delete_grant(
        &mut self,
        app_id: &str,
        group_id: &str,
        machine_id: &str,
    ) -> Result<(), StoreError> {
        self.trip();
        self.inner.delete_grant(app_id, group_id, machine_id).await
    }

    async fn clear_instance_grant(
        &mut self,
        app_id: &str,
        machine_id: &str,
        version: &str,
    ) -> Result<(), StoreError> {
        self.trip();
        self.inner
            .clear_instance_grant(app_id, machine_id, version)
            .await
    }

    async fn instance(
        &mut self,
        app_id: &str,
        machine_id: &str,
    ) -> Result<Option<InstanceRecord>, StoreError> {
        self.trip();
        self.inner.instance(app_id, machine_id).await
    }

    async fn put_instance(&mut self, instance: &InstanceRecord) -> Result<(), StoreError> {
        self.trip();
        self.inner.put_instance(instance).await
    }

    async fn instances_by_key(
        &mut self,
        keys: &[(String, String)],
    ) -> Result<Vec<InstanceRecord>, StoreError> {
        if !keys.is_empty() {
            self.trip();
        }
        self.inner.instances_by_key(keys).await
    }

    async fn put_instances(&mut self, instances: &[InstanceRecord]) -> Result<(), StoreError> {
        if !instances.is_empty() {
            self.trip();
        }
        self.inner.put_instances(instances).await
    }

    async fn append_history(&mut self, entries: &[HistoryRecord]) -> Result<(), StoreError> {
        if !entries.is_empty() {
            self.trip();
        }
        self.inner.append_history(entries).await
    }

    async fn add_rollups(&mut self, deltas: &[RollupDelta]) -> Result<(), StoreError> {
        if !deltas.is_empty() {
            self.trip();
        }
        self.inner.add_rollups(deltas).await
    }

    async fn append_activity(&mut self, entry: &ActivityRecord) -> Result<(), StoreError> {
        self.trip();
        self.inner.append_activity(entry).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.trip();
        self.inner.commit().await
    }
}
