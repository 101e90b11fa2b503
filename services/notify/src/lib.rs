//! Notifications: stored for the web (with a live stream) and sent by
//! email, by the users' preferences.
//!
//! The contracts are served; RPCs not yet built answer UNIMPLEMENTED.

use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::notify::v1::notification_internal_service_server::{
    NotificationInternalService, NotificationInternalServiceServer,
};
use fip_proto::notify::v1::notification_service_server::{
    NotificationService, NotificationServiceServer,
};
use tonic::server::NamedService;
use tonic::service::Routes;

/// The gRPC face of the notify service.
#[derive(Debug, Clone, Default)]
pub struct NotifyApi;

impl NotificationService for NotifyApi {}
impl NotificationInternalService for NotifyApi {}

/// Builds the notify service's routes.
pub async fn start(_ctx: &Context) -> anyhow::Result<Hosted> {
    let routes = Routes::new(NotificationServiceServer::new(NotifyApi))
        .add_service(NotificationInternalServiceServer::new(NotifyApi));
    Ok(Hosted {
        name: ServiceName::Notify,
        routes,
        grpc_services: vec![
            NotificationServiceServer::<NotifyApi>::NAME,
            NotificationInternalServiceServer::<NotifyApi>::NAME,
        ],
    })
}
