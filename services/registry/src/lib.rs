//! The catalogue of external imputation services and their reference
//! panels, their health, and panel discovery.
//!
//! Layers: [`api`] (thin tonic adapter) → [`domain`] (the rules, no SQL or
//! HTTP) → [`store::Store`] (SQL over `fip_kit::db`) and
//! [`upstream::Upstream`] (the external servers, over `fip-backends`).

use std::sync::Arc;

use fip_kit::db::{Db, Location, Migrations};
use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::registry::v1::registry_service_server::RegistryServiceServer;
use sqlx::migrate::Migrator;
use tonic::server::NamedService;
use tonic::service::Routes;

pub mod api;
pub mod catalog;
pub mod clock;
pub mod domain;
pub mod error;
pub mod model;
pub mod rules;
pub mod scheduler;
pub mod store;
pub mod upstream;

mod backends;

pub use api::RegistryApi;
pub use backends::BackendsUpstream;
pub use domain::{Registry, Settings};

static SQLITE: Migrator = sqlx::migrate!("../../migrations/registry/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../../migrations/registry/postgres");

/// The registry's schema, per backend.
pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// Opens the database, seeds the public catalogue into an empty registry
/// (when configured), starts the health scheduler and builds the routes.
pub async fn start(ctx: &Context) -> anyhow::Result<Hosted> {
    let db = Db::open(
        &Location::for_service(&ctx.config, ServiceName::Registry),
        &MIGRATIONS,
    )
    .await?;
    let registry = Arc::new(Registry::new(
        Arc::new(store::SqlStore::new(db)),
        Arc::new(BackendsUpstream::new(&ctx.config.external)?),
        Arc::new(clock::SystemClock),
        Settings::from_config(&ctx.config.registry),
    ));
    if ctx.config.registry.seed_catalog {
        registry.seed_catalog().await?;
    }
    scheduler::spawn(registry.clone(), ctx.shutdown.clone());
    Ok(hosted(registry))
}

/// The routes of a registry (tests host one with their own clock or upstream).
pub fn hosted(registry: Arc<Registry>) -> Hosted {
    Hosted {
        name: ServiceName::Registry,
        sessions: None,
        routes: Routes::new(RegistryServiceServer::new(RegistryApi::new(registry))),
        grpc_services: vec![RegistryServiceServer::<RegistryApi>::NAME],
    }
}
