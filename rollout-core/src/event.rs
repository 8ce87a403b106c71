//! Instance events: the (eventtype, eventresult) pairs of the Omaha protocol and the
//! instance state machine they drive.
//!
//! | pair  | meaning                                   | new status                  |
//! |-------|-------------------------------------------|-----------------------------|
//! | 13/1  | download started                          | `Downloading`               |
//! | 14/1  | download finished                         | `Downloaded`                |
//! | 3/1   | update applied, restart pending           | `Installed`                 |
//! | 800/1 | installed, completion held by the instance| `InstalledHeld`             |
//! | 3/2   | running the reported version              | `Complete` (see below)      |
//! | 3/0   | update failed, with `errorcode`           | `Error(code)`               |
//! | other | recorded by the server, no transition     | unchanged                   |
//!
//! update_engine attaches 3/2 to every routine check (with `previousversion=""`), so a 3/2
//! is a **completion** only when it completes an attempt:
//!
//! - the instance holds a grant for exactly the reported version (the grant succeeded: it
//!   is released and counted as a successful attempt);
//! - or, holding no grant, it reports a version newer than the one stored;
//! - or, holding no grant, its `previousversion` names a version older than the reported
//!   one (update_engine's first check after an update).
//!
//! Any other 3/2 is a **check-in**: it refreshes "last seen" and moves nothing. In
//! particular an instance in `Error` stays there until its next attempt starts (a new
//! grant) or a completion arrives. A 3/2 that reports another version while a grant is
//! outstanding is update_engine's routine report from before the restart: a check-in.
//!
//! A 3/0 records the failure and, when the group's policy has a retry delay, starts or
//! extends the instance's [`Backoff`](crate::Backoff): the same version is not offered
//! again before the delay, which doubles with each consecutive failure.

use crate::{ErrorCode, Version};

/// An event as reported by an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Omaha `eventtype`.
    pub event_type: u32,
    /// Omaha `eventresult`.
    pub event_result: u32,
    /// Omaha `errorcode`, kept verbatim (flag bits included).
    pub error_code: Option<i64>,
    /// The version the instance reported in the same request.
    pub version: Version,
    /// Omaha `previousversion` when it names a version (`None` when absent, empty or not a
    /// version).
    pub previous_version: Option<Version>,
}

/// What an event means to the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// 13/1.
    DownloadStarted,
    /// 14/1.
    DownloadFinished,
    /// 3/1.
    Installed,
    /// 800/1.
    InstalledHeld,
    /// 3/2.
    Completed,
    /// 3/0, with the error code (0 when none was sent).
    Failed(ErrorCode),
    /// Any other pair: recorded, no transition.
    Unrecognized {
        /// The event type.
        event_type: u32,
        /// The event result.
        event_result: u32,
    },
}

impl EventKind {
    /// Classifies an (eventtype, eventresult) pair.
    pub fn classify(event_type: u32, event_result: u32, error_code: Option<i64>) -> Self {
        match (event_type, event_result) {
            (13, 1) => Self::DownloadStarted,
            (14, 1) => Self::DownloadFinished,
            (3, 1) => Self::Installed,
            (800, 1) => Self::InstalledHeld,
            (3, 2) => Self::Completed,
            (3, 0) => Self::Failed(ErrorCode(error_code.unwrap_or(0))),
            (event_type, event_result) => Self::Unrecognized {
                event_type,
                event_result,
            },
        }
    }
}

impl Event {
    /// The event's meaning.
    pub fn kind(&self) -> EventKind {
        EventKind::classify(self.event_type, self.event_result, self.error_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(t: u32, r: u32, code: Option<i64>, expect: EventKind) {
        assert_eq!(EventKind::classify(t, r, code), expect, "{t}/{r}");
    }

    #[test]
    fn classification_table() {
        check(13, 1, None, EventKind::DownloadStarted);
        check(14, 1, None, EventKind::DownloadFinished);
        check(3, 1, None, EventKind::Installed);
        check(800, 1, None, EventKind::InstalledHeld);
        check(3, 2, None, EventKind::Completed);
        check(
            3,
            0,
            Some(268_437_959),
            EventKind::Failed(ErrorCode(268_437_959)),
        );
        check(3, 0, None, EventKind::Failed(ErrorCode(0)));
        check(
            3,
            9,
            Some(36),
            EventKind::Unrecognized {
                event_type: 3,
                event_result: 9,
            },
        );
        check(
            13,
            0,
            None,
            EventKind::Unrecognized {
                event_type: 13,
                event_result: 0,
            },
        );
    }
}
