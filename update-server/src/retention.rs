//! Retention: per-instance history, the request rollups behind the graphs (per resolution)
//! and the activity log are deleted once older than their settings, in the background.
//!
//! Defaults: history 90 days; per-minute rollups 2 days, hourly 90 days, daily 2 years;
//! activity log 1 year. 0 keeps a kind forever.
//!
//! A pass runs [`FIRST_PASS_AFTER`] after start, then every [`INTERVAL`]. It deletes in
//! batches of [`BATCH`] rows, oldest first, each batch its own short transaction with a
//! pause between batches, so the writer's transactions (update checks) never wait behind a
//! long delete: on SQLite a batch holds the single write lock for a few milliseconds; on
//! PostgreSQL it locks only the rows it deletes. Several replicas may prune at once: a
//! delete of rows another replica deleted first deletes nothing.

use crate::clock::{Clock, millis};
use crate::metrics::{ErrorKind, Metrics, StoreOp};
use crate::store::{ROLLUP_RESOLUTIONS, Store, StoreError};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows per delete statement.
pub const BATCH: i64 = 1000;

/// Pause between two batches.
pub const PAUSE: Duration = Duration::from_millis(20);

/// Time between two passes.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// Delay of the first pass after start (lets the server warm up first).
pub const FIRST_PASS_AFTER: Duration = Duration::from_secs(60);

const DAY_MS: i64 = 86_400_000;

/// How long each kind of record is kept, in days (`None` keeps it forever), and when the
/// background passes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Per-instance history.
    pub history_days: Option<u32>,
    /// Rollups at 60 s, 3600 s and 86400 s (in [`ROLLUP_RESOLUTIONS`] order).
    pub rollup_days: [Option<u32>; 3],
    /// Activity log.
    pub activity_days: Option<u32>,
    /// Delay of the first pass after start ([`FIRST_PASS_AFTER`]).
    pub first_pass_after: Duration,
    /// Time between two passes ([`INTERVAL`]).
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self::from_days(90, 2, 90, 730, 365)
    }
}

impl Retention {
    /// Retention from settings in days, 0 meaning forever.
    pub fn from_days(history: u32, minute: u32, hourly: u32, daily: u32, activity: u32) -> Self {
        let keep = |days: u32| (days > 0).then_some(days);
        Self {
            history_days: keep(history),
            rollup_days: [keep(minute), keep(hourly), keep(daily)],
            activity_days: keep(activity),
            first_pass_after: FIRST_PASS_AFTER,
            every: INTERVAL,
        }
    }

    /// Nothing is ever deleted.
    pub fn forever() -> Self {
        Self::from_days(0, 0, 0, 0, 0)
    }
}

/// What a pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// History entries.
    pub history: u64,
    /// Rollup rows per resolution ([`ROLLUP_RESOLUTIONS`] order).
    pub rollups: [u64; 3],
    /// Activity log entries.
    pub activity: u64,
}

/// The metric label of each table.
const ROLLUP_LABELS: [&str; 3] = ["rollups_60", "rollups_3600", "rollups_86400"];

/// One pass at `now`: deletes everything older than its retention, in batches of `batch`
/// rows with [`PAUSE`] between them.
pub async fn prune(
    store: &dyn Store,
    retention: &Retention,
    now: Timestamp,
    batch: i64,
    metrics: &Metrics,
) -> Result<Pruned, StoreError> {
    let now_ms = millis(now);
    let cutoff = |days: u32| now_ms - i64::from(days) * DAY_MS;
    let mut pruned = Pruned::default();
    if let Some(days) = retention.history_days {
        let before = cutoff(days);
        pruned.history = batches(metrics, "history", batch, || {
            store.prune_history(before, batch)
        })
        .await?;
    }
    for (i, (resolution, days)) in ROLLUP_RESOLUTIONS
        .iter()
        .zip(retention.rollup_days)
        .enumerate()
    {
        let Some(days) = days else { continue };
        // A bucket is deleted once its whole span is older than the retention.
        let before_bucket = (cutoff(days) / 1000) - resolution;
        pruned.rollups[i] = batches(metrics, ROLLUP_LABELS[i], batch, || {
            store.prune_rollups(*resolution, before_bucket, batch)
        })
        .await?;
    }
    if let Some(days) = retention.activity_days {
        let before = cutoff(days);
        pruned.activity = batches(metrics, "activity", batch, || {
            store.prune_activity(before, batch)
        })
        .await?;
    }
    Ok(pruned)
}

async fn batches<F, Fut>(
    metrics: &Metrics,
    table: &'static str,
    batch: i64,
    mut delete: F,
) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let started = Instant::now();
        let deleted = delete().await;
        metrics.store_latency(StoreOp::Prune, started.elapsed());
        let deleted = deleted.inspect_err(|_| metrics.error(ErrorKind::Prune))?;
        metrics.pruned(table, deleted);
        total += deleted;
        if deleted < u64::try_from(batch).unwrap_or(u64::MAX) {
            return Ok(total);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// Runs a pass `retention.first_pass_after` after start and then every `retention.every`,
/// until `stop` fires.
pub fn spawn(
    store: Arc<dyn Store>,
    retention: Retention,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = retention.every.max(Duration::from_secs(1));
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + retention.first_pass_after,
            every,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => return,
            }
            let pass = prune(store.as_ref(), &retention, clock.now(), BATCH, &metrics);
            tokio::select! {
                result = pass => match result {
                    Ok(pruned) => tracing::info!(
                        history = pruned.history,
                        rollups = ?pruned.rollups,
                        activity = pruned.activity,
                        "retention pass done"
                    ),
                    Err(err) => tracing::warn!(error = %err, "retention pass failed; will retry at the next"),
                },
                // Each batch is one statement deleting only expired rows: a pass cut short
                // leaves nothing half done that matters.
                _ = &mut stop => return,
            }
        }
    })
}
