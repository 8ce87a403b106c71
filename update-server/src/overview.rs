//! The fleet overview's truth: what state a group's rollout is in, how far it got, when it
//! will end and whether it needs the operator's attention. One pure function,
//! [`classify`], over the facts the server gathers ([`GroupFacts`]) and the group's policy;
//! the panel's overview and group pages and the admin API's `overview` endpoint all show
//! its answer, so they cannot disagree.
//!
//! No IO, no clock: `now` is an argument, so it is unit-tested on fixed times.

use crate::policy::GroupPolicy;
use jiff::{SignedDuration, Timestamp};

/// A group is failing when at least this share of the last hour's attempts (failures and
/// completions) failed.
pub const FAILING_SHARE: f64 = 0.1;

/// Where a group's rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupState {
    /// Instances are being updated toward the target.
    Updating,
    /// The group paused itself: failures reached its threshold.
    AutoPaused,
    /// The operator paused the group.
    Paused,
    /// The group has no version to update to (no channel, a channel without a version, a
    /// blacklisted version, or one without a package or payload).
    NoTarget,
    /// No instance has checked in to the group yet: nothing to update (not "finished").
    NoInstances,
    /// Every instance runs the target.
    Finished,
}

impl GroupState {
    /// The stable name used in JSON and data attributes.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Updating => "updating",
            Self::AutoPaused => "auto_paused",
            Self::Paused => "paused",
            Self::NoTarget => "no_target",
            Self::NoInstances => "no_instances",
            Self::Finished => "finished",
        }
    }

    /// The words shown to people.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Updating => "updating",
            Self::AutoPaused => "paused automatically",
            Self::Paused => "paused",
            Self::NoTarget => "no target",
            Self::NoInstances => "no instances",
            Self::Finished => "finished",
        }
    }
}

/// Why a group needs the operator, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attention {
    /// The group paused itself; it stays paused until resumed.
    AutoPaused,
    /// At least [`FAILING_SHARE`] of the last hour's attempts failed.
    Failing,
    /// Instances the policy would grant still wait, and there was no grant nor change for
    /// longer than the policy explains ([`rollout_core::stall`], with its default
    /// threshold).
    Stalled,
}

impl Attention {
    /// The stable name used in JSON and data attributes.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AutoPaused => "auto_paused",
            Self::Failing => "failing",
            Self::Stalled => "stalled",
        }
    }

    /// The words shown to people.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::AutoPaused => "paused automatically",
            Self::Failing => "failing",
            Self::Stalled => "stalled",
        }
    }
}

/// An automatic pause in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoPauseFacts {
    /// When the group paused itself.
    pub at: Timestamp,
    /// Failures among the attempts looked at.
    pub failures: u32,
    /// Attempts looked at.
    pub attempts: u32,
}

/// What the server knows of a group at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFacts {
    /// The group's channel points at a version, not blacklisted on it, with a package whose
    /// payload is there.
    pub has_target: bool,
    /// The automatic pause in force, if any.
    pub auto_pause: Option<AutoPauseFacts>,
    /// Instances of the group.
    pub instances: u64,
    /// Of them, on the target version.
    pub on_target: u64,
    /// Failed attempts (3/0) in the last hour.
    pub failures_last_hour: u64,
    /// Completed updates (3/2 completing an attempt) in the last hour.
    pub completions_last_hour: u64,
    /// The latest grant to an instance of the group.
    pub last_grant: Option<Timestamp>,
    /// The latest change to the group's configuration or its app's (activity log).
    pub last_change: Option<Timestamp>,
}

/// When a rollout will end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Eta {
    /// Every instance runs the target.
    Done,
    /// At about this time, at the rate measured and allowed.
    At(Timestamp),
    /// The instances the percentage in force admits are on the target; the others wait for
    /// a higher percentage.
    HeldAtPercent(f64),
    /// Not while the group is paused (by the operator or itself) or has no target.
    Stopped,
    /// No rate to go by: no update completed in the last hour and no rate limit.
    Unknown,
    /// The group has no instance to update.
    NoInstances,
}

/// The overview of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// Its state.
    pub state: GroupState,
    /// Why it needs attention, most urgent first; empty when it does not.
    pub attention: Vec<Attention>,
    /// Instances on the target.
    pub on_target: u64,
    /// Instances.
    pub instances: u64,
    /// Instances the rollout will bring to the target at the percentage it is heading for
    /// (all of them at 100 %).
    pub goal: u64,
    /// The rate limit, updates per hour, when the policy has one.
    pub rate_limit_per_hour: Option<f64>,
    /// The rate the ETA assumes, updates per hour.
    pub rate_per_hour: Option<f64>,
    /// The estimated end.
    pub eta: Eta,
}

impl Classification {
    /// Progress toward the target, 0 to 100 (100 for a group without instances).
    #[must_use]
    pub fn progress_percent(&self) -> f64 {
        if self.instances == 0 {
            100.0
        } else {
            (self.on_target as f64) * 100.0 / (self.instances as f64)
        }
    }

    /// The sort key of the overview: what needs attention first (automatic pauses, then
    /// failing, then stalled groups), then updating, paused, no target, empty and finished
    /// groups.
    #[must_use]
    pub fn rank(&self) -> (u8, GroupState) {
        let attention = match self.attention.first() {
            Some(Attention::AutoPaused) => 0,
            Some(Attention::Failing) => 1,
            Some(Attention::Stalled) => 2,
            None => 3,
        };
        (attention, self.state)
    }
}

/// The rate limit in updates per hour, when rate limiting is on with a usable count and
/// interval.
#[must_use]
pub fn rate_limit_per_hour(policy: &GroupPolicy) -> Option<f64> {
    (policy.update_pooling && policy.update_count > 0 && policy.update_interval_secs > 0)
        .then(|| f64::from(policy.update_count) * 3600.0 / (policy.update_interval_secs as f64))
}

/// The percentage the group is heading for: a running timed rollout's last frame's, else
/// the percentage in force.
fn goal_percent(policy: &GroupPolicy, now: Timestamp) -> f64 {
    if policy.rollout_phase(now).is_running()
        && let Some(last) = policy.rollout_frames.last()
    {
        return last.percent.clamp(0.0, 100.0);
    }
    policy.percent_at(now).clamp(0.0, 100.0)
}

/// Whether the group's rollout is stalled at `now`, by the rule of [`rollout_core::stall`]
/// (the one the `stalled` notification applies) with its default threshold. A policy the
/// engine refuses grants nothing, so it is never stalled.
fn is_stalled(policy: &GroupPolicy, facts: &GroupFacts, now: Timestamp) -> bool {
    let Ok(engine) = policy.to_policy() else {
        return false;
    };
    let stall = rollout_core::StallFacts {
        has_target: facts.has_target,
        auto_paused: facts.auto_pause.is_some(),
        instances: facts.instances,
        on_target: facts.on_target.min(facts.instances),
        last_progress: facts.last_grant.max(facts.last_change),
    };
    rollout_core::stalled_since(&engine, &stall, rollout_core::stall::DEFAULT_THRESHOLD, now)
        .is_some()
}

/// Classifies a group at `now`.
#[must_use]
pub fn classify(policy: &GroupPolicy, facts: &GroupFacts, now: Timestamp) -> Classification {
    let instances = facts.instances;
    let on_target = facts.on_target.min(instances);
    let state = if !facts.has_target {
        GroupState::NoTarget
    } else if policy.paused {
        GroupState::Paused
    } else if facts.auto_pause.is_some() {
        GroupState::AutoPaused
    } else if instances == 0 {
        GroupState::NoInstances
    } else if on_target == instances {
        GroupState::Finished
    } else {
        GroupState::Updating
    };
    let percent = goal_percent(policy, now);
    let goal = if percent >= 100.0 {
        instances
    } else {
        // The percentage picks instances by a stable hash: about this many.
        ((instances as f64) * percent / 100.0).ceil() as u64
    }
    .min(instances);
    let remaining = goal.saturating_sub(on_target);
    let limit = rate_limit_per_hour(policy);
    let observed = (facts.completions_last_hour > 0).then_some(facts.completions_last_hour as f64);
    let rate = match (observed, limit) {
        (Some(o), Some(l)) => Some(o.min(l)),
        (o, l) => o.or(l),
    };
    let eta = match state {
        GroupState::Finished => Eta::Done,
        GroupState::NoInstances => Eta::NoInstances,
        GroupState::Paused | GroupState::AutoPaused | GroupState::NoTarget => Eta::Stopped,
        GroupState::Updating if remaining == 0 => Eta::HeldAtPercent(percent),
        GroupState::Updating => match rate {
            Some(per_hour) if per_hour > 0.0 => {
                let secs = ((remaining as f64) * 3600.0 / per_hour).ceil();
                let mut at = now
                    .checked_add(SignedDuration::from_secs(secs.min(1e12) as i64))
                    .unwrap_or(Timestamp::MAX);
                if let rollout_core::RolloutPhase::Running { ends_at, .. } =
                    policy.rollout_phase(now)
                {
                    at = at.max(ends_at);
                }
                Eta::At(at)
            }
            _ => Eta::Unknown,
        },
    };
    let mut attention = Vec::new();
    if state == GroupState::AutoPaused {
        attention.push(Attention::AutoPaused);
    }
    let attempts = facts.failures_last_hour + facts.completions_last_hour;
    if facts.failures_last_hour > 0
        && (facts.failures_last_hour as f64) >= FAILING_SHARE * (attempts as f64)
    {
        attention.push(Attention::Failing);
    }
    if is_stalled(policy, facts, now) {
        attention.push(Attention::Stalled);
    }
    Classification {
        state,
        attention,
        on_target,
        instances,
        goal,
        rate_limit_per_hour: limit,
        rate_per_hour: rate,
        eta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{FrameDoc, MaintenanceDoc};

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    const NOW: &str = "2026-11-27T12:00:00Z";

    fn facts(instances: u64, on_target: u64) -> GroupFacts {
        GroupFacts {
            has_target: true,
            instances,
            on_target,
            last_change: Some(t("2026-11-27T11:30:00Z")),
            ..GroupFacts::default()
        }
    }

    fn limited(count: u32, interval: u64) -> GroupPolicy {
        GroupPolicy {
            update_pooling: true,
            update_count: count,
            update_interval_secs: interval,
            ..GroupPolicy::default()
        }
    }

    #[test]
    fn states_follow_target_pauses_and_progress() {
        let open = GroupPolicy::default();
        let paused = GroupPolicy {
            paused: true,
            ..GroupPolicy::default()
        };
        let pause = Some(AutoPauseFacts {
            at: t("2026-11-27T11:00:00Z"),
            failures: 3,
            attempts: 5,
        });
        let cases: Vec<(&str, &GroupPolicy, GroupFacts, GroupState)> = vec![
            ("updating", &open, facts(10, 4), GroupState::Updating),
            ("finished", &open, facts(10, 10), GroupState::Finished),
            ("no instances", &open, facts(0, 0), GroupState::NoInstances),
            ("paused", &paused, facts(10, 4), GroupState::Paused),
            (
                "paused beats auto-paused",
                &paused,
                GroupFacts {
                    auto_pause: pause,
                    ..facts(10, 4)
                },
                GroupState::Paused,
            ),
            (
                "auto-paused",
                &open,
                GroupFacts {
                    auto_pause: pause,
                    ..facts(10, 4)
                },
                GroupState::AutoPaused,
            ),
            (
                "no target",
                &open,
                GroupFacts {
                    has_target: false,
                    ..facts(10, 0)
                },
                GroupState::NoTarget,
            ),
        ];
        for (name, policy, facts, state) in cases {
            let c = classify(policy, &facts, t(NOW));
            assert_eq!(c.state, state, "{name}");
            assert_eq!(
                c.attention.contains(&Attention::AutoPaused),
                state == GroupState::AutoPaused,
                "{name}"
            );
        }
    }

    #[test]
    fn progress_counts_instances_on_the_target() {
        let c = classify(&GroupPolicy::default(), &facts(8, 2), t(NOW));
        assert_eq!((c.on_target, c.instances), (2, 8));
        assert!((c.progress_percent() - 25.0).abs() < 1e-9);
        let empty = classify(&GroupPolicy::default(), &facts(0, 0), t(NOW));
        assert!((empty.progress_percent() - 100.0).abs() < 1e-9);
        // More on the target than counted (two reads): never above 100 %.
        let over = classify(&GroupPolicy::default(), &facts(3, 5), t(NOW));
        assert_eq!(over.on_target, 3);
    }

    #[test]
    fn the_eta_goes_by_the_slower_of_the_rate_measured_and_the_limit() {
        let now = t(NOW);
        // 2 per minute allowed (120 an hour), 30 completed in the last hour: 30 an hour
        // rules; 60 remaining take two hours.
        let c = classify(
            &limited(2, 60),
            &GroupFacts {
                completions_last_hour: 30,
                ..facts(100, 40)
            },
            now,
        );
        assert_eq!(c.rate_limit_per_hour, Some(120.0));
        assert_eq!(c.rate_per_hour, Some(30.0));
        assert_eq!(c.eta, Eta::At(t("2026-11-27T14:00:00Z")));
        // Completions faster than the limit (a burst of earlier grants): the limit rules.
        let c = classify(
            &limited(2, 60),
            &GroupFacts {
                completions_last_hour: 500,
                ..facts(100, 40)
            },
            now,
        );
        assert_eq!(c.rate_per_hour, Some(120.0));
        assert_eq!(c.eta, Eta::At(t("2026-11-27T12:30:00Z")));
        // Nothing completed yet: the limit alone.
        let c = classify(&limited(1, 3600), &facts(5, 2), now);
        assert_eq!(c.eta, Eta::At(t("2026-11-27T15:00:00Z")));
        // No limit and nothing measured: unknown.
        let c = classify(&GroupPolicy::default(), &facts(5, 2), now);
        assert_eq!((c.rate_per_hour, c.eta), (None, Eta::Unknown));
        // Measured, no limit.
        let c = classify(
            &GroupPolicy::default(),
            &GroupFacts {
                completions_last_hour: 6,
                ..facts(5, 2)
            },
            now,
        );
        assert_eq!(c.eta, Eta::At(t("2026-11-27T12:30:00Z")));
    }

    #[test]
    fn the_eta_stops_and_finishes_with_the_state() {
        let now = t(NOW);
        let c = classify(&GroupPolicy::default(), &facts(5, 5), now);
        assert_eq!(c.eta, Eta::Done);
        let paused = GroupPolicy {
            paused: true,
            ..limited(1, 60)
        };
        assert_eq!(classify(&paused, &facts(5, 1), now).eta, Eta::Stopped);
    }

    #[test]
    fn a_percentage_below_100_holds_the_rollout_once_its_share_is_updated() {
        let now = t(NOW);
        let half = GroupPolicy {
            update_percent: 50.0,
            ..limited(1, 60)
        };
        let c = classify(&half, &facts(10, 5), now);
        assert_eq!(c.goal, 5);
        assert_eq!(c.state, GroupState::Updating);
        assert_eq!(c.eta, Eta::HeldAtPercent(50.0));
        assert!(c.attention.is_empty(), "held, not stalled");
        let c = classify(&half, &facts(10, 2), now);
        assert_eq!(c.eta, Eta::At(t("2026-11-27T12:03:00Z")));
    }

    #[test]
    fn a_running_timed_rollout_ends_no_earlier_than_its_frames() {
        let now = t(NOW);
        let since = t("2026-11-27T11:00:00Z");
        let policy = GroupPolicy {
            rollout_frames: vec![
                FrameDoc {
                    percent: 10.0,
                    duration_secs: 3600,
                },
                FrameDoc {
                    percent: 50.0,
                    duration_secs: 7200,
                },
                FrameDoc {
                    percent: 100.0,
                    duration_secs: 0,
                },
            ],
            rollout_active_since: Some(since.as_millisecond()),
            ..limited(100, 60)
        };
        // 50 % now, heading for 100 %: the goal is every instance, and the end the frames'.
        let c = classify(&policy, &facts(10, 5), now);
        assert_eq!(c.goal, 10);
        assert_eq!(c.eta, Eta::At(t("2026-11-27T14:00:00Z")));
    }

    #[test]
    fn failing_needs_a_tenth_of_the_last_hours_attempts_to_fail() {
        let now = t(NOW);
        let with = |failures, completions| GroupFacts {
            failures_last_hour: failures,
            completions_last_hour: completions,
            ..facts(100, 10)
        };
        let cases = [
            (0, 0, false),
            (0, 50, false),
            (1, 0, true),
            (1, 9, true),
            (1, 10, false),
            (5, 20, true),
        ];
        for (failures, completions, failing) in cases {
            let c = classify(&limited(10, 60), &with(failures, completions), now);
            assert_eq!(
                c.attention.contains(&Attention::Failing),
                failing,
                "{failures} failures, {completions} completions"
            );
        }
    }

    #[test]
    fn stalled_is_the_rollout_core_rule_with_its_default_threshold() {
        let now = t(NOW);
        // One grant per half hour: a waiting instance is granted within a check interval
        // (an hour) and the half hour, so 1.5 h without a grant is a stall.
        let policy = limited(1, 1800);
        let at = |last_grant: &str, last_change: &str| GroupFacts {
            last_grant: Some(t(last_grant)),
            last_change: Some(t(last_change)),
            ..facts(10, 3)
        };
        let stalled = |f: &GroupFacts, p: &GroupPolicy| {
            classify(p, f, now).attention.contains(&Attention::Stalled)
        };
        assert!(!stalled(
            &at("2026-11-27T10:31:00Z", "2026-11-20T00:00:00Z"),
            &policy
        ));
        assert!(stalled(
            &at("2026-11-27T10:29:00Z", "2026-11-20T00:00:00Z"),
            &policy
        ));
        // A recent change (a promotion, a resume) restarts the wait.
        assert!(!stalled(
            &at("2026-11-27T08:00:00Z", "2026-11-27T11:00:00Z"),
            &policy
        ));
        // Nothing known: never called stalled.
        let unknown = GroupFacts {
            last_change: None,
            ..facts(10, 3)
        };
        assert!(!stalled(&unknown, &policy));
        // Maintenance windows: only the hours they were open count. Windows from 02:00 to
        // 04:00 UTC on Thursdays: a grant before Thursday's window, none in it, is a stall
        // (the rule used to wait a whole week whenever windows were set).
        let thursdays = GroupPolicy {
            maintenance: Some(MaintenanceDoc {
                time_zone: "UTC".into(),
                windows: vec![crate::policy::WindowDoc {
                    weekdays: vec!["thu".into()],
                    start_hour: 2,
                    end_hour: 4,
                }],
            }),
            ..GroupPolicy::default()
        };
        assert!(stalled(
            &at("2026-11-25T00:00:00Z", "2026-11-20T00:00:00Z"),
            &thursdays
        ));
        // A grant after the window: waiting for next Thursday, not stalled.
        assert!(!stalled(
            &at("2026-11-26T05:00:00Z", "2026-11-20T00:00:00Z"),
            &thursdays
        ));
        // A percentage below 100 %: stalled only while instances it admits wait. 50 % of
        // 10 is 5; with 5 on the target the rest wait for a higher percentage.
        let half = GroupPolicy {
            update_percent: 50.0,
            ..GroupPolicy::default()
        };
        let quiet = at("2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z");
        assert!(stalled(&quiet, &half));
        assert!(!stalled(
            &GroupFacts {
                on_target: 5,
                ..quiet.clone()
            },
            &half
        ));
        // A paused or finished group is not stalled.
        let paused = GroupPolicy {
            paused: true,
            ..policy.clone()
        };
        assert!(!stalled(
            &at("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),
            &paused
        ));
        let done = GroupFacts {
            last_grant: Some(t("2026-11-01T00:00:00Z")),
            ..facts(10, 10)
        };
        assert!(!stalled(&done, &policy));
    }

    #[test]
    fn attention_comes_first_in_the_overview_order() {
        let now = t(NOW);
        let open = limited(1, 60);
        let auto = classify(
            &open,
            &GroupFacts {
                auto_pause: Some(AutoPauseFacts {
                    at: now,
                    failures: 2,
                    attempts: 2,
                }),
                ..facts(10, 1)
            },
            now,
        );
        let failing = classify(
            &open,
            &GroupFacts {
                failures_last_hour: 3,
                ..facts(10, 1)
            },
            now,
        );
        let stalled = classify(
            &open,
            &GroupFacts {
                last_change: Some(t("2026-11-20T00:00:00Z")),
                ..facts(10, 1)
            },
            now,
        );
        let updating = classify(&open, &facts(10, 1), now);
        let finished = classify(&open, &facts(10, 10), now);
        let paused = classify(
            &GroupPolicy {
                paused: true,
                ..open.clone()
            },
            &facts(10, 1),
            now,
        );
        let mut all = [&finished, &paused, &updating, &stalled, &failing, &auto];
        all.sort_by_key(|c| c.rank());
        let order: Vec<_> = all
            .iter()
            .map(|c| (c.state.as_str(), c.attention.first().map(|a| a.as_str())))
            .collect();
        assert_eq!(
            order,
            vec![
                ("auto_paused", Some("auto_paused")),
                ("updating", Some("failing")),
                ("updating", Some("stalled")),
                ("updating", None),
                ("paused", None),
                ("finished", None),
            ]
        );
    }
}
