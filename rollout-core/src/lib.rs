//! The rollout policy engine: given a group's policy and rollout state, an instance and
//! `now`, decide whether the instance gets an update.
//!
//! The crate is pure and deterministic: no IO, no clock (`now` is an argument), no
//! randomness. The same inputs always give the same [`Decision`] and the same new state.
//! Decisions are values, never errors; configuration errors surface once, when a
//! [`PolicyConfig`] becomes a [`Policy`].
//!
//! # Time
//!
//! Time is a [`jiff::Timestamp`] (UTC, nanosecond precision); durations in policies are
//! whole seconds. Maintenance windows use the IANA time zone database bundled into jiff, so
//! nothing is read from the file system.
//!
//! # The shape of the API
//!
//! - [`Policy::new`] validates a [`PolicyConfig`].
//! - [`RolloutState`] is the group's persisted rollout state: rate window, outstanding
//!   grants, recent attempt outcomes, automatic pause.
//! - [`RolloutState::decide`]`(policy, instance, check, now)` answers an update check and
//!   returns the [`Decision`] and the [`Effects`] to persist.
//! - [`RolloutState::record_event`]`(policy, instance, event, now)` moves the instance's
//!   state machine, releases grants, counts attempts and reports an [`AutoPause`].
//! - [`RolloutState::refusal_facts`] and [`RefusalFacts::refuse`] answer, without the
//!   group's lock, the refusals no concurrent decision can turn into a grant.
//! - [`stalled_since`]`(policy, facts, threshold, now)` says whether a rollout is stalled
//!   (instances it would grant still wait, and nothing happened for longer than the policy
//!   explains) and since when; the rule is in [`stall`].
//!
//! Deciding and recording cost O(log n) in the number of outstanding grants and never scan
//! the fleet.
//!
//! # Example
//!
//! The getting-started guide's rate limit, two updates per minute:
//!
//! ```
//! use jiff::Timestamp;
//! use rollout_core::{
//!     Channel, Check, Decision, Event, InstallSource, Instance, Package, Policy, PolicyConfig,
//!     RateLimitConfig, Reason, RolloutState, Version,
//! };
//!
//! let policy = Policy::new(PolicyConfig {
//!     rate_limit: Some(RateLimitConfig { update_count: 2, update_interval_secs: 60 }),
//!     ..PolicyConfig::default()
//! })?;
//! let target = Version::parse("1.1.0")?;
//! let channel = Channel { name: "master".into(), target: Some(target.clone()) };
//! let package = Package { version: target.clone(), url: "https://example.com/pkg/".into(),
//!                         size: 1024, sha256: [0; 32] };
//! let check = Check { channel: &channel, package: Some(&package),
//!                     install_source: InstallSource::Scheduler };
//! let mut state = RolloutState::new();
//! let t0: Timestamp = "2026-11-27T08:00:00Z".parse()?;
//!
//! let v100 = Version::parse("1.0.0")?;
//! let mut fleet: Vec<Instance> = (0..3)
//!     .map(|i| Instance::new(format!("fake-client-{i:03}"), v100.clone(), ""))
//!     .collect();
//! let decisions: Vec<Decision> = fleet
//!     .iter_mut()
//!     .map(|instance| state.decide(&policy, instance, &check, t0).decision)
//!     .collect();
//! assert!(decisions[0].is_update() && decisions[1].is_update());
//! let until: Timestamp = "2026-11-27T08:01:00Z".parse()?;
//! assert_eq!(decisions[2], Decision::NoUpdate { reason: Reason::RateLimited { until } });
//!
//! // The first instance reports success; its grant completes.
//! let done = Event { event_type: 3, event_result: 2, error_code: None, version: target,
//!                    previous_version: Some(v100.clone()) };
//! let outcome = state.record_event(&policy, &mut fleet[0], &done, t0);
//! assert_eq!(state.in_flight(), 1);
//! assert!(outcome.instance_changed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! None. The dependencies are `jiff` (time zones, bundled database, no file system),
//! `sha2` (the frozen bucket function, see [`position`]) and `thiserror`.
//!
//! # Stability
//!
//! The crate follows semantic versioning. While its version is `0.y.z`, a release that changes
//! or removes a public item, or changes a decision for the same inputs (the bucket function
//! that places an instance in a rollout percentage is frozen: changing it would move running
//! instances in or out of their rollout's percentage), raises `y` (`0.1` to `0.2`); one that only adds items or fixes
//! bugs raises `z`. From `1.0.0` on, breaking changes raise the major version. The minimum
//! supported Rust version (`rust-version` in `Cargo.toml`) is raised only in a release that
//! raises `y` (or, from 1.0, the minor version), and each release is listed in `CHANGELOG.md`.
#![forbid(unsafe_code)]

pub mod arch;
pub mod bucket;
pub mod decision;
pub mod event;
pub mod floor;
pub mod frames;
pub mod model;
pub mod policy;
pub mod refusal;
pub mod stall;
pub mod state;
pub mod version;
pub mod window;

pub use arch::{Arch, ArchError, MAX_ARCH_LEN, package_for_arch};
pub use bucket::{Percent, Position, position};
pub use decision::{Check, Decision, InstallSource, Reason};
pub use event::{Event, EventKind};
pub use floor::{Floor, NextVersion, floors_between, next_version};
pub use frames::{Frame, MAX_FRAMES, RolloutPhase, TimedRollout, linear_frames};
pub use model::{
    App, Backoff, Channel, ErrorCode, Group, Instance, InstanceGrant, InstanceStatus, MachineId,
    Package,
};
pub use policy::{
    AutoPauseConfig, AutoPauseRule, FailureThreshold, Policy, PolicyConfig, PolicyError, RateLimit,
    RateLimitConfig, RetryDelay, RetryDelayConfig, RolloutConfig,
};
pub use refusal::{Applicant, Refusal, RefusalFacts};
pub use stall::{StallFacts, stalled_since};
pub use state::{
    Attempt, AutoPause, CheckOutcome, Effects, EventOutcome, Grant, ReleaseReason, Released,
    RolloutState, RolloutStateParts, Transition,
};
pub use version::{Version, VersionError};
pub use window::{MaintenanceConfig, MaintenanceWindows, WindowConfig};
