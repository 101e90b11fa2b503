//! The emulator's handle: start and stop, tokens, scripts, run control and
//! what tests may inspect.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::{Config, Script};
use super::state::{Fetch, RequestRecord, RunState, State, Submission};
use super::{Shared, WES_PATH, lifecycle, random_hex, router};

/// A running emulated WES server; it stops when dropped or on [`Emulator::stop`].
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
            .expect("the WES emulator binds a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let base_url = format!("http://{address}");
        let (shutdown, mut stopped) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config, base_url.clone(), address.to_string())),
        });
        let router = router(shared.clone());
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stopped| *stopped).await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "WES emulator stopped with an error");
            }
        });
        Emulator {
            base_url,
            shared,
            shutdown,
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash (a client appends
    /// `/ga4gh/wes/v1`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `http://127.0.0.1:<port>/ga4gh/wes/v1`.
    pub fn wes_url(&self) -> String {
        format!("{}{WES_PATH}", self.base_url)
    }

    /// Stops accepting and waits for the server to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// A new bearer token for `user` (a user may hold many).
    pub fn issue_token(&self, user: &str) -> String {
        let token = random_hex(24);
        self.lock().tokens.insert(token.clone(), user.to_owned());
        token
    }

    /// Forgets a token: 401 from now on.
    pub fn revoke_token(&self, token: &str) {
        self.lock().tokens.remove(token);
    }

    /// The next submitted run follows `script` (scripts queue, one per run).
    pub fn script_next_run(&self, script: Script) {
        self.lock().scripts.push_back(script);
    }

    /// Down: every call answers 503 until set back.
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// A run's current state (as its last poll showed it); `None` if unknown.
    pub fn run_state(&self, id: &str) -> Option<RunState> {
        self.lock().run(id).map(|run| run.state)
    }

    /// Polls a run as a `GET /runs/{id}/status` would (past any
    /// not-found quirk); the state shown, `None` if unknown.
    pub fn poll(&self, id: &str) -> Option<RunState> {
        let mut state = self.lock();
        let index = state.runs.iter().position(|run| run.id == id)?;
        Some(lifecycle::poll(&mut state, index))
    }

    /// Polls answered for a run so far (not counting not-found answers).
    pub fn polls(&self, id: &str) -> Option<u32> {
        self.lock().run(id).map(|run| run.polls)
    }

    /// Every run id, in submission order.
    pub fn run_ids(&self) -> Vec<String> {
        self.lock().runs.iter().map(|run| run.id.clone()).collect()
    }

    /// Every accepted submission, in order.
    pub fn submissions(&self) -> Vec<Submission> {
        self.lock().submissions.clone()
    }

    /// Every request, in order, with its answer's status.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    /// Every input download the emulator made, in order.
    pub fn fetches(&self) -> Vec<Fetch> {
        self.lock().fetches.clone()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
