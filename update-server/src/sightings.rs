//! Write-behind of routine check-ins: "last seen", the reported version, and the request
//! counters behind the graphs. A check that changes nothing else is answered at once; what
//! it changed is buffered and written in one transaction at least every
//! [`FLUSH_INTERVAL`] and on shutdown.

use crate::metrics::{BatchKind, ErrorKind, Metrics, RoundTrips, StoreOp};
use crate::store::{RollupDelta, Sighting, Store};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the buffer is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Most sightings kept while the store is unreachable; beyond it the oldest are dropped
/// (they are "last seen" times and counters, not events).
const LIMIT: usize = 1_000_000;

/// The buffer.
#[derive(Debug, Default)]
pub struct Sightings {
    pending: Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    sightings: Vec<Sighting>,
    rollups: Vec<RollupDelta>,
}

impl Sightings {
    /// Buffers a check-in and its counter increments.
    pub fn push(&self, sighting: Sighting, rollups: impl IntoIterator<Item = RollupDelta>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.sightings.push(sighting);
        pending.rollups.extend(rollups);
    }

    /// Writes what is buffered. On failure it is kept for the next flush.
    pub async fn flush(&self, store: &dyn Store) -> Result<usize, crate::store::StoreError> {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        if batch.sightings.is_empty() && batch.rollups.is_empty() {
            return Ok(0);
        }
        match store
            .record_sightings(&batch.sightings, &batch.rollups)
            .await
        {
            Ok(()) => Ok(batch.sightings.len()),
            Err(err) => {
                let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                let mut sightings = batch.sightings;
                sightings.append(&mut pending.sightings);
                let mut rollups = batch.rollups;
                rollups.append(&mut pending.rollups);
                if sightings.len() > LIMIT {
                    let excess = sightings.len() - LIMIT;
                    tracing::warn!(
                        dropped = excess,
                        "sighting buffer full; dropping the oldest"
                    );
                    sightings.drain(..excess);
                }
                if rollups.len() > LIMIT {
                    let excess = rollups.len() - LIMIT;
                    rollups.drain(..excess);
                }
                pending.sightings = sightings;
                pending.rollups = rollups;
                Err(err)
            }
        }
    }

    /// Flushes every [`FLUSH_INTERVAL`] until `stop` fires, then once more and returns. A
    /// flush under way is never cut short (the task is not aborted), so nothing taken from
    /// the buffer is lost.
    pub fn spawn_flusher(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        let flush = move |this: Arc<Self>, store: Arc<dyn Store>, metrics: Arc<Metrics>| async move {
            let started = std::time::Instant::now();
            let result = this.flush(store.as_ref()).await;
            match &result {
                Ok(0) => {}
                Ok(n) => {
                    metrics.round_trips(RoundTrips::WriteBehind, 1);
                    metrics.store_latency(StoreOp::RecordSightings, started.elapsed());
                    metrics.batch(BatchKind::Sightings, *n);
                }
                Err(_) => metrics.error(ErrorKind::RecordSightings),
            }
            result
        };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stop => break,
                }
                if let Err(err) = flush(this.clone(), store.clone(), metrics.clone()).await {
                    tracing::warn!(error = %err, "writing last-seen times failed; will retry");
                }
            }
            if let Err(err) = flush(this, store, metrics).await {
                tracing::error!(error = %err, "last-seen times could not be written at shutdown");
            }
        })
    }
}
