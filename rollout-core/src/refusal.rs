//! Refusals without the lock: what a snapshot of a group's rollout state lets a replica
//! refuse without locking the group.
//!
//! A grant must be decided under the group's lock ([`RolloutState::decide`]), but most
//! checks during a slow rollout are refused, and many refusals cannot be turned into a
//! grant by anything a concurrent decision does. [`RefusalFacts`] are the few values of a
//! [`RolloutState`] such refusals need, taken when the state was last seen under the lock;
//! [`RefusalFacts::refuse`] applies the rules of `decide` to them, in the same order, for
//! an instance that holds no grant, and answers the refusal `decide` would give, or `None`
//! when only the lock can tell (the check may be granted).
//!
//! Each refusal says whether a concurrent event can lift it ([`Refusal::liftable`]):
//!
//! - **Not liftable** (hold until the configuration changes or, for the rate window, until
//!   the time they name): no target, up to date, ahead of the target, no package, payload
//!   missing, paused, blacklisted, retrying after a failure, outside the maintenance
//!   window, not in the percentage (all functions of the policy, the check, the instance
//!   and `now`), and the rate window full until `T`: the window only gains grants
//!   ([`RolloutState::decide`] adds a scheduled grant's time and never removes one while the
//!   window is full; events, expiry and `resume` leave it alone), so a window full of
//!   grants younger than the interval stays full until the oldest of them is an interval
//!   old. A change of the rate limit is a change of the policy, which the facts are checked
//!   against.
//! - **Liftable**: the in-flight cap (a completion, failure or expiry frees a slot) and the
//!   automatic pause (the operator resumes). Answered from facts that are not too old,
//!   they delay a grant by at most that age; they never grant.
//!
//! None of these ever grants: a refusal from stale facts can only delay an update, so the
//! limits enforced under the lock hold whatever the facts say. `tests/refusal.rs` checks
//! that a refusal of the facts is the refusal of the locked decision on the same state,
//! and that a non-liftable one still holds after any further decisions and events.

use jiff::Timestamp;

use crate::{
    AutoPause, Backoff, Check, InstallSource, Percent, Policy, RateLimit, Reason, RolloutState,
    Version, position,
};

/// The values of a group's [`RolloutState`] that refusals without the lock need, taken
/// under the lock ([`RolloutState::refusal_facts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalFacts {
    /// The rate limit the window below was read for.
    rate: Option<RateLimit>,
    /// The oldest of the window's last `rate.count` grant times, when the window holds
    /// that many.
    window_oldest: Option<Timestamp>,
    /// Outstanding grants.
    in_flight: usize,
    /// The automatic pause.
    auto_pause: Option<AutoPause>,
    /// The state's high-water time: `decide` reads an earlier `now` as this.
    high_water: Option<Timestamp>,
}

/// A refusal answered from [`RefusalFacts`].
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The reason, the one the locked decision gives on the state the facts were taken of.
    pub reason: Reason,
    /// Whether a concurrent event (a completion, an expiry, the operator's resume) can lift
    /// it: then the facts must be recent.
    pub liftable: bool,
}

impl RolloutState {
    /// The facts refusals without the lock need, for `policy`.
    pub fn refusal_facts(&self, policy: &Policy) -> RefusalFacts {
        let rate = policy.rate_limit();
        let window_oldest = rate.and_then(|rate| {
            let count = usize::try_from(rate.count).unwrap_or(usize::MAX);
            let len = self.grant_times().len();
            if count == 0 || len < count {
                return None;
            }
            self.grant_times().nth(len - count)
        });
        RefusalFacts {
            rate,
            window_oldest,
            in_flight: self.in_flight(),
            auto_pause: self.auto_pause(),
            high_water: self.high_water(),
        }
    }
}

/// The instance a refusal is asked for: one that holds no grant of the group.
#[derive(Debug, Clone, Copy)]
pub struct Applicant<'a> {
    /// Its machine id.
    pub machine_id: &'a str,
    /// The version it runs.
    pub version: &'a Version,
    /// Its OEM.
    pub oem: &'a str,
    /// Its retry delay after a failure, if it has one.
    pub backoff: Option<&'a Backoff>,
}

impl RefusalFacts {
    /// The refusal [`RolloutState::decide`] would give `applicant`, which holds no grant,
    /// on the state these facts were taken of, at `now`, under `policy`; `None` when the
    /// check may be granted (or the facts were taken for another rate limit and the rate
    /// window is what would decide).
    pub fn refuse(
        &self,
        policy: &Policy,
        applicant: &Applicant<'_>,
        check: &Check<'_>,
        now: Timestamp,
    ) -> Option<Refusal> {
        let fixed = |reason| {
            Some(Refusal {
                reason,
                liftable: false,
            })
        };
        let now = self.high_water.map_or(now, |h| h.max(now));
        let Some(target) = check.channel.target.as_ref() else {
            return fixed(Reason::NoTarget);
        };
        match applicant.version.cmp(target) {
            std::cmp::Ordering::Equal => return fixed(Reason::UpToDate),
            std::cmp::Ordering::Greater if !policy.allow_downgrade() => {
                return fixed(Reason::AheadOfTarget);
            }
            _ => {}
        }
        match check.package {
            None => return fixed(Reason::NoPackage),
            Some(package) if package.url.is_empty() => return fixed(Reason::PayloadMissing),
            Some(_) => {}
        }
        if policy.paused() {
            return fixed(Reason::Paused);
        }
        if let Some(pause) = self.auto_pause {
            return Some(Refusal {
                reason: Reason::AutoPaused { since: pause.at },
                liftable: true,
            });
        }
        if policy.is_blacklisted(applicant.oem) {
            return fixed(Reason::Blacklisted);
        }
        let scheduled = check.install_source == InstallSource::Scheduler;
        if scheduled
            && policy.retry_delay().is_some()
            && let Some(backoff) = applicant.backoff
            && backoff.holds(target, now)
        {
            return fixed(Reason::RetryingAfterFailure {
                until: backoff.until,
            });
        }
        if scheduled {
            if let Some(windows) = policy.maintenance()
                && !windows.is_open(now)
            {
                return fixed(Reason::OutsideWindow {
                    opens_at: windows.next_opening(now),
                });
            }
            let percent = policy.percent_at(now);
            if percent != Percent::FULL && !percent.admits(position(applicant.machine_id, target)) {
                return fixed(Reason::NotInPercent { percent });
            }
        }
        if let Some(limit) = policy.max_in_flight()
            && self.in_flight >= usize::try_from(limit).unwrap_or(usize::MAX)
        {
            return Some(Refusal {
                reason: Reason::InFlightCap { limit },
                liftable: true,
            });
        }
        if scheduled
            && let Some(rate) = policy.rate_limit()
            && self.rate == Some(rate)
            && let Some(oldest) = self.window_oldest
            && oldest.duration_until(now) < rate.interval
        {
            let until = oldest.checked_add(rate.interval).unwrap_or(Timestamp::MAX);
            return fixed(Reason::RateLimited { until });
        }
        None
    }
}
