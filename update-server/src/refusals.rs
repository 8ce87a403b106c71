//! The refusal board: each group's [`RefusalFacts`], posted by the writer after every
//! transaction that held the group's lock, read by the fast path of the update check.
//!
//! A check that the facts refuse ([`RefusalFacts::refuse`]) is answered at once, without
//! the group's lock and without a store round trip: its "last seen", reported version and
//! counters go to the write-behind like any fast-path check. Only a check the facts cannot
//! refuse (one that may be granted) goes to the writer, which decides under the lock and
//! posts fresh facts.
//!
//! Why this never over-grants: the facts only refuse. A grant is only ever decided by the
//! writer under the group's lock, whatever the board holds.
//!
//! Why it refuses nothing the lock would grant (beyond a bounded delay):
//!
//! - refusals that no concurrent decision can lift (the rate window full until `T`, not in
//!   the percentage, outside the maintenance window, blacklisted, paused, retrying after
//!   a failure, no target or package) hold from facts of any age (`rollout-core`'s
//!   `tests/refusal.rs`); the policy they are checked against is the current one from the
//!   configuration cache, and facts read for another rate limit say nothing of the window;
//! - refusals a concurrent event can lift (the in-flight cap, freed by a completion,
//!   failure or expiry, maybe on another replica; the automatic pause, lifted by the
//!   operator) are answered only from facts at most [`LIFTABLE_MAX_AGE`] old, so they delay
//!   a grant by at most that long. Older facts send the check to the writer, which posts
//!   new ones.
//!
//! Each replica posts the facts of the groups its own writer locked. A replica whose checks
//! of a group never reached its writer has no facts for the group and sends its checks
//! there, so it gets them with its first locked decision; after that, its refusals follow
//! the rules above whatever other replicas do.
//!
//! Bounded: one entry per group that exists (facts are posted only for groups with a
//! configuration), a few dozen bytes each.

use jiff::{SignedDuration, Timestamp};
use rollout_core::RefusalFacts;
use std::collections::HashMap;
use std::sync::RwLock;

/// How old facts may be to refuse what a concurrent event can lift (the in-flight cap, the
/// automatic pause): the longest such a refusal delays a grant.
pub const LIFTABLE_MAX_AGE: SignedDuration = SignedDuration::from_secs(1);

/// A group's facts and when they were read under the lock.
type Posted = (RefusalFacts, Timestamp);

/// The facts of each group: app id, then group id.
#[derive(Debug, Default)]
pub struct RefusalBoard {
    groups: RwLock<HashMap<String, HashMap<String, Posted>>>,
}

impl RefusalBoard {
    /// Posts a group's facts, read under its lock at `at`.
    pub fn post(&self, app_id: &str, group_id: &str, facts: RefusalFacts, at: Timestamp) {
        let mut groups = self.groups.write().unwrap_or_else(|e| e.into_inner());
        let app = match groups.get_mut(app_id) {
            Some(app) => app,
            None => groups.entry(app_id.to_owned()).or_default(),
        };
        match app.get_mut(group_id) {
            Some(posted) => *posted = (facts, at),
            None => {
                app.insert(group_id.to_owned(), (facts, at));
            }
        }
    }

    /// A group's facts and when they were read; `None` before its first locked decision.
    pub fn get(&self, app_id: &str, group_id: &str) -> Option<Posted> {
        let groups = self.groups.read().unwrap_or_else(|e| e.into_inner());
        groups.get(app_id)?.get(group_id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::{Policy, PolicyConfig, RolloutState};

    #[test]
    fn posts_replace_per_group() {
        let board = RefusalBoard::default();
        let policy = Policy::new(PolicyConfig::default()).unwrap();
        let facts = RolloutState::new().refusal_facts(&policy);
        let t0 = Timestamp::from_second(1_800_000_000).unwrap();
        let t1 = Timestamp::from_second(1_800_000_001).unwrap();
        assert_eq!(board.get("a", "g"), None);
        board.post("a", "g", facts, t0);
        board.post("a", "g", facts, t1);
        board.post("a", "h", facts, t0);
        assert_eq!(board.get("a", "g"), Some((facts, t1)));
        assert_eq!(board.get("b", "g"), None);
        assert_eq!(board.get("a", "h"), Some((facts, t0)));
    }
}
