//! Aggregated health of the mesh and the system status page.
//!
//! `GetHealth` asks every other service's `grpc.health.v1` (concurrently,
//! with a short deadline) and reports each with its latency.

use std::time::{Duration, Instant};

use fip_kit::auth::{self, Role};
use fip_kit::db::now_millis;
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::{Context, Hosted};
use fip_proto::common::v1::HealthStatus;
use fip_proto::monitor::v1::monitor_service_server::{MonitorService, MonitorServiceServer};
use fip_proto::monitor::v1::{
    ComponentHealth, DatabaseBackend, DeploymentMode, GetHealthRequest, GetHealthResponse,
    GetSystemStatusRequest, GetSystemStatusResponse, QueueBackend, ServingStatus,
};
use futures::future::join_all;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as WireStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long one component may take to answer a health check.
const CHECK_DEADLINE: Duration = Duration::from_secs(2);

/// The gRPC face of the monitor service.
#[derive(Clone)]
pub struct MonitorApi {
    peers: Peers,
    started_at: i64,
    embedded: bool,
    database: DatabaseBackend,
    queue: QueueBackend,
}

/// Checks one component: SERVING, NOT_SERVING, or UNKNOWN when it did not answer.
async fn check(peers: &Peers, name: ServiceName) -> ComponentHealth {
    let started = Instant::now();
    let (status, message) = match peers.channel(name) {
        None => (ServingStatus::Unknown, "not configured".to_string()),
        Some(channel) => {
            let mut client = HealthClient::new(channel);
            let call = client.check(HealthCheckRequest {
                service: String::new(),
            });
            match tokio::time::timeout(CHECK_DEADLINE, call).await {
                Ok(Ok(reply)) => match WireStatus::try_from(reply.into_inner().status) {
                    Ok(WireStatus::Serving) => (ServingStatus::Serving, String::new()),
                    _ => (ServingStatus::NotServing, "not serving".to_string()),
                },
                Ok(Err(status)) => (ServingStatus::NotServing, status.message().to_string()),
                Err(_) => (
                    ServingStatus::Unknown,
                    format!("no answer within {} ms", CHECK_DEADLINE.as_millis()),
                ),
            }
        }
    };
    ComponentHealth {
        name: name.to_string(),
        status: status as i32,
        latency_ms: started.elapsed().as_millis().min(i32::MAX as u128) as i32,
        message,
    }
}

/// The overall verdict from the components'.
fn overall(components: &[ComponentHealth]) -> HealthStatus {
    let serving = components
        .iter()
        .filter(|c| c.status == ServingStatus::Serving as i32)
        .count();
    match serving {
        n if n == components.len() => HealthStatus::Healthy,
        0 => HealthStatus::Unhealthy,
        _ => HealthStatus::Degraded,
    }
}

impl MonitorApi {
    async fn components(&self) -> Vec<ComponentHealth> {
        let others = ServiceName::ALL
            .into_iter()
            .filter(|n| *n != ServiceName::Monitor);
        let mut components = vec![ComponentHealth {
            name: ServiceName::Monitor.to_string(),
            status: ServingStatus::Serving as i32,
            latency_ms: 0,
            message: String::new(),
        }];
        components.extend(join_all(others.map(|n| check(&self.peers, n))).await);
        components
    }
}

#[tonic::async_trait]
impl MonitorService for MonitorApi {
    async fn get_health(
        &self,
        request: Request<GetHealthRequest>,
    ) -> Result<Response<GetHealthResponse>, Status> {
        let GetHealthRequest {} = request.into_inner();
        let components = self.components().await;
        Ok(Response::new(GetHealthResponse {
            status: overall(&components) as i32,
            components,
            checked_at: Some(fip_kit::db::timestamp(now_millis())),
        }))
    }

    async fn get_system_status(
        &self,
        request: Request<GetSystemStatusRequest>,
    ) -> Result<Response<GetSystemStatusResponse>, Status> {
        auth::require_role(&request, Role::Admin)?;
        let GetSystemStatusRequest {} = request.into_inner();
        let components = self.components().await;
        let now = now_millis();
        Ok(Response::new(GetSystemStatusResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("FIP_GIT_COMMIT")
                .unwrap_or_default()
                .to_string(),
            started_at: Some(fip_kit::db::timestamp(self.started_at)),
            uptime_seconds: (now - self.started_at) / 1000,
            mode: if self.embedded {
                DeploymentMode::Embedded
            } else {
                DeploymentMode::Distributed
            } as i32,
            database_backend: self.database as i32,
            queue_backend: self.queue as i32,
            object_store_backend: 0,
            queue: None,
            status: overall(&components) as i32,
            components,
            external_services: Vec::new(),
        }))
    }
}

/// Builds the monitor service.
pub async fn start(ctx: &Context) -> anyhow::Result<Hosted> {
    let api = MonitorApi {
        peers: ctx.peers.clone(),
        started_at: now_millis(),
        // Embedded when this process can reach every service on loopback
        // addresses it bound itself; distributed when peers have URLs.
        embedded: ServiceName::ALL
            .into_iter()
            .all(|n| ctx.config.endpoint(n).url.is_none()),
        database: if ctx.config.database_url.is_some() {
            DatabaseBackend::Postgres
        } else {
            DatabaseBackend::Sqlite
        },
        queue: if ctx.config.redis_url.is_some() {
            QueueBackend::Redis
        } else {
            QueueBackend::InProcess
        },
    };
    Ok(Hosted {
        name: ServiceName::Monitor,
        sessions: None,
        routes: Routes::new(MonitorServiceServer::new(api)),
        grpc_services: vec![MonitorServiceServer::<MonitorApi>::NAME],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(status: ServingStatus) -> ComponentHealth {
        ComponentHealth {
            name: "x".into(),
            status: status as i32,
            latency_ms: 1,
            message: String::new(),
        }
    }

    #[test]
    fn overall_verdict() {
        use ServingStatus::*;
        assert_eq!(
            overall(&[component(Serving), component(Serving)]),
            HealthStatus::Healthy
        );
        assert_eq!(
            overall(&[component(Serving), component(Unknown)]),
            HealthStatus::Degraded
        );
        assert_eq!(overall(&[component(NotServing)]), HealthStatus::Unhealthy);
    }
}
