//! Clients of the external imputation servers.
//!
//! This crate is the only place of the platform that speaks HTTP to external
//! imputation servers. Each API family is one [`Backend`]:
//!
//! - [`michigan`]: the Cloudgene API v2 (Michigan, TOPMed, H3Africa/AfriGen-D);
//! - [`wes`]: GA4GH WES 1.0/1.1 (ILIFU/eLwazi nodes).
//!
//! [`Backends`] builds both on one shared, pooled [`reqwest::Client`] from
//! [`HttpSettings`] and hands out the one an [`ApiType`] calls for.
//!
//! Every answer is mapped onto a small closed set of outcomes: a result, or a
//! [`BackendError`] that tells callers whether to ask the user for new
//! credentials ([`BackendError::Unauthorized`]), to retry later
//! ([`BackendError::is_transient`]) or to give up. Secrets never reach a log
//! line, an error message or a `Debug` output.

mod backend;
mod download;
mod error;
mod http;
pub mod michigan;
pub mod run;
mod secret;
mod settings;
mod types;
pub mod wes;

pub use backend::{ApiType, Backend, Backends};
pub use error::BackendError;
pub use michigan::MichiganBackend;
pub use run::{
    InputFile, MessageKind, RemoteCode, RemoteRun, RunMessage, RunOutput, RunRequest, RunState,
};
pub use secret::Secret;
pub use settings::HttpSettings;
pub use types::{DiscoveredPanel, Probe, Verification};
pub use wes::WesBackend;
