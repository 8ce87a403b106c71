//! The client's one error type.

use std::error::Error as StdError;

/// Everything that can make a request of [`crate::Client`] fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API answered with an error status and its error body
    /// ([`crate::api::ErrorBody`]); the message is the Go client's.
    #[error("googleapi: Error {code}: {message}, {reason}")]
    Api {
        /// The HTTP status.
        code: u16,
        /// The error message.
        message: String,
        /// The first error's reason (`notFound`, `conflict`, ...).
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
    /// The request got no answer, or its answer was cut short (refused, reset, TLS).
    #[error("request failed")]
    Transport(#[source] Box<dyn StdError + Send + Sync>),
    /// A body could not be written as JSON, or an answer was not the JSON expected.
    #[error("invalid JSON from {url}")]
    Json {
        /// The request URL.
        url: String,
        /// The encoding or decoding error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A local file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The server's address is not an `http` or `https` URL that can have a path.
    #[error("invalid server URL {0:?}")]
    BadServer(String),
    /// The server has no `/package-upload` endpoint (it answered 404, 405 or 501).
    #[error("the server does not accept package uploads (POST {url} answered {code})")]
    UploadUnavailable {
        /// The upload URL.
        url: String,
        /// The HTTP status.
        code: u16,
    },
}

impl Error {
    /// The HTTP status of an error answer ([`Error::Api`], [`Error::Http`],
    /// [`Error::UploadUnavailable`]).
    #[must_use]
    pub const fn status(&self) -> Option<u16> {
        match self {
            Self::Api { code, .. }
            | Self::Http { code, .. }
            | Self::UploadUnavailable { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// An error answer: [`Error::Api`] when the body is the API's error body with a message,
    /// else [`Error::Http`] with the body as text.
    #[must_use]
    pub fn from_answer(code: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<crate::api::ErrorBody>(body) {
            Ok(parsed) if !parsed.error.message.is_empty() => Self::Api {
                code,
                reason: parsed
                    .error
                    .errors
                    .first()
                    .map(|e| e.reason.clone())
                    .unwrap_or_default(),
                message: parsed.error.message,
            },
            _ => Self::Http {
                code,
                body: String::from_utf8_lossy(body).trim_end().to_owned(),
            },
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(error: reqwest::Error) -> Self {
        Self::Transport(Box::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_read_the_api_error_body() {
        let body = br#"{"error":{"code":404,"message":"app nope not found","errors":[{"reason":"notFound","message":"app nope not found"}]}}"#;
        let error = Error::from_answer(404, body);
        assert_eq!(
            error.to_string(),
            "googleapi: Error 404: app nope not found, notFound"
        );
        assert_eq!(error.status(), Some(404));
        let other = Error::from_answer(502, b"bad gateway\n");
        assert_eq!(
            other.to_string(),
            "googleapi: got HTTP response code 502 with body: bad gateway"
        );
        assert!(matches!(
            Error::from_answer(500, br#"{"error":{"code":500,"message":""}}"#),
            Error::Http { code: 500, .. }
        ));
        assert_eq!(Error::BadServer("x".into()).status(), None);
    }
}
