//! The emulator's handle: start and stop, tokens, settings, job control
//! and what tests may inspect.

use std::sync::{Arc, Mutex, MutexGuard};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::{Config, InfoFormat, Outcome, Polls, Script, Step};
use super::faults::Fault;
use super::state::{
    self, LogMessage, Phase, RequestRecord, State, Submission, TokenKind, TokenRecord, job_state,
};
use super::{Shared, lifecycle, now_millis, router};

/// API token lifetime (`DEFAULT_TOKEN_LIFETIME_API_SEC`).
const TOKEN_LIFETIME_MS: i64 = 30 * 24 * 60 * 60 * 1000;

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
