//! Hosting a service: its gRPC routes plus `grpc.health.v1` and server
//! reflection, behind the auth layer, on a listener, until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{AuthLayer, Keys, ServiceIdentity, TokenVerifier};
use crate::config::Config;
use crate::mesh::{Peers, ServiceName, http2};
use crate::streams::StrictStreamEndLayer;

/// What a service hands to the host: its routes and the fully-qualified
/// names of the gRPC services in them (reported through health).
pub struct Hosted {
    pub name: ServiceName,
    pub routes: Routes,
    pub grpc_services: Vec<&'static str>,
}

/// Everything a service needs to start.
#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub keys: Keys,
    pub verifier: Arc<TokenVerifier>,
    /// This service's own identity for calls to its peers.
    pub identity: Arc<ServiceIdentity>,
    pub peers: Peers,
    /// Cancelled when the process shuts down; background tasks stop on it.
    pub shutdown: CancellationToken,
}

impl Context {
    pub fn new(
        name: ServiceName,
        config: Arc<Config>,
        keys: Keys,
        peers: Peers,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let verifier = Arc::new(TokenVerifier::new(&keys, &config)?);
        let identity = Arc::new(ServiceIdentity::new(name, &keys, &config)?);
        Ok(Self {
            config,
            keys,
            verifier,
            identity,
            peers,
            shutdown,
        })
    }

    /// The same context, speaking as another service (one process hosting several).
    pub fn for_service(&self, name: ServiceName) -> anyhow::Result<Self> {
        Ok(Self {
            identity: Arc::new(ServiceIdentity::new(name, &self.keys, &self.config)?),
            ..self.clone()
        })
    }
}

/// The descriptor-backed reflection services (v1 and v1alpha) for `descriptor_set`.
pub fn reflection_routes(routes: Routes, descriptor_set: &[u8]) -> anyhow::Result<Routes> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(descriptor_set)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    Ok(routes
        .add_service(builder().build_v1()?)
        .add_service(builder().build_v1alpha()?))
}

/// Serves `hosted` on `listener` until `shutdown` is cancelled. Health turns
/// NOT_SERVING first, so that callers watching it stop sending work.
pub async fn serve(
    listener: TcpListener,
    hosted: Hosted,
    verifier: Arc<TokenVerifier>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    set_all(&reporter, &hosted.grpc_services, ServingStatus::Serving).await;
    let routes = reflection_routes(
        hosted.routes.add_service(health),
        fip_proto::FILE_DESCRIPTOR_SET,
    )?;
    let addr = listener.local_addr()?;
    tracing::debug!(service = %hosted.name, %addr, "serving");
    let stopping = {
        let reporter = reporter.clone();
        let names = hosted.grpc_services.clone();
        async move {
            shutdown.cancelled().await;
            set_all(&reporter, &names, ServingStatus::NotServing).await;
        }
    };
    Server::builder()
        .initial_stream_window_size(Some(http2::STREAM_WINDOW_BYTES))
        .initial_connection_window_size(Some(http2::CONNECTION_WINDOW_BYTES))
        .max_frame_size(Some(http2::MAX_FRAME_BYTES))
        .layer(tower_http::trace::TraceLayer::new_for_grpc())
        .layer(StrictStreamEndLayer)
        .layer(AuthLayer::new(verifier))
        .add_routes(routes)
        // Small request/answer exchanges must not wait for Nagle's algorithm
        // (tonic ignores `tcp_nodelay` when handed a listener).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            stopping,
        )
        .await?;
    tracing::debug!(service = %hosted.name, "stopped");
    Ok(())
}

async fn set_all(reporter: &HealthReporter, names: &[&'static str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in names {
        reporter.set_service_status(*name, status).await;
    }
}

/// Binds `addr` (port 0: any free port), with a clear error when it is taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("interrupted, shutting down"),
        _ = term => tracing::info!("terminated, shutting down"),
    }
}
