//! The census behind the "instances by version" graphs: every [`INTERVAL`] each server
//! reads the instances per (app, group, version) from the counts the database keeps
//! ([`crate::counts`]: a few rows per group and version, not a scan of the instances) and
//! stores them as the census of the current bucket at every graph resolution
//! ([`Store::record_census`]). A bucket keeps the last census taken in it, so a finished
//! minute shows the fleet as it was at its end, and the current one as it is now.
//!
//! The request rollups count check-ins, which follow the instances only as far as every
//! instance checks in once per bucket; the census counts the instances themselves, however
//! often they poll. Several replicas take it alike: whichever wrote last wins, and all read
//! the same instances table.

use crate::clock::Clock;
use crate::store::{InstanceFilter, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Time between two censuses.
pub const INTERVAL: Duration = Duration::from_secs(20);

/// Takes a census now.
///
/// # Errors
/// The store's.
pub async fn take(store: &dyn Store, clock: &dyn Clock) -> Result<(), StoreError> {
    let counts = store.version_counts(&InstanceFilter::default()).await?;
    store.record_census(clock.now().as_second(), &counts).await
}

/// Takes a census every `every` until `stop` fires; a failed one is logged and the next
/// tried at the next tick.
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => return,
            }
            if let Err(err) = take(store.as_ref(), clock.as_ref()).await {
                tracing::warn!(error = %err, "census failed; will retry at the next");
            }
        }
    })
}
