//! The errors of `updatectl` (all exit 1). Causes are chained as `source()`, not repeated
//! in the message: print with `{:#}` (anyhow) to get `what: why`.

/// Everything that can make a command fail after its arguments were accepted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with the Google-style error body.
    #[error("googleapi: Error {code}: {message}, {reason}")]
    Api {
        /// The HTTP status.
        code: u16,
        /// The error message.
        message: String,
        /// The first error's reason (`notFound`, ...).
        reason: String,
    },
    /// The API answered with an error status and a body of another shape.
    #[error("googleapi: got HTTP response code {code} with body: {body}")]
    Http {
        /// The HTTP status.
        code: u16,
        /// The body, as text.
        body: String,
    },
    /// The request did not get an answer.
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
