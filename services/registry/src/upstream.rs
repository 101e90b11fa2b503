//! The registry's view of external imputation servers: a liveness probe and
//! panel discovery. The domain depends on this trait only; the adapter over
//! `fip-backends` implements it for real servers.

use std::time::Duration;

use async_trait::async_trait;

use crate::model::{ApiType, GenomeBuild, Population, WesServerInfo};

/// How a probe ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOutcome {
    /// The server answered with this HTTP status; `message` is what it said
    /// went wrong (empty on success).
    Answered { http_status: u16, message: String },
    /// No answer within the request timeout.
    TimedOut { after: Duration },
    /// No answer at all (DNS, refused connection, TLS, ...).
    Failed { message: String },
}

/// One probe of a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub outcome: ProbeOutcome,
    /// Time to the full answer (or to giving up).
    pub elapsed: Duration,
    /// What a WES server reported about itself, when it did.
    pub wes: Option<WesServerInfo>,
}

/// A reference panel as a server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveredPanel {
    /// The value sent on submission, e.g. `apps@h3africa-v6hc-s@1.0.0`.
    pub value: String,
    pub name: String,
    /// `None` when the server does not say.
    pub build: Option<GenomeBuild>,
    pub version: String,
    pub populations: Vec<Population>,
}

/// Why panels could not be listed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscoveryError {
    /// The server refused the token (HTTP 401/403).
    #[error("refused: {0}")]
    Rejected(String),
    /// No answer, a timeout, or a 5xx/503 answer.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// An answer the registry cannot use.
    #[error("unreadable answer: {message}")]
    Unreadable {
        http_status: Option<u16>,
        message: String,
    },
}

/// The external servers, as the registry needs them.
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// Checks that the server at `base_url` answers, unauthenticated.
    async fn probe(&self, api_type: ApiType, base_url: &str) -> Probe;

    /// Lists the reference panels of a Cloudgene application.
    async fn list_panels(
        &self,
        api_type: ApiType,
        base_url: &str,
        app_id: &str,
        token: Option<&str>,
    ) -> Result<Vec<DiscoveredPanel>, DiscoveryError>;
}
