//! Starting the platform in one process: a chosen set of services, each on a
//! loopback port of its own, and optionally the gateway.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use fip_kit::auth::Keys;
use fip_kit::config::Config;
use fip_kit::events::Bus;
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::{self, Context, Hosted};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Which parts run in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub services: BTreeSet<ServiceName>,
    pub gateway: bool,
}

impl Selection {
    /// Every service and the gateway.
    pub fn all() -> Self {
        Self {
            services: ServiceName::ALL.into_iter().collect(),
            gateway: true,
        }
    }

    /// Parses `user,jobs,gateway`.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> anyhow::Result<Self> {
        let mut selection = Self {
            services: BTreeSet::new(),
            gateway: false,
        };
        for name in names {
            match name.as_ref().trim() {
                "gateway" => selection.gateway = true,
                "" => {}
                other => {
                    selection.services.insert(other.parse()?);
                }
            }
        }
        anyhow::ensure!(
            selection.gateway || !selection.services.is_empty(),
            "--services names nothing to run"
        );
        Ok(selection)
    }
}

/// A running platform (or part of one).
pub struct Platform {
    /// The gateway's bound address, when it runs here.
    pub gateway: Option<SocketAddr>,
    /// Bound addresses of the services running here.
    pub services: BTreeMap<ServiceName, SocketAddr>,
    pub config: Arc<Config>,
    shutdown: CancellationToken,
    tasks: JoinSet<(String, anyhow::Result<()>)>,
}

async fn start_service(name: ServiceName, ctx: &Context) -> anyhow::Result<Hosted> {
    match name {
        ServiceName::User => fip_user::start(ctx).await,
        ServiceName::Registry => fip_registry::start(ctx).await,
        ServiceName::Jobs => fip_jobs::start(ctx).await,
        ServiceName::Files => fip_files::start(ctx).await,
        ServiceName::Notify => fip_notify::start(ctx).await,
        ServiceName::Monitor => fip_monitor::start(ctx).await,
    }
}

/// Starts `selection` under `config` and returns once the listeners are
/// bound and, when the gateway runs, it reports every public service SERVING.
pub async fn start(config: Config, selection: &Selection) -> anyhow::Result<Platform> {
    let config = Arc::new(config);
    fip_kit::private::restrict_new_files();
    for path in fip_kit::private::secure_data_dir(&config.data_dir)? {
        tracing::warn!(path = %path.display(), "was readable by other users: made private");
    }
    let keys = Keys::load(&config, selection.services.contains(&ServiceName::User))
        .context("loading keys")?;
    let shutdown = CancellationToken::new();

    let mut listeners = BTreeMap::new();
    for &name in &selection.services {
        let listener = serve::bind(config.endpoint(name).listen)
            .await
            .with_context(|| format!("starting the {name} service"))?;
        listeners.insert(name, listener);
    }
    let mut urls = Vec::new();
    for name in ServiceName::ALL {
        let url = match listeners.get(&name) {
            Some(l) => Some(format!("http://{}", l.local_addr()?)),
            None => config.endpoint(name).url,
        };
        if let Some(url) = url {
            urls.push((name, url));
        }
    }
    let peers = Peers::new(urls)?;
    // One bus for the process: an event one service publishes is in force
    // in the others here before the publisher goes on.
    let bus = Bus::for_config(&config)?;

    let mut tasks = JoinSet::new();
    let mut services = BTreeMap::new();
    for (name, listener) in listeners {
        services.insert(name, listener.local_addr()?);
        let ctx = Context::new(
            name,
            config.clone(),
            keys.clone(),
            peers.clone(),
            bus.clone(),
            shutdown.clone(),
        )?;
        let hosted = start_service(name, &ctx)
            .await
            .with_context(|| format!("starting the {name} service"))?;
        let auth = ctx.authenticator_for(&hosted);
        let stop = shutdown.clone();
        tasks.spawn(async move {
            (
                name.to_string(),
                serve::serve(listener, hosted, auth, stop).await,
            )
        });
    }

    let gateway = if selection.gateway {
        let listener = serve::bind(config.listen)
            .await
            .context("starting the gateway")?;
        let addr = listener.local_addr()?;
        let stop = shutdown.clone();
        let gateway = fip_gateway::Gateway::new(config.clone(), &keys, peers.clone())
            .context("starting the gateway")?;
        tasks.spawn(async move { ("gateway".to_string(), gateway.serve(listener, stop).await) });
        wait_serving(addr, Duration::from_secs(20))
            .await
            .context("waiting for the gateway to see every service")?;
        Some(addr)
    } else {
        None
    };

    Ok(Platform {
        gateway,
        services,
        config,
        shutdown,
        tasks,
    })
}

/// Waits, on health `Watch` streams (no polling), until the gateway at
/// `addr` reports every public service SERVING.
async fn wait_serving(addr: SocketAddr, limit: Duration) -> anyhow::Result<()> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let wait = async {
        for service in fip_gateway::descriptors::public_services() {
            let mut client = HealthClient::new(channel.clone());
            let mut stream = client
                .watch(HealthCheckRequest {
                    service: service.clone(),
                })
                .await?
                .into_inner();
            loop {
                match stream.message().await? {
                    Some(m) if m.status == ServingStatus::Serving as i32 => break,
                    Some(_) => continue,
                    None => anyhow::bail!("health stream of {service} ended"),
                }
            }
        }
        Ok(())
    };
    tokio::time::timeout(limit, wait)
        .await
        .map_err(|_| anyhow::anyhow!("not every service became SERVING within {limit:?}"))?
}

impl Platform {
    /// A token that stops everything when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// URL of the gateway, when it runs here.
    pub fn gateway_url(&self) -> Option<String> {
        self.gateway.map(|a| format!("http://{a}"))
    }

    /// Waits until a part stops by itself (an error) or `stop` fires, then
    /// stops everything and waits for it.
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let first = tokio::select! {
            _ = stop => None,
            done = self.tasks.join_next() => done,
        };
        self.shutdown.cancel();
        let mut result = Ok(());
        if let Some(done) = first {
            result = outcome(done);
        }
        // Calls in flight get `shutdown_grace` to finish; what is left then
        // is closed (its clients see the connection go).
        let grace = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        loop {
            let done = tokio::select! {
                done = self.tasks.join_next() => done,
                () = &mut grace => {
                    tracing::warn!(grace = ?self.config.shutdown_grace,
                        parts = self.tasks.len(), "calls still running after the shutdown grace; closing them");
                    self.tasks.shutdown().await;
                    break;
                }
            };
            let Some(done) = done else { break };
            if let Err(e) = outcome(done)
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }

    /// Stops everything and waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.run_until(async {}).await
    }
}

fn outcome(
    done: Result<(String, anyhow::Result<()>), tokio::task::JoinError>,
) -> anyhow::Result<()> {
    match done {
        Ok((_, Ok(()))) => Ok(()),
        Ok((name, Err(e))) => Err(e.context(format!("the {name} stopped with an error"))),
        Err(e) => Err(anyhow::anyhow!("a task panicked: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_parses() {
        let s = Selection::parse(&["user", "jobs"]).unwrap();
        assert!(!s.gateway);
        assert_eq!(s.services.len(), 2);
        assert!(Selection::parse(&["gateway"]).unwrap().gateway);
        assert!(Selection::parse(&["billing"]).is_err());
        assert!(Selection::parse::<&str>(&[]).is_err());
    }
}
