//! The emulated server's memory: tokens, runs, output files and what
//! clients sent.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::config::{Config, Script};

/// WES run states (1.1 adds PREEMPTED).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Unknown.
    Unknown,
    /// Waiting for resources.
    Queued,
    /// Staging inputs.
    Initializing,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Finished; outputs available.
    Complete,
    /// The workflow failed.
    ExecutorError,
    /// The system failed.
    SystemError,
    /// Cancelled.
    Canceled,
    /// Being cancelled.
    Canceling,
    /// Preempted (1.1).
    Preempted,
}

impl RunState {
    /// The name on the wire (`EXECUTOR_ERROR`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Unknown => "UNKNOWN",
            RunState::Queued => "QUEUED",
            RunState::Initializing => "INITIALIZING",
            RunState::Running => "RUNNING",
            RunState::Paused => "PAUSED",
            RunState::Complete => "COMPLETE",
            RunState::ExecutorError => "EXECUTOR_ERROR",
            RunState::SystemError => "SYSTEM_ERROR",
            RunState::Canceled => "CANCELED",
            RunState::Canceling => "CANCELING",
            RunState::Preempted => "PREEMPTED",
        }
    }

    /// Whether the run will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Complete
                | RunState::ExecutorError
                | RunState::SystemError
                | RunState::Canceled
                | RunState::Preempted
        )
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `workflow_attachment` part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// The part's file name (as sent, path and all).
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// An accepted `POST /runs`, fields parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Submission {
    /// The run it created.
    pub run_id: String,
    /// The caller.
    pub user: String,
    /// `workflow_params`.
    pub workflow_params: Value,
    /// `workflow_type` (`CWL`).
    pub workflow_type: String,
    /// `workflow_type_version`.
    pub workflow_type_version: String,
    /// `tags` (an empty map when not sent).
    pub tags: Map<String, Value>,
    /// `workflow_engine_parameters`, when sent.
    pub workflow_engine_parameters: Option<Value>,
    /// `workflow_url`.
    pub workflow_url: String,
    /// `workflow_engine` (1.1), when sent.
    pub workflow_engine: Option<String>,
    /// `workflow_engine_version` (1.1), when sent.
    pub workflow_engine_version: Option<String>,
    /// The `workflow_attachment` parts, in order.
    pub attachments: Vec<Attachment>,
}

impl Submission {
    /// The attachment with this name.
    pub fn attachment(&self, name: &str) -> Option<&Attachment> {
        self.attachments
            .iter()
            .find(|attachment| attachment.name == name)
    }
}

/// One download of an input the emulator made for a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetch {
    /// The run it was for.
    pub run_id: String,
    /// The URL.
    pub url: String,
    /// The answer's status, when one came.
    pub status: Option<u16>,
    /// Bytes received (of a 2xx answer).
    pub size: usize,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// One request the emulator answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Method.
    pub method: String,
    /// Path (without the query).
    pub path: String,
    /// The query, when there was one.
    pub query: Option<String>,
    /// Whether an `Authorization` header came.
    pub auth: bool,
    /// The answer's status.
    pub status: Option<u16>,
}

/// A file a finished run produced.
#[derive(Clone, Debug)]
pub(crate) struct OutputFile {
    /// `chr20.imputed.vcf.gz`.
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
    /// DRS object id.
    pub object_id: String,
    /// Secret in presigned DRS access URLs.
    pub signature: String,
}

/// The outputs a run will show when it completes, grouped per output port.
#[derive(Clone, Debug, Default)]
pub(crate) struct Products {
    /// (imputed VCF, its .tbi) per chromosome.
    pub imputed: Vec<(OutputFile, OutputFile)>,
    /// info file per chromosome.
    pub info: Vec<OutputFile>,
    /// Task names, one per chromosome (`impute_chr20`).
    pub tasks: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub id: String,
    pub user: String,
    pub submission: Submission,
    pub state: RunState,
    /// States shown by the next polls, after the current one; empty when the
    /// current state stays.
    pub timeline: VecDeque<RunState>,
    /// GETs left that answer as if the run did not exist yet.
    pub hidden_polls: u32,
    pub hidden_seen: u32,
    /// Polls answered so far (hidden ones excluded).
    pub polls: u32,
    /// How it ends (a failed input staging turns `Succeed` into an executor error).
    pub script: Script,
    pub products: Products,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Where File locations put the outputs (set when written).
    pub written: Option<std::path::PathBuf>,
}

pub(crate) struct State {
    pub config: Config,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// `127.0.0.1:<port>`.
    pub authority: String,
    pub down: bool,
    /// Token → user.
    pub tokens: HashMap<String, String>,
    pub runs: Vec<Run>,
    pub submissions: Vec<Submission>,
    pub scripts: VecDeque<Script>,
    pub requests: Vec<RequestRecord>,
    pub fetches: Vec<Fetch>,
}

impl State {
    pub fn new(config: Config, base_url: String, authority: String) -> Self {
        Self {
            config,
            base_url,
            authority,
            down: false,
            tokens: HashMap::new(),
            runs: Vec::new(),
            submissions: Vec::new(),
            scripts: VecDeque::new(),
            requests: Vec::new(),
            fetches: Vec::new(),
        }
    }

    pub fn run(&self, id: &str) -> Option<&Run> {
        self.runs.iter().find(|run| run.id == id)
    }
}
