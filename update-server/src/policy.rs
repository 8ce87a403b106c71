//! A group's policy as the server stores it: a JSON document in the group's row, translated
//! into the engine's [`rollout_core::PolicyConfig`] when the configuration cache loads it.
//!
//! The document is the server's own type, not the engine's: the engine has no serde, and the
//! stored form must stay readable by later versions (every field has a default, unknown
//! fields are ignored).

use crate::clock::from_millis;
use jiff::Timestamp;
use rollout_core::{
    AutoPauseConfig, FailureThreshold, Frame, MaintenanceConfig, Policy, PolicyConfig, PolicyError,
    RateLimitConfig, RetryDelayConfig, RolloutConfig, RolloutPhase, WindowConfig,
};
use serde::{Deserialize, Serialize};

/// A group's policy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupPolicy {
    /// Updates paused by the operator.
    pub paused: bool,
    /// Percentage of instances eligible, 0 to 100 (CoreUpdate v2 `updatePercent`).
    pub update_percent: f64,
    /// Rate limiting on (CoreUpdate v1 `updatePooling`).
    pub update_pooling: bool,
    /// Grants per interval (CoreUpdate v1 `updateCount`).
    pub update_count: u32,
    /// The interval in seconds (CoreUpdate v1 `updateInterval`).
    pub update_interval_secs: u64,
    /// Timed rollout frames (CoreUpdate v2.1).
    pub rollout_frames: Vec<FrameDoc>,
    /// When the timed rollout was activated, unix ms; `None` when not active.
    pub rollout_active_since: Option<i64>,
    /// OEMs that get no updates.
    pub oem_blacklist: Vec<String>,
    /// At most this many outstanding grants.
    pub max_in_flight: Option<u32>,
    /// A grant not completed within this many seconds expires.
    pub update_timeout_secs: Option<u64>,
    /// Automatic pause on failures.
    pub auto_pause: Option<AutoPauseDoc>,
    /// Maintenance windows.
    pub maintenance: Option<MaintenanceDoc>,
    /// Serve lower versions (explicit rollback).
    pub allow_downgrade: bool,
    /// The retry delay after a failed attempt, seconds: an instance whose update failed is
    /// not offered the same version again for this long, doubling per consecutive failure up
    /// to [`GroupPolicy::retry_delay_max_secs`]. 0 turns the delay off.
    pub retry_delay_secs: u64,
    /// The longest retry delay, seconds (at least `retry_delay_secs`).
    pub retry_delay_max_secs: u64,
}

impl Default for GroupPolicy {
    fn default() -> Self {
        Self {
            paused: false,
            update_percent: 100.0,
            update_pooling: false,
            update_count: 0,
            update_interval_secs: 0,
            rollout_frames: Vec::new(),
            rollout_active_since: None,
            oem_blacklist: Vec::new(),
            max_in_flight: None,
            update_timeout_secs: None,
            auto_pause: None,
            maintenance: None,
            allow_downgrade: false,
            retry_delay_secs: RetryDelayConfig::DEFAULT.initial_secs,
            retry_delay_max_secs: RetryDelayConfig::DEFAULT.max_secs,
        }
    }
}

/// A frame of a timed rollout.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameDoc {
    /// Percentage during the frame.
    pub percent: f64,
    /// Length in seconds; 0 ends the rollout.
    pub duration_secs: u64,
}

/// Automatic pause settings: pause when `failures_count` (or `failures_percent` %) of the
/// last `last_attempts` attempts failed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AutoPauseDoc {
    /// Threshold as a count of failures.
    #[serde(default)]
    pub failures_count: Option<u32>,
    /// Threshold as a percentage of the attempts looked at.
    #[serde(default)]
    pub failures_percent: Option<f64>,
    /// How many recent attempts are looked at.
    pub last_attempts: u32,
    /// Whether expired grants count as failures.
    #[serde(default)]
    pub count_timeouts: bool,
}

/// Maintenance windows in a time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceDoc {
    /// IANA time zone name.
    pub time_zone: String,
    /// The windows.
    pub windows: Vec<WindowDoc>,
}

/// One maintenance window: weekdays (`mon` ... `sun`) and local hours `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowDoc {
    /// Weekday names, three letters or full, any case.
    pub weekdays: Vec<String>,
    /// Opening hour, 0 to 23.
    pub start_hour: u8,
    /// Closing hour, 0 to 24.
    pub end_hour: u8,
}

/// Why a policy document is unusable.
#[derive(Debug, thiserror::Error)]
pub enum PolicyDocError {
    /// Not valid JSON of this shape.
    #[error("policy document is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// A weekday name that is not one.
    #[error("unknown weekday {0:?}")]
    Weekday(String),
    /// Both or neither failure thresholds given.
    #[error("automatic pause needs exactly one of failures_count and failures_percent")]
    Threshold,
    /// The engine rejected the configuration.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

impl GroupPolicy {
    /// Reads a stored document; an empty string is the default policy.
    pub fn from_json(text: &str) -> Result<Self, PolicyDocError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        Ok(serde_json::from_str(text)?)
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a policy document always serializes")
    }

    /// The engine's view of the document, validated.
    pub fn to_policy(&self) -> Result<Policy, PolicyDocError> {
        Ok(Policy::new(self.to_config()?)?)
    }

    /// Where the timed rollout stands at `now` (inactive when the document is invalid).
    pub fn rollout_phase(&self, now: Timestamp) -> RolloutPhase {
        self.to_policy()
            .map_or(RolloutPhase::Inactive, |p| p.rollout_phase(now))
    }

    /// The percentage in force at `now`: the running (or finished) rollout's, else the
    /// group's own.
    pub fn percent_at(&self, now: Timestamp) -> f64 {
        self.to_policy()
            .map_or(self.update_percent, |p| p.percent_at(now).get())
    }

    /// Records the end of a rollout that has finished at `now`: the group keeps the last
    /// frame's percentage as its own and the rollout is no longer active. Returns the
    /// percentage and when the last frame ended, or `None` (nothing changed) when the
    /// rollout is not finished.
    pub fn finish_rollout(&mut self, now: Timestamp) -> Option<(f64, Timestamp)> {
        match self.rollout_phase(now) {
            RolloutPhase::Finished { percent, ended_at } => {
                self.update_percent = percent.get();
                self.rollout_active_since = None;
                Some((percent.get(), ended_at))
            }
            RolloutPhase::Inactive | RolloutPhase::Running { .. } => None,
        }
    }

    /// Stops a running rollout at `now`, keeping the percentage in force at that moment as
    /// the group's own. Returns that percentage, or `None` (nothing changed) when no rollout
    /// was running.
    pub fn stop_rollout(&mut self, now: Timestamp) -> Option<f64> {
        match self.rollout_phase(now) {
            RolloutPhase::Running { percent, .. } => {
                self.update_percent = percent.get();
                self.rollout_active_since = None;
                Some(percent.get())
            }
            RolloutPhase::Inactive | RolloutPhase::Finished { .. } => None,
        }
    }

    fn to_config(&self) -> Result<PolicyConfig, PolicyDocError> {
        let rate_limit =
            (self.update_pooling && self.update_count > 0 && self.update_interval_secs > 0)
                .then_some(RateLimitConfig {
                    update_count: self.update_count,
                    update_interval_secs: self.update_interval_secs,
                });
        let rollout = (!self.rollout_frames.is_empty()).then(|| RolloutConfig {
            frames: self
                .rollout_frames
                .iter()
                .map(|f| Frame {
                    percent: f.percent,
                    duration_secs: f.duration_secs,
                })
                .collect(),
            active_since: self.rollout_active_since.map(from_millis),
        });
        let auto_pause = self
            .auto_pause
            .map(|a| {
                let threshold = match (a.failures_count, a.failures_percent) {
                    (Some(n), None) => FailureThreshold::Count(n),
                    (None, Some(p)) => FailureThreshold::Percent(p),
                    _ => return Err(PolicyDocError::Threshold),
                };
                Ok(AutoPauseConfig {
                    threshold,
                    last_attempts: a.last_attempts,
                    count_timeouts: a.count_timeouts,
                })
            })
            .transpose()?;
        let maintenance = self
            .maintenance
            .as_ref()
            .map(|m| {
                Ok::<_, PolicyDocError>(MaintenanceConfig {
                    time_zone: m.time_zone.clone(),
                    windows: m
                        .windows
                        .iter()
                        .map(|w| {
                            Ok(WindowConfig {
                                weekdays: w
                                    .weekdays
                                    .iter()
                                    .map(|d| parse_weekday(d))
                                    .collect::<Result<_, _>>()?,
                                start_hour: w.start_hour,
                                end_hour: w.end_hour,
                            })
                        })
                        .collect::<Result<_, PolicyDocError>>()?,
                })
            })
            .transpose()?;
        Ok(PolicyConfig {
            paused: self.paused,
            rate_limit,
            update_percent: self.update_percent,
            rollout,
            oem_blacklist: self.oem_blacklist.clone(),
            max_in_flight: self.max_in_flight,
            update_timeout_secs: self.update_timeout_secs,
            auto_pause,
            maintenance,
            allow_downgrade: self.allow_downgrade,
            retry_delay: (self.retry_delay_secs > 0).then_some(RetryDelayConfig {
                initial_secs: self.retry_delay_secs,
                max_secs: self.retry_delay_max_secs,
            }),
        })
    }
}

fn parse_weekday(name: &str) -> Result<jiff::civil::Weekday, PolicyDocError> {
    use jiff::civil::Weekday::*;
    let lower = name.trim().to_ascii_lowercase();
    Ok(match lower.get(..3) {
        Some("mon") => Monday,
        Some("tue") => Tuesday,
        Some("wed") => Wednesday,
        Some("thu") => Thursday,
        Some("fri") => Friday,
        Some("sat") => Saturday,
        Some("sun") => Sunday,
        _ => return Err(PolicyDocError::Weekday(name.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_partial_documents_take_defaults() {
        assert_eq!(GroupPolicy::from_json("").unwrap(), GroupPolicy::default());
        // Documents stored before the retry delay existed get the default delay.
        let old = GroupPolicy::from_json(r#"{"paused":false}"#).unwrap();
        let delay = old
            .to_policy()
            .unwrap()
            .retry_delay()
            .expect("on by default");
        assert_eq!(
            (delay.initial.as_secs(), delay.max.as_secs()),
            (3600, 86_400)
        );
        let off = GroupPolicy {
            retry_delay_secs: 0,
            ..GroupPolicy::default()
        };
        assert_eq!(off.to_policy().unwrap().retry_delay(), None);
        let bad = GroupPolicy {
            retry_delay_secs: 600,
            retry_delay_max_secs: 60,
            ..GroupPolicy::default()
        };
        assert!(bad.to_policy().is_err());
        let p = GroupPolicy::from_json(r#"{"paused":true,"future_field":1}"#).unwrap();
        assert!(p.paused);
        assert_eq!(p.update_percent, 100.0);
    }

    #[test]
    fn round_trips_through_json() {
        let p = GroupPolicy {
            update_pooling: true,
            update_count: 2,
            update_interval_secs: 60,
            rollout_frames: vec![FrameDoc {
                percent: 50.0,
                duration_secs: 60,
            }],
            rollout_active_since: Some(1_000),
            auto_pause: Some(AutoPauseDoc {
                failures_count: None,
                failures_percent: Some(10.0),
                last_attempts: 50,
                count_timeouts: false,
            }),
            maintenance: Some(MaintenanceDoc {
                time_zone: "Europe/Berlin".into(),
                windows: vec![WindowDoc {
                    weekdays: vec!["Mon".into(), "friday".into()],
                    start_hour: 2,
                    end_hour: 5,
                }],
            }),
            ..GroupPolicy::default()
        };
        assert_eq!(GroupPolicy::from_json(&p.to_json()).unwrap(), p);
        let policy = p.to_policy().unwrap();
        assert_eq!(policy.rate_limit().map(|r| r.count), Some(2));
        assert!(policy.rollout().is_some());
        assert!(policy.maintenance().is_some());
    }

    #[test]
    fn rate_limit_needs_pooling_and_both_numbers() {
        let mut p = GroupPolicy {
            update_count: 2,
            update_interval_secs: 60,
            ..Default::default()
        };
        assert!(p.to_policy().unwrap().rate_limit().is_none(), "pooling off");
        p.update_pooling = true;
        assert!(p.to_policy().unwrap().rate_limit().is_some());
        p.update_interval_secs = 0;
        assert!(p.to_policy().unwrap().rate_limit().is_none());
    }

    #[test]
    fn finishing_and_stopping_a_rollout_keep_the_percent_in_force() {
        let at = |s: i64| Timestamp::from_second(s).unwrap();
        let running = GroupPolicy {
            update_percent: 10.0,
            rollout_frames: vec![
                FrameDoc {
                    percent: 25.0,
                    duration_secs: 30,
                },
                FrameDoc {
                    percent: 60.0,
                    duration_secs: 30,
                },
            ],
            rollout_active_since: Some(0),
            ..GroupPolicy::default()
        };
        // Stopping during the second frame keeps 60, not the stored 10.
        let mut stopped = running.clone();
        assert_eq!(stopped.finish_rollout(at(45)), None, "still running");
        assert_eq!(stopped.stop_rollout(at(45)), Some(60.0));
        assert_eq!(
            (stopped.update_percent, stopped.rollout_active_since),
            (60.0, None)
        );
        assert_eq!(stopped.percent_at(at(45)), 60.0);
        assert_eq!(stopped.stop_rollout(at(46)), None, "stopped once");
        // After the last frame: finished at 60 from second 60.
        let mut finished = running.clone();
        assert_eq!(finished.stop_rollout(at(61)), None, "not running any more");
        assert_eq!(finished.finish_rollout(at(61)), Some((60.0, at(60))));
        assert_eq!(
            (finished.update_percent, finished.rollout_active_since),
            (60.0, None)
        );
        assert_eq!(finished.finish_rollout(at(62)), None, "finished once");
        assert_eq!(running.percent_at(at(1000)), finished.percent_at(at(1000)));
    }

    #[test]
    fn invalid_documents_are_errors() {
        assert!(matches!(
            GroupPolicy::from_json("{"),
            Err(PolicyDocError::Json(_))
        ));
        let bad_day = GroupPolicy {
            maintenance: Some(MaintenanceDoc {
                time_zone: "UTC".into(),
                windows: vec![WindowDoc {
                    weekdays: vec!["someday".into()],
                    start_hour: 1,
                    end_hour: 2,
                }],
            }),
            ..Default::default()
        };
        assert!(matches!(
            bad_day.to_policy(),
            Err(PolicyDocError::Weekday(_))
        ));
        let bad_zone = GroupPolicy {
            maintenance: Some(MaintenanceDoc {
                time_zone: "Mars/Olympus".into(),
                windows: vec![WindowDoc {
                    weekdays: vec!["mon".into()],
                    start_hour: 1,
                    end_hour: 2,
                }],
            }),
            ..Default::default()
        };
        assert!(matches!(
            bad_zone.to_policy(),
            Err(PolicyDocError::Policy(_))
        ));
        let both = GroupPolicy {
            auto_pause: Some(AutoPauseDoc {
                failures_count: Some(1),
                failures_percent: Some(1.0),
                last_attempts: 5,
                count_timeouts: false,
            }),
            ..Default::default()
        };
        assert!(matches!(both.to_policy(), Err(PolicyDocError::Threshold)));
    }
}
