//! The end of timed rollouts. A rollout ends by itself after its last frame
//! ([`rollout_core::RolloutPhase::Finished`]): from that moment every replica reports it as
//! no longer active and decides with the last frame's percentage, computed from the clock
//! alone. This module records the end in the store: the group's own percentage becomes the
//! last frame's, the rollout is no longer active, and the activity log says `rollout.finish`
//! once, however many replicas notice it (the change is a compare-and-swap of the group's
//! policy document, written in one transaction with the activity entry).
//!
//! Every replica looks for finished rollouts in its configuration cache every
//! [`INTERVAL`]; the admin handlers that change a group or its rollout record the end first,
//! so an operator's change always applies to a rollout that is really over.

use crate::cache::ConfigCache;
use crate::clock::Clock;
use crate::policy::GroupPolicy;
use crate::store::{ActivityRecord, GroupRecord, Store, StoreError};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::Duration;

/// Time between two looks for finished rollouts.
pub const INTERVAL: Duration = Duration::from_secs(1);

pub use crate::access::SYSTEM_ACTOR;

/// Records the end of `record`'s rollout if it has finished at `now`. Returns the group as
/// written when this call recorded it; `None` when there was nothing to record or another
/// request or replica changed the group first (read it again then).
///
/// # Errors
/// The store's.
pub async fn finish_rollout(
    store: &dyn Store,
    record: &GroupRecord,
    now: Timestamp,
) -> Result<Option<GroupRecord>, StoreError> {
    // A document that cannot be read has no rollout that runs (the group is paused).
    let Ok(mut policy) = GroupPolicy::from_json(&record.policy) else {
        return Ok(None);
    };
    let percent_before = policy.update_percent;
    let Some((percent, ended_at)) = policy.finish_rollout(now) else {
        return Ok(None);
    };
    let written = policy.to_json();
    let entry = ActivityRecord {
        id: 0,
        at: now.as_millisecond(),
        actor: SYSTEM_ACTOR.to_owned(),
        action: "rollout.finish".to_owned(),
        app_id: record.app_id.clone(),
        group_id: record.id.clone(),
        detail: format!(
            "timed rollout finished at {ended_at} after its last frame; the group stays at {percent} %"
        ),
        changes: vec![
            crate::changes::field(
                "updatePercent",
                Some(&percent_before.to_string()),
                Some(&percent.to_string()),
            ),
            crate::changes::field("rolloutActive", Some("true"), Some("false")),
        ],
    };
    if !store
        .replace_group_policy(&record.app_id, &record.id, &record.policy, &written, &entry)
        .await?
    {
        return Ok(None);
    }
    Ok(Some(GroupRecord {
        policy: written,
        ..record.clone()
    }))
}

/// Records every rollout of the cached configuration that has finished at the clock's
/// `now`; returns how many this call recorded. Refreshes the cache when it wrote.
///
/// # Errors
/// The store's (the groups before the failing one are recorded).
pub async fn finish_rollouts(
    store: &dyn Store,
    cache: &ConfigCache,
    clock: &dyn Clock,
) -> Result<usize, StoreError> {
    let now = clock.now();
    let snapshot = cache.snapshot();
    let finished: Vec<GroupRecord> = snapshot
        .apps
        .values()
        .flat_map(|app| app.groups.values())
        .filter(|g| {
            matches!(
                g.policy.rollout_phase(now),
                rollout_core::RolloutPhase::Finished { .. }
            )
        })
        .map(|g| g.record.clone())
        .collect();
    let mut recorded = 0;
    for record in &finished {
        if finish_rollout(store, record, now).await?.is_some() {
            recorded += 1;
        }
    }
    if !finished.is_empty() {
        cache.refresh().await?;
    }
    Ok(recorded)
}

/// Runs [`finish_rollouts`] every `every` until `stop` fires; a failure is logged and the
/// next tick tries again.
pub fn spawn(
    store: Arc<dyn Store>,
    cache: Arc<ConfigCache>,
    clock: Arc<dyn Clock>,
    every: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop => return,
            }
            match finish_rollouts(store.as_ref(), &cache, clock.as_ref()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(groups = n, "timed rollouts finished"),
                Err(err) => {
                    tracing::warn!(error = %err, "recording finished rollouts failed; will retry")
                }
            }
        }
    })
}
