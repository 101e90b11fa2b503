//! The gRPC face of the registry: one line per RPC, each resource's
//! conversions and checks in its own module.

use std::sync::Arc;

use fip_proto::registry::v1 as pb;
use fip_proto::registry::v1::registry_service_server::RegistryService;
use tonic::{Request, Response, Status};

use crate::domain::Registry;

mod access;
mod convert;
pub mod errors;
mod health;
mod panels;
mod services;

/// `fip.registry.v1.RegistryService` over a [`Registry`].
#[derive(Clone)]
pub struct RegistryApi {
    registry: Arc<Registry>,
}

impl RegistryApi {
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl RegistryService for RegistryApi {
    async fn list_services(
        &self,
        r: Request<pb::ListServicesRequest>,
    ) -> Reply<pb::ListServicesResponse> {
        services::list(&self.registry, r).await
    }

    async fn get_service(
        &self,
        r: Request<pb::GetServiceRequest>,
    ) -> Reply<pb::GetServiceResponse> {
        services::get(&self.registry, r).await
    }

    async fn create_service(
        &self,
        r: Request<pb::CreateServiceRequest>,
    ) -> Reply<pb::CreateServiceResponse> {
        services::create(&self.registry, r).await
    }

    async fn update_service(
        &self,
        r: Request<pb::UpdateServiceRequest>,
    ) -> Reply<pb::UpdateServiceResponse> {
        services::update(&self.registry, r).await
    }

    async fn delete_service(
        &self,
        r: Request<pb::DeleteServiceRequest>,
    ) -> Reply<pb::DeleteServiceResponse> {
        services::delete(&self.registry, r).await
    }

    async fn list_reference_panels(
        &self,
        r: Request<pb::ListReferencePanelsRequest>,
    ) -> Reply<pb::ListReferencePanelsResponse> {
        panels::list(&self.registry, r).await
    }

    async fn get_reference_panel(
        &self,
        r: Request<pb::GetReferencePanelRequest>,
    ) -> Reply<pb::GetReferencePanelResponse> {
        panels::get(&self.registry, r).await
    }

    async fn create_reference_panel(
        &self,
        r: Request<pb::CreateReferencePanelRequest>,
    ) -> Reply<pb::CreateReferencePanelResponse> {
        panels::create(&self.registry, r).await
    }

    async fn update_reference_panel(
        &self,
        r: Request<pb::UpdateReferencePanelRequest>,
    ) -> Reply<pb::UpdateReferencePanelResponse> {
        panels::update(&self.registry, r).await
    }

    async fn delete_reference_panel(
        &self,
        r: Request<pb::DeleteReferencePanelRequest>,
    ) -> Reply<pb::DeleteReferencePanelResponse> {
        panels::delete(&self.registry, r).await
    }

    async fn get_service_health(
        &self,
        r: Request<pb::GetServiceHealthRequest>,
    ) -> Reply<pb::GetServiceHealthResponse> {
        health::get(&self.registry, r).await
    }

    async fn check_service_health(
        &self,
        r: Request<pb::CheckServiceHealthRequest>,
    ) -> Reply<pb::CheckServiceHealthResponse> {
        health::check(&self.registry, r).await
    }

    async fn list_health_checks(
        &self,
        r: Request<pb::ListHealthChecksRequest>,
    ) -> Reply<pb::ListHealthChecksResponse> {
        health::list(&self.registry, r).await
    }

    async fn sync_reference_panels(
        &self,
        r: Request<pb::SyncReferencePanelsRequest>,
    ) -> Reply<pb::SyncReferencePanelsResponse> {
        panels::sync(&self.registry, r).await
    }
}
