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
///
/// Each peer has two channels. [`Peers::channel`] abandons a call whose
/// answer has not come within the call timeout ([`INTERNAL_CALL_TIMEOUT`]);
/// [`Peers::streaming_channel`] sets no such limit, for calls whose request
/// streams (an upload, whose answer comes only after its last byte, however
/// long that takes). A peer that dies under a stream is still noticed:
/// HTTP/2 keep-alive pings go unanswered and the connection is dropped.
#[derive(Clone, Default)]
pub struct Peers {
    channels: Arc<BTreeMap<ServiceName, PeerChannels>>,
}

struct PeerChannels {
    url: String,
    calls: Channel,
    streams: Channel,
}

/// How long one internal call may take before it is abandoned.
pub const INTERNAL_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// HTTP/2 settings of every gRPC connection of the mesh, on both ends.
///
/// Bulk transfers (uploads, downloads) need room: windows of a few MiB
/// instead of the 64 KiB default, so that a stream does not stall waiting
/// for window updates, and frames of 256 KiB instead of 16 KiB, so that a
/// 1 MiB chunk crosses as 4 frames rather than 64. The files benchmark
/// measured 256 KiB frames at 1.3-1.5x the upload and download throughput
/// of 16 KiB ones, for a few MiB more of peak memory; 1 MiB frames brought
/// no more and cost more memory.
pub mod http2 {
    /// Initial window of one stream.
    pub const STREAM_WINDOW_BYTES: u32 = 4 * 1024 * 1024;
    /// Initial window of one connection (all its streams).
    pub const CONNECTION_WINDOW_BYTES: u32 = 8 * 1024 * 1024;
    /// Largest frame this end accepts.
    pub const MAX_FRAME_BYTES: u32 = 256 * 1024;
}

/// An endpoint for `url` with the mesh's transport settings: no Nagle
/// delay, the [`http2`] windows and frame size, keep-alive pings (a peer
/// that answers none within 20 s is dropped) and a connect timeout. It sets
/// no call timeout: [`Peers`] adds one where it applies.
pub fn endpoint(url: &str) -> anyhow::Result<Endpoint> {
    Ok(Endpoint::from_shared(url.to_string())
        .map_err(|e| anyhow::anyhow!("bad url {url}: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .initial_stream_window_size(Some(http2::STREAM_WINDOW_BYTES))
        .initial_connection_window_size(Some(http2::CONNECTION_WINDOW_BYTES))
        .max_frame_size(Some(http2::MAX_FRAME_BYTES))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(true))
}

impl Peers {
    /// Builds channels for every `(service, url)` pair, with calls limited
    /// to [`INTERNAL_CALL_TIMEOUT`].
    pub fn new(urls: impl IntoIterator<Item = (ServiceName, String)>) -> anyhow::Result<Self> {
        Self::with_call_timeout(urls, INTERNAL_CALL_TIMEOUT)
    }

    /// Builds channels for every `(service, url)` pair, with calls (on
    /// [`Self::channel`]) limited to `call_timeout`.
    pub fn with_call_timeout(
        urls: impl IntoIterator<Item = (ServiceName, String)>,
        call_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut channels = BTreeMap::new();
        for (name, url) in urls {
            let endpoint =
                self::endpoint(&url).map_err(|e| anyhow::anyhow!("service {name}: {e}"))?;
            let peer = PeerChannels {
                calls: endpoint.clone().timeout(call_timeout).connect_lazy(),
                streams: endpoint.connect_lazy(),
                url,
            };
            channels.insert(name, peer);
        }
        Ok(Self {
            channels: Arc::new(channels),
        })
    }

    /// The channel to `name` for calls that answer within the call timeout,
    /// when `name` is known.
    pub fn channel(&self, name: ServiceName) -> Option<Channel> {
        self.channels.get(&name).map(|p| p.calls.clone())
    }

    /// The channel to `name` for calls whose request streams (uploads), with
    /// no overall time limit, when `name` is known.
    pub fn streaming_channel(&self, name: ServiceName) -> Option<Channel> {
        self.channels.get(&name).map(|p| p.streams.clone())
    }

    /// The URL of `name`, when it is known.
    pub fn url(&self, name: ServiceName) -> Option<&str> {
        self.channels.get(&name).map(|p| p.url.as_str())
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
