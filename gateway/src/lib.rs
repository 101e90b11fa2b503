//! The platform's one public port.
//!
//! Today it serves gRPC: calls to public services are passed through to their
//! owners over the mesh, `grpc.health.v1` reports each public service's
//! health, and server reflection lists the public contracts (internal
//! services are neither listed nor routed). HTTP/1.1 and HTTP/2 are accepted
//! on the same listener, ready for gRPC-web and REST/JSON.

pub mod descriptors;
pub mod health;
pub mod proxy;

use axum::Router;
use fip_kit::mesh::Peers;
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::ServingStatus;

/// Serves the gateway on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    peers: Peers,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = router(peers, shutdown.clone()).await?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    Ok(())
}

/// The gateway's routes: its own health and reflection, then pass-through.
pub async fn router(peers: Peers, shutdown: CancellationToken) -> anyhow::Result<Router> {
    let services = descriptors::public_services();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for service in &services {
        reporter
            .set_service_status(service, ServingStatus::NotServing)
            .await;
    }
    health::mirror(reporter, peers.clone(), services, shutdown);

    let public = descriptors::public_descriptor_set().encode_to_vec();
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(&public)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let routes = Routes::new(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);
    let passthrough = Router::new().fallback(proxy::forward).with_state(peers);
    Ok(routes.into_axum_router().fallback_service(passthrough))
}
