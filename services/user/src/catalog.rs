//! What the user service needs to know of the imputation services: asked of
//! the registry over the mesh, as the user service's own identity.

use std::sync::Arc;

use async_trait::async_trait;
use fip_backends::ApiType;
use fip_kit::auth::ServiceIdentity;
use fip_proto::registry::v1::registry_service_client::RegistryServiceClient;
use fip_proto::registry::v1::{ApiType as WireApiType, GetServiceRequest};
use tonic::transport::Channel;

/// The facts of one imputation service that credentials depend on.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInfo {
    pub id: i64,
    pub name: String,
    pub api_type: ApiType,
    pub base_url: String,
    pub is_active: bool,
}

#[async_trait]
pub trait Catalog: Send + Sync + 'static {
    /// The service with `id`, or None when the registry has no such service.
    async fn service(&self, id: i64) -> anyhow::Result<Option<ServiceInfo>>;
}

/// The registry, over gRPC.
pub struct RegistryCatalog {
    channel: Channel,
    identity: Arc<ServiceIdentity>,
}

impl RegistryCatalog {
    pub fn new(channel: Channel, identity: Arc<ServiceIdentity>) -> Self {
        Self { channel, identity }
    }
}

#[async_trait]
impl Catalog for RegistryCatalog {
    async fn service(&self, id: i64) -> anyhow::Result<Option<ServiceInfo>> {
        let mut client = RegistryServiceClient::with_interceptor(
            self.channel.clone(),
            self.identity.interceptor(),
        );
        match client.get_service(GetServiceRequest { id }).await {
            Ok(reply) => {
                let service = reply
                    .into_inner()
                    .service
                    .ok_or_else(|| anyhow::anyhow!("registry answered without a service"))?;
                let api_type = match WireApiType::try_from(service.api_type) {
                    Ok(WireApiType::Michigan) => ApiType::Michigan,
                    Ok(WireApiType::Ga4ghWes) => ApiType::Ga4ghWes,
                    _ => anyhow::bail!("service {id} has no known api type"),
                };
                Ok(Some(ServiceInfo {
                    id: service.id,
                    name: service.name,
                    api_type,
                    base_url: service.base_url,
                    is_active: service.is_active,
                }))
            }
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(anyhow::anyhow!("registry: {}", status.message())),
        }
    }
}
