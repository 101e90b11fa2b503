//! [`Upstream`] over `fip-backends`: the probe and panel discovery of the
//! Cloudgene and WES clients, mapped onto the registry's own terms.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use fip_backends::{BackendError, Backends, HttpSettings, MichiganBackend, Secret};
use fip_kit::config::ExternalConfig;

use crate::model::{ApiType, GenomeBuild, Population};
use crate::upstream::{DiscoveredPanel, DiscoveryError, Probe, ProbeOutcome, Upstream};

/// The real external servers.
pub struct BackendsUpstream {
    backends: Backends,
    michigan: MichiganBackend,
    request_timeout: Duration,
}

impl BackendsUpstream {
    /// Clients configured by the `external` section (timeouts, user agent).
    pub fn new(external: &ExternalConfig) -> anyhow::Result<Self> {
        let settings = HttpSettings {
            request_timeout: external.request_timeout,
            connect_timeout: external.connect_timeout,
            user_agent: external.user_agent.clone(),
            ..HttpSettings::default()
        };
        let client = settings
            .build_client()
            .map_err(|e| anyhow::anyhow!("cannot build the http client: {e}"))?;
        Ok(Self {
            backends: Backends::from_client(client.clone()),
            michigan: MichiganBackend::new(client),
            request_timeout: external.request_timeout,
        })
    }
}

fn api(api_type: ApiType) -> fip_backends::ApiType {
    match api_type {
        ApiType::Michigan => fip_backends::ApiType::Michigan,
        ApiType::Ga4ghWes => fip_backends::ApiType::Ga4ghWes,
    }
}

/// How a probe ended, from the client's answer.
fn outcome(
    result: Result<fip_backends::Probe, BackendError>,
    elapsed: Duration,
    timeout: Duration,
) -> ProbeOutcome {
    match result {
        Ok(probe) => ProbeOutcome::Answered {
            http_status: probe.http_status.unwrap_or(200),
            message: String::new(),
        },
        Err(BackendError::Unavailable {
            status: Some(http_status),
            message,
            ..
        })
        | Err(BackendError::Rejected {
            status: http_status,
            message,
        }) => ProbeOutcome::Answered {
            http_status,
            message,
        },
        // No answer in (about) the request timeout: the client gave up waiting.
        Err(BackendError::Unavailable { status: None, .. }) if elapsed * 10 >= timeout * 9 => {
            ProbeOutcome::TimedOut { after: timeout }
        }
        Err(BackendError::Unauthorized { .. }) => ProbeOutcome::Answered {
            http_status: 401,
            message: String::new(),
        },
        Err(
            error @ (BackendError::Unavailable { .. }
            | BackendError::Protocol { .. }
            | BackendError::NotSupported { .. }),
        ) => ProbeOutcome::Failed {
            message: error.to_string(),
        },
    }
}

fn discovery_error(error: BackendError) -> DiscoveryError {
    match error {
        BackendError::Unauthorized { message } => DiscoveryError::Rejected(message),
        BackendError::Unavailable { message, .. } => DiscoveryError::Unreachable(message),
        BackendError::Rejected { status, message } => DiscoveryError::Unreadable {
            http_status: Some(status),
            message,
        },
        error @ (BackendError::Protocol { .. } | BackendError::NotSupported { .. }) => {
            DiscoveryError::Unreadable {
                http_status: None,
                message: error.to_string(),
            }
        }
    }
}

fn panel(found: fip_backends::DiscoveredPanel) -> DiscoveredPanel {
    let fip_backends::DiscoveredPanel {
        id,
        short_id: _,
        name,
        version,
        build,
        populations,
    } = found;
    DiscoveredPanel {
        value: id,
        name,
        build: build.as_deref().and_then(GenomeBuild::parse),
        version: version.unwrap_or_default(),
        populations: populations
            .into_iter()
            .map(|(id, name)| Population {
                id,
                name,
                sample_count: 0,
            })
            .collect(),
    }
}

#[async_trait]
impl Upstream for BackendsUpstream {
    async fn probe(&self, api_type: ApiType, base_url: &str) -> Probe {
        let started = Instant::now();
        let result = self.backends.for_api(api(api_type)).probe(base_url).await;
        let elapsed = started.elapsed();
        Probe {
            outcome: outcome(result, elapsed, self.request_timeout),
            elapsed,
            // The client reports no `service-info` details beyond a version.
            wes: None,
        }
    }

    async fn list_panels(
        &self,
        api_type: ApiType,
        base_url: &str,
        app_id: &str,
        token: Option<&str>,
    ) -> Result<Vec<DiscoveredPanel>, DiscoveryError> {
        let secret = token.map(|t| Secret::ApiToken(t.to_string()));
        let found = match api_type {
            ApiType::Michigan => {
                self.michigan
                    .list_app_panels(base_url, app_id, secret.as_ref())
                    .await
            }
            ApiType::Ga4ghWes => {
                self.backends
                    .for_api(api(api_type))
                    .list_panels(base_url, secret.as_ref())
                    .await
            }
        };
        found
            .map(|panels| panels.into_iter().map(panel).collect())
            .map_err(discovery_error)
    }
}
