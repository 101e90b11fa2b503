//! The worker: drives each job from the queue to a final state.
//!
//! Every step that talks to the outside is recorded first (the job's
//! `phase`), so a worker killed at any point resumes from the database: a job
//! caught between "submitting" and "submitted" is looked up on the server by
//! its name before it is ever submitted again.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fip_backends::wes::{InputDelivery, WesWorkflow};
use fip_backends::{
    ApiType, BackendError, Backends, InputFile, RemoteCode, RunRequest, RunState, Secret,
};
use fip_kit::db::now_millis;
use fip_kit::events::{Bus, CredentialChanged, Listener};
use fip_kit::vault::{KeyRing, Sealed};
use fip_proto::notify::v1 as notify;
use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::error::JobError;
use crate::model::{ErrorAction, FailureReason, Job, LogEntry, LogSource, LogType, Phase, Status};
use crate::peers::{Credential, JobFile};
use crate::results;
use crate::service::Jobs;

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub poll_interval: Duration,
    pub max_retry_interval: Duration,
    pub max_transient_failures: u32,
    pub max_concurrent_calls: usize,
    pub work_dir: PathBuf,
    /// With a queue that can lose entries (Redis without persistence): an
    /// unfinished job nobody has touched for this long is queued again.
    pub stale_after: Duration,
}

/// What to do after a step.
enum Next {
    Now,
    After(Duration),
    Done,
}

pub struct Worker {
    jobs: Arc<Jobs>,
    backends: Backends,
    keys: Arc<KeyRing>,
    settings: WorkerSettings,
    calls: Arc<Semaphore>,
    /// Inputs being fetched, checked and split at once (CPU and disk work,
    /// whose buffers would otherwise add up over thousands of new jobs).
    preparing: Arc<Semaphore>,
    driving: Mutex<HashSet<String>>,
    credentials: Mutex<HashMap<(i64, i64), (Credential, Instant)>>,
}

/// The name a job carries on the external server (our id, to find it again).
pub fn remote_name(job: &Job) -> String {
    format!("fip-{}", job.id)
}

fn password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..24)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn secret_aad(job: &Job) -> Vec<u8> {
    format!("fip-job:{}", job.id).into_bytes()
}

/// What a poll can change on a job; equal before and after means no write.
#[derive(PartialEq)]
struct Fingerprint {
    status: Status,
    progress: i64,
    remote_code: Option<i64>,
    remote_state: String,
    remote_position: Option<i64>,
    current_step: String,
    log_cursor: i64,
    poll_failures: i64,
}

impl Fingerprint {
    fn of(job: &Job) -> Self {
        Self {
            status: job.status,
            progress: job.progress,
            remote_code: job.remote_code,
            remote_state: job.remote_state.clone(),
            remote_position: job.remote_position,
            current_step: job.current_step.clone(),
            log_cursor: job.log_cursor,
            poll_failures: job.poll_failures,
        }
    }
}

/// A failure that ends a job, with what the user can do about it.
struct Failure {
    reason: FailureReason,
    action: ErrorAction,
    message: String,
    /// Worth retrying (a peer service briefly unreachable) rather than final.
    transient: bool,
}

/// How long a looked-up credential is reused before asking again (each
/// lookup is audited by the user service). A refusal drops it at once, and
/// so does the user's replacing or deleting it, which the user service
/// announces ([`CredentialChanged`]; when such news may have been missed,
/// every remembered credential is dropped).
const CREDENTIAL_TTL: Duration = Duration::from_secs(60);

/// Drops remembered credentials when they change.
struct ForgetChanged(std::sync::Weak<Worker>);

impl Listener for ForgetChanged {
    fn message(&self, payload: &str) {
        let Some(worker) = self.0.upgrade() else {
            return;
        };
        let mut cache = worker.credentials.lock().expect("credential cache");
        match serde_json::from_str::<CredentialChanged>(payload) {
            Ok(changed) => {
                cache.remove(&(changed.user_id, changed.service_id));
            }
            Err(_) => cache.clear(),
        }
    }

    fn gap(&self) {
        if let Some(worker) = self.0.upgrade() {
            worker.credentials.lock().expect("credential cache").clear();
        }
    }
}

/// Failures in a row while fetching results (a download, the results list,
/// storing a file) after which the job fails; each result fetched starts
/// the count again, so a fetch makes at most this many attempts per result.
const MAX_FETCH_FAILURES: i64 = 6;

/// Submits of one job at most, when servers lose its runs (WES
/// `SYSTEM_ERROR`, `PREEMPTED`).
const MAX_SUBMITS: i64 = 3;

/// Polls after a cancel request before the user is told that the server
/// has not stopped the run; told again after twice as many, and so on.
const CANCEL_PATIENCE: i64 = 3;

impl Worker {
    pub fn new(
        jobs: Arc<Jobs>,
        backends: Backends,
        keys: Arc<KeyRing>,
        settings: WorkerSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            calls: Arc::new(Semaphore::new(settings.max_concurrent_calls)),
            preparing: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            )),
            jobs,
            backends,
            keys,
            settings,
            driving: Mutex::new(HashSet::new()),
            credentials: Mutex::new(HashMap::new()),
        })
    }

    /// Forgets a remembered credential as soon as `bus` says it changed.
    pub fn forget_changed_credentials(self: &Arc<Self>, bus: &Bus, shutdown: &CancellationToken) {
        bus.listen(
            CredentialChanged::TOPIC,
            Arc::new(ForgetChanged(Arc::downgrade(self))),
            shutdown,
        );
    }

    /// Resumes every unfinished job, then takes new ones from the queue until
    /// `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        if !self.jobs.queue.resumes_from_store() {
            tokio::spawn(self.clone().reconcile(shutdown.clone()));
        }
        if self.jobs.queue.resumes_from_store() {
            match self.jobs.store.unfinished().await {
                Ok(jobs) => {
                    for job in jobs {
                        self.clone().spawn(job.id, shutdown.clone());
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read unfinished jobs"),
            }
        }
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = self.jobs.queue.next() => next,
            };
            match next {
                Ok(Some(id)) => self.clone().spawn(id, shutdown.clone()),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "job queue failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// Queues again the unfinished jobs nobody drives (their queue entries
    /// were lost, e.g. Redis restarted without persistence), now and then
    /// every `stale_after`.
    async fn reconcile(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let cutoff = now_millis() - self.settings.stale_after.as_millis() as i64;
            match self.jobs.store.unfinished().await {
                Ok(jobs) => {
                    for job in jobs {
                        let driven = self.driving.lock().expect("driving lock").contains(&job.id);
                        if !driven && job.updated_at < cutoff {
                            tracing::info!(job_id = %job.id, "queueing a job nobody drives");
                            if let Err(e) = self.jobs.queue.enqueue(&job.id).await {
                                tracing::warn!(error = %e, "cannot queue a job again");
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read unfinished jobs"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.settings.stale_after) => {}
            }
        }
    }

    /// Drives `id` unless this worker already does.
    fn spawn(self: Arc<Self>, id: String, shutdown: CancellationToken) {
        if !self
            .driving
            .lock()
            .expect("driving lock")
            .insert(id.clone())
        {
            return;
        }
        tokio::spawn(async move {
            self.drive(&id, &shutdown).await;
            self.driving.lock().expect("driving lock").remove(&id);
        });
    }

    async fn drive(&self, id: &str, shutdown: &CancellationToken) {
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            let job = match self.jobs.store.job(id).await {
                Ok(Some(job)) => job,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(job_id = id, error = %e, "cannot read job");
                    Box::pin(self.pause(Duration::from_secs(5), shutdown)).await;
                    continue;
                }
            };
            if job.status.is_final() {
                let _ = self.jobs.queue.ack(id).await;
                return;
            }
            // Boxed: the step's (large) state lives only while it runs, not
            // in every waiting job's task (10,000 jobs wait at once).
            // A shutdown stops the step where it is, as a crash would: the
            // next worker resumes it from what the database recorded.
            let stepped = tokio::select! {
                _ = shutdown.cancelled() => return,
                stepped = Box::pin(self.step(job)) => stepped,
            };
            let next = match stepped {
                Ok(next) => next,
                // Cancelled outright meanwhile: the next read sees it ended.
                Err(e) if matches!(e.downcast_ref::<JobError>(), Some(JobError::Ended(_))) => {
                    Next::Now
                }
                Err(e) => {
                    tracing::warn!(job_id = id, error = %e, "job step failed; retrying");
                    Next::After(Duration::from_secs(5))
                }
            };
            match next {
                Next::Now => {}
                Next::After(delay) => self.pause(delay, shutdown).await,
                Next::Done => {
                    let _ = self.jobs.queue.ack(id).await;
                    return;
                }
            }
        }
    }

    async fn pause(&self, delay: Duration, shutdown: &CancellationToken) {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(delay) => {}
        }
    }

    async fn step(&self, job: Job) -> anyhow::Result<Next> {
        if job.cancel_requested_at.is_some() {
            return self.cancel(job).await;
        }
        match job.phase {
            Phase::New => self.prepare(job).await,
            Phase::Submitting => self.submit(job).await,
            Phase::Submitted => self.poll(job).await,
            Phase::Fetching => self.fetch(job).await,
            Phase::Done => Ok(Next::Done),
        }
    }

    fn work_dir(&self, job: &Job) -> PathBuf {
        self.settings.work_dir.join(&job.id)
    }

    /// Whether an unchanged job should still be written, so that jobs being
    /// followed never look abandoned to the reconciliation.
    fn due_for_save(&self, job: &Job) -> bool {
        now_millis() - job.updated_at > (self.settings.stale_after.as_millis() / 3) as i64
    }

    /// Saves a job and, for a child, its parent's derived state — the
    /// parent first, so that whoever hears of the child's change finds the
    /// parent already up to date.
    async fn save(&self, job: &mut Job, history: Option<&str>) -> anyhow::Result<()> {
        job.updated_at = now_millis();
        let event = self.jobs.persist(job, history).await?;
        if let Some(parent) = &job.parent_job_id {
            self.jobs.refresh_parent(parent).await?;
        }
        self.jobs.events.publish(event);
        Ok(())
    }

    async fn log(&self, job: &Job, log_type: LogType, message: &str) {
        let entry = LogEntry {
            id: 0,
            job_id: job.id.clone(),
            source: LogSource::Hub,
            step_name: String::new(),
            log_type,
            message: message.to_string(),
            time: now_millis(),
        };
        match self.jobs.store.add_logs(&[entry]).await {
            Ok(saved) => self.jobs.events.publish(crate::events::JobEvent {
                job: job.clone(),
                change: crate::events::Change::Logged(saved),
            }),
            Err(e) => tracing::warn!(job_id = %job.id, error = %e, "cannot write a job log"),
        }
    }

    /// The owner's credential, or the failure that ends the job.
    async fn credential(&self, job: &Job) -> Result<Credential, Failure> {
        let key = (job.user_id, job.service_id);
        if let Some((credential, at)) = self.credentials.lock().expect("credential cache").get(&key)
            && at.elapsed() < CREDENTIAL_TTL
        {
            return Ok(credential.clone());
        }
        match self
            .jobs
            .mesh
            .credential(job.user_id, job.service_id, &job.id)
            .await
        {
            Ok(c) => {
                self.credentials
                    .lock()
                    .expect("credential cache")
                    .insert(key, (c.clone(), Instant::now()));
                Ok(c)
            }
            Err(status) if status.code() == Code::FailedPrecondition => Err(Failure {
                reason: FailureReason::CredentialsMissing,
                action: ErrorAction::UpdateCredentials,
                message: format!(
                    "no usable credentials for {}: {} — update your credentials in settings",
                    job.service_name,
                    status.message()
                ),
                transient: false,
            }),
            Err(status) => Err(Failure {
                reason: FailureReason::UpstreamFailed,
                action: ErrorAction::RetryLater,
                message: format!("the credential could not be read: {}", status.message()),
                transient: true,
            }),
        }
    }

    async fn fail(&self, job: Job, failure: Failure) -> anyhow::Result<Next> {
        if failure.transient {
            let error = BackendError::Unavailable {
                status: None,
                retry_after: None,
                message: failure.message,
            };
            return self
                .transient(job, "reaching another platform service", &error)
                .await;
        }
        self.end_failed(job, failure).await
    }

    async fn end_failed(&self, mut job: Job, failure: Failure) -> anyhow::Result<Next> {
        if job.phase == Phase::Fetching {
            // Retried (the step fails) until the partial results are gone.
            self.discard_results(&job).await?;
        }
        job.status = Status::Failed;
        job.phase = Phase::Done;
        job.error_reason = Some(failure.reason);
        job.error_action = failure.action;
        job.error_action_url = if failure.action == ErrorAction::UpdateCredentials {
            format!("/settings/services/{}", job.service_id)
        } else {
            String::new()
        };
        job.error_message = failure.message.clone();
        job.completed_at = Some(now_millis());
        self.log(&job, LogType::Error, &failure.message).await;
        self.save(&mut job, Some(&failure.message)).await?;
        self.notify(
            &job,
            notify::NotificationType::JobFailed,
            "Job failed",
            &failure.message,
        )
        .await;
        self.cleanup(&job).await;
        Ok(Next::Done)
    }

    /// A transient failure: retry with backoff, or fail once it outlasts the limit.
    async fn transient(
        &self,
        mut job: Job,
        what: &str,
        error: &BackendError,
    ) -> anyhow::Result<Next> {
        job.poll_failures += 1;
        if job.poll_failures > i64::from(self.settings.max_transient_failures) {
            let message = format!(
                "{} stayed unreachable ({what}: {error}); resubmit later",
                job.service_name
            );
            return self
                .end_failed(
                    job,
                    Failure {
                        reason: FailureReason::ServiceUnavailable,
                        action: ErrorAction::RetryLater,
                        message,
                        transient: false,
                    },
                )
                .await;
        }
        let exponent = (job.poll_failures as u32).min(10);
        let mut delay = self.settings.poll_interval.min(Duration::from_secs(5))
            * 2u32.pow(exponent.saturating_sub(1));
        if let BackendError::Unavailable {
            retry_after: Some(after),
            ..
        } = error
        {
            delay = delay.max(*after);
        }
        let delay = delay.min(self.settings.max_retry_interval);
        self.log(
            &job,
            LogType::Warning,
            &format!("{what}: {error}; retrying in {} s", delay.as_secs().max(1)),
        )
        .await;
        self.save(&mut job, None).await?;
        Ok(Next::After(delay))
    }

    /// The credential was refused by the server: tell the user service and
    /// end the job with "update your credentials".
    async fn rejected(
        &self,
        job: Job,
        credential: &Credential,
        message: &str,
    ) -> anyhow::Result<Next> {
        if let Err(e) = self
            .jobs
            .mesh
            .report_credential(
                job.user_id,
                job.service_id,
                credential.id,
                Some(message),
                &job.id,
            )
            .await
        {
            tracing::warn!(job_id = %job.id, error = %e, "cannot report a rejected credential");
        }
        let message = format!(
            "{} refused your credentials ({message}): update your credentials in settings",
            job.service_name
        );
        self.fail(
            job,
            Failure {
                reason: FailureReason::CredentialsRejected,
                action: ErrorAction::UpdateCredentials,
                message,
                transient: false,
            },
        )
        .await
    }

    /// Downloads and checks the input, splits it per chromosome, seals a
    /// result password, then submits.
    async fn prepare(&self, mut job: Job) -> anyhow::Result<Next> {
        if job.status != Status::Running {
            job.status = Status::Running;
            job.started_at.get_or_insert(now_millis());
            job.progress = 2;
            self.save(&mut job, Some("preparing the input")).await?;
        }
        let credential = match self.credential(&job).await {
            Ok(c) => c,
            Err(failure) => return self.fail(job, failure).await,
        };
        drop(credential);
        let dir = self.work_dir(&job);
        let prepared = {
            let _slot = self.preparing.acquire().await?;
            results::prepare_input(&self.jobs.mesh, &job, &dir).await
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err(results::InputError::Invalid { message, summary }) => {
                job.input_summary = summary;
                return self
                    .fail(
                        job,
                        Failure {
                            reason: FailureReason::InputInvalid,
                            action: ErrorAction::FixInput,
                            message,
                            transient: false,
                        },
                    )
                    .await;
            }
            Err(results::InputError::Other(e)) => return Err(e),
        };
        job.input_summary = Some(prepared.summary);
        for warning in &prepared.warnings {
            self.log(&job, LogType::Warning, warning).await;
        }
        let secret = password();
        job.secret = Some(self.keys.seal(&secret_aad(&job), secret.as_bytes()));
        job.phase = Phase::Submitting;
        job.submit_started_at = Some(now_millis());
        job.progress = 5;
        self.save(&mut job, Some("input checked; submitting"))
            .await?;
        Ok(Next::Now)
    }

    fn open_password(&self, sealed: &Sealed, job: &Job) -> anyhow::Result<String> {
        let bytes = self
            .keys
            .open_sealed(&secret_aad(job), sealed)
            .map_err(|e| {
                anyhow::anyhow!("job {}: the result password does not open: {e}", job.id)
            })?;
        Ok(String::from_utf8(bytes)?)
    }

    async fn submit(&self, mut job: Job) -> anyhow::Result<Next> {
        let credential = match self.credential(&job).await {
            Ok(c) => c,
            Err(failure) => return self.fail(job, failure).await,
        };
        let backend = self.backends.for_api(results::api_type(&job)?);
        let _slot = self.calls.acquire().await?;
        // A submit may have reached the server before a crash: look first.
        if job.attempts > 0 || job.submit_started_at.is_some_and(|t| t < job.updated_at) {
            match backend
                .find_run(&job.base_url, &credential.secret, &remote_name(&job))
                .await
            {
                Ok(Some(id)) => {
                    self.log(
                        &job,
                        LogType::Info,
                        &format!("found the earlier submission {id} on the server"),
                    )
                    .await;
                    return self.submitted(job, id).await;
                }
                Ok(None) => {}
                Err(BackendError::Unauthorized { message }) => {
                    return self.rejected(job, &credential, &message).await;
                }
                Err(e) if e.is_transient() => {
                    return self.transient(job, "looking up the submission", &e).await;
                }
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e, "cannot list earlier submissions");
                }
            }
        }
        let inputs = match results::chromosome_files(&self.work_dir(&job)).await {
            Some(files) => files,
            None => {
                // The work dir is gone (a restart elsewhere): prepare again.
                job.phase = Phase::New;
                self.save(&mut job, None).await?;
                return Ok(Next::Now);
            }
        };
        let Some(sealed) = job.secret.clone() else {
            job.phase = Phase::New;
            self.save(&mut job, None).await?;
            return Ok(Next::Now);
        };
        let mut inputs: Vec<InputFile> = inputs
            .into_iter()
            .map(|path| InputFile {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
                path,
                url: None,
            })
            .collect();
        let wes = if results::api_type(&job)? == ApiType::Ga4ghWes {
            let prepared = match self.wes_workflow(&job).await {
                Ok((workflow, ttl)) if workflow.input_delivery == InputDelivery::SignedUrl => self
                    .sign_inputs(&job, &mut inputs, ttl)
                    .await
                    .map(|()| workflow),
                other => other.map(|(workflow, _)| workflow),
            };
            match prepared {
                Ok(workflow) => Some(workflow),
                Err(failure) => return self.fail(job, failure).await,
            }
        } else {
            None
        };
        let run = RunRequest {
            job_name: remote_name(&job),
            inputs,
            panel: job.panel_slug.clone(),
            build: job
                .build
                .ok_or_else(|| anyhow::anyhow!("job {} has no genome build", job.id))?
                .as_str()
                .to_string(),
            phasing: job.phasing.map(|p| p.as_str().to_string()),
            population: Some(job.population.clone()).filter(|p| !p.is_empty()),
            mode: job.mode.as_str().to_string(),
            r2_filter: job.r2_filter,
            password: self.open_password(&sealed, &job)?,
            aes_encryption: false,
            wes,
        };
        job.attempts += 1;
        self.save(&mut job, None).await?;
        match backend
            .submit(&job.base_url, &credential.secret, &run)
            .await
        {
            Ok(id) => {
                if let Err(e) = self
                    .jobs
                    .mesh
                    .report_credential(job.user_id, job.service_id, credential.id, None, &job.id)
                    .await
                {
                    tracing::warn!(job_id = %job.id, error = %e, "cannot report credential use");
                }
                self.submitted(job, id).await
            }
            Err(BackendError::Unauthorized { message }) => {
                self.rejected(job, &credential, &message).await
            }
            Err(e) if e.is_transient() => self.transient(job, "submitting", &e).await,
            Err(BackendError::Rejected { message, .. }) if message.contains("jobs per user") => {
                // The server's per-user limit: wait for a running job to end.
                let error = BackendError::Unavailable {
                    status: Some(400),
                    retry_after: Some(self.settings.poll_interval),
                    message,
                };
                self.transient(job, "waiting for a free slot on the server", &error)
                    .await
            }
            Err(e) => {
                let message = format!("{} refused the job: {e}", job.service_name);
                self.fail(
                    job,
                    Failure {
                        reason: FailureReason::UpstreamFailed,
                        action: ErrorAction::ChooseAnotherTarget,
                        message,
                        transient: false,
                    },
                )
                .await
            }
        }
    }

    /// The server's word on the job's run, within the worker's call limit.
    async fn remote_status(
        &self,
        job: &Job,
        credential: &Credential,
    ) -> anyhow::Result<Result<fip_backends::RemoteRun, BackendError>> {
        let backend = self.backends.for_api(results::api_type(job)?);
        let _slot = self.calls.acquire().await?;
        Ok(backend
            .status(&job.base_url, &credential.secret, &job.external_job_id)
            .await)
    }

    /// The workflow a WES service runs for the job's panel: the panel's
    /// own, else the service's default; with the signed-URL lifetime.
    async fn wes_workflow(&self, job: &Job) -> Result<(WesWorkflow, i64), Failure> {
        let unreachable = |status: tonic::Status| Failure {
            reason: FailureReason::UpstreamFailed,
            action: ErrorAction::RetryLater,
            message: format!("the registry could not be read: {}", status.message()),
            transient: true,
        };
        let panel = self
            .jobs
            .mesh
            .panel(job.reference_panel_id)
            .await
            .map_err(unreachable)?;
        let workflow = match panel.and_then(|p| p.wes_workflow) {
            Some(workflow) => Some(workflow),
            None => self
                .jobs
                .mesh
                .service(job.service_id)
                .await
                .map_err(unreachable)?
                .and_then(|s| s.wes)
                .and_then(|w| w.default_workflow),
        };
        workflow
            .map(crate::convert::wes_workflow)
            .ok_or_else(|| Failure {
                reason: FailureReason::UpstreamFailed,
                action: ErrorAction::ContactSupport,
                message: format!(
                    "{} has no workflow configured for the panel {}: an administrator must set \
                     one in the registry",
                    job.service_name, job.panel_name
                ),
                transient: false,
            })
    }

    /// Stores each prepared input with the file service and gives it a
    /// signed link the WES server fetches it from.
    async fn sign_inputs(
        &self,
        job: &Job,
        inputs: &mut [InputFile],
        ttl_seconds: i64,
    ) -> Result<(), Failure> {
        let failed = |what: &str, status: tonic::Status| Failure {
            reason: if status.code() == Code::FailedPrecondition {
                FailureReason::UpstreamFailed
            } else {
                FailureReason::Internal
            },
            action: ErrorAction::ContactSupport,
            message: format!("{what}: {}", status.message()),
            transient: matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded),
        };
        for input in inputs.iter_mut() {
            let stored = self
                .jobs
                .mesh
                .store_job_file(
                    job.user_id,
                    &job.id,
                    JobFile {
                        name: &input.name,
                        content_type: "application/gzip",
                        kind: fip_proto::files::v1::FileKind::Input,
                        path: &input.path,
                        idempotency_key: &format!("input/{}", input.name),
                    },
                )
                .await
                .map_err(|s| failed("the input could not be stored for the server", s))?;
            let url = self
                .jobs
                .mesh
                .job_file_link(&stored.id, ttl_seconds)
                .await
                .map_err(|s| failed("no link to the input could be made for the server", s))?;
            input.url = Some(url);
        }
        Ok(())
    }

    async fn submitted(&self, mut job: Job, id: String) -> anyhow::Result<Next> {
        job.external_job_id = id.clone();
        job.phase = Phase::Submitted;
        job.poll_failures = 0;
        job.progress = job.progress.max(10);
        let message = format!("submitted to {} as {id}", job.service_name);
        self.save(&mut job, Some(&message)).await?;
        Ok(Next::After(
            self.settings.poll_interval.min(Duration::from_secs(2)),
        ))
    }

    async fn poll(&self, mut job: Job) -> anyhow::Result<Next> {
        let credential = match self.credential(&job).await {
            Ok(c) => c,
            Err(failure) => return self.fail(job, failure).await,
        };
        let answer = self.remote_status(&job, &credential).await?;
        let run = match answer {
            Ok(run) => run,
            Err(BackendError::Unauthorized { message }) => {
                return self.rejected(job, &credential, &message).await;
            }
            Err(e) if e.is_transient() => {
                return self.transient(job, "following the job", &e).await;
            }
            Err(e) => {
                let message = format!("{} no longer answers for the job: {e}", job.service_name);
                return self
                    .fail(
                        job,
                        Failure {
                            reason: FailureReason::UpstreamFailed,
                            action: ErrorAction::ContactSupport,
                            message,
                            transient: false,
                        },
                    )
                    .await;
            }
        };
        let before = Fingerprint::of(&job);
        job.poll_failures = 0;
        job.remote_observed_at = Some(now_millis());
        match &run.code {
            RemoteCode::Michigan { code, name } => {
                job.remote_code = Some(i64::from(*code));
                job.remote_state = name.clone();
            }
            RemoteCode::Wes { state } => job.remote_state = state.clone(),
        }
        job.remote_position = run.position_in_queue.map(i64::from);
        job.current_step = run.current_step.clone().unwrap_or_default();
        let fresh: Vec<LogEntry> = run
            .messages
            .iter()
            .skip(job.log_cursor as usize)
            .map(|m| LogEntry {
                id: 0,
                job_id: job.id.clone(),
                source: LogSource::Remote,
                step_name: m.step.clone(),
                log_type: results::log_type(m.kind),
                message: m.text.clone(),
                time: m.time.unwrap_or_else(now_millis),
            })
            .collect();
        if !fresh.is_empty() {
            job.log_cursor += fresh.len() as i64;
            let saved = self.jobs.store.add_logs(&fresh).await?;
            self.jobs.events.publish(crate::events::JobEvent {
                job: job.clone(),
                change: crate::events::Change::Logged(saved),
            });
        }
        match run.state {
            RunState::Queued if Fingerprint::of(&job) == before && !self.due_for_save(&job) => {
                // Nothing changed: skip the write (thousands of waiting jobs).
                Ok(Next::After(self.settings.poll_interval))
            }
            RunState::Running if Fingerprint::of(&job) == before && !self.due_for_save(&job) => {
                Ok(Next::After(self.settings.poll_interval))
            }
            RunState::Queued => {
                let changed = job.status != Status::Queued;
                job.status = Status::Queued;
                let message = match run.position_in_queue {
                    Some(p) => format!(
                        "waiting on {} (position {p} in its queue)",
                        job.service_name
                    ),
                    None => format!("waiting on {}", job.service_name),
                };
                self.save(&mut job, changed.then_some(message.as_str()))
                    .await?;
                Ok(Next::After(self.settings.poll_interval))
            }
            RunState::Running => {
                let changed = job.status != Status::Running;
                job.status = Status::Running;
                job.progress = job
                    .progress
                    .max(10 + i64::from(run.progress_hint(6)) * 8 / 10);
                let message = format!("running on {}", job.service_name);
                self.save(&mut job, changed.then_some(message.as_str()))
                    .await?;
                Ok(Next::After(self.settings.poll_interval))
            }
            RunState::Completed => {
                job.status = Status::Running;
                job.phase = Phase::Fetching;
                job.progress = 90;
                self.save(
                    &mut job,
                    Some("finished on the server; fetching the results"),
                )
                .await?;
                Ok(Next::Now)
            }
            RunState::Failed => {
                let remote = run
                    .error_text()
                    .map(str::to_string)
                    .unwrap_or_else(|| "the server reported a failure without a message".into());
                let step = job.current_step.to_lowercase();
                let action = if step.contains("validation") || step.contains("quality") {
                    ErrorAction::FixInput
                } else {
                    ErrorAction::ContactSupport
                };
                let message = format!("{} failed the job: {remote}", job.service_name);
                self.fail(
                    job,
                    Failure {
                        reason: FailureReason::UpstreamFailed,
                        action,
                        message,
                        transient: false,
                    },
                )
                .await
            }
            RunState::Lost if job.attempts < MAX_SUBMITS => {
                // The server lost the run (a node or system failure): the job
                // is not at fault, so it goes in again.
                let reason = run.error_text().unwrap_or("no reason given").to_string();
                let message = format!(
                    "{} lost the run {} ({reason}); submitting again (attempt {} of {MAX_SUBMITS})",
                    job.service_name,
                    job.external_job_id,
                    job.attempts + 1
                );
                self.log(&job, LogType::Warning, &message).await;
                job.external_job_id.clear();
                job.phase = Phase::Submitting;
                job.submit_started_at = Some(now_millis());
                job.progress = 5;
                self.save(&mut job, Some(&message)).await?;
                Ok(Next::After(
                    self.settings.poll_interval.min(Duration::from_secs(5)),
                ))
            }
            RunState::Lost => {
                let reason = run.error_text().unwrap_or("no reason given").to_string();
                let message = format!(
                    "{} lost the run {MAX_SUBMITS} times ({reason}); try again later",
                    job.service_name
                );
                self.fail(
                    job,
                    Failure {
                        reason: FailureReason::UpstreamFailed,
                        action: ErrorAction::RetryLater,
                        message,
                        transient: false,
                    },
                )
                .await
            }
            RunState::Cancelled => {
                job.status = Status::Cancelled;
                job.phase = Phase::Done;
                job.completed_at = Some(now_millis());
                self.save(&mut job, Some("cancelled on the server")).await?;
                self.notify(
                    &job,
                    notify::NotificationType::JobCancelled,
                    "Job cancelled",
                    "the server cancelled the job",
                )
                .await;
                self.cleanup(&job).await;
                Ok(Next::Done)
            }
            RunState::Expired => {
                job.status = Status::Expired;
                job.phase = Phase::Done;
                job.completed_at = Some(now_millis());
                job.error_message =
                    "the server deleted the results before they were fetched".into();
                job.error_reason = Some(FailureReason::ResultsExpired);
                self.save(&mut job, Some("the server deleted the results"))
                    .await?;
                self.notify(
                    &job,
                    notify::NotificationType::JobFailed,
                    "Results expired",
                    &job.error_message,
                )
                .await;
                self.cleanup(&job).await;
                Ok(Next::Done)
            }
        }
    }

    /// Downloads and stores each output the server lists, resuming after
    /// the outputs already recorded: each is stored once (under a key the
    /// files service knows it by again), and a failing server is retried
    /// [`MAX_FETCH_FAILURES`] times in a row before the job fails.
    async fn fetch(&self, mut job: Job) -> anyhow::Result<Next> {
        let credential = match self.credential(&job).await {
            Ok(c) => c,
            Err(failure) => return self.fail(job, failure).await,
        };
        let backend = self.backends.for_api(results::api_type(&job)?);
        let run = self.remote_status(&job, &credential).await?;
        let run = match run {
            Ok(run) => run,
            Err(BackendError::Unauthorized { message }) => {
                return self.rejected(job, &credential, &message).await;
            }
            Err(e) if e.is_transient() => {
                return self
                    .fetch_failed(job, "reading the results list", &e.to_string())
                    .await;
            }
            Err(e) => return Err(e.into()),
        };
        let password = match &job.secret {
            Some(sealed) => Some(self.open_password(sealed, &job)?),
            None => None,
        };
        let dir = self.work_dir(&job).join("outputs");
        tokio::fs::create_dir_all(&dir).await?;
        let secret: Option<&Secret> = Some(&credential.secret);
        let mut fetched: HashSet<String> = self
            .jobs
            .store
            .fetched_outputs(&job.id)
            .await?
            .into_iter()
            .collect();
        let total = run.outputs.len().max(1) as i64;
        for output in &run.outputs {
            if fetched.contains(&output.name) {
                continue;
            }
            let local = dir.join(results::safe_name(&output.name));
            let downloaded = {
                let _slot = self.calls.acquire().await?;
                backend.download(output, secret, &local).await
            };
            if let Err(e) = downloaded {
                if e.is_transient() {
                    let what = format!("downloading the result {}", output.name);
                    return self.fetch_failed(job, &what, &e.to_string()).await;
                }
                let message = format!("the result {} could not be downloaded: {e}", output.name);
                return self
                    .fail(
                        job,
                        Failure {
                            reason: FailureReason::UpstreamFailed,
                            action: ErrorAction::ContactSupport,
                            message,
                            transient: false,
                        },
                    )
                    .await;
            }
            let stored =
                results::store_output(&self.jobs, &job, &output.name, &local, password.as_deref())
                    .await;
            match stored {
                Ok(()) => {}
                Err(e) if e.is_transient() => {
                    let what = format!("storing the result {}", output.name);
                    return self.fetch_failed(job, &what, &e.to_string()).await;
                }
                Err(e) => {
                    let message =
                        format!("the result {} could not be unpacked: {e:#}", output.name);
                    return self
                        .fail(
                            job,
                            Failure {
                                reason: FailureReason::Internal,
                                action: ErrorAction::ContactSupport,
                                message,
                                transient: false,
                            },
                        )
                        .await;
                }
            }
            self.jobs
                .store
                .mark_output_fetched(&job.id, &output.name, now_millis())
                .await?;
            let _ = tokio::fs::remove_file(&local).await;
            fetched.insert(output.name.clone());
            // Progress: the budget of failures in a row starts again.
            job.poll_failures = 0;
            let done = run
                .outputs
                .iter()
                .filter(|o| fetched.contains(&o.name))
                .count() as i64;
            job.progress = job.progress.max(90 + 9 * done / total);
            self.save(&mut job, None).await?;
        }
        job.status = Status::Completed;
        job.phase = Phase::Done;
        job.progress = 100;
        job.completed_at = Some(now_millis());
        self.save(&mut job, Some("results fetched and unpacked"))
            .await?;
        let (summary, qc_summary) =
            results::completion_summary(self.jobs.store.as_ref(), &job.id).await;
        self.send_notice(
            &job,
            notify::NotificationType::JobCompleted,
            "Job completed",
            &summary,
            qc_summary,
        )
        .await;
        self.cleanup(&job).await;
        Ok(Next::Done)
    }

    /// A step of the fetch failed in a way worth retrying: retried with
    /// backoff, unless it failed [`MAX_FETCH_FAILURES`] times in a row (with
    /// no result fetched in between), which fails the job.
    async fn fetch_failed(&self, job: Job, what: &str, error: &str) -> anyhow::Result<Next> {
        if job.poll_failures + 1 >= MAX_FETCH_FAILURES {
            let message = format!(
                "the results could not be fetched from {}: {what} failed {MAX_FETCH_FAILURES} \
                 times in a row ({error}); resubmit the job later",
                job.service_name
            );
            return self
                .end_failed(
                    job,
                    Failure {
                        reason: FailureReason::UpstreamFailed,
                        action: ErrorAction::RetryLater,
                        message,
                        transient: false,
                    },
                )
                .await;
        }
        let error = BackendError::Unavailable {
            status: None,
            retry_after: None,
            message: error.to_string(),
        };
        self.transient(job, what, &error).await
    }

    /// Removes what a job that ends without its results had stored of them
    /// (files and records), so that no partial result is left counting
    /// against the owner's storage.
    async fn discard_results(&self, job: &Job) -> anyhow::Result<()> {
        let deleted = self
            .jobs
            .mesh
            .delete_job_outputs(job.user_id, &job.id)
            .await
            .map_err(|s| anyhow::anyhow!("cannot delete the partial results: {}", s.message()))?;
        self.jobs.store.clear_results(&job.id).await?;
        if deleted > 0 {
            tracing::info!(job_id = %job.id, deleted, "partial results deleted");
        }
        Ok(())
    }

    /// The user asked to cancel: ask the server once, then follow the run
    /// until the server says it ended (some servers take the request and go
    /// on; the user is told so). A job not on a server yet ends at once.
    async fn cancel(&self, mut job: Job) -> anyhow::Result<Next> {
        if job.phase == Phase::Submitting
            && job.external_job_id.is_empty()
            && let Ok(credential) = self.credential(&job).await
        {
            // A submit may have reached the server before a crash.
            let backend = self.backends.for_api(results::api_type(&job)?);
            if let Ok(Some(id)) = backend
                .find_run(&job.base_url, &credential.secret, &remote_name(&job))
                .await
            {
                job.external_job_id = id;
                job.phase = Phase::Submitted;
            }
        }
        if job.external_job_id.is_empty() || job.phase != Phase::Submitted {
            return self.end_cancelled(job, "cancelled by the user").await;
        }
        let Ok(credential) = self.credential(&job).await else {
            return self
                .end_cancelled(
                    job,
                    "cancelled by the user; the server could not be told (no usable credential)",
                )
                .await;
        };
        let backend = self.backends.for_api(results::api_type(&job)?);
        if job.cancel_sent_at.is_none() {
            let asked = {
                let _slot = self.calls.acquire().await?;
                backend
                    .cancel(&job.base_url, &credential.secret, &job.external_job_id)
                    .await
            };
            match asked {
                Ok(()) => {
                    job.cancel_sent_at = Some(now_millis());
                    self.save(&mut job, Some("the server was asked to cancel the job"))
                        .await?;
                    return Ok(Next::After(
                        self.settings.poll_interval.min(Duration::from_secs(2)),
                    ));
                }
                Err(e) if e.is_transient() => {
                    return self.transient(job, "cancelling on the server", &e).await;
                }
                Err(e) => {
                    let message =
                        format!("cancelled by the user; the server did not take the cancel: {e}");
                    return self.end_cancelled(job, &message).await;
                }
            }
        }
        let answer = self.remote_status(&job, &credential).await?;
        let run = match answer {
            Ok(run) => run,
            Err(e) if e.is_transient() => {
                return self.transient(job, "following the cancelled job", &e).await;
            }
            Err(e) => {
                let message = format!("cancelled by the user; the server no longer answers: {e}");
                return self.end_cancelled(job, &message).await;
            }
        };
        let (RemoteCode::Wes { state } | RemoteCode::Michigan { name: state, .. }) = &run.code;
        job.remote_state = state.clone();
        match run.state {
            RunState::Cancelled => self.end_cancelled(job, "cancelled on the server").await,
            state if state.is_final() => {
                let message = format!(
                    "cancelled by the user; the run had already ended on the server ({})",
                    job.remote_state
                );
                self.end_cancelled(job, &message).await
            }
            _ => {
                job.poll_failures = 0;
                job.cancel_polls += 1;
                let turns = (job.cancel_polls / CANCEL_PATIENCE) as u64;
                if job.cancel_polls % CANCEL_PATIENCE == 0 && turns.is_power_of_two() {
                    let message = format!(
                        "{} has not stopped the run yet ({}); still following it",
                        job.service_name, job.remote_state
                    );
                    self.log(&job, LogType::Warning, &message).await;
                }
                self.save(&mut job, None).await?;
                Ok(Next::After(self.settings.poll_interval))
            }
        }
    }

    async fn end_cancelled(&self, mut job: Job, message: &str) -> anyhow::Result<Next> {
        if job.phase == Phase::Fetching {
            self.discard_results(&job).await?;
        }
        job.status = Status::Cancelled;
        job.phase = Phase::Done;
        job.completed_at = Some(now_millis());
        self.save(&mut job, Some(message)).await?;
        self.notify(
            &job,
            notify::NotificationType::JobCancelled,
            "Job cancelled",
            message,
        )
        .await;
        self.cleanup(&job).await;
        Ok(Next::Done)
    }

    async fn notify(&self, job: &Job, kind: notify::NotificationType, title: &str, message: &str) {
        self.send_notice(job, kind, title, message, None).await;
    }

    /// Sends a notice of the job; a completed job's carries its QC summary.
    async fn send_notice(
        &self,
        job: &Job,
        kind: notify::NotificationType,
        title: &str,
        message: &str,
        qc_summary: Option<fip_proto::jobs::v1::QcSummary>,
    ) {
        let request = notify::SendNotificationRequest {
            user_id: job.user_id,
            r#type: kind as i32,
            title: format!("{title}: {}", job.name),
            message: message.to_string(),
            job_id: job.id.clone(),
            service_id: job.service_id,
            action_url: format!("/jobs/{}", job.id),
            action_label: "Open the job".into(),
            channels: Vec::new(),
            dedup_key: format!("job:{}:{}", job.id, job.status.as_str()),
            qc_summary,
        };
        if let Err(e) = self.jobs.mesh.notify(request).await {
            tracing::warn!(job_id = %job.id, error = %e, "cannot send a notification");
        }
    }

    async fn cleanup(&self, job: &Job) {
        let dir = self.work_dir(job);
        if Path::new(&dir).exists()
            && let Err(e) = tokio::fs::remove_dir_all(&dir).await
        {
            tracing::warn!(job_id = %job.id, error = %e, "cannot remove the work dir");
        }
    }
}
