//! The catalogue of external imputation services and their reference
//! panels, their health, and panel discovery.
//!
//! The contracts are served; RPCs not yet built answer UNIMPLEMENTED.

use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::registry::v1::registry_service_server::{RegistryService, RegistryServiceServer};
use tonic::server::NamedService;
use tonic::service::Routes;

/// The gRPC face of the registry service.
#[derive(Debug, Clone, Default)]
pub struct RegistryApi;

impl RegistryService for RegistryApi {}

/// Builds the registry service's routes.
pub async fn start(_ctx: &Context) -> anyhow::Result<Hosted> {
    let routes = Routes::new(RegistryServiceServer::new(RegistryApi));
    Ok(Hosted {
        name: ServiceName::Registry,
        routes,
        grpc_services: vec![RegistryServiceServer::<RegistryApi>::NAME],
    })
}
