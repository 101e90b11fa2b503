//! Remote runs: what the jobs worker asks an external server to do, and what
//! the server says about it.

use std::path::PathBuf;

/// One input file of a run (one chromosome per file on Cloudgene servers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// The name the server sees, e.g. `chr20.vcf.gz`.
    pub name: String,
    /// Where the file is on local disk; it is streamed, never read whole.
    pub path: PathBuf,
    /// A short-lived URL the server may fetch the file from instead (WES
    /// signed-URL delivery).
    pub url: Option<String>,
}

/// What to run remotely.
#[derive(Clone, PartialEq)]
pub struct RunRequest {
    /// The run's name on the server; carries the hub's job id so that a run
    /// can be found again after a crash ([`crate::Backend::find_run`]).
    pub job_name: String,
    pub inputs: Vec<InputFile>,
    /// The panel as the server knows it, e.g. `apps@h3africa-v6hc-s@1.0.0`.
    pub panel: String,
    /// `hg19` or `hg38`.
    pub build: String,
    /// `eagle`, `beagle` or `no_phasing`; None: the server's default.
    pub phasing: Option<String>,
    /// A population of the panel; None: the server's default.
    pub population: Option<String>,
    /// `imputation` or `qc_only`.
    pub mode: String,
    /// Minimum R² of variants kept; None: the server's default.
    pub r2_filter: Option<f64>,
    /// The password the server encrypts the result archives with.
    pub password: String,
    /// AES-256 archives instead of ZipCrypto.
    pub aes_encryption: bool,
    /// The workflow a WES server runs (WES servers only).
    pub wes: Option<crate::wes::WesWorkflow>,
}

impl std::fmt::Debug for RunRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunRequest")
            .field("job_name", &self.job_name)
            .field("inputs", &self.inputs)
            .field("panel", &self.panel)
            .field("build", &self.build)
            .field("phasing", &self.phasing)
            .field("population", &self.population)
            .field("mode", &self.mode)
            .field("r2_filter", &self.r2_filter)
            .field("password", &"<redacted>")
            .field("aes_encryption", &self.aes_encryption)
            .field("wes", &self.wes)
            .finish()
    }
}

/// Where a run stands, in the hub's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Waiting in the server's queue.
    Queued,
    /// Running (exporting included: not done yet).
    Running,
    /// Finished; outputs can be fetched.
    Completed,
    Failed,
    Cancelled,
    /// Finished long ago; the server deleted the outputs.
    Expired,
    /// Ended through no fault of the job (WES `SYSTEM_ERROR`, `PREEMPTED`):
    /// submitting it again may succeed.
    Lost,
}

impl RunState {
    /// Whether the run will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Completed
                | RunState::Failed
                | RunState::Cancelled
                | RunState::Expired
                | RunState::Lost
        )
    }
}

/// The server's own state, kept as the server said it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteCode {
    /// Cloudgene's integer state (1..10, -1) and its name.
    Michigan { code: i32, name: String },
    /// A WES state name.
    Wes { state: String },
}

/// Kind of a server log message (Cloudgene: OK=0, ERROR=1, WARNING=2, RUNNING=3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Ok,
    Error,
    Warning,
    Running,
    Info,
}

/// One log message of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunMessage {
    pub step: String,
    pub kind: MessageKind,
    pub text: String,
    /// Epoch milliseconds, when the server gave a time.
    pub time: Option<i64>,
}

/// One downloadable output of a finished run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    /// The file's name, e.g. `chr_20.zip` or `statistics/snps-excluded.txt`.
    pub name: String,
    /// The output group it belongs to (e.g. `imputation results`).
    pub group: String,
    /// Where to fetch it from (a capability URL on Cloudgene servers).
    pub url: String,
    pub size: Option<u64>,
    /// Whether the download carries the user's credential: only to the
    /// server's own host, never to a third party the outputs point at.
    pub send_credential: bool,
}

/// A run as the server describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRun {
    pub id: String,
    pub name: String,
    pub state: RunState,
    pub code: RemoteCode,
    /// Place in the server's queue while queued.
    pub position_in_queue: Option<i32>,
    /// The step running now (or the last one).
    pub current_step: Option<String>,
    pub messages: Vec<RunMessage>,
    pub outputs: Vec<RunOutput>,
}

impl RemoteRun {
    /// The server's error text of a failed run: its last ERROR message.
    pub fn error_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.kind == MessageKind::Error)
            .map(|m| m.text.as_str())
    }

    /// Progress in percent from the steps seen so far, when the server gives
    /// no better figure: queued 0, finished steps count evenly up to 95.
    pub fn progress_hint(&self, expected_steps: usize) -> i32 {
        match self.state {
            RunState::Queued => 0,
            RunState::Completed => 100,
            RunState::Running => {
                let mut steps: Vec<&str> = self.messages.iter().map(|m| m.step.as_str()).collect();
                steps.dedup();
                let done = steps.len().saturating_sub(1);
                (5 + (done * 90 / expected_steps.max(1)).min(90)) as i32
            }
            RunState::Failed | RunState::Cancelled | RunState::Expired | RunState::Lost => 0,
        }
    }
}
