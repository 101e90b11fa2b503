//! Test harness: services started in-process on ephemeral loopback ports.
//!
//! The listener is bound before the server task starts, so a client may
//! connect as soon as [`spawn`] returns: no sleeps, no retries.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{Keys, Role, TokenIssuer, UserPrincipal};
use crate::config::Config;
use crate::error::ApiError;
use crate::events::Bus;
use crate::mesh::{Peers, ServiceName};
use crate::serve::{self, Context, Hosted};
use crate::sessions::SessionSource;

/// A running in-process service.
pub struct TestService {
    pub addr: SocketAddr,
    pub url: String,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl TestService {
    /// Stops the service and waits until it has closed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.handle.await?
    }
}

/// Serves `hosted` on `127.0.0.1:0`.
pub async fn spawn(hosted: Hosted, ctx: &Context) -> anyhow::Result<TestService> {
    let listener = serve::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let shutdown = ctx.shutdown.child_token();
    let auth = ctx.authenticator_for(&hosted);
    let handle = tokio::spawn(serve::serve(listener, hosted, auth, shutdown.clone()));
    Ok(TestService {
        addr,
        url: format!("http://{addr}"),
        shutdown,
        handle,
    })
}

/// A context with fresh in-memory keys and the given peers, for `name`.
///
/// Sessions are the user service's, which a test of another service alone
/// does not run: here every session of a validly signed token counts as
/// live (the platform's end-to-end tests check revocation for real).
pub fn context(name: ServiceName, config: Config, peers: Peers) -> Context {
    let mut ctx = Context::new(
        name,
        Arc::new(config),
        Keys::ephemeral(),
        peers,
        Bus::local(),
        CancellationToken::new(),
    )
    .expect("ephemeral keys always load");
    ctx.auth = ctx
        .auth
        .with_sessions(ctx.sessions_from(Arc::new(EverySessionLive)));
    ctx
}

/// A session source for tests of one service: every session is live.
pub struct EverySessionLive;

#[async_trait::async_trait]
impl SessionSource for EverySessionLive {
    async fn is_live(&self, _user_id: i64, _session_id: &str) -> Result<bool, ApiError> {
        Ok(true)
    }
}

/// Signs a user token with the context's user key.
pub fn user_token(ctx: &Context, id: i64, username: &str, roles: &[Role]) -> String {
    let issuer = TokenIssuer::new(
        ctx.keys
            .user_signing
            .as_ref()
            .expect("test keys have a user key"),
        &ctx.config,
    )
    .expect("test keys load");
    issuer
        .issue(&UserPrincipal {
            id,
            username: username.into(),
            roles: roles.to_vec(),
            session_id: uuid::Uuid::now_v7().to_string(),
        })
        .expect("signing succeeds")
        .0
}

/// Adds a bearer token to a request.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("tokens are valid header values"),
    );
    request
}

/// A schema prefix no other test uses (`<tag>_<random>_`).
pub fn unique_schema_prefix(tag: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("{tag}_{}_", &id[id.len() - 12..])
}

/// A configuration for tests: data under `data_dir`, keys created as
/// needed, no scheduled health checks, on Redis with a queue of its own
/// when `FIP_TEST_REDIS_URL` is set, on PostgreSQL with a schema prefix of its own when
/// `FIP_TEST_DATABASE_URL` is set (drop it with
/// [`crate::db::drop_schemas_with_prefix`] afterwards), else SQLite.
pub fn config(data_dir: &std::path::Path, tag: &str) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.auth.generate_missing_keys = true;
    // Tests never probe the real external servers on a schedule.
    config.registry.health_check_interval = std::time::Duration::ZERO;
    config.registry.unavailable_after = std::time::Duration::ZERO;
    if let Ok(url) = std::env::var("FIP_TEST_DATABASE_URL")
        && !url.is_empty()
    {
        config.database_url = Some(url);
        config.database_schema_prefix = unique_schema_prefix(tag);
    }
    if let Ok(url) = std::env::var("FIP_TEST_REDIS_URL")
        && !url.is_empty()
    {
        config.redis_url = Some(url);
        // A stream of its own, so tests running side by side do not share jobs.
        config.jobs.queue_stream = format!("fip:test:{}", unique_schema_prefix(tag));
    }
    config
}

/// Log lines written while it is alive, on this thread (a test on a
/// current-thread runtime), at `level` and above, without colours.
pub struct CapturedLogs {
    buffer: Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl CapturedLogs {
    pub fn start(level: tracing::Level) -> Self {
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = LogWriter(buffer.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        Self {
            buffer,
            _guard: tracing::subscriber::set_default(subscriber),
        }
    }

    /// What was logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().expect("log buffer poisoned")).into_owned()
    }
}

#[derive(Clone)]
struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .expect("log buffer poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
