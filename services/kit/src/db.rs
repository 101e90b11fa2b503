//! Databases: one SQLite file per service (embedded default) or one schema per
//! service in a shared PostgreSQL database, behind one `sqlx::AnyPool`, with
//! the service's migrations run at start.
//!
//! Replicas that start together migrate once: on PostgreSQL the schema's
//! creation and its migrations run under a session advisory lock
//! (`pg_advisory_lock`) keyed by the schema, so the first replica migrates
//! and the others wait, then find nothing left to do. SQLite's own locking
//! is not enough for that: each migration is a write transaction of its
//! own, but the look at what is applied comes before it, so two processes
//! opening one new file would both apply the same migration; they take an
//! exclusive `flock` on `<file>.migrate-lock` beside the database instead.
//!
//! Queries are written once for both backends: `$1`-style placeholders (both
//! drivers bind them by number), portable types (BIGINT, TEXT, BOOLEAN,
//! DOUBLE, BLOB/BYTEA), timestamps as UTC milliseconds since the epoch.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::config::Config;
use crate::mesh::ServiceName;

/// Which engine a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A service's database.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// PostgreSQL schema of the service (None on SQLite).
    pub schema: Option<String>,
}

/// The two migration sets of a service, one per backend.
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

/// Where a service's data lives, resolved from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub enum Location {
    Sqlite { url: String },
    Postgres { url: String, schema: String },
}

impl Location {
    pub fn for_service(config: &Config, service: ServiceName) -> Self {
        match &config.database_url {
            Some(url) => Location::Postgres {
                url: url.clone(),
                schema: format!("{}{}", config.database_schema_prefix, service),
            },
            None => Location::Sqlite {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    config.data_dir.join(format!("{service}.db")).display()
                ),
            },
        }
    }
}

impl Db {
    /// Opens the service's database (creating the file or schema when
    /// missing) and brings it to the newest migration.
    pub async fn open(location: &Location, migrations: &Migrations) -> anyhow::Result<Self> {
        install_default_drivers();
        let db = match location {
            Location::Sqlite { url } => {
                if let Some(path) = url
                    .strip_prefix("sqlite://")
                    .and_then(|p| p.split('?').next())
                    && let Some(dir) = std::path::Path::new(path).parent()
                {
                    std::fs::create_dir_all(dir)?;
                }
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open {url}: {e}"))?;
                Db {
                    pool,
                    backend: Backend::Sqlite,
                    schema: None,
                }
            }
            Location::Postgres { url, schema } => {
                validate_schema_name(schema)?;
                // A search path naming a schema that does not exist yet is
                // valid; the schema is created under the lock below.
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(&with_search_path(url, schema))
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {e}"))?;
                migrate_postgres(&pool, schema, migrations.postgres).await?;
                return Ok(Db {
                    pool,
                    backend: Backend::Postgres,
                    schema: Some(schema.clone()),
                });
            }
        };
        let _lock = match sqlite_path(location) {
            Some(path) => Some(FileLock::exclusive(format!("{path}.migrate-lock")).await?),
            None => None,
        };
        migrations
            .sqlite
            .run(&db.pool)
            .await
            .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
        Ok(db)
    }

    /// Checks that the database answers (health checks).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Drops the service's schema (PostgreSQL test cleanup); a no-op on SQLite.
    pub async fn drop_schema(self) -> anyhow::Result<()> {
        if let Some(schema) = &self.schema {
            self.pool
                .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
                .await?;
        }
        self.pool.close().await;
        Ok(())
    }
}

/// The file of a SQLite location (none for an in-memory database).
fn sqlite_path(location: &Location) -> Option<String> {
    let Location::Sqlite { url } = location else {
        return None;
    };
    let path = url.strip_prefix("sqlite://")?.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// An exclusive `flock` on a file, given back when dropped (closing the
/// file releases it; so does the end of the process).
struct FileLock(#[allow(dead_code)] std::fs::File);

impl FileLock {
    async fn exclusive(path: String) -> anyhow::Result<Self> {
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| anyhow::anyhow!("cannot open the migration lock {path}: {e}"))?;
            #[cfg(unix)]
            loop {
                use std::os::fd::AsRawFd;
                // SAFETY: flock on a descriptor this function owns; it
                // touches no memory.
                if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                    break;
                }
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    anyhow::bail!("cannot take the migration lock {path}: {error}");
                }
            }
            Ok(Self(file))
        })
        .await
        .map_err(|e| anyhow::anyhow!("the migration lock task failed: {e}"))?
    }
}

/// The advisory-lock key of `schema`'s migrations: FNV-1a of the schema's
/// name, the same in every process.
pub fn migration_lock_key(schema: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "fip.migrations.".bytes().chain(schema.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

/// Creates `schema` when missing and runs its migrations, holding the
/// schema's advisory lock on one connection throughout (sqlx's migrator
/// takes a lock of its own too, but only after the schema exists, and two
/// concurrent `CREATE SCHEMA IF NOT EXISTS` can collide). The lock is given
/// back on every path; a connection that cannot give it back is closed
/// (which ends its session and so the lock).
async fn migrate_postgres(pool: &AnyPool, schema: &str, migrator: &Migrator) -> anyhow::Result<()> {
    let key = migration_lock_key(schema);
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {e}"))?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await
        .map_err(|e| anyhow::anyhow!("cannot take the migration lock of {schema}: {e}"))?;
    let outcome = async {
        conn.execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str())
            .await
            .map_err(|e| anyhow::anyhow!("cannot create the schema {schema}: {e}"))?;
        // The migrations take connections of the pool; the lock stays with
        // this one until they are done.
        migrator
            .run(pool)
            .await
            .map_err(|e| anyhow::anyhow!("migrations of {schema} failed: {e}"))
    }
    .await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await;
    if let Err(e) = unlocked {
        tracing::warn!(schema, error = %e, "giving back the migration lock failed; closing its connection");
        let _ = conn.detach();
    }
    outcome
}

/// Drops every schema whose name starts with `prefix` (test cleanup on
/// PostgreSQL; the prefix must be a valid schema-name start).
pub async fn drop_schemas_with_prefix(url: &str, prefix: &str) -> anyhow::Result<()> {
    validate_schema_name(prefix)?;
    install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let rows = sqlx::query(
        "SELECT nspname::text AS nspname FROM pg_namespace WHERE starts_with(nspname::text, $1)",
    )
    .bind(prefix)
    .fetch_all(&pool)
    .await?;
    for row in rows {
        use sqlx::Row;
        let name: String = row.try_get("nspname")?;
        validate_schema_name(&name)?;
        pool.execute(format!("DROP SCHEMA IF EXISTS {name} CASCADE").as_str())
            .await?;
    }
    pool.close().await;
    Ok(())
}

fn validate_schema_name(schema: &str) -> anyhow::Result<()> {
    if !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        Ok(())
    } else {
        anyhow::bail!("invalid schema name {schema:?}")
    }
}

/// Appends `options=-c search_path=<schema>` to a PostgreSQL URL.
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// Builds a query with `$N` placeholders for both backends.
///
/// `sqlx::QueryBuilder<Any>` writes `?` placeholders, which PostgreSQL
/// refuses; this writes `$1, $2, ...`, which both drivers bind by number.
///
/// ```ignore
/// let mut q = SqlBuilder::new("SELECT * FROM jobs WHERE user_id = ");
/// q.bind(user_id);
/// if let Some(status) = status { q.push(" AND status = ").bind(status); }
/// let (sql, args) = q.finish();
/// let rows = sqlx::query_with(&sql, args).fetch_all(&pool).await?;
/// ```
pub struct SqlBuilder {
    sql: String,
    args: sqlx::any::AnyArguments<'static>,
    count: usize,
}

impl SqlBuilder {
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            args: Default::default(),
            count: 0,
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        use sqlx::Arguments;
        self.count += 1;
        self.sql.push_str(&format!("${}", self.count));
        self.args
            .add(value)
            .expect("encoding a bound value into AnyArguments does not fail");
        self
    }

    /// Appends `a, b, c` placeholders for a list.
    pub fn bind_list<T>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.bind(value);
        }
        self
    }

    /// The SQL and its arguments, for `sqlx::query_with`.
    pub fn finish(self) -> (String, sqlx::any::AnyArguments<'static>) {
        (self.sql, self.args)
    }
}

/// Reads a boolean column on both backends: BOOLEAN on PostgreSQL, 0/1
/// INTEGER on SQLite (the `Any` driver does not decode SQLite's BOOLEAN).
/// Binding a `bool` works on both as is.
pub fn get_bool(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    match row.try_get::<bool, _>(column) {
        Ok(value) => Ok(value),
        Err(_) => row.try_get::<i64, _>(column).map(|v| v != 0),
    }
}

/// Whether a database error is a unique-constraint violation.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            matches!(e.kind(), sqlx::error::ErrorKind::UniqueViolation)
        }
        _ => false,
    }
}

/// Whether a database error is a foreign-key violation.
pub fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            matches!(e.kind(), sqlx::error::ErrorKind::ForeignKeyViolation)
        }
        _ => false,
    }
}

/// Now, in UTC milliseconds since the epoch (the stored form of timestamps).
pub fn now_millis() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// A stored timestamp as a protobuf `Timestamp`.
pub fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// A stored timestamp as RFC 3339 text (UTC).
pub fn rfc3339(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A protobuf `Timestamp` in stored form.
pub fn millis(ts: &prost_types::Timestamp) -> i64 {
    ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000
}

/// Test support: a throwaway database for a service on either backend.
///
/// On PostgreSQL (when `FIP_TEST_DATABASE_URL` is set) each call gets a schema
/// of its own, so tests run side by side; on SQLite a file in a temporary
/// directory.
pub struct TestDb {
    pub db: Db,
    _dir: Option<tempfile_guard::Guard>,
}

impl TestDb {
    pub async fn new(service: ServiceName, migrations: &Migrations) -> anyhow::Result<Self> {
        match std::env::var("FIP_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let schema = format!(
                    "t_{}_{}",
                    service,
                    uuid::Uuid::now_v7()
                        .simple()
                        .to_string()
                        .get(20..)
                        .unwrap_or("x")
                );
                let db = Db::open(&Location::Postgres { url, schema }, migrations).await?;
                Ok(Self { db, _dir: None })
            }
            _ => {
                let dir = tempfile_guard::Guard::new()?;
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join(format!("{service}.db")).display()
                );
                let db = Db::open(&Location::Sqlite { url }, migrations).await?;
                Ok(Self {
                    db,
                    _dir: Some(dir),
                })
            }
        }
    }

    /// Removes the PostgreSQL schema; the SQLite directory goes on drop.
    pub async fn cleanup(self) -> anyhow::Result<()> {
        self.db.drop_schema().await
    }
}

/// A temporary directory removed on drop, without a dev-dependency.
mod tempfile_guard {
    use std::path::{Path, PathBuf};

    pub struct Guard(PathBuf);

    impl Guard {
        pub fn new() -> std::io::Result<Self> {
            let path = std::env::temp_dir().join(format!("fip-test-{}", uuid::Uuid::now_v7()));
            std::fs::create_dir_all(&path)?;
            Ok(Self(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" => Ok(Backend::Postgres),
            other => anyhow::bail!("unknown database backend {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_is_appended() {
        assert_eq!(
            with_search_path("postgres://u@h/db", "fip_user"),
            "postgres://u@h/db?options=-c%20search_path%3Dfip_user"
        );
        assert_eq!(
            with_search_path("postgres://u@h/db?sslmode=disable", "fip_user"),
            "postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Dfip_user"
        );
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(validate_schema_name("fip_user").is_ok());
        assert!(validate_schema_name("x; drop table").is_err());
        assert!(validate_schema_name("").is_err());
    }

    #[test]
    fn timestamps_round_trip() {
        for ms in [0, 1, 999, 1_700_000_000_123, -1] {
            assert_eq!(millis(&timestamp(ms)), ms);
        }
    }

    #[test]
    fn location_follows_config() {
        let mut config = Config::default();
        assert!(matches!(
            Location::for_service(&config, ServiceName::User),
            Location::Sqlite { url } if url.ends_with("user.db?mode=rwc")
        ));
        config.database_url = Some("postgres://postgres@127.0.0.1/fip".into());
        assert_eq!(
            Location::for_service(&config, ServiceName::Jobs),
            Location::Postgres {
                url: "postgres://postgres@127.0.0.1/fip".into(),
                schema: "fip_jobs".into()
            }
        );
    }
}
