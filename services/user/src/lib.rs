//! Accounts, roles, profiles and login (JWT); the per-user vault of
//! credentials for external imputation servers; the audit log.
//!
//! The contracts are served; RPCs not yet built answer UNIMPLEMENTED.

use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::user::v1::audit_service_server::{AuditService, AuditServiceServer};
use fip_proto::user::v1::credential_internal_service_server::{
    CredentialInternalService, CredentialInternalServiceServer,
};
use fip_proto::user::v1::credential_service_server::{CredentialService, CredentialServiceServer};
use fip_proto::user::v1::user_internal_service_server::{
    UserInternalService, UserInternalServiceServer,
};
use fip_proto::user::v1::user_service_server::{UserService, UserServiceServer};
use tonic::server::NamedService;
use tonic::service::Routes;

/// The gRPC face of the user service.
#[derive(Debug, Clone, Default)]
pub struct UserApi;

impl UserService for UserApi {}
impl CredentialService for UserApi {}
impl AuditService for UserApi {}
impl CredentialInternalService for UserApi {}
impl UserInternalService for UserApi {}

/// Builds the user service's routes.
pub async fn start(_ctx: &Context) -> anyhow::Result<Hosted> {
    let routes = Routes::new(UserServiceServer::new(UserApi))
        .add_service(CredentialServiceServer::new(UserApi))
        .add_service(AuditServiceServer::new(UserApi))
        .add_service(CredentialInternalServiceServer::new(UserApi))
        .add_service(UserInternalServiceServer::new(UserApi));
    Ok(Hosted {
        name: ServiceName::User,
        routes,
        grpc_services: vec![
            UserServiceServer::<UserApi>::NAME,
            CredentialServiceServer::<UserApi>::NAME,
            AuditServiceServer::<UserApi>::NAME,
            CredentialInternalServiceServer::<UserApi>::NAME,
            UserInternalServiceServer::<UserApi>::NAME,
        ],
    })
}
