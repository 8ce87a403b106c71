//! The instance counts: instances per (app, group, version, status), kept by the database
//! as the instances change, so that the census, the fleet gauges of `/metrics`, the group
//! pages and the admin API's counts read a few rows per group and version instead of
//! scanning every instance (migration 0007).
//!
//! Triggers on the instances table move the counts in the same transaction as every insert,
//! update (of app, group, version or status) and delete of an instance row, whatever
//! wrote it: the writer, the write-behind of sightings, a restore, an operator's SQL. On
//! SQLite (one writer at a time) they add into `instance_counts` directly; on PostgreSQL
//! they append to `instance_count_deltas`, so replicas writing at once never wait for one
//! another on a count row (nor deadlock), and this task folds the pending rows into the
//! counts every [`FOLD_EVERY`], one replica at a time ([`Store::fold_instance_counts`]).
//! A count is the sum of both tables at one snapshot, so it is exact whether or not the
//! fold ran.
//!
//! The reconciliation repairs what the triggers cannot see (rows changed with triggers
//! disabled, a counts table edited by hand): every [`RECONCILE_EVERY`], by whichever
//! replica finds it due first, it counts the instances again in chunks of [`CHUNK`] keys
//! with [`PAUSE`] between them, in one snapshot, and adds the difference from the counts
//! kept at that snapshot ([`Store::reconcile_instance_counts`]).

use crate::clock::{Clock, millis};
use crate::store::{ReconcilePace, Reconciliation, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Time between two folds of the pending counts.
pub const FOLD_EVERY: Duration = Duration::from_secs(1);

/// Time between two reconciliations (across all replicas).
pub const RECONCILE_EVERY: Duration = Duration::from_secs(600);

/// How often each replica asks whether a reconciliation is due.
pub const RECONCILE_CHECK: Duration = Duration::from_secs(60);

/// Instances counted per statement of a reconciliation.
pub const CHUNK: i64 = 5_000;

/// Pause between two chunks: at a few milliseconds per chunk, a reconciliation of a million
/// instances takes about ten seconds and a fraction of one core.
pub const PAUSE: Duration = Duration::from_millis(40);

/// The pace of the background reconciliation.
pub fn pace() -> ReconcilePace {
    ReconcilePace {
        chunk: CHUNK,
        pause: PAUSE,
        min_interval_ms: i64::try_from(RECONCILE_EVERY.as_millis()).unwrap_or(i64::MAX),
    }
}

/// Runs one reconciliation now if one is due, and logs what it found.
///
/// # Errors
/// The store's.
pub async fn reconcile(
    store: &dyn Store,
    clock: &dyn Clock,
    pace: &ReconcilePace,
) -> Result<Reconciliation, StoreError> {
    let done = store
        .reconcile_instance_counts(millis(clock.now()), pace)
        .await?;
    match done {
        Reconciliation::Done {
            instances,
            chunks,
            drift,
        } if drift != 0 => tracing::warn!(
            instances,
            chunks,
            drift,
            "instance counts reconciled: they had drifted from the instances, corrected"
        ),
        Reconciliation::Done {
            instances, chunks, ..
        } => tracing::info!(instances, chunks, "instance counts reconciled: exact"),
        Reconciliation::NotDue { .. } | Reconciliation::Superseded => {}
    }
    Ok(done)
}

/// Folds the pending counts every [`FOLD_EVERY`] and reconciles when due (asking every
/// [`RECONCILE_CHECK`], the first time one check after start), until `stop` fires.
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut fold = tokio::time::interval(FOLD_EVERY);
        fold.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut check = tokio::time::interval_at(
            tokio::time::Instant::now() + RECONCILE_CHECK,
            RECONCILE_CHECK,
        );
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let pace = pace();
        loop {
            tokio::select! {
                _ = fold.tick() => {
                    if let Err(err) = store.fold_instance_counts().await {
                        tracing::warn!(error = %err, "cannot fold the pending instance counts; will retry");
                    }
                }
                _ = check.tick() => {
                    // A reconciliation cut short by the stop applies nothing: it writes
                    // only at its end, in one transaction.
                    tokio::select! {
                        result = reconcile(store.as_ref(), clock.as_ref(), &pace) => {
                            if let Err(err) = result {
                                tracing::warn!(error = %err, "instance count reconciliation failed; will retry");
                            }
                        }
                        _ = &mut stop => return,
                    }
                }
                _ = &mut stop => return,
            }
        }
    })
}
