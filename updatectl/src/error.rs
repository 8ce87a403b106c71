//! The errors of `updatectl` (all exit 1). Causes are chained as `source()`, not repeated
//! in the message: print with `{:#}` (anyhow) to get `what: why`.

/// Everything that can make a command fail after its arguments were accepted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An admin API request failed: the API's error answer (`googleapi: Error N: message,
    /// reason`, as updateservicectl prints it), or no answer.
    #[error(transparent)]
    Client(update_api::Error),
    /// An Omaha request or a payload download did not get an answer.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    /// The answer was not the JSON expected.
    #[error("invalid JSON from {url}")]
    Json {
        /// The request URL.
        url: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// A local file could not be read.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// `--server` is not a usable URL.
    #[error("invalid --server URL {0:?}")]
    BadServer(String),
    /// The server has no `/package-upload` endpoint.
    #[error(
        "the server does not accept package uploads (POST {url} answered {code}); \
         host the payload elsewhere and pass --url"
    )]
    UploadUnavailable {
        /// The upload URL.
        url: String,
        /// The HTTP status.
        code: u16,
    },
    /// An Omaha exchange failed (fake instances).
    #[error("omaha: {0}")]
    Omaha(String),
    /// A value the command cannot use (a payload that does not match its package, ...).
    #[error("{0}")]
    Invalid(String),
    /// Part of a bulk command failed (each failure was reported on stderr).
    #[error("{0}")]
    Failed(String),
}

impl From<update_api::Error> for Error {
    /// The client's errors, with the command line's words where it has its own.
    fn from(error: update_api::Error) -> Self {
        match error {
            update_api::Error::UploadUnavailable { url, code } => {
                Self::UploadUnavailable { url, code }
            }
            other => Self::Client(other),
        }
    }
}
