//! The notify service: each user's web inbox with its live stream, their
//! notification preferences, and sending on behalf of the other services
//! (`service:jobs`, `service:user`, `service:registry`).
//!
//! Layers: [`api`] (thin tonic adapter) → [`domain`] (the rules, no SQL or
//! wire types) → [`store::Store`] (SQL over `fip_kit::db`),
//! [`events::EventBus`] (inbox changes for the watch streams) and
//! [`directory::Directory`] (recipients, from the user service).
//!
//! Email ([`email`]): a notification's mail is rendered and stored in the
//! outbox with it, then a sender delivers it over SMTP (`notify.smtp_url`)
//! or, without a mail server, into a maildir under the data dir.

pub mod api;
pub mod directory;
pub mod domain;
pub mod email;
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
/// event bus, the user service as the directory of recipients, and email;
/// starts the email sender (until `ctx.shutdown`).
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
    let store: Arc<dyn store::Store> = Arc::new(store::SqlStore::new(db));
    let email = Arc::new(email::Email::new(&ctx.config)?);
    let transport = email_transport(&ctx.config)?;
    let sender = email::sender::Sender::new(
        store.clone(),
        transport,
        Arc::new(email::Composer::new(
            &email::hub_url(&ctx.config),
            &email::from_mailbox(&ctx.config)?,
        )?),
        email::from_mailbox(&ctx.config)?,
        email::sender::Pacing::from_config(&ctx.config.notify),
        email.wake.clone(),
    );
    tokio::spawn(sender.run(ctx.shutdown.clone()));
    Ok(Arc::new(
        Notify::new(
            store,
            Arc::new(events::LocalBus::new(ctx.config.notify.watch_buffer)),
            Arc::new(directory::UserDirectory::new(user, &ctx.identity)),
            ctx.shutdown.clone(),
        )
        .with_email(email),
    ))
}

/// SMTP when `notify.smtp_url` is set, else the maildir (the log says
/// where).
fn email_transport(
    config: &fip_kit::config::Config,
) -> anyhow::Result<Arc<dyn email::transport::Transport>> {
    match &config.notify.smtp_url {
        Some(url) => Ok(Arc::new(email::transport::Smtp::new(
            url,
            config.notify.smtp_timeout,
        )?)),
        None => {
            let dir = config
                .notify
                .maildir
                .clone()
                .unwrap_or_else(|| config.data_dir.join("mail"));
            tracing::info!(
                maildir = %dir.display(),
                "no notify.smtp_url: mails are written to a maildir (new/ holds one file per mail)"
            );
            Ok(Arc::new(email::transport::Maildir::new(dir)?))
        }
    }
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
