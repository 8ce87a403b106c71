//! The group's rollout state and the two operations on it: [`RolloutState::decide`] (an
//! update check) and [`RolloutState::record_event`] (an instance event).
//!
//! # Decide under lock
//!
//! The store loads the group's [`RolloutState`] under a lock (a row lock, or SQLite's single
//! writer), calls `decide` or `record_event` with `now`, persists what the returned
//! [`Effects`] say changed, and commits. The engine holds no other state: the same inputs
//! always give the same decision and the same new state.
//!
//! # What the store persists
//!
//! | part                         | size                    | changes when                             |
//! |------------------------------|-------------------------|------------------------------------------|
//! | grant times (rate window)    | at most `update_count`  | `effects.granted` is a scheduled grant   |
//! | outstanding grants           | one per instance in flight | `effects.granted` / `effects.released` |
//! | attempt outcomes (ring)      | at most `last_attempts` | `effects.attempts` is not empty          |
//! | automatic pause              | one value               | `effects.auto_pause` is set, or `resume` |
//! | high-water time              | one timestamp           | every call with a later `now`            |
//!
//! Grants can live in the instance rows (the [`Instance::grant`] mirror) and be loaded back
//! into the state with [`RolloutState::from_parts`].
//!
//! # Cost
//!
//! A call costs O(log n) in the number of outstanding grants, plus O(log n) per grant that
//! expires during the call (each grant expires once, so this is amortised O(log n)); it
//! never scans the fleet. Expiry uses an index ordered by expiry time.
//!
//! # Time
//!
//! `now` is UTC. Time never runs backwards for a group: a `now` earlier than the latest
//! `now` seen (a replica with a slow clock) is read as that latest time, so the rate window
//! holds even across clock skew.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use jiff::Timestamp;

use crate::{
    Backoff, Check, Decision, ErrorCode, Event, EventKind, InstallSource, Instance, InstanceGrant,
    InstanceStatus, MachineId, Percent, Policy, Reason, Version, position,
};

/// An outstanding grant: an instance was offered `target` and has not finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The instance.
    pub machine_id: MachineId,
    /// The version granted.
    pub target: Version,
    /// When it was granted.
    pub granted_at: Timestamp,
    /// When it expires and frees its slot (`None`: the policy had no update timeout).
    pub expires_at: Option<Timestamp>,
    /// Whether the grant counted against the rate limit (`false` for on-demand checks).
    pub scheduled: bool,
}

/// How a finished attempt ended (the ring behind automatic pause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attempt {
    /// The instance reported the target version (3/2).
    Succeeded,
    /// The instance reported a failure (3/0).
    Failed,
    /// The grant expired without completing.
    TimedOut,
}

/// Why a grant left the in-flight set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseReason {
    /// The instance reported the target version.
    Completed,
    /// The instance reported a failure.
    Failed,
    /// The update timeout passed.
    Expired,
    /// The channel moved on; the grant was for an older target.
    Replaced,
}

/// A grant that left the in-flight set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The grant.
    pub grant: Grant,
    /// Why it left.
    pub reason: ReleaseReason,
}

/// The automatic pause: failures among the last attempts reached the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AutoPause {
    /// When it fired.
    pub at: Timestamp,
    /// Failures among the attempts looked at, at that moment.
    pub failures: u32,
    /// The number of attempts looked at, at that moment.
    pub attempts: u32,
}

/// What a call changed in the rollout state, for the store to persist (see the
/// [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effects {
    /// A new outstanding grant.
    pub granted: Option<Grant>,
    /// Grants that left the in-flight set (delete them; clear the instance rows' mirrors).
    pub released: Vec<Released>,
    /// Attempt outcomes appended to the ring.
    pub attempts: Vec<Attempt>,
    /// The automatic pause fired during this call: record it (activity log, the group's
    /// pause flag).
    pub auto_pause: Option<AutoPause>,
}

impl Effects {
    /// Whether nothing but the high-water time changed (and, after a policy change that
    /// lowered the rate limit's count, the trimming of the rate window). Neither needs a
    /// write: [`RolloutState::from_parts`] re-derives the high-water mark from the grant
    /// times and the next decision trims the window again.
    pub fn is_empty(&self) -> bool {
        self.granted.is_none()
            && self.released.is_empty()
            && self.attempts.is_empty()
            && self.auto_pause.is_none()
    }
}

/// The result of [`RolloutState::decide`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckOutcome {
    /// The decision.
    pub decision: Decision,
    /// What changed in the rollout state.
    pub effects: Effects,
    /// Whether the instance (status, grant mirror or back-off) changed.
    pub instance_changed: bool,
}

/// How an event moved the instance's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The status changed.
    Changed {
        /// The status before.
        from: InstanceStatus,
        /// The status after.
        to: InstanceStatus,
    },
    /// A known event that left the status as it was.
    Unchanged,
    /// An (eventtype, eventresult) pair the state machine does not know: record it, nothing
    /// moves.
    Unrecognized,
}

/// The result of [`RolloutState::record_event`].
#[derive(Debug, Clone, PartialEq)]
pub struct EventOutcome {
    /// What the event means.
    pub kind: EventKind,
    /// The instance's status transition.
    pub transition: Transition,
    /// What changed in the rollout state.
    pub effects: Effects,
    /// Whether the instance (status, version, grant mirror or back-off) changed.
    pub instance_changed: bool,
    /// The event was a routine 3/2 check-in, not a completion (see [`crate::event`]).
    pub check_in: bool,
}

/// The persisted parts of a [`RolloutState`], as plain values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutStateParts {
    /// Times of the most recent scheduled grants, oldest first.
    pub grant_times: Vec<Timestamp>,
    /// The outstanding grants.
    pub grants: Vec<Grant>,
    /// The most recent attempt outcomes, oldest first.
    pub attempts: Vec<Attempt>,
    /// The automatic pause, if it fired and was not resumed.
    pub auto_pause: Option<AutoPause>,
    /// The latest `now` the state has seen.
    pub high_water: Option<Timestamp>,
}

/// A group's rollout state: rate window, outstanding grants, attempt outcomes, automatic
/// pause. A plain value: build it with [`RolloutState::new`] or
/// [`RolloutState::from_parts`], read it back with the accessors or
/// [`RolloutState::to_parts`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RolloutState {
    window: VecDeque<Timestamp>,
    grants: BTreeMap<MachineId, Grant>,
    by_expiry: BTreeSet<(Timestamp, MachineId)>,
    attempts: VecDeque<Attempt>,
    failed: u32,
    timed_out: u32,
    auto_pause: Option<AutoPause>,
    high_water: Option<Timestamp>,
}

impl RolloutState {
    /// An empty state: nothing granted, nothing attempted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a state from its persisted parts. Grants for the same machine: the last
    /// wins.
    pub fn from_parts(parts: RolloutStateParts) -> Self {
        // Time never runs backwards: the latest grant time bounds the high-water mark from
        // below even when the store did not persist the mark on every call.
        let high_water = parts
            .grant_times
            .iter()
            .copied()
            .chain(parts.grants.iter().map(|g| g.granted_at))
            .chain(parts.high_water)
            .max();
        let mut state = Self {
            window: parts.grant_times.into(),
            auto_pause: parts.auto_pause,
            high_water,
            ..Self::default()
        };
        for grant in parts.grants {
            state.insert_grant(grant);
        }
        for attempt in parts.attempts {
            state.push_attempt(attempt);
        }
        state
    }

    /// Copies the state into its persisted parts (O(n): for tests and full snapshots; the
    /// store normally persists [`Effects`] incrementally).
    pub fn to_parts(&self) -> RolloutStateParts {
        RolloutStateParts {
            grant_times: self.window.iter().copied().collect(),
            grants: self.grants.values().cloned().collect(),
            attempts: self.attempts.iter().copied().collect(),
            auto_pause: self.auto_pause,
            high_water: self.high_water,
        }
    }

    /// Times of the most recent scheduled grants, oldest first (at most the rate limit's
    /// count once a decision has run under the policy).
    pub fn grant_times(&self) -> impl ExactSizeIterator<Item = Timestamp> + '_ {
        self.window.iter().copied()
    }

    /// The outstanding grants, ordered by machine id.
    pub fn grants(&self) -> impl ExactSizeIterator<Item = &Grant> + '_ {
        self.grants.values()
    }

    /// The outstanding grant of one instance.
    pub fn grant(&self, machine_id: &MachineId) -> Option<&Grant> {
        self.grants.get(machine_id)
    }

    /// The number of outstanding grants.
    pub fn in_flight(&self) -> usize {
        self.grants.len()
    }

    /// The most recent attempt outcomes, oldest first.
    pub fn attempts(&self) -> impl ExactSizeIterator<Item = Attempt> + '_ {
        self.attempts.iter().copied()
    }

    /// Failures among the recorded attempts, counting timeouts when `count_timeouts`.
    pub fn failures(&self, count_timeouts: bool) -> u32 {
        self.failed + if count_timeouts { self.timed_out } else { 0 }
    }

    /// The automatic pause, if it fired and was not resumed.
    pub fn auto_pause(&self) -> Option<AutoPause> {
        self.auto_pause
    }

    /// The latest `now` seen.
    pub fn high_water(&self) -> Option<Timestamp> {
        self.high_water
    }

    /// Lifts an automatic pause (the operator resumed the group) and forgets the attempt
    /// outcomes, so that the old failures do not pause the group again at once. Returns
    /// whether the group was automatically paused.
    pub fn resume(&mut self) -> bool {
        self.attempts.clear();
        self.failed = 0;
        self.timed_out = 0;
        self.auto_pause.take().is_some()
    }

    /// Expires grants whose update timeout passed at `now`, freeing their slots. `decide`
    /// and `record_event` do this themselves; a server may also call it periodically so
    /// that expired grants and timeouts are recorded without waiting for traffic.
    pub fn expire(&mut self, policy: &Policy, now: Timestamp) -> Effects {
        let mut fx = Effects::default();
        let now = self.advance(now);
        self.expire_into(policy, now, &mut fx);
        fx
    }

    /// Decides an update check of `instance` at `now` under `policy`.
    ///
    /// The order of the rules, first match wins:
    ///
    /// 1. expired grants are released (and may count as failed attempts);
    /// 2. no channel version: [`Reason::NoTarget`];
    /// 3. a grant for another target than the channel's is released (`Replaced`); the
    ///    instance runs the target: [`Reason::UpToDate`] (an outstanding grant for it
    ///    completes as a success); the instance runs a higher version and downgrades are
    ///    off: [`Reason::AheadOfTarget`]; no package: [`Reason::NoPackage`]; a package whose payload is not uploaded yet (empty URL):
    ///    [`Reason::PayloadMissing`];
    /// 4. paused by the operator or automatically: [`Reason::Paused`],
    ///    [`Reason::AutoPaused`], also for on-demand checks;
    /// 5. blacklisted OEM: [`Reason::Blacklisted`];
    /// 6. an outstanding grant for the target: the same update again, no capacity used;
    /// 7. scheduled checks only, when the policy has a retry delay: the instance's last
    ///    attempt at the target failed and its delay has not passed
    ///    ([`Reason::RetryingAfterFailure`]); then the maintenance window ([`Reason::OutsideWindow`]), then the
    ///    percentage ([`Reason::NotInPercent`]);
    /// 8. the in-flight cap ([`Reason::InFlightCap`]), for on-demand checks too;
    /// 9. scheduled checks only: the rate limit ([`Reason::RateLimited`]);
    /// 10. otherwise a new grant: recorded in flight and, when scheduled, in the rate window.
    ///
    /// `instance` is updated in place (status `Granted` and its grant mirror on a grant).
    pub fn decide(
        &mut self,
        policy: &Policy,
        instance: &mut Instance,
        check: &Check<'_>,
        now: Timestamp,
    ) -> CheckOutcome {
        let mut fx = Effects::default();
        let now = self.advance(now);
        self.expire_into(policy, now, &mut fx);
        // `decide` changes an instance's status, grant mirror and back-off, never its
        // version.
        let status_before = instance.status;
        let backoff_before = instance.backoff.clone();
        let decision = self.decide_inner(policy, instance, check, now, &mut fx);
        let mirror_changed = self.sync_mirror(instance);
        let instance_changed = mirror_changed
            || instance.status != status_before
            || instance.backoff != backoff_before;
        CheckOutcome {
            decision,
            effects: fx,
            instance_changed,
        }
    }

    fn decide_inner(
        &mut self,
        policy: &Policy,
        instance: &mut Instance,
        check: &Check<'_>,
        now: Timestamp,
        fx: &mut Effects,
    ) -> Decision {
        let no = |reason| Decision::NoUpdate { reason };
        let Some(target) = check.channel.target.as_ref() else {
            return no(Reason::NoTarget);
        };
        let machine = instance.machine_id.clone();
        // One lookup: does the instance hold a grant, and is it for the current target?
        let holds_current = match self.grants.get(&machine) {
            None => false,
            Some(grant) if grant.target == *target => true,
            Some(_) => {
                self.release(&machine, ReleaseReason::Replaced, fx);
                false
            }
        };
        let rollback = match instance.version.cmp(target) {
            std::cmp::Ordering::Equal => {
                if holds_current {
                    self.release(&machine, ReleaseReason::Completed, fx);
                    self.record_attempt(policy, Attempt::Succeeded, now, fx);
                    instance.status = InstanceStatus::Complete;
                    instance.backoff = None;
                }
                return no(Reason::UpToDate);
            }
            std::cmp::Ordering::Greater if !policy.allow_downgrade() => {
                return no(Reason::AheadOfTarget);
            }
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
        };
        match check.package {
            None => return no(Reason::NoPackage),
            Some(package) if package.url.is_empty() => return no(Reason::PayloadMissing),
            Some(_) => {}
        }
        if policy.paused() {
            return no(Reason::Paused);
        }
        if let Some(pause) = self.auto_pause {
            return no(Reason::AutoPaused { since: pause.at });
        }
        if policy.is_blacklisted(&instance.oem) {
            return no(Reason::Blacklisted);
        }
        if holds_current {
            return Decision::Update {
                target: target.clone(),
                rollback,
                reissued: true,
            };
        }
        let scheduled = check.install_source == InstallSource::Scheduler;
        if scheduled
            && policy.retry_delay().is_some()
            && let Some(backoff) = &instance.backoff
            && backoff.holds(target, now)
        {
            return no(Reason::RetryingAfterFailure {
                until: backoff.until,
            });
        }
        if scheduled {
            if let Some(windows) = policy.maintenance()
                && !windows.is_open(now)
            {
                return no(Reason::OutsideWindow {
                    opens_at: windows.next_opening(now),
                });
            }
            let percent = policy.percent_at(now);
            // At 100 % everybody is eligible: skip the hash.
            if percent != Percent::FULL && !percent.admits(position(machine.as_str(), target)) {
                return no(Reason::NotInPercent { percent });
            }
        }
        if let Some(limit) = policy.max_in_flight()
            && self.grants.len() >= usize::try_from(limit).unwrap_or(usize::MAX)
        {
            return no(Reason::InFlightCap { limit });
        }
        if scheduled && let Some(rate) = policy.rate_limit() {
            let count = usize::try_from(rate.count).unwrap_or(usize::MAX);
            while self.window.len() > count {
                self.window.pop_front();
            }
            if self.window.len() == count
                && let Some(&oldest) = self.window.front()
                && oldest.duration_until(now) < rate.interval
            {
                let until = oldest.checked_add(rate.interval).unwrap_or(Timestamp::MAX);
                return no(Reason::RateLimited { until });
            }
            if self.window.len() == count {
                self.window.pop_front();
            }
            self.window.push_back(now);
        }
        let expires_at = policy
            .update_timeout()
            .map(|t| now.checked_add(t).unwrap_or(Timestamp::MAX));
        let grant = Grant {
            machine_id: machine,
            target: target.clone(),
            granted_at: now,
            expires_at,
            scheduled,
        };
        self.insert_grant(grant.clone());
        fx.granted = Some(grant);
        instance.status = InstanceStatus::Granted;
        Decision::Update {
            target: target.clone(),
            rollback,
            reissued: false,
        }
    }

    /// Records an event of `instance` at `now`: moves its status (see [`crate::event`]:
    /// a routine 3/2 is a check-in and moves nothing), releases its grant on completion or
    /// failure, records the attempt, starts the instance's retry delay on a failure, and
    /// reports an automatic pause if the failure reached the threshold.
    pub fn record_event(
        &mut self,
        policy: &Policy,
        instance: &mut Instance,
        event: &Event,
        now: Timestamp,
    ) -> EventOutcome {
        let mut fx = Effects::default();
        let now = self.advance(now);
        self.expire_into(policy, now, &mut fx);
        let status_before = instance.status;
        let version_before = instance.version.clone();
        let backoff_before = instance.backoff.clone();
        let kind = event.kind();
        let machine = instance.machine_id.clone();
        let mut check_in = false;
        let new_status = match kind {
            EventKind::DownloadStarted => Some(InstanceStatus::Downloading),
            EventKind::DownloadFinished => Some(InstanceStatus::Downloaded),
            EventKind::Installed => Some(InstanceStatus::Installed),
            EventKind::InstalledHeld => Some(InstanceStatus::InstalledHeld),
            EventKind::Completed => {
                let reported = &event.version;
                let completes = match self.grants.get(&machine) {
                    Some(grant) if grant.target == *reported => {
                        self.release(&machine, ReleaseReason::Completed, &mut fx);
                        self.record_attempt(policy, Attempt::Succeeded, now, &mut fx);
                        true
                    }
                    // The routine report of an instance still working on its grant.
                    Some(_) => false,
                    None => {
                        *reported > instance.version
                            || event
                                .previous_version
                                .as_ref()
                                .is_some_and(|previous| previous < reported)
                    }
                };
                instance.version = reported.clone();
                if completes {
                    instance.backoff = None;
                    Some(InstanceStatus::Complete)
                } else {
                    check_in = true;
                    None
                }
            }
            EventKind::Failed(code) => {
                let failed = self.grants.get(&machine).map(|g| g.target.clone());
                if failed.is_some() {
                    self.release(&machine, ReleaseReason::Failed, &mut fx);
                    self.record_attempt(policy, Attempt::Failed, now, &mut fx);
                }
                if let Some(delay) = policy.retry_delay() {
                    let failures = instance
                        .backoff
                        .as_ref()
                        .map_or(0, |b| b.failures)
                        .saturating_add(1);
                    instance.backoff = Some(Backoff {
                        failures,
                        until: now
                            .checked_add(delay.after(failures))
                            .unwrap_or(Timestamp::MAX),
                        version: failed,
                    });
                }
                Some(InstanceStatus::Error(ErrorCode(code.0)))
            }
            EventKind::Unrecognized { .. } => None,
        };
        let from = instance.status;
        if let Some(to) = new_status {
            instance.status = to;
        }
        let mirror_changed = self.sync_mirror(instance);
        let transition = match (kind, new_status) {
            (EventKind::Unrecognized { .. }, _) => Transition::Unrecognized,
            (_, Some(to)) if to != from => Transition::Changed { from, to },
            _ => Transition::Unchanged,
        };
        let instance_changed = mirror_changed
            || instance.status != status_before
            || instance.version != version_before
            || instance.backoff != backoff_before;
        EventOutcome {
            kind,
            transition,
            effects: fx,
            instance_changed,
            check_in,
        }
    }

    /// Makes the instance's grant mirror match the state; returns whether it changed.
    fn sync_mirror(&self, instance: &mut Instance) -> bool {
        let held = self.grants.get(&instance.machine_id);
        let same = match (&instance.grant, held) {
            (None, None) => true,
            (Some(mirror), Some(grant)) => {
                mirror.granted_at == grant.granted_at && mirror.target == grant.target
            }
            _ => false,
        };
        if !same {
            instance.grant = held.map(|g| InstanceGrant {
                target: g.target.clone(),
                granted_at: g.granted_at,
            });
        }
        !same
    }

    fn advance(&mut self, now: Timestamp) -> Timestamp {
        let now = self.high_water.map_or(now, |h| h.max(now));
        self.high_water = Some(now);
        now
    }

    fn expire_into(&mut self, policy: &Policy, now: Timestamp, fx: &mut Effects) {
        while self.by_expiry.first().is_some_and(|(at, _)| *at <= now) {
            let Some((_, machine)) = self.by_expiry.pop_first() else {
                break;
            };
            self.release(&machine, ReleaseReason::Expired, fx);
            self.record_attempt(policy, Attempt::TimedOut, now, fx);
        }
    }

    fn insert_grant(&mut self, grant: Grant) {
        if let Some(old) = self.grants.remove(&grant.machine_id)
            && let Some(at) = old.expires_at
        {
            self.by_expiry.remove(&(at, old.machine_id));
        }
        if let Some(at) = grant.expires_at {
            self.by_expiry.insert((at, grant.machine_id.clone()));
        }
        self.grants.insert(grant.machine_id.clone(), grant);
    }

    fn release(&mut self, machine: &MachineId, reason: ReleaseReason, fx: &mut Effects) {
        if let Some(grant) = self.grants.remove(machine) {
            if let Some(at) = grant.expires_at {
                self.by_expiry.remove(&(at, grant.machine_id.clone()));
            }
            fx.released.push(Released { grant, reason });
        }
    }

    fn push_attempt(&mut self, attempt: Attempt) {
        match attempt {
            Attempt::Failed => self.failed += 1,
            Attempt::TimedOut => self.timed_out += 1,
            Attempt::Succeeded => {}
        }
        self.attempts.push_back(attempt);
    }

    fn pop_attempt(&mut self) {
        match self.attempts.pop_front() {
            Some(Attempt::Failed) => self.failed -= 1,
            Some(Attempt::TimedOut) => self.timed_out -= 1,
            Some(Attempt::Succeeded) | None => {}
        }
    }

    fn record_attempt(
        &mut self,
        policy: &Policy,
        attempt: Attempt,
        now: Timestamp,
        fx: &mut Effects,
    ) {
        let Some(rule) = policy.auto_pause() else {
            return;
        };
        let capacity = usize::try_from(rule.attempts).unwrap_or(usize::MAX);
        self.push_attempt(attempt);
        while self.attempts.len() > capacity {
            self.pop_attempt();
        }
        fx.attempts.push(attempt);
        let failures = self.failures(rule.count_timeouts);
        if self.auto_pause.is_none() && failures >= rule.failures {
            let pause = AutoPause {
                at: now,
                failures,
                attempts: u32::try_from(self.attempts.len()).unwrap_or(u32::MAX),
            };
            self.auto_pause = Some(pause);
            fx.auto_pause = Some(pause);
        }
    }
}

#[cfg(test)]
mod tests;
