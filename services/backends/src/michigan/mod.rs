//! Cloudgene API v2: Michigan, TOPMed and H3Africa/AfriGen-D imputation
//! servers (`reference/cloudgene-api.md`).
//!
//! - verify: anonymous `POST /api/v2/tokens/verify`, form field `token`;
//! - probe: anonymous `GET /api/v2/server`;
//! - panels: `GET /api/v2/server/apps/{app}` with `X-Auth-Token: <token>`
//!   (no `Bearer`), the app's `refpanel` and `population` parameters.

mod apps;
mod jobs;
mod server;
mod token;

pub use jobs::state_of;

use async_trait::async_trait;
use reqwest::Client;
use reqwest::header::{self, HeaderValue};

use crate::http::{self, Call};
use std::path::Path;

use crate::run::{RemoteRun, RunOutput, RunRequest};
use crate::{ApiType, Backend, BackendError, DiscoveredPanel, Probe, Secret, Verification};

/// The imputation app of current servers (older ones: `minimac4`,
/// `imputationserver`).
pub const DEFAULT_APP: &str = "imputationserver2";

/// Header carrying a Cloudgene token, bare (no `Bearer`).
pub(crate) const TOKEN_HEADER: &str = "X-Auth-Token";

pub(crate) const BACKEND: &str = "michigan";

/// Client of Cloudgene API v2 servers.
#[derive(Clone, Debug)]
pub struct MichiganBackend {
    client: Client,
    app: String,
}

impl MichiganBackend {
    /// A backend for the app [`DEFAULT_APP`].
    pub fn new(client: Client) -> Self {
        Self {
            client,
            app: DEFAULT_APP.to_owned(),
        }
    }

    /// Uses another imputation app (e.g. `minimac4` on older servers).
    pub fn with_app(mut self, app: impl Into<String>) -> Self {
        self.app = app.into();
        self
    }

    /// The imputation app whose parameters list the panels.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Lists the reference panels of `app` (instead of this backend's app).
    pub async fn list_app_panels(
        &self,
        base_url: &str,
        app: &str,
        secret: Option<&Secret>,
    ) -> Result<Vec<DiscoveredPanel>, BackendError> {
        let call = Call {
            backend: BACKEND,
            operation: "list_panels",
            secret,
        };
        let url = http::endpoint(base_url, &["api", "v2", "server", "apps", app])?;
        let mut request = self
            .client
            .get(url)
            .header(header::ACCEPT, "application/json");
        match secret {
            None => {}
            Some(Secret::ApiToken(token)) => {
                let mut value = HeaderValue::from_str(token.trim()).map_err(|_| {
                    BackendError::protocol(
                        "the api token contains characters a header cannot carry",
                    )
                })?;
                value.set_sensitive(true);
                request = request.header(TOKEN_HEADER, value);
            }
            Some(Secret::Basic { .. }) => {
                return Err(BackendError::NotSupported {
                    operation: "username and password on a cloudgene server (it takes api tokens)",
                });
            }
            Some(Secret::OAuth2 { .. }) => {
                return Err(BackendError::NotSupported {
                    operation: "oauth2 access tokens on a cloudgene server (it takes api tokens)",
                });
            }
        }
        let answer = call.send(&self.client, request).await?;
        if !answer.status.is_success() {
            return Err(call.status_error(&answer));
        }
        let definition = call.json(&answer, "the app definition")?;
        apps::panels(&definition, app)
    }
}

#[async_trait]
impl Backend for MichiganBackend {
    fn api_type(&self) -> ApiType {
        ApiType::Michigan
    }

    async fn verify_credential(
        &self,
        base_url: &str,
        secret: &Secret,
    ) -> Result<Verification, BackendError> {
        let token = match secret {
            Secret::ApiToken(token) => token.trim(),
            Secret::Basic { .. } | Secret::OAuth2 { .. } => {
                return Err(BackendError::NotSupported {
                    operation: "verifying a username and password or an oauth2 token on a cloudgene server (it takes api tokens)",
                });
            }
        };
        if token.is_empty() {
            return Ok(Verification::invalid("the api token is empty"));
        }
        let call = Call {
            backend: BACKEND,
            operation: "verify_credential",
            secret: Some(secret),
        };
        let url = http::endpoint(base_url, &["api", "v2", "tokens", "verify"])?;
        let request = self
            .client
            .post(url)
            .header(header::ACCEPT, "application/json")
            .form(&[("token", token)]);
        let answer = call.send(&self.client, request).await?;
        if !answer.status.is_success() {
            return match call.status_error(&answer) {
                BackendError::Unauthorized { message } => Ok(Verification::invalid(message)),
                error => Err(error),
            };
        }
        let reply = call.json(&answer, "the token verification")?;
        Ok(token::verification(reply, time::OffsetDateTime::now_utc()))
    }

    async fn probe(&self, base_url: &str) -> Result<Probe, BackendError> {
        let call = Call {
            backend: BACKEND,
            operation: "probe",
            secret: None,
        };
        let url = http::endpoint(base_url, &["api", "v2", "server"])?;
        let request = self
            .client
            .get(url)
            .header(header::ACCEPT, "application/json");
        let answer = call.send(&self.client, request).await?;
        match answer.status.as_u16() {
            200..=299 => {
                let details = call.json(&answer, "the server details")?;
                let detail = server::detail(&details)?;
                Ok(Probe {
                    http_status: Some(answer.status.as_u16()),
                    latency: answer.latency,
                    version: None,
                    detail,
                })
            }
            401 | 403 => Ok(Probe {
                http_status: Some(answer.status.as_u16()),
                latency: answer.latency,
                version: None,
                detail: format!(
                    "the server is up and asks for authentication ({})",
                    http::describe(answer.status)
                ),
            }),
            _ => Err(call.status_error(&answer)),
        }
    }

    async fn list_panels(
        &self,
        base_url: &str,
        secret: Option<&Secret>,
    ) -> Result<Vec<DiscoveredPanel>, BackendError> {
        self.list_app_panels(base_url, &self.app, secret).await
    }

    async fn submit(
        &self,
        base_url: &str,
        secret: &Secret,
        run: &RunRequest,
    ) -> Result<String, BackendError> {
        self.submit_run(base_url, secret, run).await
    }

    async fn find_run(
        &self,
        base_url: &str,
        secret: &Secret,
        job_name: &str,
    ) -> Result<Option<String>, BackendError> {
        self.find_run_by_name(base_url, secret, job_name).await
    }

    async fn status(
        &self,
        base_url: &str,
        secret: &Secret,
        id: &str,
    ) -> Result<RemoteRun, BackendError> {
        self.run_status(base_url, secret, id).await
    }

    async fn cancel(&self, base_url: &str, secret: &Secret, id: &str) -> Result<(), BackendError> {
        self.cancel_run(base_url, secret, id).await
    }

    async fn download(
        &self,
        output: &RunOutput,
        // Share links are capabilities: no token is sent with them.
        _secret: Option<&Secret>,
        dest: &Path,
    ) -> Result<u64, BackendError> {
        crate::download::to_file(BACKEND, self.client.get(&output.url), dest).await
    }
}
