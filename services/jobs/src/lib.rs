//! The jobs service: the job API (submit to one or several imputation
//! servers, follow, cancel, results, dashboard), the queue, and the worker
//! that forwards each job with its owner's credential through the backends
//! of `fip-backends`.
//!
//! # Map of the service
//!
//! | Room | What it is | What it may touch |
//! |------|------------|-------------------|
//! | [`grpc`] | the `fip.jobs.v1.JobService` adapter: checks and converts wire types, calls [`service::Jobs`] | [`convert`], [`service`], [`error`]; wire types and `tonic` |
//! | [`convert`] | domain ⇄ wire conversions, one function per type | [`model`], the proto types |
//! | [`error`] | the one error enum, mapped exhaustively onto `tonic::Status` | [`store::StoreError`], `fip_kit::ApiError` |
//! | [`service`] | the job API's domain: submit, read, list, cancel, parent derivation | [`model`], [`store::Store`], [`peers`], [`events`], [`queue`] |
//! | [`worker`] | drives each job to a final state (prepare, submit, poll, fetch, cancel) | [`service::Jobs`], [`results`], `fip-backends`, the key ring |
//! | [`results`] | preparing the input (`fip-vcf`), unpacking and recording the outputs, the completion summary | [`model`], [`store::Store`], [`peers`] |
//! | [`model`] | the vocabulary: [`model::Job`], status, phase, phasing, mode, failure reasons | nothing but the shared libraries' `ApiType` and `GenomeBuild` |
//! | [`store`] | the `Store` trait and its errors in the service's terms; [`store::sql`] keeps it in SQLite or PostgreSQL | [`model`]; SQL only in `store::sql` |
//! | [`peers`] | the other platform services (registry, credential vault, files, notify) over the mesh | their wire types and `tonic`, nothing else of this crate but [`model`] and [`convert`] |
//! | [`queue`], [`events`] | the job queue (in process or Redis Streams) and the change broadcast behind `WatchJob` | [`model`] |
//!
//! Words a job carries (API type, build, phasing, mode, failure reason) are
//! enums of [`model`]; a value none of them knows is refused where it enters
//! (the adapter, the registry's answer, a stored row), never defaulted.

pub mod convert;
pub mod error;
pub mod events;
pub mod grpc;
pub mod model;
pub mod peers;
pub mod queue;
pub mod results;
pub mod service;
pub mod store;
pub mod worker;

use std::sync::Arc;

use fip_kit::db::{Db, Location, Migrations};
use fip_kit::mesh::ServiceName;
use fip_kit::serve::{Context, Hosted};
use fip_proto::jobs::v1::job_service_server::JobServiceServer;
use sqlx::migrate::Migrator;
use tonic::server::NamedService;
use tonic::service::Routes;

use crate::events::Events;
use crate::grpc::JobApi;
use crate::peers::Mesh;
use crate::queue::redis::RedisQueue;
use crate::queue::{InProcessQueue, JobQueue};
use crate::service::Jobs;
use crate::store::Store;
use crate::store::sql::SqlStore;
use crate::worker::{Worker, WorkerSettings};
use fip_backends::{Backends, HttpSettings};
use fip_kit::vault::KeyRing;

static SQLITE: Migrator = sqlx::migrate!("../../migrations/jobs/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("../../migrations/jobs/postgres");

/// The jobs service's schema migrations.
pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// The worker of this process, from configuration.
pub fn build_worker(ctx: &Context, jobs: Arc<Jobs>) -> anyhow::Result<Arc<Worker>> {
    let config = &ctx.config;
    let keys = KeyRing::load(
        config,
        KeyRing::source(
            config,
            config.jobs.secret_keys.as_deref(),
            config.jobs.secret_key_file.as_deref(),
            "job-secrets",
        ),
    )?;
    let backends = Backends::new(&HttpSettings {
        request_timeout: config.external.request_timeout,
        connect_timeout: config.external.connect_timeout,
        user_agent: config.external.user_agent.clone(),
        wes_shared_dirs: config.external.wes_shared_dirs.clone(),
    })?;
    let worker = Worker::new(
        jobs,
        backends,
        Arc::new(keys),
        WorkerSettings {
            poll_interval: config.jobs.poll_interval,
            max_retry_interval: config.jobs.max_retry_interval,
            max_transient_failures: config.jobs.max_transient_failures,
            max_concurrent_calls: config.jobs.max_concurrent_calls,
            work_dir: config
                .jobs
                .work_dir
                .clone()
                .unwrap_or_else(|| config.data_dir.join("work")),
            stale_after: config.jobs.claim_after,
        },
    );
    worker.forget_changed_credentials(&ctx.bus, &ctx.shutdown);
    Ok(worker)
}

/// Starts the jobs service.
pub async fn start(ctx: &Context) -> anyhow::Result<Hosted> {
    let db = Db::open(
        &Location::for_service(&ctx.config, ServiceName::Jobs),
        &MIGRATIONS,
    )
    .await?;
    let store: Arc<dyn Store> = Arc::new(SqlStore::new(db));
    let queue: Arc<dyn JobQueue> = match &ctx.config.redis_url {
        Some(url) => {
            let consumer = ctx
                .config
                .jobs
                .worker_name
                .clone()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| "fip-worker".into());
            Arc::new(
                RedisQueue::connect_stream(
                    url,
                    &ctx.config.jobs.queue_stream,
                    &consumer,
                    ctx.config.jobs.claim_after,
                )
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach Redis for the job queue: {e}"))?,
            )
        }
        None => Arc::new(InProcessQueue::default()),
    };
    let jobs = Arc::new(Jobs {
        store,
        mesh: Mesh::new(ctx.peers.clone(), ctx.identity.clone()),
        events: Events::default(),
        queue,
    });
    if ctx.config.jobs.worker {
        let worker = build_worker(ctx, jobs.clone())?;
        tokio::spawn(worker.run(ctx.shutdown.clone()));
    }
    Ok(Hosted {
        name: ServiceName::Jobs,
        sessions: None,
        routes: Routes::new(JobServiceServer::new(JobApi {
            jobs,
            sessions: ctx.auth.sessions().clone(),
        })),
        grpc_services: vec![JobServiceServer::<JobApi>::NAME],
    })
}
