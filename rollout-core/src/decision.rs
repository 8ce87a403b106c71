//! Decisions as values: what an update check gets, and why not when it gets nothing.

use std::fmt;

use jiff::Timestamp;

use crate::{Channel, Package, Percent, Version};

/// Who started the check (Omaha `installsource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InstallSource {
    /// A routine, scheduled check (`scheduler`, or no install source).
    #[default]
    Scheduler,
    /// A check a user forced (`ondemandupdate`): bypasses the rate limit, the percentage
    /// and maintenance windows, never a pause.
    OnDemand,
}

/// What the server knows about the check besides the instance: the group's channel, the
/// package for the channel's target, and the install source.
#[derive(Debug, Clone, Copy)]
pub struct Check<'a> {
    /// The channel the instance's group tracks.
    pub channel: &'a Channel,
    /// The package of the channel's target version, if the server has one.
    pub package: Option<&'a Package>,
    /// Who started the check.
    pub install_source: InstallSource,
}

/// The answer to an update check.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Serve the update to `target`.
    Update {
        /// The version to install (the channel's target).
        target: Version,
        /// The target is lower than the instance's version (an explicit rollback).
        rollback: bool,
        /// The instance already held this grant: it is served again without consuming
        /// capacity.
        reissued: bool,
    },
    /// Serve no update.
    NoUpdate {
        /// Why not.
        reason: Reason,
    },
}

impl Decision {
    /// Whether the decision serves an update.
    pub fn is_update(&self) -> bool {
        matches!(self, Self::Update { .. })
    }

    /// The reason of a `NoUpdate`, `None` for an update.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Self::Update { .. } => None,
            Self::NoUpdate { reason } => Some(reason),
        }
    }
}

/// Why an instance gets no update. The server counts these in metrics and shows them.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Reason {
    /// The instance runs the channel's target.
    UpToDate,
    /// The instance runs a version above the target and the group does not allow
    /// downgrades.
    AheadOfTarget,
    /// The channel points at no version.
    NoTarget,
    /// The server has no package for the target version.
    NoPackage,
    /// The target's package is registered for the server's own hosting, but its payload has
    /// not been uploaded yet (the package's URL is empty).
    PayloadMissing,
    /// The operator paused the group.
    Paused,
    /// The group paused itself when failures reached its threshold at `since`.
    AutoPaused {
        /// When the automatic pause fired.
        since: Timestamp,
    },
    /// The instance's OEM is blacklisted.
    Blacklisted,
    /// The version the channel would offer is blacklisted on the channel. The engine never
    /// decides this itself (a server hands it a channel without a target then, which reads
    /// [`Reason::NoTarget`]); a server that applies blacklists reports this reason instead,
    /// so operators are told the truth.
    TargetBlacklisted,
    /// No maintenance window is open; the next one opens at `opens_at` (`None` when none
    /// opens within eight days, which cannot happen with a valid policy but is not assumed).
    OutsideWindow {
        /// When the next window opens.
        opens_at: Option<Timestamp>,
    },
    /// The instance's position is not under the percentage in force.
    NotInPercent {
        /// The percentage in force.
        percent: Percent,
    },
    /// The rate limit is used up until `until`.
    RateLimited {
        /// The first moment another grant fits in the rate window.
        until: Timestamp,
    },
    /// `limit` instances already hold outstanding grants.
    InFlightCap {
        /// The cap.
        limit: u32,
    },
    /// The instance's last attempt failed: the same version is not offered again before
    /// `until` (the group's retry delay).
    RetryingAfterFailure {
        /// When the retry delay ends.
        until: Timestamp,
    },
}

impl Reason {
    /// A stable snake-case label for metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::UpToDate => "up_to_date",
            Self::AheadOfTarget => "ahead_of_target",
            Self::NoTarget => "no_target",
            Self::NoPackage => "no_package",
            Self::PayloadMissing => "payload_missing",
            Self::Paused => "paused",
            Self::AutoPaused { .. } => "auto_paused",
            Self::Blacklisted => "blacklisted",
            Self::TargetBlacklisted => "target_blacklisted",
            Self::OutsideWindow { .. } => "outside_window",
            Self::NotInPercent { .. } => "not_in_percent",
            Self::RateLimited { .. } => "rate_limited",
            Self::InFlightCap { .. } => "in_flight_cap",
            Self::RetryingAfterFailure { .. } => "retrying_after_failure",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UpToDate => f.write_str("up to date"),
            Self::AheadOfTarget => f.write_str("ahead of the target and downgrades are off"),
            Self::NoTarget => f.write_str("the channel has no version"),
            Self::NoPackage => f.write_str("no package for the target version"),
            Self::PayloadMissing => {
                f.write_str("the target's package has no payload yet (upload it)")
            }
            Self::Paused => f.write_str("updates are paused"),
            Self::AutoPaused { since } => write!(f, "paused automatically at {since}"),
            Self::Blacklisted => f.write_str("the OEM is blacklisted"),
            Self::TargetBlacklisted => {
                f.write_str("the channel's version is blacklisted on the channel")
            }
            Self::OutsideWindow { opens_at: Some(t) } => {
                write!(f, "outside the maintenance window (opens at {t})")
            }
            Self::OutsideWindow { opens_at: None } => f.write_str("outside the maintenance window"),
            Self::NotInPercent { percent } => write!(f, "not within the rollout's {percent}"),
            Self::RateLimited { until } => write!(f, "rate limited until {until}"),
            Self::InFlightCap { limit } => write!(f, "{limit} updates already in flight"),
            Self::RetryingAfterFailure { until } => {
                write!(f, "retrying after failure until {until}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct() {
        let t = Timestamp::UNIX_EPOCH;
        let all = [
            Reason::UpToDate,
            Reason::AheadOfTarget,
            Reason::NoTarget,
            Reason::NoPackage,
            Reason::PayloadMissing,
            Reason::Paused,
            Reason::AutoPaused { since: t },
            Reason::Blacklisted,
            Reason::TargetBlacklisted,
            Reason::OutsideWindow { opens_at: None },
            Reason::NotInPercent {
                percent: Percent::ZERO,
            },
            Reason::RateLimited { until: t },
            Reason::InFlightCap { limit: 1 },
            Reason::RetryingAfterFailure { until: t },
        ];
        let labels: std::collections::BTreeSet<_> = all.iter().map(Reason::as_str).collect();
        assert_eq!(labels.len(), all.len());
        assert_eq!(
            Reason::RateLimited { until: t }.to_string(),
            "rate limited until 1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn decision_accessors() {
        let no = Decision::NoUpdate {
            reason: Reason::Paused,
        };
        assert!(!no.is_update());
        assert_eq!(no.reason(), Some(&Reason::Paused));
        let yes = Decision::Update {
            target: Version::parse("1.0.0").expect("parses"),
            rollback: false,
            reissued: false,
        };
        assert!(yes.is_update());
        assert_eq!(yes.reason(), None);
    }
}
