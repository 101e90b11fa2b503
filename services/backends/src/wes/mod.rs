//! GA4GH Workflow Execution Service 1.0/1.1 (`reference/wes-api.md`).
//!
//! The API lives under `/ga4gh/wes/v1`, appended to the registered base URL
//! unless it already ends with it. Credentials go in `Authorization`: API and
//! OAuth2 tokens as `Bearer`, a username and password as HTTP basic.

mod outputs;
mod runs;
mod service_info;
mod workflow;

pub use runs::state_of;
pub use workflow::{InputDelivery, JOB_TAG, ParamNames, WesWorkflow};

use async_trait::async_trait;
use reqwest::header;
use reqwest::{Client, RequestBuilder};

use crate::http::{self, Call};
use std::path::{Path, PathBuf};

use crate::run::{RemoteRun, RunOutput, RunRequest};
use crate::{ApiType, Backend, BackendError, DiscoveredPanel, Probe, Secret, Verification};

/// Path of the WES API below a server's root.
pub const BASE_PATH: &str = "/ga4gh/wes/v1";

const BACKEND: &str = "wes";

/// Client of GA4GH WES servers.
#[derive(Clone, Debug)]
pub struct WesBackend {
    client: Client,
    /// Directories whose `file://` outputs the hub may read (shared with
    /// the WES node); none by default.
    shared_dirs: Vec<PathBuf>,
}

impl WesBackend {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            shared_dirs: Vec::new(),
        }
    }

    /// Allows `file://` outputs under these directories.
    pub fn with_shared_dirs(mut self, dirs: Vec<PathBuf>) -> Self {
        self.shared_dirs = dirs;
        self
    }

    /// `GET service-info`, with `secret` when given.
    async fn service_info(
        &self,
        call: &Call<'_>,
        base_url: &str,
    ) -> Result<http::Answer, BackendError> {
        let url = endpoint(base_url, "service-info")?;
        let request = self
            .client
            .get(url)
            .header(header::ACCEPT, "application/json");
        let request = match call.secret {
            Some(secret) => authorize(request, secret),
            None => request,
        };
        call.send(&self.client, request).await
    }
}

/// `base_url` + `/ga4gh/wes/v1` (unless already there) + `path`.
pub(crate) fn endpoint(base_url: &str, path: &str) -> Result<reqwest::Url, BackendError> {
    let base = http::base(base_url)?;
    let has_api_path = base.path().trim_end_matches('/').ends_with(BASE_PATH);
    let mut segments: Vec<&str> = Vec::new();
    if !has_api_path {
        segments.extend(BASE_PATH.split('/').filter(|segment| !segment.is_empty()));
    }
    segments.extend(path.split('/').filter(|segment| !segment.is_empty()));
    http::endpoint(base.as_str(), &segments)
}

fn authorize(request: RequestBuilder, secret: &Secret) -> RequestBuilder {
    match secret {
        Secret::ApiToken(token) => request.bearer_auth(token.trim()),
        Secret::OAuth2 { access_token } => request.bearer_auth(access_token.trim()),
        Secret::Basic { username, password } => request.basic_auth(username, Some(password)),
    }
}

#[async_trait]
impl Backend for WesBackend {
    fn api_type(&self) -> ApiType {
        ApiType::Ga4ghWes
    }

    /// `GET service-info` with the credential: 200 → valid, 401/403 →
    /// invalid. Many WES servers serve `service-info` to anyone, so a 200
    /// proves the server took the credential, not that the runs API will.
    async fn verify_credential(
        &self,
        base_url: &str,
        secret: &Secret,
    ) -> Result<Verification, BackendError> {
        let empty = match secret {
            Secret::ApiToken(token) => token.trim().is_empty(),
            Secret::OAuth2 { access_token } => access_token.trim().is_empty(),
            Secret::Basic { username, .. } => username.trim().is_empty(),
        };
        if empty {
            return Ok(Verification::invalid(format!(
                "the {} is empty",
                secret.kind()
            )));
        }
        let call = Call {
            backend: BACKEND,
            operation: "verify_credential",
            secret: Some(secret),
        };
        let answer = self.service_info(&call, base_url).await?;
        if !answer.status.is_success() {
            return match call.status_error(&answer) {
                BackendError::Unauthorized { message } => Ok(Verification::invalid(message)),
                error => Err(error),
            };
        }
        let info = service_info::ServiceInfo::read(&call.json(&answer, "the service info")?)?;
        Ok(Verification {
            valid: true,
            message: info.summary(&format!("the wes server accepts the {}", secret.kind())),
            username: None,
            display_name: None,
            email: None,
            expires_at: None,
        })
    }

    async fn probe(&self, base_url: &str) -> Result<Probe, BackendError> {
        let call = Call {
            backend: BACKEND,
            operation: "probe",
            secret: None,
        };
        let answer = self.service_info(&call, base_url).await?;
        match answer.status.as_u16() {
            200..=299 => {
                let info =
                    service_info::ServiceInfo::read(&call.json(&answer, "the service info")?)?;
                Ok(Probe {
                    http_status: Some(answer.status.as_u16()),
                    latency: answer.latency,
                    version: info.version(),
                    detail: info.summary("the wes server is up"),
                })
            }
            401 | 403 => Ok(Probe {
                http_status: Some(answer.status.as_u16()),
                latency: answer.latency,
                version: None,
                detail: format!(
                    "the wes server is up and asks for authentication ({})",
                    http::describe(answer.status)
                ),
            }),
            _ => Err(call.status_error(&answer)),
        }
    }

    /// WES has no notion of reference panels.
    async fn list_panels(
        &self,
        _base_url: &str,
        _secret: Option<&Secret>,
    ) -> Result<Vec<DiscoveredPanel>, BackendError> {
        Err(BackendError::NotSupported {
            operation: "listing reference panels of a wes server",
        })
    }

    async fn submit(
        &self,
        base_url: &str,
        secret: &Secret,
        run: &RunRequest,
    ) -> Result<String, BackendError> {
        self.submit_run(base_url, secret, run).await
    }

    /// WES runs carry no name: the hub's run name travels in the
    /// [`JOB_TAG`] tag, read back from each listed run's log.
    async fn find_run(
        &self,
        base_url: &str,
        secret: &Secret,
        job_name: &str,
    ) -> Result<Option<String>, BackendError> {
        self.find_run_by_tag(base_url, secret, job_name).await
    }

    async fn status(
        &self,
        base_url: &str,
        secret: &Secret,
        id: &str,
    ) -> Result<RemoteRun, BackendError> {
        self.run_status(base_url, secret, id).await
    }

    /// Asks for the cancel; servers may ignore it, so callers follow the
    /// run until it says CANCELED.
    async fn cancel(&self, base_url: &str, secret: &Secret, id: &str) -> Result<(), BackendError> {
        self.cancel_run(base_url, secret, id).await
    }

    async fn download(
        &self,
        output: &RunOutput,
        secret: Option<&Secret>,
        dest: &Path,
    ) -> Result<u64, BackendError> {
        self.fetch_output(output, secret, dest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_path_is_appended_once() {
        for base in [
            "https://wes.example.org",
            "https://wes.example.org/",
            "https://wes.example.org/ga4gh/wes/v1",
            "https://wes.example.org/ga4gh/wes/v1/",
        ] {
            assert_eq!(
                endpoint(base, "service-info").unwrap().as_str(),
                "https://wes.example.org/ga4gh/wes/v1/service-info",
                "{base}"
            );
        }
        assert_eq!(
            endpoint("http://host:7500/ilifu/", "runs/abc/status")
                .unwrap()
                .as_str(),
            "http://host:7500/ilifu/ga4gh/wes/v1/runs/abc/status"
        );
    }
}
