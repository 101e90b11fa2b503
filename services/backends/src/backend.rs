//! The `Backend` trait and the registry handing out one per API family.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use crate::run::{RemoteRun, RunOutput, RunRequest};
use crate::{
    BackendError, DiscoveredPanel, HttpSettings, MichiganBackend, Probe, Secret, Verification,
    WesBackend,
};

/// The API family an external server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiType {
    /// Cloudgene API v2: Michigan, TOPMed, H3Africa/AfriGen-D.
    Michigan,
    /// GA4GH Workflow Execution Service 1.0/1.1.
    Ga4ghWes,
}

impl ApiType {
    /// Every API family.
    pub const ALL: [ApiType; 2] = [ApiType::Michigan, ApiType::Ga4ghWes];

    /// A stable lowercase name (`michigan`, `ga4gh_wes`), for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Michigan => "michigan",
            Self::Ga4ghWes => "ga4gh_wes",
        }
    }
}

impl fmt::Display for ApiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client of one API family of external imputation servers.
///
/// `base_url` is the server's registered address, e.g.
/// `https://imputationserver.sph.umich.edu`, with or without a trailing
/// slash; it may carry a path prefix, never credentials, a query or a
/// fragment.
#[async_trait]
pub trait Backend: Send + Sync {
    /// The API family this backend speaks.
    fn api_type(&self) -> ApiType;

    /// Asks the server whether `secret` is valid ("Test connection").
    ///
    /// A server that refuses the credential gives `Ok` with `valid: false`;
    /// `Err` means the question could not be answered.
    async fn verify_credential(
        &self,
        base_url: &str,
        secret: &Secret,
    ) -> Result<Verification, BackendError>;

    /// Checks, anonymously, that the server is up. An answer demanding
    /// authentication counts as up; a connection failure, timeout, 5xx or
    /// maintenance is `Err(BackendError::Unavailable)`.
    async fn probe(&self, base_url: &str) -> Result<Probe, BackendError>;

    /// Lists the reference panels the server offers (to the owner of
    /// `secret`, or anonymously).
    async fn list_panels(
        &self,
        base_url: &str,
        secret: Option<&Secret>,
    ) -> Result<Vec<DiscoveredPanel>, BackendError>;

    /// Starts a run with the user's `secret`; returns the server's id for it.
    /// Not idempotent: callers record that they are submitting first, and
    /// after a crash look for the run with [`Backend::find_run`] instead of
    /// submitting again.
    async fn submit(
        &self,
        base_url: &str,
        secret: &Secret,
        run: &RunRequest,
    ) -> Result<String, BackendError>;

    /// The id of the caller's run named `job_name`, if the server has one.
    async fn find_run(
        &self,
        base_url: &str,
        secret: &Secret,
        job_name: &str,
    ) -> Result<Option<String>, BackendError>;

    /// The run's state, messages and (once finished) outputs.
    async fn status(
        &self,
        base_url: &str,
        secret: &Secret,
        id: &str,
    ) -> Result<RemoteRun, BackendError>;

    /// Asks the server to stop the run.
    async fn cancel(&self, base_url: &str, secret: &Secret, id: &str) -> Result<(), BackendError>;

    /// Streams one output to `dest` (created or truncated); returns its size.
    async fn download(
        &self,
        output: &RunOutput,
        secret: Option<&Secret>,
        dest: &Path,
    ) -> Result<u64, BackendError>;
}

/// One backend per API family, sharing one HTTP client.
#[derive(Clone)]
pub struct Backends {
    michigan: Arc<dyn Backend>,
    wes: Arc<dyn Backend>,
}

impl Backends {
    /// Builds every backend on one client made from `settings`; the Cloudgene
    /// backend uses the app [`crate::michigan::DEFAULT_APP`].
    pub fn new(settings: &HttpSettings) -> Result<Self, reqwest::Error> {
        let client = settings.build_client()?;
        Ok(Self {
            michigan: Arc::new(MichiganBackend::new(client.clone())),
            wes: Arc::new(
                WesBackend::new(client).with_shared_dirs(settings.wes_shared_dirs.clone()),
            ),
        })
    }

    /// Builds every backend on an existing client.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self {
            michigan: Arc::new(MichiganBackend::new(client.clone())),
            wes: Arc::new(WesBackend::new(client)),
        }
    }

    /// Uses the given implementations, e.g. a Cloudgene backend with another
    /// app, or fakes in tests.
    pub fn from_parts(michigan: Arc<dyn Backend>, wes: Arc<dyn Backend>) -> Self {
        Self { michigan, wes }
    }

    /// The backend speaking `api`.
    pub fn for_api(&self, api: ApiType) -> Arc<dyn Backend> {
        match api {
            ApiType::Michigan => Arc::clone(&self.michigan),
            ApiType::Ga4ghWes => Arc::clone(&self.wes),
        }
    }
}

impl fmt::Debug for Backends {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backends")
            .field("michigan", &self.michigan.api_type())
            .field("wes", &self.wes.api_type())
            .finish()
    }
}
