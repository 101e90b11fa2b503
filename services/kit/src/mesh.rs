//! The services of the mesh, where they are, and channels to them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::transport::{Channel, Endpoint};

/// One internal service of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    User,
    Registry,
    Jobs,
    Files,
    Notify,
    Monitor,
}

impl ServiceName {
    pub const ALL: [ServiceName; 6] = [
        ServiceName::User,
        ServiceName::Registry,
        ServiceName::Jobs,
        ServiceName::Files,
        ServiceName::Notify,
        ServiceName::Monitor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::User => "user",
            ServiceName::Registry => "registry",
            ServiceName::Jobs => "jobs",
            ServiceName::Files => "files",
            ServiceName::Notify => "notify",
            ServiceName::Monitor => "monitor",
        }
    }

    /// The service that owns a fully-qualified gRPC service name
    /// (`fip.<domain>.v1.X` is owned by `<domain>`).
    pub fn owning(grpc_service: &str) -> Option<ServiceName> {
        let mut parts = grpc_service.split('.');
        match (parts.next(), parts.next()) {
            (Some("fip"), Some(domain)) => domain.parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown service `{0}` (known: user, registry, jobs, files, notify, monitor)")]
pub struct UnknownService(pub String);

impl FromStr for ServiceName {
    type Err = UnknownService;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceName::ALL
            .into_iter()
            .find(|n| n.as_str() == s.trim())
            .ok_or_else(|| UnknownService(s.to_string()))
    }
}

/// Lazily connected channels to the other services, by name.
///
/// Channels connect on first use and reconnect by themselves, so a peer that
/// starts later than its caller is reached once it is up.
#[derive(Clone, Default)]
pub struct Peers {
    channels: Arc<BTreeMap<ServiceName, (String, Channel)>>,
}

/// How long one internal call may take before it is abandoned.
pub const INTERNAL_CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Peers {
    /// Builds channels for every `(service, url)` pair.
    pub fn new(urls: impl IntoIterator<Item = (ServiceName, String)>) -> anyhow::Result<Self> {
        let mut channels = BTreeMap::new();
        for (name, url) in urls {
            let endpoint = Endpoint::from_shared(url.clone())
                .map_err(|e| anyhow::anyhow!("bad url {url} for service {name}: {e}"))?
                .connect_timeout(Duration::from_secs(5))
                .timeout(INTERNAL_CALL_TIMEOUT)
                .tcp_nodelay(true)
                .initial_stream_window_size(Some(4 * 1024 * 1024))
                .initial_connection_window_size(Some(8 * 1024 * 1024))
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            channels.insert(name, (url, endpoint.connect_lazy()));
        }
        Ok(Self {
            channels: Arc::new(channels),
        })
    }

    /// The channel to `name`, when it is known.
    pub fn channel(&self, name: ServiceName) -> Option<Channel> {
        self.channels.get(&name).map(|(_, c)| c.clone())
    }

    /// The URL of `name`, when it is known.
    pub fn url(&self, name: ServiceName) -> Option<&str> {
        self.channels.get(&name).map(|(u, _)| u.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owning_service_comes_from_the_package() {
        assert_eq!(
            ServiceName::owning("fip.user.v1.UserService"),
            Some(ServiceName::User)
        );
        assert_eq!(
            ServiceName::owning("fip.jobs.v1.JobService"),
            Some(ServiceName::Jobs)
        );
        assert_eq!(ServiceName::owning("grpc.health.v1.Health"), None);
        assert_eq!(ServiceName::owning("fip.common.v1.X"), None);
    }

    #[test]
    fn names_round_trip() {
        for name in ServiceName::ALL {
            assert_eq!(name.as_str().parse::<ServiceName>().unwrap(), name);
        }
        assert!("billing".parse::<ServiceName>().is_err());
    }
}
