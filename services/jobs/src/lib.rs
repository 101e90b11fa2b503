//! The job API, the queue, the worker and the backends that speak to the
//! external servers (Cloudgene API v2, GA4GH WES).
//!
//! The contracts are served; RPCs not yet built answer UNIMPLEMENTED.

use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::jobs::v1::job_service_server::{JobService, JobServiceServer};
use tonic::server::NamedService;
use tonic::service::Routes;

/// The gRPC face of the jobs service.
#[derive(Debug, Clone, Default)]
pub struct JobsApi;

impl JobService for JobsApi {}

/// Builds the jobs service's routes.
pub async fn start(_ctx: &Context) -> anyhow::Result<Hosted> {
    let routes = Routes::new(JobServiceServer::new(JobsApi));
    Ok(Hosted {
        name: ServiceName::Jobs,
        routes,
        grpc_services: vec![JobServiceServer::<JobsApi>::NAME],
    })
}
