//! Group policy: the configuration an operator writes ([`PolicyConfig`]) and its validated
//! form ([`Policy`]). Validation happens once, at construction; a `Policy` cannot be
//! invalid, so deciding never fails.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};

use crate::{Frame, MaintenanceConfig, MaintenanceWindows, Percent, RolloutPhase, TimedRollout};

/// Why a [`PolicyConfig`] (or a linear rollout request) is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `update_percent` is NaN, infinite or outside `0..=100`.
    #[error("update percent {0} is not within 0 to 100")]
    Percent(f64),
    /// The rate limit has a zero count or a zero interval.
    #[error("rate limit needs an update count and an interval above zero")]
    RateLimit,
    /// `max_in_flight` is zero (use `paused` to stop updates).
    #[error("max in flight must be at least 1")]
    MaxInFlight,
    /// `update_timeout_secs` is zero or too large.
    #[error("update timeout must be between 1 second and 100 years")]
    UpdateTimeout,
    /// A timed rollout has no frames.
    #[error("a timed rollout needs at least one frame")]
    NoFrames,
    /// A frame's percentage is NaN, infinite or outside `0..=100`.
    #[error("frame {index} has percent {percent}, not within 0 to 100")]
    FramePercent {
        /// Zero-based index of the frame.
        index: usize,
        /// The offending value.
        percent: f64,
    },
    /// A rollout with too many frames.
    #[error("a rollout may have at most {max} frames")]
    TooManyFrames {
        /// The limit.
        max: usize,
    },
    /// The frames add up to more than 100 years.
    #[error("the rollout frames last longer than 100 years")]
    RolloutTooLong,
    /// `rollout create linear` was given a zero frame size or duration.
    #[error(
        "linear rollout needs a frame size and a duration above zero (got {frame_size_secs} and {duration_secs})"
    )]
    LinearRollout {
        /// The frame size given.
        frame_size_secs: u64,
        /// The duration given.
        duration_secs: u64,
    },
    /// The automatic-pause threshold is zero, above the number of attempts it looks at, or
    /// its percentage is out of range.
    #[error(
        "automatic pause threshold must be at least 1 and at most the number of attempts considered"
    )]
    AutoPause,
    /// The time zone is not in the bundled time zone database.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// The retry delay after a failure is zero, its maximum is below its first delay, or
    /// either is above 100 years.
    #[error("retry delay must be at least 1 second and at most its maximum (at most 100 years)")]
    RetryDelay,
    /// Maintenance windows were configured with an empty list.
    #[error("maintenance windows need at least one window")]
    NoWindows,
    /// A maintenance window has no weekday, an hour out of range or equal start and end.
    #[error(
        "maintenance window {index} needs a weekday, hours within 0 to 24 and a start different from its end"
    )]
    Window {
        /// Zero-based index of the window.
        index: usize,
    },
}

/// A rate limit: at most `update_count` grants in any window of `update_interval_secs`
/// seconds (CoreUpdate v1's `--update-count` and `--update-interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Grants allowed per interval; at least 1.
    pub update_count: u32,
    /// The interval in seconds; at least 1.
    pub update_interval_secs: u64,
}

/// How many failures among recent attempts pause the group automatically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureThreshold {
    /// Pause when this many of the last attempts failed.
    Count(u32),
    /// Pause when this percentage of the attempts looked at failed:
    /// `ceil(percent / 100 × last_attempts)` failures (at least 1).
    Percent(f64),
}

/// Automatic pause (the error threshold of Eclipse hawkBit): the group pauses itself when
/// failures among its last `last_attempts` finished attempts reach the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoPauseConfig {
    /// The failure threshold.
    pub threshold: FailureThreshold,
    /// How many of the most recent attempts are looked at (the ring size); at least 1.
    pub last_attempts: u32,
    /// Whether a grant that expires (see `update_timeout_secs`) counts as a failed attempt.
    /// An instance that never reports back after a grant may well have been broken by it.
    pub count_timeouts: bool,
}

/// The retry delay after a failed attempt: an instance whose update failed (3/0) is not
/// offered the same version again for `initial_secs`, doubling with each consecutive
/// failure up to `max_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryDelayConfig {
    /// The delay after the first failure, seconds; at least 1.
    pub initial_secs: u64,
    /// The longest delay, seconds; at least `initial_secs`.
    pub max_secs: u64,
}

impl RetryDelayConfig {
    /// The default: one hour after the first failure, doubling to at most one day.
    pub const DEFAULT: Self = Self {
        initial_secs: 3600,
        max_secs: 86_400,
    };
}

impl Default for RetryDelayConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A validated retry delay (see [`RetryDelayConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryDelay {
    /// The delay after the first failure.
    pub initial: SignedDuration,
    /// The longest delay.
    pub max: SignedDuration,
}

impl RetryDelay {
    /// The delay after the `failures`-th consecutive failure (1 for the first):
    /// `initial × 2^(failures − 1)`, at most `max`.
    pub fn after(&self, failures: u32) -> SignedDuration {
        let doublings = failures.saturating_sub(1).min(62);
        let initial = self.initial.as_secs();
        let delay = 1_i64
            .checked_shl(doublings)
            .and_then(|factor| initial.checked_mul(factor))
            .unwrap_or(i64::MAX);
        SignedDuration::from_secs(delay.min(self.max.as_secs()))
    }
}

/// A timed rollout as configured: frames, and the activation time when active.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutConfig {
    /// The frames, walked in order from activation.
    pub frames: Vec<Frame>,
    /// When the rollout was activated; `None` when deactivated.
    pub active_since: Option<Timestamp>,
}

/// A group's rollout policy as an operator writes it. Every control is optional and they
/// combine. [`Default`] is an open group: not paused, 100 %, no limits.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// Updates are paused: no instance gets an update, on-demand checks included.
    pub paused: bool,
    /// The rate limit, if any.
    pub rate_limit: Option<RateLimitConfig>,
    /// The percentage of instances eligible for the target, 0 to 100.
    pub update_percent: f64,
    /// A timed rollout; while it is active its frames set the percentage instead of
    /// `update_percent`.
    pub rollout: Option<RolloutConfig>,
    /// OEMs that get no updates (compared without regard to ASCII case, trimmed).
    pub oem_blacklist: Vec<String>,
    /// At most this many instances may hold an outstanding grant at once.
    pub max_in_flight: Option<u32>,
    /// A grant not completed within this many seconds expires and frees its slot.
    pub update_timeout_secs: Option<u64>,
    /// Automatic pause on failures.
    pub auto_pause: Option<AutoPauseConfig>,
    /// Maintenance windows; scheduled updates only while one is open.
    pub maintenance: Option<MaintenanceConfig>,
    /// Serve the channel's version even when it is lower than the instance's (rollback).
    pub allow_downgrade: bool,
    /// The retry delay after a failed attempt; `None` turns it off (a failed instance is
    /// offered the update again at its next check).
    pub retry_delay: Option<RetryDelayConfig>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            paused: false,
            rate_limit: None,
            update_percent: 100.0,
            rollout: None,
            oem_blacklist: Vec::new(),
            max_in_flight: None,
            update_timeout_secs: None,
            auto_pause: None,
            maintenance: None,
            allow_downgrade: false,
            retry_delay: Some(RetryDelayConfig::DEFAULT),
        }
    }
}

/// A validated rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Grants allowed per interval.
    pub count: u32,
    /// The interval.
    pub interval: SignedDuration,
}

/// A validated automatic-pause rule: pause when `failures` of the last `attempts` attempts
/// failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoPauseRule {
    /// Failures that trigger the pause, `1..=attempts`.
    pub failures: u32,
    /// The number of most recent attempts looked at.
    pub attempts: u32,
    /// Whether expired grants count as failures.
    pub count_timeouts: bool,
}

/// A validated group policy. Build it with [`Policy::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    paused: bool,
    rate_limit: Option<RateLimit>,
    percent: Percent,
    rollout: Option<TimedRollout>,
    oem_blacklist: BTreeSet<String>,
    max_in_flight: Option<u32>,
    update_timeout: Option<SignedDuration>,
    auto_pause: Option<AutoPauseRule>,
    maintenance: Option<MaintenanceWindows>,
    allow_downgrade: bool,
    retry_delay: Option<RetryDelay>,
}

/// The longest accepted update timeout and rate interval: 100 years.
const MAX_SECS: u64 = 100 * 366 * 86_400;

impl Policy {
    /// Validates a configuration ("parse, don't validate").
    ///
    /// ```
    /// use rollout_core::{Policy, PolicyConfig, PolicyError, RateLimitConfig};
    /// let policy = Policy::new(PolicyConfig {
    ///     rate_limit: Some(RateLimitConfig { update_count: 2, update_interval_secs: 60 }),
    ///     ..PolicyConfig::default()
    /// })?;
    /// assert_eq!(policy.rate_limit().map(|r| r.count), Some(2));
    /// let bad = Policy::new(PolicyConfig { update_percent: 120.0, ..PolicyConfig::default() });
    /// assert_eq!(bad.unwrap_err(), PolicyError::Percent(120.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(config: PolicyConfig) -> Result<Self, PolicyError> {
        let percent = Percent::new(config.update_percent)
            .ok_or(PolicyError::Percent(config.update_percent))?;
        let rate_limit = match config.rate_limit {
            None => None,
            Some(r) => {
                if r.update_count == 0
                    || r.update_interval_secs == 0
                    || r.update_interval_secs > MAX_SECS
                {
                    return Err(PolicyError::RateLimit);
                }
                Some(RateLimit {
                    count: r.update_count,
                    interval: secs(r.update_interval_secs),
                })
            }
        };
        if config.max_in_flight == Some(0) {
            return Err(PolicyError::MaxInFlight);
        }
        let update_timeout = match config.update_timeout_secs {
            None => None,
            Some(t) if t == 0 || t > MAX_SECS => return Err(PolicyError::UpdateTimeout),
            Some(t) => Some(secs(t)),
        };
        let rollout = config
            .rollout
            .map(|r| TimedRollout::new(r.frames, r.active_since))
            .transpose()?;
        let auto_pause = config.auto_pause.map(auto_pause_rule).transpose()?;
        let maintenance = config
            .maintenance
            .as_ref()
            .map(MaintenanceWindows::new)
            .transpose()?;
        let retry_delay = match config.retry_delay {
            None => None,
            Some(r) => {
                if r.initial_secs == 0 || r.max_secs < r.initial_secs || r.max_secs > MAX_SECS {
                    return Err(PolicyError::RetryDelay);
                }
                Some(RetryDelay {
                    initial: secs(r.initial_secs),
                    max: secs(r.max_secs),
                })
            }
        };
        let oem_blacklist = config
            .oem_blacklist
            .iter()
            .map(|o| o.trim().to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        Ok(Self {
            paused: config.paused,
            rate_limit,
            percent,
            rollout,
            oem_blacklist,
            max_in_flight: config.max_in_flight,
            update_timeout,
            auto_pause,
            maintenance,
            allow_downgrade: config.allow_downgrade,
            retry_delay,
        })
    }

    /// Whether the operator paused the group.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// The rate limit, if any.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// The group's own percentage (used while no timed rollout is active).
    pub fn update_percent(&self) -> Percent {
        self.percent
    }

    /// The timed rollout, if one is configured.
    pub fn rollout(&self) -> Option<&TimedRollout> {
        self.rollout.as_ref()
    }

    /// The percentage in force at `now`: the active rollout's frame, else the group's own.
    pub fn percent_at(&self, now: Timestamp) -> Percent {
        self.rollout
            .as_ref()
            .and_then(|r| r.percent_at(now))
            .unwrap_or(self.percent)
    }

    /// Where the timed rollout stands at `now` ([`RolloutPhase::Inactive`] without one).
    pub fn rollout_phase(&self, now: Timestamp) -> RolloutPhase {
        self.rollout
            .as_ref()
            .map_or(RolloutPhase::Inactive, |r| r.phase_at(now))
    }

    /// Whether `oem` is blacklisted (ASCII case-insensitive, trimmed).
    pub fn is_blacklisted(&self, oem: &str) -> bool {
        if self.oem_blacklist.is_empty() {
            return false;
        }
        let oem = oem.trim();
        !oem.is_empty() && self.oem_blacklist.contains(&oem.to_ascii_lowercase())
    }

    /// The cap on outstanding grants, if any.
    pub fn max_in_flight(&self) -> Option<u32> {
        self.max_in_flight
    }

    /// How long a grant may stay uncompleted before it expires.
    pub fn update_timeout(&self) -> Option<SignedDuration> {
        self.update_timeout
    }

    /// The automatic-pause rule, if any.
    pub fn auto_pause(&self) -> Option<AutoPauseRule> {
        self.auto_pause
    }

    /// The maintenance windows, if any.
    pub fn maintenance(&self) -> Option<&MaintenanceWindows> {
        self.maintenance.as_ref()
    }

    /// Whether a channel version below the instance's may be served.
    pub fn allow_downgrade(&self) -> bool {
        self.allow_downgrade
    }

    /// The retry delay after a failed attempt, if on.
    pub fn retry_delay(&self) -> Option<RetryDelay> {
        self.retry_delay
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            paused: false,
            rate_limit: None,
            percent: Percent::FULL,
            rollout: None,
            oem_blacklist: BTreeSet::new(),
            max_in_flight: None,
            update_timeout: None,
            auto_pause: None,
            maintenance: None,
            allow_downgrade: false,
            retry_delay: Some(RetryDelay {
                initial: secs(RetryDelayConfig::DEFAULT.initial_secs),
                max: secs(RetryDelayConfig::DEFAULT.max_secs),
            }),
        }
    }
}

fn secs(s: u64) -> SignedDuration {
    // Callers bound `s` by MAX_SECS, far below i64::MAX.
    SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX))
}

fn auto_pause_rule(c: AutoPauseConfig) -> Result<AutoPauseRule, PolicyError> {
    if c.last_attempts == 0 || c.last_attempts > 1_000_000 {
        return Err(PolicyError::AutoPause);
    }
    let failures = match c.threshold {
        FailureThreshold::Count(n) => n,
        FailureThreshold::Percent(p) => {
            let p = Percent::new(p).ok_or(PolicyError::AutoPause)?.get();
            // ceil(p/100 * N) computed exactly in integers from p scaled to 1e-6 percent.
            let scaled = (p * 1_000_000.0).round() as u64;
            let numerator = scaled * u64::from(c.last_attempts);
            u32::try_from(numerator.div_ceil(100_000_000)).map_err(|_| PolicyError::AutoPause)?
        }
    };
    if failures == 0 || failures > c.last_attempts {
        return Err(PolicyError::AutoPause);
    }
    Ok(AutoPauseRule {
        failures,
        attempts: c.last_attempts,
        count_timeouts: c.count_timeouts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut PolicyConfig)) -> Result<Policy, PolicyError> {
        let mut c = PolicyConfig::default();
        f(&mut c);
        Policy::new(c)
    }

    #[test]
    fn default_config_is_the_default_policy() {
        assert_eq!(with(|_| {}), Ok(Policy::default()));
    }

    #[test]
    fn retry_delay_doubles_to_its_maximum() {
        let policy = with(|_| {}).expect("default policy");
        let delay = policy.retry_delay().expect("on by default");
        let hours: Vec<i64> = (1..=7).map(|n| delay.after(n).as_secs() / 3600).collect();
        assert_eq!(hours, [1, 2, 4, 8, 16, 24, 24]);
        assert_eq!(delay.after(u32::MAX).as_secs(), 86_400);
        assert_eq!(delay.after(0).as_secs(), 3600);
        let off = with(|c| c.retry_delay = None).expect("valid");
        assert_eq!(off.retry_delay(), None);
        for (initial_secs, max_secs) in [(0, 10), (10, 5), (1, MAX_SECS + 1)] {
            assert_eq!(
                with(|c| c.retry_delay = Some(RetryDelayConfig {
                    initial_secs,
                    max_secs
                })),
                Err(PolicyError::RetryDelay),
                "{initial_secs}/{max_secs}"
            );
        }
    }

    #[test]
    fn validation_errors() {
        assert_eq!(
            with(|c| c.update_percent = -1.0),
            Err(PolicyError::Percent(-1.0))
        );
        assert_eq!(
            with(|c| c.rate_limit = Some(RateLimitConfig {
                update_count: 0,
                update_interval_secs: 60
            })),
            Err(PolicyError::RateLimit)
        );
        assert_eq!(
            with(|c| c.rate_limit = Some(RateLimitConfig {
                update_count: 2,
                update_interval_secs: 0
            })),
            Err(PolicyError::RateLimit)
        );
        assert_eq!(
            with(|c| c.max_in_flight = Some(0)),
            Err(PolicyError::MaxInFlight)
        );
        assert_eq!(
            with(|c| c.update_timeout_secs = Some(0)),
            Err(PolicyError::UpdateTimeout)
        );
        assert_eq!(
            with(|c| c.update_timeout_secs = Some(u64::MAX)),
            Err(PolicyError::UpdateTimeout)
        );
        let ap = |threshold, last_attempts| AutoPauseConfig {
            threshold,
            last_attempts,
            count_timeouts: false,
        };
        assert_eq!(
            with(|c| c.auto_pause = Some(ap(FailureThreshold::Count(0), 50))),
            Err(PolicyError::AutoPause)
        );
        assert_eq!(
            with(|c| c.auto_pause = Some(ap(FailureThreshold::Count(51), 50))),
            Err(PolicyError::AutoPause)
        );
        assert_eq!(
            with(|c| c.auto_pause = Some(ap(FailureThreshold::Percent(0.0), 50))),
            Err(PolicyError::AutoPause)
        );
        assert_eq!(
            with(|c| c.auto_pause = Some(ap(FailureThreshold::Percent(150.0), 50))),
            Err(PolicyError::AutoPause)
        );
        assert_eq!(
            with(|c| c.auto_pause = Some(ap(FailureThreshold::Count(1), 0))),
            Err(PolicyError::AutoPause)
        );
    }

    #[test]
    fn percent_threshold_rounds_up() {
        let rule = |p, n| {
            with(|c| {
                c.auto_pause = Some(AutoPauseConfig {
                    threshold: FailureThreshold::Percent(p),
                    last_attempts: n,
                    count_timeouts: false,
                })
            })
            .expect("valid")
            .auto_pause()
            .expect("configured")
            .failures
        };
        assert_eq!(rule(10.0, 50), 5);
        assert_eq!(rule(10.0, 51), 6);
        assert_eq!(rule(1.0, 50), 1);
        assert_eq!(rule(100.0, 50), 50);
        assert_eq!(rule(33.3, 3), 1);
    }

    #[test]
    fn blacklist_is_trimmed_and_case_insensitive() {
        let p = with(|c| c.oem_blacklist = vec![" AMI ".into(), String::new(), "gce".into()])
            .expect("valid");
        assert!(p.is_blacklisted("ami"));
        assert!(p.is_blacklisted("Gce "));
        assert!(!p.is_blacklisted("azure"));
        assert!(!p.is_blacklisted(""));
    }

    #[test]
    fn percent_at_prefers_an_active_rollout() {
        let t0 = Timestamp::from_second(0).expect("valid");
        let frames = vec![Frame {
            percent: 10.0,
            duration_secs: 60,
        }];
        let inactive = with(|c| {
            c.update_percent = 50.0;
            c.rollout = Some(RolloutConfig {
                frames: frames.clone(),
                active_since: None,
            });
        })
        .expect("valid");
        assert_eq!(inactive.percent_at(t0).get(), 50.0);
        let active = with(|c| {
            c.update_percent = 50.0;
            c.rollout = Some(RolloutConfig {
                frames,
                active_since: Some(t0),
            });
        })
        .expect("valid");
        assert_eq!(active.percent_at(t0).get(), 10.0);
    }
}
