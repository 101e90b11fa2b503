//! The notify service: each user's web inbox with its live stream, their
//! notification preferences, and sending on behalf of the other services
//! (`service:jobs`, `service:user`, `service:registry`).
//!
//! Layers: [`api`] (thin tonic adapter) → [`domain`] (the rules, no SQL or
//! wire types) → [`store::Store`] (SQL over `fip_kit::db`),
//! [`events::EventBus`] (inbox changes for the watch streams) and
//! [`directory::Directory`] (recipients, from the user service).
//!
//! Email is a channel of the model and of the preferences; this hub has no
//! mail transport yet, so email deliveries are reported
//! `skipped_unavailable`.

pub mod api;
pub mod directory;
pub mod domain;
pub mod error;
pub mod events;
pub mod model;
pub mod store;

use std::sync::Arc;

use fip_kit::db::{Db, Location, Migrations};
use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::notify::v1::notification_internal_service_server::NotificationInternalServiceServer;
use fip_proto::notify::v1::notification_service_server::NotificationServiceServer;
use sqlx::migrate::Migrator;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use api::NotifyApi;
pub use domain::Notify;

static SQLITE: Migrator = sqlx::migrate!("../../migrations/notify/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../../migrations/notify/postgres");

/// The notify service's schema, per backend.
pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// Opens the database and builds the domain: the SQL store, the in-process
/// event bus, and the user service as the directory of recipients.
pub async fn open(ctx: &Context) -> anyhow::Result<Arc<Notify>> {
    let user = ctx.peers.channel(ServiceName::User).ok_or_else(|| {
        anyhow::anyhow!("the notify service needs the user service's address (services.user.url)")
    })?;
    let db = Db::open(
        &Location::for_service(&ctx.config, ServiceName::Notify),
        &MIGRATIONS,
    )
    .await?;
    if ctx.config.redis_url.is_some() {
        tracing::warn!(
            "notification events stay within this process: watchers see only the changes \
             made through this replica"
        );
    }
    Ok(Arc::new(Notify::new(
        Arc::new(store::SqlStore::new(db)),
        Arc::new(events::LocalBus::new(ctx.config.notify.watch_buffer)),
        Arc::new(directory::UserDirectory::new(user, &ctx.identity)),
        ctx.shutdown.clone(),
    )))
}

/// The routes over a domain (tests keep the domain to look inside).
/// The gRPC routes over `notify`; `sessions` ends the watches of ended
/// sessions (the context's, `ctx.auth.sessions()`).
pub fn hosted(notify: Arc<Notify>, sessions: Arc<fip_kit::sessions::Sessions>) -> Hosted {
    let api = NotifyApi::new(notify, sessions);
    Hosted {
        name: ServiceName::Notify,
        sessions: None,
        routes: Routes::new(NotificationServiceServer::new(api.clone()))
            .add_service(NotificationInternalServiceServer::new(api)),
        grpc_services: vec![
            NotificationServiceServer::<NotifyApi>::NAME,
            NotificationInternalServiceServer::<NotifyApi>::NAME,
        ],
    }
}

/// Starts the notify service.
pub async fn start(ctx: &Context) -> anyhow::Result<Hosted> {
    Ok(hosted(open(ctx).await?, ctx.auth.sessions().clone()))
}
