//! Configuration: documented defaults, an optional TOML file, then `FIP_*`
//! environment variables (nested keys joined by `__`, e.g.
//! `FIP_AUTH__TOKEN_TTL=12h`). Later sources override earlier ones.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::mesh::ServiceName;

/// Everything a process of the platform can be told.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded databases, the file store and generated keys live.
    pub data_dir: PathBuf,
    /// The gateway's public address (gRPC, gRPC-web and REST on one port).
    pub listen: SocketAddr,
    /// PostgreSQL URL shared by the services (each keeps its tables in a
    /// schema of its own). Unset: one SQLite file per service in `data_dir`.
    pub database_url: Option<String>,
    /// Prefix of the per-service PostgreSQL schemas (`fip_user`, ...).
    pub database_schema_prefix: String,
    /// Redis URL for the job queue, events and shared rate limits. Unset: in-process.
    pub redis_url: Option<String>,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// A `tracing` filter, e.g. `info,fip_jobs=debug`.
    pub log_filter: String,
    /// On SIGTERM, how long calls in flight get to finish (watch streams
    /// end at once, cleanly) before the process closes what is left; keep
    /// it below the orchestrator's grace period (Kubernetes: 30s).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    pub auth: AuthConfig,
    pub user: UserConfig,
    pub registry: RegistryConfig,
    pub files: FilesConfig,
    pub notify: NotifyConfig,
    /// Calls to external imputation servers.
    pub external: ExternalConfig,
    pub jobs: JobsConfig,
    /// The public port: CORS, rate limits, body limits and the web UI.
    pub gateway: GatewayConfig,
    /// Addresses of the internal services, keyed by service name.
    pub services: BTreeMap<ServiceName, ServiceEndpoint>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Token issuing and verification.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `iss` of user tokens.
    pub issuer: String,
    /// `aud` of user tokens.
    pub audience: String,
    /// Lifetime of a user access token. Short: a client renews it with the
    /// session's refresh token.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Lifetime of a session (its refresh tokens) from sign-in; sign in
    /// again after it.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// How long a service trusts that a session it checked is still live
    /// when it hears no event saying otherwise (a bound on how late a
    /// revocation takes effect if an event is lost).
    #[serde(with = "humantime_serde")]
    pub session_check_ttl: Duration,
    /// Clock skew tolerated when checking a token's `exp` (and `nbf`).
    #[serde(with = "humantime_serde")]
    pub clock_leeway: Duration,
    /// Lifetime of an internal service-identity token.
    #[serde(with = "humantime_serde")]
    pub service_token_ttl: Duration,
    /// Ed25519 private key (PKCS#8 PEM) that signs user tokens; only the user
    /// service needs it. Default: `<data_dir>/keys/user-token.pem`.
    pub signing_key_file: Option<PathBuf>,
    /// Ed25519 public key (SPKI PEM) that verifies user tokens. Default: derived
    /// from the signing key file when readable, else `<data_dir>/keys/user-token.pub.pem`.
    pub verifying_key_file: Option<PathBuf>,
    /// Ed25519 private key (PKCS#8 PEM) of the internal service identity,
    /// shared by the services of one deployment and never by users.
    /// Default: `<data_dir>/keys/service-identity.pem`.
    pub service_key_file: Option<PathBuf>,
    /// Create missing key files on start (`--dev` turns it on). Off by
    /// default, so that a production process missing its keys refuses to
    /// start instead of signing with a new identity no replica accepts.
    pub generate_missing_keys: bool,
}

/// The user service: accounts, login protection, the credential vault.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    /// Whether anyone may register (`Register`); admins can always create users.
    pub allow_registration: bool,
    /// Failed logins for one account from one client address before that
    /// address is refused for that account (the account's owner, elsewhere,
    /// is not).
    pub login_max_failures: u32,
    /// Failed logins from one client address, whatever the accounts, before
    /// the address is refused (password spraying).
    pub login_max_failures_per_address: u32,
    /// How long refusals last once the limit is reached; each further failure
    /// doubles it, up to 16 times this value.
    #[serde(with = "humantime_serde")]
    pub login_lockout: Duration,
    /// The window in which failures are counted.
    #[serde(with = "humantime_serde")]
    pub login_window: Duration,
    /// Key ring for service credentials at rest: `id:base64-32-bytes` entries
    /// separated by commas, the first one active (e.g. from a secret store).
    /// Unset: the key file below.
    pub credential_keys: Option<String>,
    /// Key ring file, one `id base64` line per key, the last line active.
    /// Default: `<data_dir>/keys/credential-keys`.
    pub credential_key_file: Option<PathBuf>,
    /// First start only: create this admin when no admin exists (containers).
    pub bootstrap_admin_username: Option<String>,
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<String>,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            allow_registration: true,
            login_max_failures: 5,
            login_max_failures_per_address: 20,
            login_lockout: Duration::from_secs(60),
            login_window: Duration::from_secs(15 * 60),
            credential_keys: None,
            credential_key_file: None,
            bootstrap_admin_username: None,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
        }
    }
}

/// The registry service: catalogue seeding and health checks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Seed the public catalogue (H3Africa, Michigan, TOPMed, eLwazi ILIFU)
    /// into an empty registry on first start.
    pub seed_catalog: bool,
    /// Time between scheduled health checks of each external service
    /// (0 turns scheduled checks off; on-demand checks still work).
    #[serde(with = "humantime_serde")]
    pub health_check_interval: Duration,
    /// A service failing its health checks for this long is marked unavailable,
    /// and available again at its first success.
    #[serde(with = "humantime_serde")]
    pub unavailable_after: Duration,
    /// Health-check records kept per service.
    pub health_history: u32,
    /// A successful health check slower than this counts as degraded.
    #[serde(with = "humantime_serde")]
    pub degraded_after: Duration,
    /// Health checks that may run at the same time.
    pub health_check_concurrency: u32,
    /// API tokens the registry reads reference panels with
    /// (`SyncReferencePanels`), by service slug, for servers that list
    /// panels only to signed-in users (e.g. from a secret store:
    /// `FIP_REGISTRY__DISCOVERY_TOKENS__H3AFRICA=...`).
    pub discovery_tokens: BTreeMap<String, String>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            seed_catalog: true,
            health_check_interval: Duration::from_secs(300),
            unavailable_after: Duration::from_secs(900),
            health_history: 500,
            degraded_after: Duration::from_secs(5),
            health_check_concurrency: 4,
            discovery_tokens: BTreeMap::new(),
        }
    }
}

/// The notify service: the web inbox and its live stream, and email.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Inbox changes held for each watched inbox. A watcher that falls
    /// further behind (a slow client) skips them and gets a fresh snapshot
    /// instead; other watchers are never held up.
    pub watch_buffer: usize,
    /// The mail server: `smtp://host:25` (plain, for a local relay),
    /// `smtp://host:587?tls=required` (STARTTLS), `smtps://host:465`
    /// (implicit TLS); `user:password@` before the host to log in. Unset:
    /// mails are written to `maildir` instead.
    pub smtp_url: Option<String>,
    /// The sender of the mails, e.g. `Imputation Hub <hub@example.org>`.
    pub from: String,
    /// The hub's public URL, for the links in mails (`https://hub.example.org`).
    /// Unset: `files.public_base_url`, else `http://<listen>`.
    pub public_url: Option<String>,
    /// Without `smtp_url`: the maildir mails are written to (`new/` holds
    /// one file per mail). Default: `<data_dir>/mail`.
    pub maildir: Option<PathBuf>,
    /// Longest wait of the sender between looks at the outbox (a new mail
    /// wakes it at once).
    #[serde(with = "humantime_serde")]
    pub send_interval: Duration,
    /// Wait before the second attempt at a mail the server did not take;
    /// it doubles (with jitter) after each attempt.
    #[serde(with = "humantime_serde")]
    pub retry_initial: Duration,
    /// Longest wait between two attempts.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// Attempts after which a mail is recorded as failed.
    pub max_attempts: u32,
    /// How long a sender holds a mail it is sending; another replica takes
    /// it over only after this (longer than `smtp_timeout`).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Timeout of one SMTP conversation.
    #[serde(with = "humantime_serde")]
    pub smtp_timeout: Duration,
    /// Mails sent alone to one user per `rate_window`; more are held and
    /// sent as one digest when the window has passed (0: no limit).
    pub rate_limit: u32,
    #[serde(with = "humantime_serde")]
    pub rate_window: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            watch_buffer: 64,
            smtp_url: None,
            from: "Federated Imputation Hub <noreply@localhost>".into(),
            public_url: None,
            maildir: None,
            send_interval: Duration::from_secs(5),
            retry_initial: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            max_attempts: 12,
            lease: Duration::from_secs(300),
            smtp_timeout: Duration::from_secs(60),
            rate_limit: 10,
            rate_window: Duration::from_secs(3600),
        }
    }
}

/// The jobs service and its worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Run the worker in this process (turn off for API-only replicas).
    pub worker: bool,
    /// Time between status polls of a job on an external server.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Longest wait between retries after transient failures (5xx, 503
    /// maintenance, timeouts); retries back off exponentially up to this.
    #[serde(with = "humantime_serde")]
    pub max_retry_interval: Duration,
    /// Transient failures in a row after which a job fails ("retry later").
    pub max_transient_failures: u32,
    /// External calls in flight at once, for all jobs of this worker.
    pub max_concurrent_calls: usize,
    /// Where inputs are split and results unpacked. Default: `<data_dir>/work`.
    pub work_dir: Option<PathBuf>,
    /// Key ring for per-job result passwords (`id:base64,...`, first
    /// active). Unset: the key file below.
    pub secret_keys: Option<String>,
    /// Default: `<data_dir>/keys/job-secrets`.
    pub secret_key_file: Option<PathBuf>,
    /// With Redis: the stream jobs are queued on.
    pub queue_stream: String,
    /// With Redis: this worker's consumer name, stable across its restarts
    /// so that it takes back its own unfinished entries. Default: the host name.
    pub worker_name: Option<String>,
    /// With Redis: entries another worker left unacknowledged this long are
    /// taken over (that worker is presumed dead).
    #[serde(with = "humantime_serde")]
    pub claim_after: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            worker: true,
            poll_interval: Duration::from_secs(30),
            max_retry_interval: Duration::from_secs(300),
            max_transient_failures: 20,
            max_concurrent_calls: 32,
            work_dir: None,
            secret_keys: None,
            secret_key_file: None,
            queue_stream: "fip:jobs:queue".into(),
            worker_name: None,
            claim_after: Duration::from_secs(120),
        }
    }
}

/// HTTP calls to external imputation servers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExternalConfig {
    /// Deadline of one request (connect included).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Deadline to establish a connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// `User-Agent` sent to external servers.
    pub user_agent: String,
    /// Directories a WES node shares with the hub (a common mount): run
    /// outputs given as `file://` paths are read only under these. Empty:
    /// `file://` outputs are refused.
    pub wes_shared_dirs: Vec<PathBuf>,
}

impl Default for ExternalConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: format!("fip/{}", env!("CARGO_PKG_VERSION")),
            wes_shared_dirs: Vec::new(),
        }
    }
}

/// The files service: object storage, upload limits and signed links.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Where file contents live: unset for `<data_dir>/files`, `file:///path`
    /// for another local directory, or `s3://bucket/prefix` for S3 or an
    /// S3-compatible store (credentials, region and endpoint from the usual
    /// `AWS_*` variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`).
    pub store_url: Option<String>,
    /// HMAC-SHA256 key of signed download links, base64 (at least 32 bytes),
    /// shared by every replica of the files service. Unset: the key file
    /// `<data_dir>/keys/file-links.key`, created when
    /// `auth.generate_missing_keys` is set.
    pub link_key: Option<String>,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: u64,
    /// Bytes each user may store in total; 0 for no limit.
    pub quota_bytes: u64,
    /// The hub's public base URL (`https://hub.example.org`), for absolute
    /// download links handed to external servers. Unset: such links cannot
    /// be made.
    pub public_base_url: Option<String>,
    /// Time between sweeps that delete the content of expired files
    /// (0 turns the sweep off; expired files are refused all the same).
    #[serde(with = "humantime_serde")]
    pub retention_sweep_interval: Duration,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            store_url: None,
            link_key: None,
            max_upload_bytes: 10 * 1024 * 1024 * 1024,
            quota_bytes: 0,
            public_base_url: None,
            retention_sweep_interval: Duration::from_secs(600),
        }
    }
}

/// The gateway (the one public port).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Directory of the web UI's built assets (`index.html`, scripts, styles),
    /// served at `/` when set and present; paths outside `/api` that name no
    /// file get `index.html` (client-side routing).
    pub web_dir: Option<PathBuf>,
    /// Largest REST/JSON request body in bytes (multipart uploads stream
    /// and are bounded by `files.max_upload_bytes` instead).
    pub max_body_bytes: u64,
    /// Origins allowed to call the API from a browser (gRPC-web and REST),
    /// e.g. `https://hub.example.org`; `*` allows any. Empty: same origin only.
    pub cors_allowed_origins: Vec<String>,
    /// How long browsers may cache a CORS preflight answer.
    #[serde(with = "humantime_serde")]
    pub cors_max_age: Duration,
    /// Requests per client address (every request, signed in or not).
    pub rate_limit_per_address: RateQuota,
    /// Requests per signed-in user, over all their addresses.
    pub rate_limit_per_user: RateQuota,
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
/// A `burst` of 0 turns the limit off.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RateQuota {
    /// Bucket size: requests allowed in a burst.
    pub burst: u32,
    /// Requests added back to the bucket each second.
    pub per_second: f64,
}

impl Default for RateQuota {
    fn default() -> Self {
        Self {
            burst: 200,
            per_second: 50.0,
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            web_dir: None,
            max_body_bytes: 4 * 1024 * 1024,
            cors_allowed_origins: Vec::new(),
            cors_max_age: Duration::from_secs(3600),
            rate_limit_per_address: RateQuota {
                burst: 400,
                per_second: 100.0,
            },
            rate_limit_per_user: RateQuota::default(),
        }
    }
}

/// Where one internal service listens and where the others reach it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceEndpoint {
    /// Bind address when this process runs the service (port 0: any free port).
    pub listen: SocketAddr,
    /// URL other processes use to reach it (`http://user:50051`). Unset when the
    /// service runs in this process: its bound address is used.
    pub url: Option<String>,
}

impl Default for ServiceEndpoint {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            url: None,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "fip".into(),
            audience: "fip".into(),
            token_ttl: Duration::from_secs(15 * 60),
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            session_check_ttl: Duration::from_secs(10),
            clock_leeway: Duration::from_secs(5),
            service_token_ttl: Duration::from_secs(300),
            signing_key_file: None,
            verifying_key_file: None,
            service_key_file: None,
            generate_missing_keys: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            database_schema_prefix: "fip_".into(),
            redis_url: None,
            log_format: LogFormat::Text,
            log_filter: "info".into(),
            shutdown_grace: Duration::from_secs(20),
            auth: AuthConfig::default(),
            user: UserConfig::default(),
            registry: RegistryConfig::default(),
            files: FilesConfig::default(),
            notify: NotifyConfig::default(),
            external: ExternalConfig::default(),
            jobs: JobsConfig::default(),
            gateway: GatewayConfig::default(),
            services: BTreeMap::new(),
        }
    }
}

/// The per-user data directory (`~/.local/share/fip` on Linux).
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("org", "fip", "fip")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".fip"))
}

/// A configuration that could not be read, with the key and source at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} not found")]
    FileMissing { path: PathBuf },
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration: `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl Config {
    /// Reads defaults, then `file` (which must exist when given), then the
    /// process environment.
    ///
    /// Only `FIP_*` variables that name a configuration key are read, so that
    /// other variables of the family (`FIP_CONFIG`, `FIP_TEST_*`) do not count
    /// as unknown keys.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let known: Vec<String> = match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let env = Env::prefixed("FIP_").split("__").filter(move |key| {
            let key = key.as_str().replace("__", ".");
            let top = key.split('.').next().unwrap_or_default();
            known.iter().any(|k| k.eq_ignore_ascii_case(top))
        });
        Self::load_from(file, env)
    }

    /// Like [`Config::load`] with an explicit environment provider (tests).
    pub fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::FileMissing {
                    path: path.to_path_buf(),
                });
            }
            figment = figment.merge(Toml::file(path));
        }
        // Keys are lowercased so `FIP_AUTH__TOKEN_TTL` maps onto `auth.token_ttl`.
        figment = figment.merge(env.lowercase(true));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Parse(describe_figment_error(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document on its own (no environment), for tests and tools.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError::Parse(describe_figment_error(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        };
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                "must be a postgres:// URL (leave it unset for embedded SQLite)",
            ));
        }
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(invalid("redis_url", "must be a redis:// or rediss:// URL"));
        }
        if self.database_schema_prefix.is_empty()
            || !self
                .database_schema_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(invalid(
                "database_schema_prefix",
                "must be non-empty lowercase letters, digits and underscores",
            ));
        }
        if self.auth.token_ttl < Duration::from_secs(60) {
            return Err(invalid("auth.token_ttl", "must be at least 1 minute"));
        }
        if self.auth.service_token_ttl < Duration::from_secs(10)
            || self.auth.service_token_ttl > Duration::from_secs(3600)
        {
            return Err(invalid(
                "auth.service_token_ttl",
                "must be between 10 seconds and 1 hour",
            ));
        }
        if self.auth.issuer.is_empty() || self.auth.audience.is_empty() {
            return Err(invalid("auth", "issuer and audience must not be empty"));
        }
        if self.user.login_max_failures == 0 {
            return Err(invalid("user.login_max_failures", "must be at least 1"));
        }
        if self.jobs.poll_interval.is_zero() || self.jobs.max_concurrent_calls == 0 {
            return Err(invalid(
                "jobs",
                "poll_interval and max_concurrent_calls must be positive",
            ));
        }
        if self.external.request_timeout.is_zero() || self.external.connect_timeout.is_zero() {
            return Err(invalid("external", "timeouts must be positive"));
        }
        if !self.registry.unavailable_after.is_zero()
            && self.registry.unavailable_after < self.registry.health_check_interval
        {
            return Err(invalid(
                "registry.unavailable_after",
                "must be at least registry.health_check_interval",
            ));
        }
        if self.registry.health_history == 0 {
            return Err(invalid("registry.health_history", "must be at least 1"));
        }
        if self.registry.health_check_concurrency == 0 {
            return Err(invalid(
                "registry.health_check_concurrency",
                "must be at least 1",
            ));
        }
        if self.registry.degraded_after.is_zero() {
            return Err(invalid("registry.degraded_after", "must be positive"));
        }
        if !(1..=65_536).contains(&self.notify.watch_buffer) {
            return Err(invalid(
                "notify.watch_buffer",
                "must be between 1 and 65536",
            ));
        }
        if self.notify.max_attempts == 0 {
            return Err(invalid("notify.max_attempts", "must be positive"));
        }
        if self.notify.lease <= self.notify.smtp_timeout {
            return Err(invalid(
                "notify.lease",
                "must be longer than notify.smtp_timeout",
            ));
        }
        if self.notify.send_interval.is_zero() || self.notify.retry_initial.is_zero() {
            return Err(invalid(
                "notify.send_interval",
                "notify.send_interval and notify.retry_initial must be positive",
            ));
        }
        if let Some(url) = &self.files.store_url
            && !(url.starts_with("file:///") || url.starts_with("s3://"))
        {
            return Err(invalid(
                "files.store_url",
                "must be a file:/// or s3:// URL (leave it unset for <data_dir>/files)",
            ));
        }
        if self.files.max_upload_bytes == 0 || self.files.max_upload_bytes > i64::MAX as u64 {
            return Err(invalid("files.max_upload_bytes", "must be positive"));
        }
        if self.files.quota_bytes > i64::MAX as u64 {
            return Err(invalid("files.quota_bytes", "is too large"));
        }
        if let Some(url) = &self.files.public_base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "files.public_base_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.gateway.max_body_bytes == 0 {
            return Err(invalid("gateway.max_body_bytes", "must be positive"));
        }
        if let Some(origin) =
            self.gateway.cors_allowed_origins.iter().find(|o| {
                o.as_str() != "*" && !(o.starts_with("http://") || o.starts_with("https://"))
            })
        {
            return Err(invalid(
                "gateway.cors_allowed_origins",
                &format!("`{origin}` is not `*` or an http(s) origin"),
            ));
        }
        for (key, quota) in [
            (
                "gateway.rate_limit_per_address",
                self.gateway.rate_limit_per_address,
            ),
            (
                "gateway.rate_limit_per_user",
                self.gateway.rate_limit_per_user,
            ),
        ] {
            if quota.burst > 0 && !(quota.per_second.is_finite() && quota.per_second > 0.0) {
                return Err(invalid(
                    key,
                    "per_second must be positive when burst is set",
                ));
            }
        }
        for (name, endpoint) in &self.services {
            if let Some(url) = &endpoint.url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(invalid(
                    &format!("services.{name}.url"),
                    "must be an http:// or https:// URL",
                ));
            }
        }
        Ok(())
    }

    /// The endpoint settings of one service (defaults when not configured).
    pub fn endpoint(&self, name: ServiceName) -> ServiceEndpoint {
        self.services.get(&name).cloned().unwrap_or_default()
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    /// The namespace of this deployment's Redis keys and channels:
    /// `database_schema_prefix` with its trailing `_` turned into `:`
    /// (`fip:` by default), so the processes of one deployment share them
    /// and deployments (or test platforms) sharing one Redis do not.
    pub fn redis_key_prefix(&self) -> String {
        format!("{}:", self.database_schema_prefix.trim_end_matches('_'))
    }
}

fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("`{}`: ", e.path.join("."))
            };
            let source = match &e.metadata {
                Some(m) if m.name.contains("environment") && !e.path.is_empty() => format!(
                    " (from environment variable FIP_{})",
                    e.path.join("__").to_uppercase()
                ),
                Some(m) => match &m.source {
                    Some(source) => format!(" (from {source})"),
                    None => format!(" (from {})", m.name),
                },
                None => String::new(),
            };
            format!("{key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
// figment's Jail closures return its (large) error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load(jail: &Jail, file: Option<&str>) -> Result<Config, ConfigError> {
        let path = file.map(|text| {
            jail.create_file("fip.toml", text).unwrap();
            jail.directory().join("fip.toml")
        });
        Config::load(path.as_deref())
    }

    #[test]
    fn defaults_are_documented_values() {
        Jail::expect_with(|jail| {
            let config = load(jail, None).unwrap();
            assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
            assert_eq!(config.auth.token_ttl, Duration::from_secs(900));
            assert_eq!(config.auth.session_ttl, Duration::from_secs(14 * 86_400));
            assert!(!config.auth.generate_missing_keys);
            assert_eq!(config.database_url, None);
            assert_eq!(config.log_format, LogFormat::Text);
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_override() {
        Jail::expect_with(|jail| {
            jail.set_env("FIP_AUTH__TOKEN_TTL", "12h");
            jail.set_env("FIP_REDIS_URL", "redis://127.0.0.1:6379");
            let config = load(
                jail,
                Some(
                    r#"
                    listen = "0.0.0.0:9000"
                    database_url = "postgres://postgres@127.0.0.1/fip"
                    [auth]
                    token_ttl = "2h"
                    [services.jobs]
                    url = "http://jobs:50051"
                    "#,
                ),
            )
            .unwrap();
            assert_eq!(config.listen, SocketAddr::from(([0, 0, 0, 0], 9000)));
            assert_eq!(config.auth.token_ttl, Duration::from_secs(12 * 3600));
            assert_eq!(config.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
            assert_eq!(
                config.endpoint(ServiceName::Jobs).url.as_deref(),
                Some("http://jobs:50051")
            );
            assert_eq!(
                config.endpoint(ServiceName::User),
                ServiceEndpoint::default()
            );
            Ok(())
        });
    }

    #[test]
    fn bad_address_names_key_and_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("FIP_LISTEN", "localhost-ish");
            let message = load(jail, None).unwrap_err().to_string();
            assert!(message.contains("`listen`"), "{message}");
            assert!(message.contains("FIP_LISTEN"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn other_fip_variables_are_not_configuration() {
        Jail::expect_with(|jail| {
            jail.set_env("FIP_CONFIG", "/somewhere/fip.toml");
            jail.set_env("FIP_TEST_DATABASE_URL", "postgres://x");
            assert_eq!(load(jail, None).unwrap(), Config::default());
            Ok(())
        });
    }

    #[test]
    fn bad_duration_names_key() {
        Jail::expect_with(|jail| {
            let message = load(jail, Some("[auth]\ntoken_ttl = \"soon\"\n"))
                .unwrap_err()
                .to_string();
            assert!(message.contains("auth.token_ttl"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        Jail::expect_with(|jail| {
            let message = load(jail, Some("listne = \"0.0.0.0:1\"\n"))
                .unwrap_err()
                .to_string();
            assert!(message.contains("listne"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn semantic_checks() {
        for (text, key) in [
            ("database_url = \"mysql://x\"", "database_url"),
            ("redis_url = \"http://x\"", "redis_url"),
            (
                "database_schema_prefix = \"Bad-Prefix\"",
                "database_schema_prefix",
            ),
            ("[auth]\ntoken_ttl = \"10s\"", "auth.token_ttl"),
            ("[services.user]\nurl = \"user:50051\"", "services.user.url"),
            ("[registry]\nhealth_history = 0", "registry.health_history"),
            ("[files]\nstore_url = \"/data\"", "files.store_url"),
            ("[files]\nmax_upload_bytes = 0", "files.max_upload_bytes"),
            ("[notify]\nwatch_buffer = 0", "notify.watch_buffer"),
            (
                "[registry]\nhealth_check_concurrency = 0",
                "registry.health_check_concurrency",
            ),
        ] {
            match Config::from_toml(text) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: expected an invalid-key error, got {other:?}"),
            }
        }
        let unknown_service = Config::from_toml("[services.billing]\nurl = \"http://x\"")
            .unwrap_err()
            .to_string();
        assert!(unknown_service.contains("billing"), "{unknown_service}");
    }

    #[test]
    fn missing_file_is_an_error() {
        assert!(matches!(
            Config::load(Some(Path::new("/nonexistent/fip.toml"))),
            Err(ConfigError::FileMissing { .. })
        ));
    }
}
