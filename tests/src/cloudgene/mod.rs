//! An emulated Cloudgene 3 imputation server (the "Michigan" API v2 of the
//! Michigan, TOPMed and H3Africa/AfriGen-D servers), running the
//! imputationserver2 app, for black-box tests of the hub's `michigan`
//! backend and of the whole mesh.
//!
//! It answers as the real server does, from its sources (`JobController`,
//! `DownloadController`, `ApiTokenController`, `ServerController`,
//! `AppController`, `JobResponse` and friends, imputationserver-utils input
//! validation): same paths, methods, status codes, JSON fields and messages.
//! Jobs advance one step per status poll, never with the clock, so tests
//! need no sleeps.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn demo() {
//! use fip_tests::cloudgene::{Config, Emulator};
//! use fip_tests::fixtures::VcfSpec;
//!
//! let server = Emulator::start(Config::default()).await;
//! let token = server.issue_token("alice");            // X-Auth-Token value
//! let vcf = VcfSpec::new(25, 50).chromosomes(["20", "21"]).build();
//! // POST {base}/api/v2/jobs/submit/imputationserver2 with one `files` part
//! // per chromosome (vcf.split_by_chromosome(), each `.bgzf()`), `refpanel`
//! // = `apps@1000g-phase-3-v5@2.0.0`, `password`, `job-name`…
//! // then poll GET {base}/api/v2/jobs/{id}/status until state 4 and fetch
//! // each `outputParams[0].files[]` at {base}/share/results/{hash}/{name}.
//! assert_eq!(server.accepted_submissions(), 0);
//! # let _ = (token, vcf, server.base_url());
//! # }
//! ```
//!
//! # What it does
//!
//! | call | behaviour |
//! |---|---|
//! | `POST /api/v2/tokens/verify` (form `token`) | 200 always; `{valid, message, username, name, mail, expire}` |
//! | `GET /api/v2/server` | anonymous: `loggedIn: false`, `apps: []`; with a token: `user`, `apps: [{id, name}]`; `maintenace` flag (sic) |
//! | `GET /api/v2/server/apps/{app}` | the imputationserver2 parameters: `refpanel` (`app_list`, keys `apps@{id}@{version}`), `population` (`binded_list` per panel), …; 404 anonymous or unknown app |
//! | `POST /api/v2/jobs/submit/{app}` | multipart; only the app's fields (else 400 `Parameter 'x' not found.`); repeated `files` parts; 200 `{success, message, id}` even for a job that will fail |
//! | `GET /api/v2/jobs?page=N` | `{count, page, pageSize, prev, next, pages, data}`, 15 a page, newest first; finished jobs without steps and outputs |
//! | `GET /api/v2/jobs/{id}`, `/status` | the Job JSON; **each call is one poll that advances the job** |
//! | `GET /api/v2/jobs/{id}/cancel` | cancels (state 6), returns the Job |
//! | `GET /api/v2/jobs/{id}/restart` | only a DEAD job; 400 `Job X is not pending.` otherwise |
//! | `DELETE /api/v2/jobs/{id}` | 403 (empty body) with an API token; a web token ([`Emulator::issue_web_token`]) sets state 10 |
//! | `GET /share/results/{hash}/{name}` | anonymous; `count` downloads per file, then 400 `number of max downloads exceeded.`; 404 `download not found.` |
//!
//! Job JSON: `application, applicationId, deletedOn, endTime, id, name, logs,
//! state, positionInQueue, userAgent, startTime, submittedOn, username,
//! currentTime, steps[{id, name, logMessages[{success, message, type, time}]}],
//! outputParams[{id, name, description, download, hash, jobId, tree,
//! files[{name, path, hash, size, count, parameterId, user}]}]`. Times are
//! epoch ms, -1 when unset; message types OK=0, ERROR=1, WARNING=2,
//! RUNNING=3; `positionInQueue` ≥ 1 while waiting, 0 running, -1 finished;
//! `size` is a display string (`12 KB`), `count` the downloads left.
//!
//! # Lifecycle
//!
//! A job is WAITING (1) for [`Polls::waiting`] polls, then runs the steps
//! `Input Validation`, `Quality Control`, `Phasing and Imputation`,
//! `Summary`, each RUNNING (2) for [`Polls::per_step`] polls with a RUNNING
//! message that turns OK (or ERROR), then EXPORTING (3) for
//! [`Polls::exporting`] polls, then SUCCESS (4) with its results. Defaults:
//! 1 poll each, so a job succeeds on its 7th poll
//! ([`Emulator::polls_to_finish`]).
//!
//! - Input validation runs the real server's checks on the uploaded files
//!   (BGZF, one chromosome per file, at least [`Config::min_samples`]
//!   samples, equal sample counts, `chr` prefix matching the build, phased
//!   data or a phasing engine, population of the panel); a failure ends the
//!   job FAILED (5) at that step with the server's ERROR message.
//! - An unknown `refpanel` fails the job at once (state 5, no messages).
//! - [`Script`]s ([`Emulator::script_next_job`], or [`Config::outcome`])
//!   fail a step with a given message, leave the job DEAD (-1) or RETIRED
//!   (7, downloads then 404).
//! - [`Emulator::kill`], [`Emulator::cancel`], [`Emulator::run_to_end`],
//!   [`Emulator::poll`] act on a job directly.
//!
//! # Results
//!
//! For each input file a `chr_N.zip` (N without `chr`) holding
//! `chrN.dose.vcf.gz` (BGZF VCF: the input's sites and samples, `GT:DS`
//! phased genotypes, `AF`/`MAF`/`R2` in INFO) and `chrN.info.gz` (a BGZF
//! sites-VCF with `AF`, `MAF`, `R2` in INFO, or with
//! [`InfoFormat::Tabular`] the older tab file with an `Rsq` column),
//! encrypted with the job's `password` (ZipCrypto; AES-256 when
//! `aesEncryption` is sent). Then `qc_report.txt`, `quality-control.html`
//! and `statistics/{chunks-excluded,snps-excluded,typed-only}.txt`. R2 of a
//! variant is [`r2`]`(position)`; with `r2Filter` the variants below it are
//! left out. `mode=qc_only` gives no zips.
//!
//! Faithful details a client must cope with: values are HTML-escaped (a
//! password `a&b` opens the zips as `a&amp;b`); a checkbox field is true
//! when sent at all (`aesEncryption=false` means AES); a repeated field keeps
//! its first value; without a `password` the server picks one and "mails"
//! it ([`JobSnapshot::password`] shows it to tests only).
//!
//! # Auth
//!
//! `X-Auth-Token` only. [`Emulator::issue_token`] gives a user's API token
//! (one per user: a new one replaces the old). Missing, unknown or expired
//! ([`Emulator::expire_token`]) tokens get 401 on secured calls and count as
//! anonymous on `/api/v2/server`; a revoked or replaced API token
//! ([`Emulator::revoke_token`]) is still a well-signed JWT, which Cloudgene
//! refuses with 403 everywhere. 401/403 from the security layer have an
//! empty body; Cloudgene's own refusals are `{"success":false,"message":…}`:
//! 403 `Access denied.` (another user's job), 404 `Job X not found.`, 400
//! `Only N jobs per user can be executed simultaneously.`, 503 `This
//! functionality is currently under maintenance.`
//! ([`Emulator::set_maintenance`]; jobs and app calls only, as the real
//! server: `/api/v2/server` shows the flag, verify and downloads still work).
//!
//! # Faults
//!
//! [`Emulator::inject`] a [`Fault`]: the next N (or every k-th) matching
//! requests answer a status (500 JSON, 502–504 an nginx page), hang until the
//! client gives up, or are handled and then lose their answer (a submit that
//! created its job but whose reply never came). Every request is recorded
//! ([`Emulator::requests`]) and every submit ([`Emulator::submissions`]), so
//! tests can assert "submitted exactly once".

mod auth;
mod config;
mod faults;
mod lifecycle;
mod render;
mod reply;
mod results;
mod routes;
mod state;
mod validation;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{App, Config, InfoFormat, Outcome, Panel, Polls, Script, Step};
pub use faults::{Effect, Fault, Schedule};
pub use results::r2;
pub use state::{
    LogMessage, RequestRecord, Submission, SubmittedFile, TokenKind, job_state, message_type,
};

use state::{Phase, State, TokenRecord};

/// API token lifetime (`DEFAULT_TOKEN_LIFETIME_API_SEC`).
const TOKEN_LIFETIME_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// State shared by the handlers.
pub(crate) struct Shared {
    state: Mutex<State>,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler must not take the other tests' server down.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn datetime(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A `java.util.Date` as Jackson writes it: `2025-12-16T22:40:29.866+00:00`.
pub(crate) fn format_date(millis: i64) -> String {
    let at = datetime(millis);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// `JobService.createId`: `job-20251016-224029-866`.
pub(crate) fn format_job_id(millis: i64) -> String {
    let at = datetime(millis);
    format!(
        "job-{:04}{:02}{:02}-{:02}{:02}{:02}-{:03}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// A job as tests see it (more than a client can).
#[derive(Clone, Debug)]
pub struct JobSnapshot {
    /// The server's job id.
    pub id: String,
    /// Owner.
    pub username: String,
    /// `job-name`, or the id.
    pub name: String,
    /// Cloudgene state code ([`job_state`]).
    pub state: i32,
    /// Status polls answered so far.
    pub polls: u32,
    /// The password the result zips open with (after HTML escaping).
    pub password: String,
    /// Whether the server chose that password and mailed it to the user.
    pub password_mailed: bool,
    /// Messages per step, in step order.
    pub steps: Vec<(Step, Vec<LogMessage>)>,
    /// Result files: (name, download hash, downloads left).
    pub files: Vec<(String, String, i64)>,
}

/// A running emulated server; it stops when dropped or on [`Emulator::stop`].
pub struct Emulator {
    base_url: String,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts a server on `127.0.0.1` on a free port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(config: Config) -> Emulator {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the cloudgene emulator binds a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let (shutdown, stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config)),
            shutdown: stopped.clone(),
        });
        let router = router(shared.clone());
        let mut stopped = stopped;
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stopped| *stopped).await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "cloudgene emulator stopped with an error");
            }
        });
        Emulator {
            base_url: format!("http://{address}"),
            shared,
            shutdown,
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stops accepting, releases hanging requests and waits for the server to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    // ------------------------------------------------------------- tokens

    fn new_token(&self, username: &str, kind: TokenKind) -> String {
        let now = now_millis();
        let expires_at = now + TOKEN_LIFETIME_MS;
        let salt: u64 = rand::random();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            serde_json::json!({
                "sub": username,
                "token_type": match kind { TokenKind::Api => "API_TOKEN", TokenKind::Web => "ACCESS_TOKEN" },
                "api": kind == TokenKind::Api,
                "exp": expires_at / 1000,
                "iat": now / 1000,
                "jti": salt,
            })
            .to_string(),
        );
        let signature = URL_SAFE_NO_PAD.encode(salt.to_be_bytes());
        let token = format!("{header}.{claims}.{signature}");
        let mut state = self.lock();
        let user = state.user_mut(username);
        if kind == TokenKind::Api {
            user.api_token = Some(token.clone());
        }
        state.tokens.insert(
            token.clone(),
            TokenRecord {
                username: username.to_owned(),
                kind,
                expires_at,
            },
        );
        token
    }

    /// Creates the user if needed and gives them a new API token (valid 30
    /// days); their previous API token stops working (403), as on the
    /// server, where a user has one.
    pub fn issue_token(&self, username: &str) -> String {
        self.new_token(username, TokenKind::Api)
    }

    /// A web-login token (what the browser holds): accepted by every call,
    /// DELETE too.
    pub fn issue_web_token(&self, username: &str) -> String {
        self.new_token(username, TokenKind::Web)
    }

    /// Registers `token` (any string) as `username`'s API token.
    pub fn add_token(&self, username: &str, token: &str) {
        let mut state = self.lock();
        state.user_mut(username).api_token = Some(token.to_owned());
        state.tokens.insert(
            token.to_owned(),
            TokenRecord {
                username: username.to_owned(),
                kind: TokenKind::Api,
                expires_at: now_millis() + TOKEN_LIFETIME_MS,
            },
        );
    }

    /// Makes the user an administrator (sees every job, no maintenance block,
    /// no job limit).
    pub fn set_admin(&self, username: &str, admin: bool) {
        self.lock().user_mut(username).admin = admin;
    }

    /// Lets the token's `exp` pass: 401 from now on.
    pub fn expire_token(&self, token: &str) {
        if let Some(record) = self.lock().tokens.get_mut(token) {
            record.expires_at = now_millis() - 1;
        }
    }

    /// Revokes an API token (profile page, "revoke"): 403 from now on.
    pub fn revoke_token(&self, token: &str) {
        let mut state = self.lock();
        let Some(username) = state.tokens.get(token).map(|r| r.username.clone()) else {
            return;
        };
        let user = state.user_mut(&username);
        if user.api_token.as_deref() == Some(token) {
            user.api_token = None;
        }
    }

    // ------------------------------------------------------------ settings

    /// Maintenance mode: job and app calls answer 503.
    pub fn set_maintenance(&self, on: bool) {
        self.lock().config.maintenance = on;
    }

    /// Jobs a user may have waiting or running at once.
    pub fn set_max_jobs_per_user(&self, max: usize) {
        self.lock().config.max_jobs_per_user = max;
    }

    /// Download budget of each result file written from now on (-1: unlimited).
    pub fn set_max_downloads(&self, max: i64) {
        self.lock().config.max_downloads = max;
    }

    /// Poll counts of jobs submitted from now on (unless scripted).
    pub fn set_polls(&self, polls: Polls) {
        self.lock().config.polls = polls;
    }

    /// Outcome of jobs submitted from now on (unless scripted).
    pub fn set_outcome(&self, outcome: Outcome) {
        self.lock().config.outcome = outcome;
    }

    /// Format of the info files written from now on.
    pub fn set_info_format(&self, format: InfoFormat) {
        self.lock().config.info_format = format;
    }

    /// The next submitted job follows `script` (scripts queue up, one per job).
    pub fn script_next_job(&self, script: Script) {
        self.lock().scripts.push_back(script);
    }

    /// Adds a fault; the first fault that hits a request applies.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// The faults, with how often each fired.
    pub fn faults(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    // ---------------------------------------------------------- job control

    fn with_job<T>(&self, id: &str, act: impl FnOnce(&mut State, usize) -> T) -> Option<T> {
        let mut state = self.lock();
        let index = state.jobs.iter().position(|job| job.id == id)?;
        Some(act(&mut state, index))
    }

    /// Advances a job by one poll, as a status call would; false if unknown.
    pub fn poll(&self, id: &str) -> bool {
        self.with_job(id, |state, index| {
            lifecycle::poll(state, index, now_millis())
        })
        .is_some()
    }

    /// Polls a job until it is finished (whatever its outcome).
    pub fn run_to_end(&self, id: &str) -> bool {
        self.with_job(id, |state, index| {
            lifecycle::run_to_end(state, index, now_millis())
        })
        .is_some()
    }

    /// Cancels a waiting or running job (state 6), as the user would.
    pub fn cancel(&self, id: &str) -> bool {
        self.with_job(id, |state, index| {
            lifecycle::cancel(&mut state.jobs[index], now_millis())
        })
        .is_some()
    }

    /// The server loses a waiting or running job: DEAD (-1).
    pub fn kill(&self, id: &str) -> bool {
        self.with_job(id, |state, index| {
            lifecycle::kill(&mut state.jobs[index], now_millis())
        })
        .is_some()
    }

    /// Retires a finished job (state 7): its downloads answer 404.
    pub fn retire(&self, id: &str) -> bool {
        self.with_job(id, |state, index| {
            let job = &mut state.jobs[index];
            job.state = job_state::RETIRED;
            job.phase = Phase::Finished;
        })
        .is_some()
    }

    /// Polls a job with the given script needs to finish: the first one that
    /// shows its final state.
    pub fn polls_to_finish(polls: Polls) -> u32 {
        polls.waiting + 4 * polls.per_step.max(1) + polls.exporting + 1
    }

    // ----------------------------------------------------------- inspection

    /// Every submit that got past authentication, in order.
    pub fn submissions(&self) -> Vec<Submission> {
        self.lock().submissions.clone()
    }

    /// Submits that created a job (answered 200).
    pub fn accepted_submissions(&self) -> usize {
        self.lock()
            .submissions
            .iter()
            .filter(|submission| submission.job_id.is_some())
            .count()
    }

    /// Every request, in order, with its answer's status.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    /// One job.
    pub fn job(&self, id: &str) -> Option<JobSnapshot> {
        let state = self.lock();
        state.job(id).map(snapshot)
    }

    /// Every job, in submission order.
    pub fn jobs(&self) -> Vec<JobSnapshot> {
        self.lock().jobs.iter().map(snapshot).collect()
    }
}

fn snapshot(job: &state::Job) -> JobSnapshot {
    JobSnapshot {
        id: job.id.clone(),
        username: job.username.clone(),
        name: job.name.clone(),
        state: job.state,
        polls: job.polls,
        password: job.password.clone(),
        password_mailed: job.password_mailed,
        steps: job
            .steps
            .iter()
            .map(|step| (step.step, step.messages.clone()))
            .collect(),
        files: job
            .output
            .iter()
            .flat_map(|output| {
                output
                    .files
                    .iter()
                    .map(|file| (file.name.clone(), file.hash.clone(), file.count))
            })
            .collect(),
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v2/tokens/verify", post(routes::tokens::verify))
        .route("/api/v2/server", get(routes::server::server))
        .route("/api/v2/server/", get(routes::server::server))
        .route("/api/v2/server/apps/{app}", get(routes::server::app))
        .route("/api/v2/jobs/submit/{app}", post(routes::submit::submit))
        .route("/api/v2/jobs", get(routes::jobs::list))
        .route("/api/v2/jobs/", get(routes::jobs::list))
        .route(
            "/api/v2/jobs/{id}",
            get(routes::jobs::get).delete(routes::jobs::delete),
        )
        .route("/api/v2/jobs/{id}/status", get(routes::jobs::get))
        .route("/api/v2/jobs/{id}/cancel", get(routes::jobs::cancel))
        .route("/api/v2/jobs/{id}/restart", get(routes::jobs::restart))
        .route(
            "/share/results/{hash}/{*filename}",
            get(routes::downloads::share),
        )
        .route(
            "/downloads/{job}/{hash}/{*filename}",
            get(routes::downloads::job_download),
        )
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            faults::middleware,
        ))
        .with_state(shared)
}
