//! History rows per instance per minute: the bound on what one machine id can make the
//! writer store, whatever it sends.
//!
//! Every event that reaches the writer becomes a history row. The request limits
//! (`service::MAX_APPS_PER_REQUEST`, `service::MAX_EVENTS_PER_APP`) bound one request; this
//! bounds a machine id over time: at most [`MAX_HISTORY_PER_MINUTE`] events per (app,
//! instance) per minute of server time. An app over it is answered `restricted` with nothing
//! stored, like an app with too many events. update_engine reports a handful of events per
//! update, so no real client comes near it.
//!
//! Counts live in this replica's memory, keyed by a hash of (app id, machine id), for the
//! current minute only (a new minute starts every count again), in a fixed number of
//! entries. With several replicas each keeps its own counts: across `n` replicas an instance
//! may store at most `n` times the limit.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
use std::sync::Mutex;

/// The most events of one instance of one app stored per minute (per replica).
pub const MAX_HISTORY_PER_MINUTE: u32 = 60;

/// The most instances counted at once, over all shards. Past it an instance not counted
/// yet this minute is refused its events until the minute ends: memory stays bounded, and
/// a flood of invented machine ids cannot make room for more rows.
pub const MAX_TRACKED: usize = 1 << 20;

const SHARDS: usize = 16;

/// The counts of the current minute.
#[derive(Debug)]
pub struct HistoryBudget {
    hasher: std::collections::hash_map::RandomState,
    shards: [Mutex<Shard>; SHARDS],
}

#[derive(Debug, Default)]
struct Shard {
    minute: i64,
    counts: HashMap<u64, u32>,
}

impl Default for HistoryBudget {
    fn default() -> Self {
        Self {
            hasher: std::collections::hash_map::RandomState::new(),
            shards: std::array::from_fn(|_| Mutex::new(Shard::default())),
        }
    }
}

impl HistoryBudget {
    /// Takes `events` from the instance's budget for the minute holding `now_ms`: whether
    /// they may be stored. Nothing is taken when they may not.
    pub fn take(&self, app_id: &str, machine_id: &str, now_ms: i64, events: usize) -> bool {
        if events == 0 {
            return true;
        }
        let Ok(events) = u32::try_from(events) else {
            return false;
        };
        if events > MAX_HISTORY_PER_MINUTE {
            return false;
        }
        let mut hasher = self.hasher.build_hasher();
        app_id.hash(&mut hasher);
        machine_id.hash(&mut hasher);
        let key = hasher.finish();
        let minute = now_ms.div_euclid(60_000);
        let shard = &self.shards[(key % SHARDS as u64) as usize];
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        if shard.minute != minute {
            shard.minute = minute;
            shard.counts.clear();
        }
        let full = shard.counts.len() >= MAX_TRACKED / SHARDS;
        match shard.counts.get_mut(&key) {
            Some(count) if *count + events <= MAX_HISTORY_PER_MINUTE => {
                *count += events;
                true
            }
            Some(_) => false,
            None if full => false,
            None => {
                shard.counts.insert(key, events);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_gets_its_minute_budget_and_no_more() {
        let budget = HistoryBudget::default();
        let t = 1_700_000_000_000 - 1_700_000_000_000 % 60_000;
        for _ in 0..30 {
            assert!(budget.take("a", "m", t, 2));
        }
        assert!(
            !budget.take("a", "m", t + 59_999, 1),
            "61st event of the minute"
        );
        // Other instances and other apps have budgets of their own.
        assert!(budget.take("a", "n", t, 60));
        assert!(budget.take("b", "m", t, 60));
        // A refused take leaves the count alone; the next minute starts again.
        assert!(!budget.take("a", "n", t, 1));
        assert!(budget.take("a", "m", t + 60_000, 60));
        assert!(!budget.take("a", "m", t + 60_000, 1));
        assert!(
            !budget.take("a", "x", t + 60_000, 61),
            "more than a minute's budget at once"
        );
        assert!(budget.take("a", "x", t + 60_000, 0));
    }

    #[test]
    fn memory_is_bounded_by_the_number_of_entries() {
        let budget = HistoryBudget::default();
        let t = 0;
        let mut admitted = 0;
        for i in 0..(MAX_TRACKED + 10_000) {
            if budget.take("a", &i.to_string(), t, 1) {
                admitted += 1;
            }
        }
        assert!(admitted <= MAX_TRACKED, "{admitted} instances counted");
        assert!(admitted > MAX_TRACKED - 5_000, "only {admitted} admitted");
        let tracked: usize = budget
            .shards
            .iter()
            .map(|s| s.lock().unwrap().counts.len())
            .sum();
        assert!(tracked <= MAX_TRACKED);
    }
}
