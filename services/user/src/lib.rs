//! The user service: accounts, roles, profiles and login (EdDSA JWTs); the
//! per-user vault of credentials for external imputation servers, sealed
//! with AES-256-GCM; the audit log; and the internal lookup that hands a
//! secret to the jobs service alone.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod catalog;
pub mod credentials;
pub mod error;
pub mod grpc;
pub mod password;
pub mod sessions;
pub mod store;
pub mod vault;

use std::sync::Arc;

use fip_backends::{Backends, HttpSettings};
use fip_kit::auth::TokenIssuer;
use fip_kit::config::Config;
use fip_kit::db::{Db, Location, Migrations};
use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::user::v1::audit_service_server::AuditServiceServer;
use fip_proto::user::v1::credential_internal_service_server::CredentialInternalServiceServer;
use fip_proto::user::v1::credential_service_server::CredentialServiceServer;
use fip_proto::user::v1::user_internal_service_server::UserInternalServiceServer;
use fip_proto::user::v1::user_service_server::UserServiceServer;
use sqlx::migrate::Migrator;
use tonic::server::NamedService;
use tonic::service::Routes;

use crate::accounts::Accounts;
use crate::catalog::{Catalog, RegistryCatalog};
use crate::credentials::Credentials;
use crate::grpc::UserApi;
use crate::sessions::{SessionBook, StoredSessions};
use crate::store::Store;
use crate::store::sql::SqlStore;

static SQLITE: Migrator = sqlx::migrate!("../../migrations/user/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../../migrations/user/postgres");

/// The user service's schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// The outbound HTTP settings for external servers, from configuration.
pub fn http_settings(config: &Config) -> HttpSettings {
    HttpSettings {
        request_timeout: config.external.request_timeout,
        connect_timeout: config.external.connect_timeout,
        user_agent: config.external.user_agent.clone(),
        ..HttpSettings::default()
    }
}

/// The domain of the user service over an opened database.
pub struct Domain {
    pub accounts: Arc<Accounts>,
    pub credentials: Arc<Credentials>,
}

impl Domain {
    /// The domain over `store`; `live` is told of every session that ends
    /// (and tells the other services through its bus).
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        issuer: TokenIssuer,
        live: Arc<fip_kit::sessions::Sessions>,
        catalog: Arc<dyn Catalog>,
        bus: fip_kit::events::Bus,
    ) -> anyhow::Result<Self> {
        let keys = Arc::new(vault::key_ring(config)?);
        let backends = Backends::new(&http_settings(config))?;
        let sessions = Arc::new(SessionBook::new(
            store.clone(),
            issuer,
            config.auth.session_ttl,
            live,
        ));
        Ok(Self {
            accounts: Arc::new(Accounts::new(store.clone(), sessions, config.user.clone())),
            credentials: Arc::new(Credentials::new(store, keys, catalog, backends, bus)),
        })
    }

    /// The gRPC routes over this domain.
    pub fn hosted(&self) -> Hosted {
        let api = UserApi {
            accounts: self.accounts.clone(),
            credentials: self.credentials.clone(),
        };
        let routes = Routes::new(UserServiceServer::new(api.clone()))
            .add_service(CredentialServiceServer::new(api.clone()))
            .add_service(AuditServiceServer::new(api.clone()))
            .add_service(CredentialInternalServiceServer::new(api.clone()))
            .add_service(UserInternalServiceServer::new(api));
        Hosted {
            name: ServiceName::User,
            sessions: Some(self.accounts.sessions().live().clone()),
            routes,
            grpc_services: vec![
                UserServiceServer::<UserApi>::NAME,
                CredentialServiceServer::<UserApi>::NAME,
                AuditServiceServer::<UserApi>::NAME,
                CredentialInternalServiceServer::<UserApi>::NAME,
                UserInternalServiceServer::<UserApi>::NAME,
            ],
        }
    }
}

/// Opens the user database of `config`, migrated.
pub async fn open_db(config: &Config) -> anyhow::Result<Db> {
    Db::open(
        &Location::for_service(config, ServiceName::User),
        &MIGRATIONS,
    )
    .await
}

/// Starts the user service.
pub async fn start(ctx: &Context) -> anyhow::Result<Hosted> {
    let signing = ctx
        .keys
        .user_signing
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the user service needs the user-token signing key"))?;
    let issuer = TokenIssuer::new(signing, &ctx.config)?;
    let registry = ctx
        .peers
        .channel(ServiceName::Registry)
        .ok_or_else(|| anyhow::anyhow!("the user service needs the registry's address"))?;
    let catalog = Arc::new(RegistryCatalog::new(registry, ctx.identity.clone()));
    let store: Arc<dyn Store> = Arc::new(SqlStore::new(open_db(&ctx.config).await?));
    // This service answers session checks from its own store.
    let live = ctx.sessions_from(Arc::new(StoredSessions(store.clone())));
    let domain = Domain::new(&ctx.config, store, issuer, live, catalog, ctx.bus.clone())?;
    if let Some(admin) = domain.accounts.bootstrap_admin().await? {
        tracing::info!(username = %admin.username, "created the bootstrap admin");
    }
    Ok(domain.hosted())
}
