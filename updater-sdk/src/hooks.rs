//! The hooks: what only the application team knows (how to install a package, how to tell
//! that the new version is healthy, how to go back), and an optional progress callback.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

use crate::core::{UpdateInfo, UpdatePlan};
use crate::error::{Error, HookError};

/// What the install hook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallOutcome {
    /// The new version is installed and running now (a service was restarted, files were
    /// swapped). The SDK reports 3/1, runs the health check, then reports 3/2.
    Complete,
    /// The new version is installed but takes effect later, when the app decides (at its
    /// next restart, say). The SDK reports 800/1 and persists the update; when an updater
    /// is next built with the new version as its current version, it runs the health
    /// check and reports 3/2.
    Deferred,
}

/// The application's side of an update.
///
/// Only [`Hooks::install`] is required. The hooks run on the updater's task; a hook that
/// never returns stalls the updater (cancel it with the shutdown future of
/// [`crate::Updater::run`]).
#[async_trait]
pub trait Hooks: Send + Sync {
    /// Installs the verified payload at `payload` (a file in the state directory; the SDK
    /// deletes it afterwards, so copy or move what must stay).
    ///
    /// An error is reported as 3/0 with code 5 (postinstall runner); the SDK does not call
    /// [`Hooks::rollback`] for it: a failed install is expected to leave the old version
    /// in place.
    async fn install(
        &self,
        payload: &Path,
        update: &UpdateInfo,
    ) -> Result<InstallOutcome, HookError>;

    /// Checks that the new version works. Runs after an install that completed at once,
    /// or after the restart onto a deferred one. Defaults to healthy.
    async fn health_check(&self, version: &str) -> Result<(), HookError> {
        let _ = version;
        Ok(())
    }

    /// Goes back to `previous_version` after a failed health check of `failed_version`.
    /// Defaults to doing nothing.
    async fn rollback(
        &self,
        failed_version: &str,
        previous_version: &str,
    ) -> Result<(), HookError> {
        let _ = (failed_version, previous_version);
        Ok(())
    }

    /// Progress and trouble, for logs and progress bars. Called on the updater's task:
    /// keep it quick. Defaults to nothing.
    fn notify(&self, notification: &Notification<'_>) {
        let _ = notification;
    }
}

/// What [`Hooks::notify`] hears about.
#[derive(Debug)]
#[non_exhaustive]
pub enum Notification<'a> {
    /// The server has no update.
    NoUpdate,
    /// The server offered an update of several steps (every floor on the way, then the
    /// target), to be installed in this order; each step is then announced with
    /// [`Notification::UpdateAvailable`] as it starts.
    Steps(&'a UpdatePlan),
    /// The server offered an update, or the next step of one starts.
    UpdateAvailable(&'a UpdateInfo),
    /// Payload bytes on disk so far (including those of a resumed download).
    DownloadProgress {
        /// Bytes so far.
        bytes: u64,
        /// Expected total.
        total: u64,
    },
    /// A download resumes at `offset` bytes.
    DownloadResumed {
        /// Where it resumes.
        offset: u64,
    },
    /// The payload is downloaded and verified.
    Verified(&'a UpdateInfo),
    /// The install hook returned.
    Installed {
        /// The new version.
        version: &'a str,
        /// What the hook said.
        outcome: InstallOutcome,
    },
    /// The update is complete and reported (3/2).
    Completed {
        /// The new version.
        version: &'a str,
        /// The version it replaced.
        from_version: &'a str,
    },
    /// A request failed and is retried after `retry_in` (or the next check is that far
    /// away, in [`crate::Updater::run`]).
    Retrying {
        /// The failure.
        error: &'a Error,
        /// The backoff delay.
        retry_in: Duration,
    },
    /// The update failed; the 3/0 event with this error's code was sent (or attempted).
    Failed(&'a Error),
}
