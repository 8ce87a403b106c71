//! The SDK's one error type, and the Omaha error code each error is reported with.
//!
//! | error | `errorcode` in the 3/0 event | update_engine's name |
//! |---|---|---|
//! | [`Error::Transport`], [`Error::Timeout`] (payload download) | 9 | download transfer |
//! | [`Error::Download`] (payload server answered HTTP `s`) | 2000 + `s` | HTTP response |
//! | [`Error::HashMismatch`] | 10 | payload hash mismatch |
//! | [`Error::SizeMismatch`] | 11 | payload size mismatch |
//! | [`Error::Signature`] | 12 | download payload verification |
//! | [`Error::Io`] | 14 | download write |
//! | [`Error::Install`] | 5 | postinstall runner |
//! | [`Error::EmptyResponse`] | 30 | empty response |
//! | [`Error::Protocol`] | 31 | XML parse error |
//! | [`Error::InvalidResponse`], [`Error::WrongApp`], [`Error::Rejected`] | 34 | Omaha response invalid |
//! | [`Error::Server`] (update service answered HTTP `s`) | 2000 + `s` | HTTP response |
//! | [`Error::RolledBack`], [`Error::Downgrade`] | 44 | rollback detected |
//! | [`Error::HealthCheck`] | 1000 | (SDK code: the health check failed, rolled back) |
//! | [`Error::AnswerRefused`] | 34 | Omaha response invalid (never sent: see below) |
//! | [`Error::State`], [`Error::Config`] | 1 | generic error |
//!
//! Errors talking to the update service itself are not reported as events (the server is
//! what could not be reached); they are retried with backoff. That includes an answer a
//! pinned updater refused ([`Error::AnswerRefused`]): it is not acted on at all.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The SDK-specific error code reported when the health check of a new version fails.
pub const HEALTH_CHECK_FAILED: i64 = 1000;

/// Everything that can go wrong in an update.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection to `url` failed (refused, reset, TLS, cut in the middle of a body).
    #[error("request to {url} failed")]
    Transport {
        /// The URL requested.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// `url` did not answer within the configured timeout.
    #[error("request to {url} timed out")]
    Timeout {
        /// The URL requested.
        url: String,
    },
    /// The update service answered with a non-2xx HTTP status.
    #[error("the update service answered HTTP {status}")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// The payload server answered with an HTTP status other than 200, 206 or 416.
    #[error("downloading {url} failed with HTTP {status}")]
    Download {
        /// The payload URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The update service answered 2xx with an empty body.
    #[error("the update service sent an empty response")]
    EmptyResponse,
    /// The response is not a well-formed Omaha document.
    #[error("the update service sent an undecodable response")]
    Protocol(#[from] omaha_proto::DecodeError),
    /// The response is well formed but lacks something the SDK needs.
    #[error("invalid Omaha response: {0}")]
    InvalidResponse(String),
    /// The response is about another app than the one asked for.
    #[error("the response is for app {got:?}, not {expected:?}")]
    WrongApp {
        /// This updater's app id.
        expected: String,
        /// The first app id in the response.
        got: String,
    },
    /// The server refused the app or the check (`error-unknownApplication`, ...).
    #[error("the update service refused the request: {status}")]
    Rejected {
        /// The `status` attribute.
        status: String,
    },
    /// The payload's SHA-256 is not the one the server announced.
    #[error("payload SHA-256 is {actual}, expected {expected}")]
    HashMismatch {
        /// Announced, base64.
        expected: String,
        /// Computed, base64.
        actual: String,
    },
    /// The payload's size is not the one the server announced.
    #[error("payload is {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// Announced.
        expected: u64,
        /// Received (a lower bound when the download was stopped for being too long).
        actual: u64,
    },
    /// The payload signature is missing, malformed or does not verify.
    #[error("payload signature: {0}")]
    Signature(String),
    /// The install hook failed.
    #[error("the install hook failed")]
    Install(#[source] HookError),
    /// The health check of the new version failed; the rollback hook ran.
    #[error("the health check of version {version} failed")]
    HealthCheck {
        /// The version that failed its health check.
        version: String,
        /// The health check's error.
        #[source]
        source: HookError,
        /// The rollback hook's error, if the rollback failed too.
        rollback: Option<HookError>,
    },
    /// An installed update did not take effect: the app runs the old version again.
    #[error("version {version} was installed but the app runs {running}")]
    RolledBack {
        /// The version installed.
        version: String,
        /// The version running.
        running: String,
    },
    /// A file in the state directory could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not readable JSON of the expected shape.
    #[error("state file {}: {message}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The builder was given an unusable configuration.
    #[error("invalid updater configuration: {0}")]
    Config(String),
    /// An updater with a pinned CUP key refused the update service's answer: it is unsigned,
    /// altered, replayed or stale. Nothing in it was acted on.
    #[error("refused the update service's answer: {0}")]
    AnswerRefused(#[from] AnswerRefused),
    /// Anti-rollback: the server offered a version below the highest one this updater
    /// ever installed, without marking it an explicit rollback. Reported as 3/0 with code
    /// 44; nothing was downloaded.
    #[error(
        "refused a downgrade to {offered}: {highest} was installed before and the server did not mark the update a rollback"
    )]
    Downgrade {
        /// The version offered.
        offered: String,
        /// The highest version installed before.
        highest: String,
    },
}

/// Why an updater with a pinned CUP key refused an answer ([`Error::AnswerRefused`]; see
/// `docs/signing.md`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerRefused {
    /// The answer carries no proof (`X-Cup-Server-Proof` or `ETag`): not from a server
    /// that signs, or stripped on the way.
    #[error("it is not signed (no X-Cup-Server-Proof or ETag)")]
    Unsigned,
    /// The proof is not `<signature>:<request hash>` in hex, or the signature is not DER.
    #[error("its signature is malformed: {0}")]
    MalformedProof(String),
    /// The signature does not verify with the pinned key: the answer was altered, or
    /// signed by another key.
    #[error("its signature does not verify with the pinned key (altered, or another key)")]
    BadSignature,
    /// The proof is for another request body: an answer to an earlier request, replayed.
    #[error("it answers another request (replayed): the proof names another request hash")]
    Replayed,
    /// The answer arrived later after the request was sent than the pinned updater's
    /// bound ([`crate::UpdaterBuilder::cup_max_answer_age`]).
    #[error("it arrived {elapsed:?} after the request, later than the {max:?} allowed (stale)")]
    Stale {
        /// How long after sending the request the whole answer had arrived.
        elapsed: Duration,
        /// The bound.
        max: Duration,
    },
}

impl Error {
    /// The Omaha `errorcode` this error is reported with in a 3/0 event (table in the
    /// [module docs](self)).
    #[must_use]
    pub fn omaha_error_code(&self) -> i64 {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } => 9,
            Self::Server { status } | Self::Download { status, .. } => 2000 + i64::from(*status),
            Self::HashMismatch { .. } => 10,
            Self::SizeMismatch { .. } => 11,
            Self::Signature(_) => 12,
            Self::Io { .. } => 14,
            Self::Install(_) => 5,
            Self::EmptyResponse => 30,
            Self::Protocol(_) => 31,
            Self::InvalidResponse(_)
            | Self::WrongApp { .. }
            | Self::Rejected { .. }
            | Self::AnswerRefused(_) => 34,
            Self::RolledBack { .. } | Self::Downgrade { .. } => 44,
            Self::HealthCheck { .. } => HEALTH_CHECK_FAILED,
            Self::State { .. } | Self::Config(_) => 1,
        }
    }

    /// Whether trying again later may succeed without anyone changing anything: transport
    /// failures, timeouts and HTTP 5xx (and 429).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } => true,
            Self::Server { status } | Self::Download { status, .. } => {
                *status >= 500 || *status == 429
            }
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// The error a [`Hooks`](crate::Hooks) method returns: any error, boxed, or a message.
pub struct HookError(Box<dyn StdError + Send + Sync>);

impl HookError {
    /// Wraps any error.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self(error.into())
    }

    /// An error that is just a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self(message.to_string().into())
    }

    /// The wrapped error.
    #[must_use]
    pub fn into_inner(self) -> Box<dyn StdError + Send + Sync> {
        self.0
    }
}

impl fmt::Debug for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for HookError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

impl From<std::io::Error> for HookError {
    fn from(error: std::io::Error) -> Self {
        Self::new(error)
    }
}

impl From<String> for HookError {
    fn from(message: String) -> Self {
        Self(message.into())
    }
}

impl From<&str> for HookError {
    fn from(message: &str) -> Self {
        Self(message.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_thread_safe_values() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
        check::<HookError>();
    }

    #[test]
    fn codes_follow_update_engine() {
        let hash = Error::HashMismatch {
            expected: "a".into(),
            actual: "b".into(),
        };
        assert_eq!(hash.omaha_error_code(), 10);
        let size = Error::SizeMismatch {
            expected: 1,
            actual: 2,
        };
        assert_eq!(size.omaha_error_code(), 11);
        assert_eq!(Error::Server { status: 503 }.omaha_error_code(), 2503);
        assert_eq!(Error::Install(HookError::msg("x")).omaha_error_code(), 5);
        assert!(Error::Server { status: 503 }.is_transient());
        assert!(!Error::Server { status: 404 }.is_transient());
        assert!(!hash.is_transient());
    }

    #[test]
    fn hook_errors_keep_their_message_and_source() {
        let io = std::io::Error::other("disk full");
        let hook = HookError::from(io);
        assert_eq!(hook.to_string(), "disk full");
        let error = Error::Install(hook);
        let source = StdError::source(&error).expect("the hook error");
        assert_eq!(source.to_string(), "disk full");
    }
}
