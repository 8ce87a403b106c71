//! Domain types: apps, channels, groups, packages and instances as the engine sees them.
//!
//! These are engine types, not wire types: they carry no serde derives. The server
//! translates its JSON, XML and SQL rows into them.

use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;

use crate::{Policy, Version};

/// An application (CoreUpdate's "app"), identified by its id (usually a UUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The app id, lower case and without braces.
    pub id: String,
    /// A human-readable label.
    pub label: String,
}

/// A channel of an app: a name that points at one target version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// The channel name (`alpha`, `stable`, ...).
    pub name: String,
    /// The version the channel points at; `None` for a channel with no version yet.
    pub target: Option<Version>,
}

/// A group of instances: the channel it tracks and its rollout policy.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group id (the Omaha `track`).
    pub id: String,
    /// The name of the channel the group tracks.
    pub channel: String,
    /// The validated rollout policy.
    pub policy: Policy,
}

/// A package: the payload of one version of an app. The engine only needs to know that it
/// exists; the remaining fields are carried for the server's convenience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The version this package installs.
    pub version: Version,
    /// Where the payload is served from; empty while a package registered for the server's
    /// own hosting waits for its payload (no instance is offered it then).
    pub url: String,
    /// The payload size in bytes.
    pub size: u64,
    /// The payload's SHA-256 digest (raw bytes).
    pub sha256: [u8; 32],
}

/// A machine id (Omaha `machineid`, falling back to `userid`). Cheap to clone: the engine
/// keeps one per outstanding grant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MachineId(Arc<str>);

impl MachineId {
    /// Wraps a machine id.
    pub fn new(id: &str) -> Self {
        Self(Arc::from(id))
    }

    /// The id as sent by the instance.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for MachineId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for MachineId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

impl fmt::Display for MachineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An update error code as reported in an event (`errorcode`), kept verbatim.
///
/// update_engine ORs flag bits 28 to 31 into the code (bit 28 is set on every self-hosted
/// server); [`ErrorCode::base`] masks them off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub i64);

impl ErrorCode {
    /// The code with update_engine's flag bits (28 to 31) cleared: `268437959` gives `2503`.
    pub fn base(self) -> i64 {
        self.0 & !0xF000_0000
    }
}

/// Where an instance is in its update, as moved by its events and by grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceStatus {
    /// Never granted an update and never reported one.
    Unknown,
    /// Granted an update that it has not reported on yet.
    Granted,
    /// Downloading the update (event 13/1).
    Downloading,
    /// Download finished (event 14/1).
    Downloaded,
    /// The update is applied and waits for a restart (event 3/1).
    Installed,
    /// Installed, but the instance holds back completion (event 800/1).
    InstalledHeld,
    /// Running the reported version after an update completed (event 3/2 completing an
    /// attempt; a routine 3/2 check-in moves nothing).
    Complete,
    /// The update failed (event 3/0) with this error code (0 when none was sent).
    Error(ErrorCode),
}

/// The outstanding grant an instance holds (mirrors its entry in the group's
/// [`RolloutState`](crate::RolloutState)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceGrant {
    /// The version granted.
    pub target: Version,
    /// When it was granted.
    pub granted_at: Timestamp,
}

/// The back-off of an instance whose update failed: it is not offered `version` (any
/// version when `None`) again before `until`. Kept after `until` passes, so that the next
/// failure doubles the delay; cleared by a completion or by the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// Consecutive failed attempts.
    pub failures: u32,
    /// The end of the retry delay.
    pub until: Timestamp,
    /// The version that failed (the grant's target), when known.
    pub version: Option<Version>,
}

impl Backoff {
    /// Whether the back-off keeps `target` from being offered at `now`.
    pub fn holds(&self, target: &Version, now: Timestamp) -> bool {
        now < self.until && self.version.as_ref().is_none_or(|v| v == target)
    }
}

/// An instance of an app in a group, as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The machine id.
    pub machine_id: MachineId,
    /// The version the instance runs (reported in its last request).
    pub version: Version,
    /// The OEM (platform) the instance reports, empty when none.
    pub oem: String,
    /// The update status.
    pub status: InstanceStatus,
    /// The grant the instance holds, if any.
    pub grant: Option<InstanceGrant>,
    /// The retry delay after failed attempts, if any.
    pub backoff: Option<Backoff>,
}

impl Instance {
    /// A newly seen instance: status [`InstanceStatus::Unknown`], no grant.
    pub fn new(machine_id: impl Into<MachineId>, version: Version, oem: &str) -> Self {
        Self {
            machine_id: machine_id.into(),
            version,
            oem: oem.to_owned(),
            status: InstanceStatus::Unknown,
            grant: None,
            backoff: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_masks_flag_bits() {
        assert_eq!(ErrorCode(268_437_959).base(), 2503);
        assert_eq!(ErrorCode(10).base(), 10);
        assert_eq!(ErrorCode(0x7000_0000 | 44).base(), 44);
    }

    #[test]
    fn new_instance_is_unknown_without_grant() {
        let v = Version::parse("1.0.0").expect("parses");
        let i = Instance::new("m-1", v.clone(), "ami");
        assert_eq!(i.machine_id.as_str(), "m-1");
        assert_eq!(i.version, v);
        assert_eq!(i.status, InstanceStatus::Unknown);
        assert!(i.grant.is_none());
    }
}
