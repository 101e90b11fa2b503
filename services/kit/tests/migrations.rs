//! Replicas of one service that start together against one fresh database
//! all come up, and the migrations run exactly once: on PostgreSQL (when
//! `FIP_TEST_DATABASE_URL` is set) under the schema's advisory lock, on
//! SQLite under a file lock beside the database.

use fip_kit::db::{Db, Location, Migrations};
use sqlx::Row;
use sqlx::migrate::Migrator;

static SQLITE: Migrator = sqlx::migrate!("tests/migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("tests/migrations/postgres");
static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// Replicas starting at once (without the locks, 16 make two concurrent
/// `CREATE SCHEMA IF NOT EXISTS` collide on PostgreSQL about every other
/// run, and apply a migration twice on SQLite).
const REPLICAS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_against_a_fresh_database_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let location = match std::env::var("FIP_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Location::Postgres {
            url,
            schema: format!(
                "t_migrate_{}",
                &uuid::Uuid::now_v7().simple().to_string()[20..]
            ),
        },
        _ => Location::Sqlite {
            url: format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("replicated.db").display()
            ),
        },
    };
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(REPLICAS));
    let starts: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let location = location.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                Db::open(&location, &MIGRATIONS).await
            })
        })
        .collect();
    let mut dbs = Vec::new();
    for start in starts {
        dbs.push(start.await.unwrap().expect("every replica starts"));
    }

    let db = &dbs[0];
    let applied = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE success")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        applied.try_get::<i64, _>("n").unwrap(),
        2,
        "each migration once"
    );
    let rows = sqlx::query("SELECT id, name, created_at FROM accounts")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "the seed row once");
    assert_eq!(rows[0].try_get::<String, _>("name").unwrap(), "root");

    // A later start finds nothing to do.
    let again = Db::open(&location, &MIGRATIONS).await.unwrap();
    again.pool.close().await;
    let mut dbs = dbs.into_iter();
    let first = dbs.next().unwrap();
    for db in dbs {
        db.pool.close().await;
    }
    first.drop_schema().await.unwrap();
}

#[test]
fn lock_keys_are_stable_and_differ_by_schema() {
    let key = fip_kit::db::migration_lock_key("fip_files");
    assert_eq!(key, fip_kit::db::migration_lock_key("fip_files"));
    assert_ne!(key, fip_kit::db::migration_lock_key("fip_jobs"));
}
