//! The emulated server's memory: users, tokens, jobs, downloads and what
//! clients sent.

use std::collections::{HashMap, VecDeque};

use super::config::{Config, Script, Step};
use super::faults::Fault;
use super::validation::Validated;

/// A Cloudgene user.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub username: String,
    pub full_name: String,
    pub mail: String,
    pub admin: bool,
    /// The user's one live API token (a new one replaces it; revoking clears it).
    pub api_token: Option<String>,
}

/// What a token string stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An API token (profile page, 30 days): every `/api/v2/jobs` call but DELETE.
    Api,
    /// A web-login access token: every call, DELETE too.
    Web,
}

#[derive(Clone, Debug)]
pub(crate) struct TokenRecord {
    pub username: String,
    pub kind: TokenKind,
    /// Epoch ms after which the token's `exp` has passed.
    pub expires_at: i64,
}

/// One message of a step (Cloudgene `Message`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogMessage {
    /// OK=0, ERROR=1, WARNING=2, RUNNING=3.
    pub kind: i32,
    /// The text (HTML on real servers).
    pub text: String,
    /// Epoch ms.
    pub time: i64,
}

/// Message types of Cloudgene's `Message`.
pub mod message_type {
    /// Done.
    pub const OK: i32 = 0;
    /// Failed.
    pub const ERROR: i32 = 1;
    /// Done with a warning.
    pub const WARNING: i32 = 2;
    /// Running.
    pub const RUNNING: i32 = 3;
}

/// Job states of Cloudgene's `AbstractJob`.
pub mod job_state {
    /// Queued.
    pub const WAITING: i32 = 1;
    /// Running.
    pub const RUNNING: i32 = 2;
    /// Writing results: not done yet.
    pub const EXPORTING: i32 = 3;
    /// Done, results available.
    pub const SUCCESS: i32 = 4;
    /// Failed.
    pub const FAILED: i32 = 5;
    /// Cancelled by the user.
    pub const CANCELED: i32 = 6;
    /// Results deleted after the retention time.
    pub const RETIRED: i32 = 7;
    /// Deleted by the user.
    pub const DELETED: i32 = 10;
    /// Lost by the server.
    pub const DEAD: i32 = -1;
}

#[derive(Clone, Debug)]
pub(crate) struct StepRecord {
    pub id: i64,
    pub step: Step,
    pub messages: Vec<LogMessage>,
}

/// Where a job is in its script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Polls left answering WAITING.
    Waiting(u32),
    /// Running a step; polls left on it (counting the current one).
    Running { step: usize, left: u32 },
    /// Polls left answering EXPORTING.
    Exporting(u32),
    /// Terminal.
    Finished,
}

/// The submitted form of an imputationserver2 job, after Cloudgene's
/// parsing (HTML-escaped values, first of repeated fields, checkboxes).
#[derive(Clone, Debug, Default)]
pub(crate) struct Params {
    pub refpanel: Option<String>,
    pub build: String,
    pub r2_filter: String,
    pub phasing: String,
    pub population: Option<String>,
    pub mode: String,
    pub aes_encryption: bool,
    pub meta: bool,
    pub password: Option<String>,
    pub job_name: Option<String>,
}

/// An uploaded file.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// A result file.
#[derive(Clone, Debug)]
pub(crate) struct Download {
    pub name: String,
    pub path: String,
    pub hash: String,
    pub bytes: std::sync::Arc<Vec<u8>>,
    /// Downloads left; -1 for unlimited.
    pub count: i64,
}

/// The job's `output` parameter (the app's one downloadable output).
#[derive(Clone, Debug)]
pub(crate) struct OutputParam {
    pub id: i64,
    pub hash: String,
    pub files: Vec<Download>,
}

#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub id: String,
    pub username: String,
    pub name: String,
    pub application: String,
    pub application_id: String,
    pub state: i32,
    pub submitted_on: i64,
    pub start_time: i64,
    pub end_time: i64,
    pub deleted_on: i64,
    pub steps: Vec<StepRecord>,
    pub phase: Phase,
    pub script: Script,
    pub params: Params,
    /// The panel the `refpanel` value named, when it names one.
    pub panel: Option<super::config::Panel>,
    /// The outcome of input validation, known from the submit on.
    pub validation: Result<Validated, String>,
    /// The password the result zips are encrypted with.
    pub password: String,
    /// Whether the server chose the password (and "mailed" it to the user).
    pub password_mailed: bool,
    pub output: Option<OutputParam>,
    /// Status polls answered so far.
    pub polls: u32,
}

/// A file part of a submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmittedFile {
    /// The multipart field name (`files`).
    pub field: String,
    /// The part's file name.
    pub file_name: String,
    /// Size in bytes.
    pub size: usize,
    /// Whether the bytes start with a BGZF block.
    pub bgzf: bool,
}

/// One `POST /api/v2/jobs/submit/{app}` that got past authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submission {
    /// The caller.
    pub username: String,
    /// The `{app}` of the path.
    pub app: String,
    /// Text fields in the order sent, values as sent (before escaping).
    pub fields: Vec<(String, String)>,
    /// File parts in the order sent.
    pub files: Vec<SubmittedFile>,
    /// The answer's status code.
    pub status: u16,
    /// The job created, when one was.
    pub job_id: Option<String>,
}

impl Submission {
    /// The first value sent for `field`.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.as_str())
    }
}

/// One request the emulator answered (or left hanging).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// The `X-Auth-Token` header, if any.
    pub token: Option<String>,
    /// The answer's status; `None` when a fault left it hanging.
    pub status: Option<u16>,
}

pub(crate) struct State {
    pub config: Config,
    pub users: HashMap<String, User>,
    pub tokens: HashMap<String, TokenRecord>,
    /// Every job, in submission order.
    pub jobs: Vec<Job>,
    /// Download hash → job id.
    pub downloads: HashMap<String, String>,
    pub submissions: Vec<Submission>,
    pub scripts: VecDeque<Script>,
    pub faults: Vec<Fault>,
    pub requests: Vec<RequestRecord>,
    pub next_id: i64,
    pub last_job_millis: i64,
}

impl State {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            users: HashMap::new(),
            tokens: HashMap::new(),
            jobs: Vec::new(),
            downloads: HashMap::new(),
            submissions: Vec::new(),
            scripts: VecDeque::new(),
            faults: Vec::new(),
            requests: Vec::new(),
            next_id: 1,
            last_job_millis: 0,
        }
    }

    /// A fresh database id (steps, parameters).
    pub fn next_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn job(&self, id: &str) -> Option<&Job> {
        self.jobs.iter().find(|job| job.id == id)
    }

    pub fn job_mut(&mut self, id: &str) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|job| job.id == id)
    }

    /// Creates the user if unknown.
    pub fn user_mut(&mut self, username: &str) -> &mut User {
        self.users
            .entry(username.to_owned())
            .or_insert_with(|| User {
                username: username.to_owned(),
                full_name: format!("{username} (emulated)"),
                mail: format!("{username}@example.org"),
                admin: false,
                api_token: None,
            })
    }

    /// 1-based rank of a waiting job among all waiting jobs.
    pub fn position_in_queue(&self, id: &str) -> i64 {
        let mut position = 0;
        for job in &self.jobs {
            if matches!(job.phase, Phase::Waiting(_)) && job.state == job_state::WAITING {
                position += 1;
                if job.id == id {
                    return position;
                }
            }
        }
        -1
    }
}
