//! Shared set-up: throwaway databases, the service started as the platform
//! starts it, tokens, and local HTTP emulators of external servers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use fip_kit::ApiError;
use fip_kit::auth::Role;
use fip_kit::config::{Config, ExternalConfig};
use fip_kit::db::{Db, Location, TestDb};
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::serve::Context;
use fip_kit::testing::{TestService, context, spawn, user_token, with_token};
use fip_proto::common::v1::ErrorReason;
use fip_proto::registry::v1 as pb;
use fip_proto::registry::v1::registry_service_client::RegistryServiceClient;
use fip_registry::clock::Clock;
use fip_registry::model::{
    ApiSettings, ApiType, GenomeBuild, InputFormat, MichiganSettings, PanelSpec, Phasing,
    ServiceSpec, WesSettings,
};
use fip_registry::store::SqlStore;
use fip_registry::{BackendsUpstream, MIGRATIONS, Registry, Settings};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// A fresh registry database: SQLite, or a PostgreSQL schema when
/// `FIP_TEST_DATABASE_URL` is set.
pub async fn test_db() -> TestDb {
    TestDb::new(ServiceName::Registry, &MIGRATIONS)
        .await
        .expect("test database opens")
}

pub fn michigan_spec(slug: &str, name: &str, base_url: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        slug: slug.into(),
        api_type: ApiType::Michigan,
        base_url: base_url.into(),
        description: "a test server".into(),
        location_country: "South Africa".into(),
        location_institution: "UCT".into(),
        supported_builds: vec![GenomeBuild::Hg19, GenomeBuild::Hg38],
        input_formats: vec![InputFormat::Vcf, InputFormat::VcfBgzf],
        supported_phasing: vec![Phasing::Eagle, Phasing::NoPhasing],
        max_file_size_bytes: 1 << 30,
        is_active: true,
        auth_instructions_url: String::new(),
        settings: ApiSettings::Michigan(MichiganSettings {
            r2_filter_values: vec![0.0, 0.3],
            ..MichiganSettings::default()
        }),
    }
}

pub fn wes_spec(slug: &str, base_url: &str) -> ServiceSpec {
    ServiceSpec {
        api_type: ApiType::Ga4ghWes,
        settings: ApiSettings::Wes(WesSettings::default()),
        supported_builds: vec![GenomeBuild::Hg38],
        ..michigan_spec(slug, &format!("WES {slug}"), base_url)
    }
}

pub fn panel_spec(slug: &str, name: &str, build: GenomeBuild) -> PanelSpec {
    PanelSpec {
        slug: slug.into(),
        name: name.into(),
        description: String::new(),
        build,
        populations: Vec::new(),
        default_population: String::new(),
        sample_count: 0,
        variant_count: 0,
        is_active: true,
        version: String::new(),
        wes_workflow: None,
    }
}

/// Domain settings for tests: scheduled checks every minute, unavailable
/// after two minutes of failure, a short history.
pub fn settings() -> Settings {
    Settings {
        check_interval: Duration::from_secs(60),
        unavailable_after: Duration::from_secs(120),
        health_history: 5,
        degraded_after: Duration::from_secs(5),
        check_concurrency: 2,
        on_demand_gap: Duration::from_secs(10),
        discovery_tokens: Default::default(),
    }
}

/// HTTP settings with a short request timeout, for the timeout tests.
pub fn external(request_timeout: Duration) -> ExternalConfig {
    ExternalConfig {
        request_timeout,
        connect_timeout: Duration::from_secs(2),
        ..ExternalConfig::default()
    }
}

/// A registry over a test database, the real HTTP clients and `clock`.
pub fn registry(
    db: &TestDb,
    clock: Arc<dyn Clock>,
    settings: Settings,
    request_timeout: Duration,
) -> Registry {
    Registry::new(
        Arc::new(SqlStore::new(db.db.clone())),
        Arc::new(BackendsUpstream::new(&external(request_timeout)).expect("http client builds")),
        clock,
        settings,
    )
}

/// An HTTP server on a free loopback port, stopped on drop.
pub struct Emulator {
    pub url: String,
    task: JoinHandle<()>,
}

impl Emulator {
    pub async fn start(router: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("emulator serves");
        });
        Self { url, task }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The registry service started by `fip_registry::start`, as the platform
/// starts it, on its own data directory (or PostgreSQL schema).
pub struct Api {
    pub ctx: Context,
    pub service: TestService,
    pub channel: Channel,
    pub config: Arc<Config>,
    dir: tempfile::TempDir,
}

/// Test configuration: no scheduled checks, short timeouts, PostgreSQL when
/// `FIP_TEST_DATABASE_URL` is set.
pub fn config(data_dir: &std::path::Path, seed: bool) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.registry.seed_catalog = seed;
    config.registry.health_check_interval = Duration::ZERO;
    config.registry.unavailable_after = Duration::ZERO;
    config.external = external(Duration::from_secs(5));
    if let Ok(url) = std::env::var("FIP_TEST_DATABASE_URL")
        && !url.is_empty()
    {
        config.database_url = Some(url);
        config.database_schema_prefix = format!("r{}_", unique());
    }
    config
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{:x}{:x}{}",
        nanos & 0xffff_ffff_ffff,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

impl Api {
    /// A registry without the seeded catalogue.
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// A registry whose configuration `tweak` adjusts.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = config(dir.path(), false);
        tweak(&mut config);
        Self::start(config, dir).await
    }

    pub async fn start(config: Config, dir: tempfile::TempDir) -> Self {
        let ctx = context(ServiceName::Registry, config, Peers::default());
        let hosted = fip_registry::start(&ctx).await.expect("registry starts");
        let service = spawn(hosted, &ctx).await.expect("registry serves");
        let channel = Channel::from_shared(service.url.clone())
            .unwrap()
            .connect()
            .await
            .expect("registry accepts connections");
        Self {
            config: ctx.config.clone(),
            ctx,
            service,
            channel,
            dir,
        }
    }

    /// Stops the service and starts it again on the same data.
    pub async fn restart(self) -> Self {
        self.ctx.shutdown.cancel();
        self.service.stop().await.expect("clean stop");
        let config = Config::clone(&self.config);
        Self::start(config, self.dir).await
    }

    pub fn client(&self) -> RegistryServiceClient<Channel> {
        RegistryServiceClient::new(self.channel.clone())
    }

    pub fn token(&self, role: Role) -> String {
        user_token(&self.ctx, 42, role.as_str(), &[role])
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin)
    }

    pub fn service_admin(&self) -> String {
        self.token(Role::ServiceAdmin)
    }

    pub fn viewer(&self) -> String {
        self.token(Role::Viewer)
    }

    pub fn researcher(&self) -> String {
        self.token(Role::Researcher)
    }

    /// The identity token of another platform service.
    pub fn platform_service(&self, name: ServiceName) -> String {
        self.ctx.for_service(name).unwrap().identity.token()
    }

    /// Stops the service; drops its PostgreSQL schema.
    pub async fn stop(self) {
        self.ctx.shutdown.cancel();
        self.service.stop().await.expect("clean stop");
        if self.config.database_url.is_some() {
            let location = Location::for_service(&self.config, ServiceName::Registry);
            Db::open(&location, &MIGRATIONS)
                .await
                .expect("database reopens")
                .drop_schema()
                .await
                .expect("schema dropped");
        }
    }

    /// Creates a service as an admin; returns it.
    pub async fn create_service(&self, service: pb::ImputationService) -> pb::ImputationService {
        self.client()
            .create_service(with_token(
                pb::CreateServiceRequest {
                    service: Some(service),
                },
                &self.admin(),
            ))
            .await
            .expect("service created")
            .into_inner()
            .service
            .unwrap()
    }
}

/// A valid Michigan-type service on the wire.
pub fn wire_service(slug: &str, base_url: &str) -> pb::ImputationService {
    use fip_proto::common::v1::GenomeBuild as B;
    pb::ImputationService {
        name: format!("Server {slug}"),
        slug: slug.into(),
        api_type: pb::ApiType::Michigan as i32,
        base_url: base_url.into(),
        supported_builds: vec![B::Hg19 as i32, B::Hg38 as i32],
        ..Default::default()
    }
}

/// The typed error of a failed call.
pub fn api_error(status: &tonic::Status) -> ApiError {
    ApiError::from_status(status).unwrap_or_else(|| panic!("status without ErrorInfo: {status:?}"))
}

/// Asserts the reason and returns the error.
pub fn expect_reason(status: tonic::Status, reason: ErrorReason) -> ApiError {
    let error = api_error(&status);
    assert_eq!(error.reason, reason, "{status:?}");
    error
}

/// The fields named by a VALIDATION_FAILED error.
pub fn violated_fields(status: tonic::Status) -> Vec<String> {
    let error = expect_reason(status, ErrorReason::ValidationFailed);
    assert_eq!(error.code, tonic::Code::InvalidArgument);
    error
        .violations
        .into_iter()
        .map(|(field, _)| field)
        .collect()
}
