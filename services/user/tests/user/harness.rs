//! A registry and a user service on ephemeral ports, sharing keys, on a
//! fresh database (SQLite, or a fresh PostgreSQL schema).

use std::sync::Arc;

use fip_kit::auth::Keys;
use fip_kit::config::Config;
use fip_kit::events::Bus;
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::Context;
use fip_kit::testing::{EverySessionLive, TestService, spawn, with_token};
use fip_proto::common::v1::GenomeBuild;
use fip_proto::registry::v1::registry_service_client::RegistryServiceClient;
use fip_proto::registry::v1::{ApiType, CreateServiceRequest, ImputationService};
use fip_proto::user::v1 as pb;
use fip_proto::user::v1::credential_service_client::CredentialServiceClient;
use fip_proto::user::v1::user_service_client::UserServiceClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub struct Mesh {
    pub config: Arc<Config>,
    pub keys: Keys,
    pub user: TestService,
    pub registry: TestService,
    pub user_channel: Channel,
    pub registry_channel: Channel,
    pub dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = fip_kit::testing::config(dir, "u");
    config.registry.seed_catalog = false;
    config.user.login_max_failures = 3;
    config.external.request_timeout = std::time::Duration::from_millis(800);
    config
}

impl Mesh {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        tweak(&mut config);
        let config = Arc::new(config);
        let keys = Keys::ephemeral();
        let shutdown = CancellationToken::new();
        let bus = Bus::local();
        // The registry is started first (the user service needs its
        // address), so it cannot ask the user service about sessions; it is
        // not what these tests are about.
        let mut registry_ctx = Context::new(
            ServiceName::Registry,
            config.clone(),
            keys.clone(),
            Peers::default(),
            bus.clone(),
            shutdown.clone(),
        )
        .unwrap();
        registry_ctx.auth = registry_ctx
            .auth
            .with_sessions(registry_ctx.sessions_from(Arc::new(EverySessionLive)));
        let registry = spawn(
            fip_registry::start(&registry_ctx).await.unwrap(),
            &registry_ctx,
        )
        .await
        .unwrap();
        let peers = Peers::new([(ServiceName::Registry, registry.url.clone())]).unwrap();
        let user_ctx = Context::new(
            ServiceName::User,
            config.clone(),
            keys.clone(),
            peers,
            bus,
            shutdown.clone(),
        )
        .unwrap();
        let user = spawn(fip_user::start(&user_ctx).await.unwrap(), &user_ctx)
            .await
            .unwrap();
        let user_channel = Channel::from_shared(user.url.clone())
            .unwrap()
            .connect_lazy();
        let registry_channel = Channel::from_shared(registry.url.clone())
            .unwrap()
            .connect_lazy();
        Self {
            config,
            keys,
            user,
            registry,
            user_channel,
            registry_channel,
            dir,
            shutdown,
        }
    }

    /// Stops both services; returns the data dir (removed when dropped).
    pub async fn stop(self) -> tempfile::TempDir {
        self.shutdown.cancel();
        self.user.stop().await.unwrap();
        self.registry.stop().await.unwrap();
        if let Some(url) = &self.config.database_url {
            fip_kit::db::drop_schemas_with_prefix(url, &self.config.database_schema_prefix)
                .await
                .unwrap();
        }
        self.dir
    }

    pub fn audit(&self) -> pb::audit_service_client::AuditServiceClient<Channel> {
        pb::audit_service_client::AuditServiceClient::new(self.user_channel.clone())
    }

    pub fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.user_channel.clone())
    }

    pub fn credentials(&self) -> CredentialServiceClient<Channel> {
        CredentialServiceClient::new(self.user_channel.clone())
    }

    /// Makes an admin account, as an operator would (`root`, then
    /// `root2`...), and signs it in; returns its access token.
    pub async fn admin_token(&self) -> String {
        let taken =
            fip_user::store::sql::SqlStore::new(fip_user::open_db(&self.config).await.unwrap());
        let mut name = "root".to_string();
        for n in 2.. {
            use fip_user::store::Store;
            if taken.user_by_login(&name).await.unwrap().is_none() {
                break;
            }
            name = format!("root{n}");
        }
        let password = format!("{name}-passphrase");
        fip_user::admin::create_user(
            &self.config,
            fip_user::accounts::Registration {
                username: name.clone(),
                email: format!("{name}@example.org"),
                password: password.clone(),
                first_name: "Root".into(),
                last_name: "Admin".into(),
                ..Default::default()
            },
            true,
        )
        .await
        .unwrap();
        self.users()
            .login(pb::LoginRequest {
                username: name,
                password,
            })
            .await
            .unwrap()
            .into_inner()
            .access_token
    }

    /// A service-identity token of `name`.
    pub fn service_token(&self, name: ServiceName) -> String {
        fip_kit::auth::ServiceIdentity::new(name, &self.keys, &self.config)
            .unwrap()
            .token()
    }

    /// Registers the service `slug` in the registry; returns its id.
    pub async fn add_service(&self, slug: &str, api: ApiType, base_url: &str) -> i64 {
        let mut registry = RegistryServiceClient::new(self.registry_channel.clone());
        let service = ImputationService {
            name: format!("Test {slug}"),
            slug: slug.into(),
            api_type: api as i32,
            base_url: base_url.into(),
            supported_builds: vec![GenomeBuild::Hg38 as i32],
            is_active: true,
            ..Default::default()
        };
        registry
            .create_service(with_token(
                CreateServiceRequest {
                    service: Some(service),
                },
                &self.admin_token().await,
            ))
            .await
            .expect("registry creates the service")
            .into_inner()
            .service
            .unwrap()
            .id
    }

    /// Registers and logs in `username`; returns (user id, token).
    pub async fn sign_up(&self, username: &str) -> (i64, String) {
        let mut users = self.users();
        let password = format!("{username}-passphrase");
        let user = users
            .register(pb::RegisterRequest {
                username: username.into(),
                email: format!("{username}@example.org"),
                password: password.clone(),
                first_name: "Test".into(),
                last_name: username.into(),
                institution: String::new(),
                department: String::new(),
            })
            .await
            .expect("registers")
            .into_inner()
            .user
            .unwrap();
        let login = users
            .login(pb::LoginRequest {
                username: username.into(),
                password,
            })
            .await
            .expect("logs in")
            .into_inner();
        (user.id, login.access_token)
    }

    /// Signs `username` (made by `sign_up`) in again: a new session's
    /// access token.
    pub async fn login(&self, username: &str) -> String {
        self.login_full(username).await.access_token
    }

    /// Signs `username` in; the whole answer (refresh token included).
    pub async fn login_full(&self, username: &str) -> pb::LoginResponse {
        self.users()
            .login(pb::LoginRequest {
                username: username.into(),
                password: format!("{username}-passphrase"),
            })
            .await
            .expect("logs in")
            .into_inner()
    }
}
