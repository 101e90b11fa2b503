//! Streaming upload and download of inputs and results, checksums,
//! object storage and signed download links.
//!
//! The contracts are served; RPCs not yet built answer UNIMPLEMENTED.

use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::files::v1::file_internal_service_server::{
    FileInternalService, FileInternalServiceServer,
};
use fip_proto::files::v1::file_service_server::{FileService, FileServiceServer};
use tonic::server::NamedService;
use tonic::service::Routes;

/// The gRPC face of the files service.
#[derive(Debug, Clone, Default)]
pub struct FilesApi;

impl FileService for FilesApi {}
impl FileInternalService for FilesApi {}

/// Builds the files service's routes.
pub async fn start(_ctx: &Context) -> anyhow::Result<Hosted> {
    let routes = Routes::new(FileServiceServer::new(FilesApi))
        .add_service(FileInternalServiceServer::new(FilesApi));
    Ok(Hosted {
        name: ServiceName::Files,
        routes,
        grpc_services: vec![
            FileServiceServer::<FilesApi>::NAME,
            FileInternalServiceServer::<FilesApi>::NAME,
        ],
    })
}
