//! The files service: streaming upload and download of job inputs and
//! results with SHA-256 computed on the fly, contents in an object store
//! (local directory or S3), metadata in the service's own tables, signed
//! download links, and retention of results.
//!
//! Memory use does not depend on file size: uploads stream into multipart
//! object writes and downloads stream out of the store in bounded chunks
//! (see [`objects`]).

pub mod clock;
pub mod download;
pub mod error;
pub mod files;
pub mod grpc;
pub mod links;
pub mod objects;
pub mod retention;
pub mod store;
pub mod upload;

use std::sync::Arc;

use fip_kit::config::Config;
use fip_kit::db::{Db, Location, Migrations};
use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::files::v1::file_internal_service_server::FileInternalServiceServer;
use fip_proto::files::v1::file_service_server::FileServiceServer;
use sqlx::migrate::Migrator;
use tonic::server::NamedService;
use tonic::service::Routes;

use crate::clock::SystemClock;
use crate::files::{Files, Settings};
use crate::grpc::FilesApi;
use crate::links::LinkSigner;
use crate::objects::Objects;
use crate::store::sql::SqlStore;

static SQLITE: Migrator = sqlx::migrate!("../../migrations/files/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../../migrations/files/postgres");

/// The files service's schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// Largest gRPC message accepted: a 3 MiB chunk and its framing.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Opens the files database of `config`, migrated.
pub async fn open_db(config: &Config) -> anyhow::Result<Db> {
    Db::open(
        &Location::for_service(config, ServiceName::Files),
        &MIGRATIONS,
    )
    .await
}

/// The gRPC routes over a files domain.
pub fn hosted(files: Arc<Files>) -> Hosted {
    let api = FilesApi { files };
    let routes = Routes::new(
        FileServiceServer::new(api.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
    )
    .add_service(FileInternalServiceServer::new(api).max_decoding_message_size(MAX_MESSAGE_BYTES));
    Hosted {
        name: ServiceName::Files,
        sessions: None,
        routes,
        grpc_services: vec![
            FileServiceServer::<FilesApi>::NAME,
            FileInternalServiceServer::<FilesApi>::NAME,
        ],
    }
}

/// Starts the files service: database, object store, link key, and the
/// retention sweep (stopped with the context's shutdown).
pub async fn start(ctx: &Context) -> anyhow::Result<Hosted> {
    let config = &ctx.config;
    let db = open_db(config).await?;
    let objects = Objects::from_config(config)?;
    let links = LinkSigner::from_config(config)?;
    let files = Arc::new(Files::new(
        Arc::new(SqlStore::new(db)),
        objects,
        links,
        Arc::new(SystemClock),
        Settings::from_config(config),
    ));
    retention::spawn(
        files.clone(),
        config.files.retention_sweep_interval,
        ctx.shutdown.clone(),
    );
    Ok(hosted(files))
}
