//! Results of backend calls.

use std::time::Duration;

use time::OffsetDateTime;

/// What a server said of a credential ("Test connection").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Whether the server accepts the credential.
    pub valid: bool,
    /// The server's explanation, or a summary of what was learnt.
    pub message: String,
    /// The account the credential belongs to, when the server says.
    pub username: Option<String>,
    /// The account holder's full name, when the server says.
    pub display_name: Option<String>,
    /// The account's e-mail address, when the server says.
    pub email: Option<String>,
    /// When the credential expires, when the server says (UTC).
    pub expires_at: Option<OffsetDateTime>,
}

impl Verification {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            valid: false,
            message: message.into(),
            username: None,
            display_name: None,
            email: None,
            expires_at: None,
        }
    }
}

/// A health probe that reached the server: it answered with a status that
/// proves it is up (an authentication demand included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// HTTP status of the answer.
    pub http_status: Option<u16>,
    /// Time until the answer's headers arrived.
    pub latency: Duration,
    /// Version the server reports, when it reports one.
    pub version: Option<String>,
    /// A one-line, lowercase summary of the answer.
    pub detail: String,
}

/// A reference panel as a server lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveredPanel {
    /// The panel's id as the server knows it and takes it back on submit,
    /// e.g. `apps@h3africa-v6hc-s@1.0.0`.
    pub id: String,
    /// The id without the `apps@` prefix and without the version, e.g.
    /// `h3africa-v6hc-s`: what the official client (imputationbot) shows and
    /// accepts, stable across panel versions.
    pub short_id: String,
    /// The server's label, e.g. `1000G Phase 3 (GRCh37/hg19)`.
    pub name: String,
    /// The panel's version when the id carries one (`1.0.0` above).
    pub version: Option<String>,
    /// Genome build (`hg19` or `hg38`) when the label or id names exactly one;
    /// the API itself does not expose the build.
    pub build: Option<String>,
    /// `(id, name)` of the populations the server offers for this panel's
    /// allele-frequency check, in the server's order (may include `off`/`all`).
    pub populations: Vec<(String, String)>,
}
