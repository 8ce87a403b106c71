//! When a rollout is stalled: the one rule the server's fleet overview and its `stalled`
//! notification both apply ([`stalled_since`]).
//!
//! A rollout is **stalled** when it has instances still to update that its policy would
//! grant, and it made no progress for longer than it should:
//!
//! 1. It can grant at all: it has a target, and it is neither paused by the operator nor
//!    paused automatically.
//! 2. Instances are still to update *within the percentage in force*: about
//!    `ceil(instances × percent / 100)` instances are admitted (all of them at 100 %), and
//!    fewer than that run the target. Instances beyond the percentage wait for a higher
//!    percentage as configured; a timed rollout's later frames do not count before they
//!    begin.
//! 3. Nothing happened for longer than the allowance: the latest grant, configuration change
//!    or rise of the timed rollout's percentage is older than the larger of the threshold
//!    and [`CHECK_INTERVAL`] plus the rate limit's interval (the longest a waiting instance
//!    goes without a grant while the rate limit holds it back as configured). With
//!    maintenance windows only the time they were open counts: a rollout waiting for its
//!    window is not stalled, and one whose windows opened and passed without a grant is.
//!
//! A fleet that nothing is known of (no grant, no change on record) is never stalled.
//!
//! Pure: `now` is an argument.

use jiff::{SignedDuration, Timestamp};

use crate::Policy;
use crate::window::MaintenanceWindows;

/// How often an instance is expected to check in (update_engine checks about every 45
/// minutes; rounded up). A rollout that can grant is expected to grant within this long of
/// an instance being allowed one.
pub const CHECK_INTERVAL: SignedDuration = SignedDuration::from_secs(3600);

/// The threshold used where nobody chose one (the fleet overview; a webhook created without
/// `stalledAfterSecs`).
pub const DEFAULT_THRESHOLD: SignedDuration = SignedDuration::from_secs(3600);

/// Maintenance windows open and close on local hours, and every time zone's offset is a
/// multiple of 15 minutes: whether a window is open is the same throughout each UTC quarter
/// hour.
const QUARTER_HOUR_SECS: i64 = 900;

/// What the server knows of a group's rollout, for [`stalled_since`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StallFacts {
    /// The group's channel has a version that can be offered.
    pub has_target: bool,
    /// The group paused itself (failures reached its threshold).
    pub auto_paused: bool,
    /// Instances of the group.
    pub instances: u64,
    /// Of them, those running the target.
    pub on_target: u64,
    /// The latest sign of progress: the newest grant or configuration change, whichever is
    /// later; `None` when neither is known.
    pub last_progress: Option<Timestamp>,
}

/// How long a rollout may go without progress, in time it could have granted, before it is
/// stalled: the larger of `threshold` and [`CHECK_INTERVAL`] plus the rate limit's interval.
#[must_use]
pub fn allowance(policy: &Policy, threshold: SignedDuration) -> SignedDuration {
    let rate = policy
        .rate_limit()
        .map_or(SignedDuration::ZERO, |r| r.interval);
    threshold.max(CHECK_INTERVAL.saturating_add(rate))
}

/// Instances the percentage in force at `now` admits that do not run the target yet (an
/// estimate: the percentage picks instances by a stable hash, about this many).
#[must_use]
pub fn grantable(policy: &Policy, facts: &StallFacts, now: Timestamp) -> u64 {
    let instances = facts.instances;
    let percent = policy.percent_at(now).get();
    let admitted = if percent >= 100.0 {
        instances
    } else {
        // At most `instances`, so the conversion back is exact.
        ((instances as f64) * percent / 100.0).ceil() as u64
    }
    .min(instances);
    admitted.saturating_sub(facts.on_target)
}

/// The moment the rollout became stalled, if it is stalled at `now` (see the module
/// documentation for the rule); `None` when it is not.
///
/// The moment is the same on every call for the same stall (it moves only with progress), so
/// it can key a notification sent once per stall.
///
/// ```
/// use jiff::{SignedDuration, Timestamp};
/// use rollout_core::stall::{DEFAULT_THRESHOLD, StallFacts, stalled_since};
/// use rollout_core::{Policy, PolicyConfig, RateLimitConfig};
///
/// // One update every six hours: a waiting instance may go 6 h + a check interval (1 h)
/// // without a grant before the rollout is stalled.
/// let policy = Policy::new(PolicyConfig {
///     rate_limit: Some(RateLimitConfig { update_count: 1, update_interval_secs: 6 * 3600 }),
///     ..PolicyConfig::default()
/// })?;
/// let last_grant: Timestamp = "2026-11-27T04:00:00Z".parse()?;
/// let facts = StallFacts {
///     has_target: true,
///     auto_paused: false,
///     instances: 10,
///     on_target: 4,
///     last_progress: Some(last_grant),
/// };
/// let at = |time: &str| -> Result<Option<Timestamp>, jiff::Error> {
///     Ok(stalled_since(&policy, &facts, DEFAULT_THRESHOLD, time.parse()?))
/// };
/// assert_eq!(at("2026-11-27T10:30:00Z")?, None, "waiting on the rate limit");
/// let since = at("2026-11-27T12:00:00Z")?;
/// assert_eq!(since, Some(last_grant + SignedDuration::from_hours(7)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn stalled_since(
    policy: &Policy,
    facts: &StallFacts,
    threshold: SignedDuration,
    now: Timestamp,
) -> Option<Timestamp> {
    if !facts.has_target || facts.auto_paused || policy.paused() {
        return None;
    }
    if grantable(policy, facts, now) == 0 {
        return None;
    }
    let mut since = facts.last_progress?;
    if let Some(raised) = policy.rollout().and_then(|r| r.percent_since(now)) {
        since = since.max(raised);
    }
    let allowed = allowance(policy, threshold);
    let at = match policy.maintenance() {
        None => since.checked_add(allowed).ok()?,
        Some(windows) => open_time_reached(windows, since, allowed, now)?,
    };
    (at < now).then_some(at)
}

/// The moment at which the windows have been open for `allowed` since `since`, if before
/// `now`.
fn open_time_reached(
    windows: &MaintenanceWindows,
    since: Timestamp,
    allowed: SignedDuration,
    now: Timestamp,
) -> Option<Timestamp> {
    let mut left = allowed;
    let mut t = since;
    while t < now {
        if windows.is_open(t) {
            let quarter = t.as_second().div_euclid(QUARTER_HOUR_SECS) * QUARTER_HOUR_SECS;
            let next = Timestamp::from_second(quarter.checked_add(QUARTER_HOUR_SECS)?)
                .ok()?
                .min(now);
            let open = t.duration_until(next);
            if open > left {
                return t.checked_add(left).ok();
            }
            left -= open;
            t = next;
        } else {
            // Each step moves strictly forward: to the end of an open quarter hour, or to a
            // later opening.
            t = windows.next_opening(t)?;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Frame, MaintenanceConfig, PolicyConfig, RateLimitConfig, RolloutConfig, WindowConfig,
    };
    use jiff::civil::Weekday;

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    const HOUR: SignedDuration = SignedDuration::from_secs(3600);

    /// Monday 2026-11-23 to Sunday 2026-11-29; `NOW` is Friday noon, UTC.
    const NOW: &str = "2026-11-27T12:00:00Z";

    fn policy(config: PolicyConfig) -> Policy {
        Policy::new(config).unwrap()
    }

    fn facts(instances: u64, on_target: u64, last_progress: &str) -> StallFacts {
        StallFacts {
            has_target: true,
            auto_paused: false,
            instances,
            on_target,
            last_progress: Some(t(last_progress)),
        }
    }

    fn rate(count: u32, interval_secs: u64) -> PolicyConfig {
        PolicyConfig {
            rate_limit: Some(RateLimitConfig {
                update_count: count,
                update_interval_secs: interval_secs,
            }),
            ..PolicyConfig::default()
        }
    }

    fn percent(value: f64) -> PolicyConfig {
        PolicyConfig {
            update_percent: value,
            ..PolicyConfig::default()
        }
    }

    /// Windows every day from 02:00 to 04:00 UTC.
    fn nightly() -> PolicyConfig {
        PolicyConfig {
            maintenance: Some(MaintenanceConfig {
                time_zone: "UTC".into(),
                windows: vec![WindowConfig {
                    weekdays: vec![
                        Weekday::Monday,
                        Weekday::Tuesday,
                        Weekday::Wednesday,
                        Weekday::Thursday,
                        Weekday::Friday,
                        Weekday::Saturday,
                        Weekday::Sunday,
                    ],
                    start_hour: 2,
                    end_hour: 4,
                }],
            }),
            ..PolicyConfig::default()
        }
    }

    /// A timed rollout activated Friday 00:00: 10 % for 10 hours, then 50 %.
    fn timed() -> PolicyConfig {
        PolicyConfig {
            rollout: Some(RolloutConfig {
                frames: vec![
                    Frame {
                        percent: 10.0,
                        duration_secs: 36_000,
                    },
                    Frame {
                        percent: 50.0,
                        duration_secs: 86_400,
                    },
                ],
                active_since: Some(t("2026-11-27T00:00:00Z")),
            }),
            ..PolicyConfig::default()
        }
    }

    #[test]
    fn the_rule_case_by_case() {
        struct Case {
            name: &'static str,
            config: PolicyConfig,
            facts: StallFacts,
            threshold: SignedDuration,
            /// The moment of the question (`NOW` unless said).
            now: &'static str,
            /// When the stall began, or `None` when the rollout is not stalled at `NOW`.
            since: Option<&'static str>,
        }
        let paused = PolicyConfig {
            paused: true,
            ..PolicyConfig::default()
        };
        let cases = [
            Case {
                name: "no progress for two hours, everyone admitted",
                config: PolicyConfig::default(),
                facts: facts(10, 4, "2026-11-27T10:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: Some("2026-11-27T11:00:00Z"),
            },
            Case {
                name: "progress within the threshold",
                config: PolicyConfig::default(),
                facts: facts(10, 4, "2026-11-27T11:30:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "exactly at the threshold is not past it",
                config: PolicyConfig::default(),
                facts: facts(10, 4, "2026-11-27T11:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "a longer threshold waits longer",
                config: PolicyConfig::default(),
                facts: facts(10, 4, "2026-11-27T10:00:00Z"),
                threshold: HOUR * 3,
                now: NOW,
                since: None,
            },
            Case {
                name: "a threshold shorter than a check interval is raised to it",
                config: PolicyConfig::default(),
                facts: facts(10, 4, "2026-11-27T11:10:00Z"),
                threshold: SignedDuration::from_secs(60),
                now: NOW,
                since: None,
            },
            Case {
                name: "every instance on the target",
                config: PolicyConfig::default(),
                facts: facts(10, 10, "2026-11-01T00:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "paused by the operator",
                config: paused,
                facts: facts(10, 4, "2026-11-01T00:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "paused automatically",
                config: PolicyConfig::default(),
                facts: StallFacts {
                    auto_paused: true,
                    ..facts(10, 4, "2026-11-01T00:00:00Z")
                },
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "no target",
                config: PolicyConfig::default(),
                facts: StallFacts {
                    has_target: false,
                    ..facts(10, 4, "2026-11-01T00:00:00Z")
                },
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "nothing on record",
                config: PolicyConfig::default(),
                facts: StallFacts {
                    last_progress: None,
                    ..facts(10, 4, "2026-11-01T00:00:00Z")
                },
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "waiting on the rate limit as configured",
                config: rate(1, 6 * 3600),
                facts: facts(10, 4, "2026-11-27T06:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "a rate-limit interval and a check interval passed without a grant",
                config: rate(1, 6 * 3600),
                facts: facts(10, 4, "2026-11-27T04:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: Some("2026-11-27T11:00:00Z"),
            },
            Case {
                name: "the percentage's instances are all on the target",
                config: percent(50.0),
                facts: facts(10, 5, "2026-11-01T00:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "the percentage admits instances that are not on the target",
                config: percent(50.0),
                facts: facts(10, 4, "2026-11-27T10:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: Some("2026-11-27T11:00:00Z"),
            },
            Case {
                name: "0 % admits nobody",
                config: percent(0.0),
                facts: facts(10, 0, "2026-11-01T00:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "a percentage admits at least one instance of a few",
                config: percent(1.0),
                facts: facts(3, 0, "2026-11-27T10:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: Some("2026-11-27T11:00:00Z"),
            },
            Case {
                name: "a timed rollout's frame done, waiting for the next",
                config: timed(),
                facts: facts(100, 10, "2026-11-27T01:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: "2026-11-27T09:00:00Z",
                since: None,
            },
            Case {
                name: "a timed rollout's new frame restarts the wait",
                config: timed(),
                facts: facts(100, 10, "2026-11-27T01:00:00Z"),
                threshold: HOUR * 3,
                now: NOW,
                since: None,
            },
            Case {
                name: "a timed rollout's new frame, then no grant",
                config: timed(),
                facts: facts(100, 10, "2026-11-27T01:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: Some("2026-11-27T11:00:00Z"),
            },
            Case {
                name: "windows closed since the last grant",
                config: nightly(),
                facts: facts(10, 4, "2026-11-27T04:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "one window hour passed without a grant: not yet",
                config: nightly(),
                facts: facts(10, 4, "2026-11-27T03:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: None,
            },
            Case {
                name: "a whole window passed without a grant",
                config: nightly(),
                facts: facts(10, 4, "2026-11-26T12:00:00Z"),
                threshold: DEFAULT_THRESHOLD,
                now: NOW,
                since: Some("2026-11-27T03:00:00Z"),
            },
            Case {
                name: "windows: open hours add up across nights",
                config: nightly(),
                facts: facts(10, 4, "2026-11-25T03:30:00Z"),
                threshold: HOUR * 3,
                now: NOW,
                since: Some("2026-11-27T02:30:00Z"),
            },
        ];
        for case in cases {
            let policy = policy(case.config);
            assert_eq!(
                stalled_since(&policy, &case.facts, case.threshold, t(case.now)),
                case.since.map(t),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn a_stall_keeps_its_moment_until_progress() {
        let policy = policy(nightly());
        let quiet = facts(10, 4, "2026-11-20T12:00:00Z");
        let first = stalled_since(&policy, &quiet, DEFAULT_THRESHOLD, t(NOW));
        let later = stalled_since(
            &policy,
            &quiet,
            DEFAULT_THRESHOLD,
            t("2026-11-29T12:00:00Z"),
        );
        assert_eq!(first, Some(t("2026-11-21T03:00:00Z")));
        assert_eq!(first, later);
        let granted = StallFacts {
            last_progress: Some(t("2026-11-29T03:30:00Z")),
            ..quiet
        };
        assert_eq!(
            stalled_since(
                &policy,
                &granted,
                DEFAULT_THRESHOLD,
                t("2026-11-29T12:00:00Z")
            ),
            None
        );
    }

    #[test]
    fn the_allowance_is_the_threshold_or_a_check_and_a_rate_interval() {
        let open = policy(PolicyConfig::default());
        assert_eq!(allowance(&open, HOUR * 5), HOUR * 5);
        assert_eq!(allowance(&open, SignedDuration::ZERO), CHECK_INTERVAL);
        let limited = policy(rate(2, 1800));
        assert_eq!(
            allowance(&limited, DEFAULT_THRESHOLD),
            SignedDuration::from_secs(5400)
        );
    }
}
