//! The gateway's `grpc.health.v1` answers for every public service by
//! mirroring its owner's health: one `Watch` stream per service, re-opened
//! when it breaks; a service that cannot be reached reads NOT_SERVING.

use std::time::Duration;

use fip_kit::mesh::{Peers, ServiceName};
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as WireStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::server::HealthReporter;

/// Starts one mirror task per public service; they end on `shutdown`.
pub fn mirror(
    reporter: HealthReporter,
    peers: Peers,
    services: Vec<String>,
    shutdown: CancellationToken,
) {
    for service in services {
        let Some(channel) = ServiceName::owning(&service).and_then(|o| peers.channel(o)) else {
            continue;
        };
        let reporter = reporter.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = follow(reporter, channel, service) => {}
            }
        });
    }
}

async fn follow(reporter: HealthReporter, channel: tonic::transport::Channel, service: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut client = HealthClient::new(channel.clone());
        let request = HealthCheckRequest {
            service: service.clone(),
        };
        if let Ok(response) = client.watch(request).await {
            let mut stream = response.into_inner();
            while let Ok(Some(message)) = stream.message().await {
                backoff = Duration::from_millis(100);
                let status = match WireStatus::try_from(message.status) {
                    Ok(WireStatus::Serving) => ServingStatus::Serving,
                    Ok(WireStatus::NotServing | WireStatus::ServiceUnknown) => {
                        ServingStatus::NotServing
                    }
                    _ => ServingStatus::Unknown,
                };
                reporter.set_service_status(&service, status).await;
            }
        }
        reporter
            .set_service_status(&service, ServingStatus::NotServing)
            .await;
        // Reconnect with capped exponential backoff (a retry pause, not a test wait).
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
