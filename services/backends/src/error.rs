//! The closed set of failures of a call to an external server.

use std::time::Duration;

/// Why a call to an external server did not give a result.
///
/// Messages are lowercase and never contain a secret: what a server says is
/// quoted after secrets sent with the request are scrubbed from it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The server refused the credential (HTTP 401/403): the user must update
    /// it. Not transient.
    #[error("credential rejected: {message}")]
    Unauthorized { message: String },
    /// The server could not be reached or could not serve now: connection
    /// failure, timeout, 5xx, 503 "under maintenance", 408, 429. Transient.
    ///
    /// `status` is the HTTP status of the answer, `None` when there was none
    /// (connection failure, timeout) or when a 200 answer said the server is
    /// under maintenance. `retry_after` comes from a `Retry-After` header.
    #[error("server unavailable: {message}")]
    Unavailable {
        status: Option<u16>,
        retry_after: Option<Duration>,
        message: String,
    },
    /// The server refused the request itself (another 4xx); `message` is the
    /// server's own text (`message` of Cloudgene, `msg` of WES) when it gave one.
    #[error("request rejected with http {status}: {message}")]
    Rejected { status: u16, message: String },
    /// The server answered something this client cannot use: a body that
    /// does not parse or lacks what the API promises, a redirect to another
    /// host, or an unusable base URL.
    #[error("unexpected answer: {message}")]
    Protocol { message: String },
    /// The backend does not offer this operation or credential kind.
    #[error("not supported: {operation}")]
    NotSupported { operation: &'static str },
}

impl BackendError {
    /// Whether trying again later may succeed (only [`Self::Unavailable`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Unauthorized { .. }
            | Self::Rejected { .. }
            | Self::Protocol { .. }
            | Self::NotSupported { .. } => false,
        }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::Protocol {
            message: message.into(),
        }
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            status: None,
            retry_after: None,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_is_transient() {
        assert!(BackendError::unavailable("x").is_transient());
        assert!(!BackendError::protocol("x").is_transient());
        assert!(
            !BackendError::Unauthorized {
                message: "x".into()
            }
            .is_transient()
        );
        assert!(
            !BackendError::Rejected {
                status: 400,
                message: "x".into()
            }
            .is_transient()
        );
        assert!(!BackendError::NotSupported { operation: "x" }.is_transient());
    }

    #[test]
    fn display_is_lowercase_and_carries_the_message() {
        let error = BackendError::Rejected {
            status: 400,
            message: "Parameter 'x' not found.".into(),
        };
        assert_eq!(
            error.to_string(),
            "request rejected with http 400: Parameter 'x' not found."
        );
        assert_eq!(
            BackendError::NotSupported {
                operation: "list_panels"
            }
            .to_string(),
            "not supported: list_panels"
        );
    }
}
