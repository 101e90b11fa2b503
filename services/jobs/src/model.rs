//! The jobs service's own vocabulary.
//!
//! Each word has one definition: the API family and the genome build are the
//! shared libraries' ([`ApiType`], [`GenomeBuild`]); phasing, mode and the
//! reason a job failed are the enums below, with the meaning of the proto's
//! enums. A stored or received value none of them knows is refused, never
//! taken for a default.

pub use fip_backends::ApiType;
pub use fip_vcf::GenomeBuild;

/// The API family named `s` (as [`ApiType::as_str`] writes it).
pub fn parse_api_type(s: &str) -> Option<ApiType> {
    ApiType::ALL.into_iter().find(|a| a.as_str() == s)
}

/// The genome build named `s` (`hg19`, `hg38`).
pub fn parse_build(s: &str) -> Option<GenomeBuild> {
    [GenomeBuild::Hg19, GenomeBuild::Hg38]
        .into_iter()
        .find(|b| b.as_str() == s)
}

/// How the server phases the input (absent: the server's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phasing {
    Eagle,
    Beagle,
    NoPhasing,
}

impl Phasing {
    /// As the Cloudgene servers name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phasing::Eagle => "eagle",
            Phasing::Beagle => "beagle",
            Phasing::NoPhasing => "no_phasing",
        }
    }

    pub fn parse(s: &str) -> Option<Phasing> {
        [Phasing::Eagle, Phasing::Beagle, Phasing::NoPhasing]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// What the server does with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Imputation,
    QcOnly,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Imputation => "imputation",
            Mode::QcOnly => "qc_only",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Imputation, Mode::QcOnly]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// Why a job failed: the `fip.common.v1.ErrorReason`s a job can end with,
/// written as the wire writes them (`UPSTREAM_FAILED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    CredentialsMissing,
    CredentialsRejected,
    ServiceUnavailable,
    InputInvalid,
    ResultsExpired,
    UpstreamFailed,
    Internal,
}

impl FailureReason {
    pub const ALL: [FailureReason; 7] = [
        FailureReason::CredentialsMissing,
        FailureReason::CredentialsRejected,
        FailureReason::ServiceUnavailable,
        FailureReason::InputInvalid,
        FailureReason::ResultsExpired,
        FailureReason::UpstreamFailed,
        FailureReason::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::CredentialsMissing => "CREDENTIALS_MISSING",
            FailureReason::CredentialsRejected => "CREDENTIALS_REJECTED",
            FailureReason::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            FailureReason::InputInvalid => "INPUT_INVALID",
            FailureReason::ResultsExpired => "RESULTS_EXPIRED",
            FailureReason::UpstreamFailed => "UPSTREAM_FAILED",
            FailureReason::Internal => "INTERNAL",
        }
    }

    pub fn parse(s: &str) -> Option<FailureReason> {
        FailureReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Where a job stands, in the hub's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
    Expired,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::Queued,
        Status::Running,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
        Status::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }

    /// The states of a job that may still change: the one list the worker,
    /// the store and the watchers go by.
    pub const UNFINISHED: [Status; 3] = [Status::Pending, Status::Queued, Status::Running];

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the job will not change any more.
    pub fn is_final(self) -> bool {
        !Status::UNFINISHED.contains(&self)
    }
}

/// How far the worker got with a job; recorded before each step that talks
/// to the outside, so a restarted worker resumes where the last one stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Accepted; nothing sent anywhere yet.
    New,
    /// A submit to the external server may be under way: on resume, look the
    /// run up by name before submitting again.
    Submitting,
    /// The server has the run (`external_job_id`); follow it.
    Submitted,
    /// The run finished; outputs are being fetched.
    Fetching,
    /// Nothing left to do.
    Done,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::New => "new",
            Phase::Submitting => "submitting",
            Phase::Submitted => "submitted",
            Phase::Fetching => "fetching",
            Phase::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        [
            Phase::New,
            Phase::Submitting,
            Phase::Submitted,
            Phase::Fetching,
            Phase::Done,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// What the user should do about a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    None,
    UpdateCredentials,
    FixInput,
    ChooseAnotherTarget,
    RetryLater,
    ContactSupport,
}

impl ErrorAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorAction::None => "",
            ErrorAction::UpdateCredentials => "update_credentials",
            ErrorAction::FixInput => "fix_input",
            ErrorAction::ChooseAnotherTarget => "choose_another_target",
            ErrorAction::RetryLater => "retry_later",
            ErrorAction::ContactSupport => "contact_support",
        }
    }

    pub fn parse(s: &str) -> ErrorAction {
        [
            ErrorAction::UpdateCredentials,
            ErrorAction::FixInput,
            ErrorAction::ChooseAnotherTarget,
            ErrorAction::RetryLater,
            ErrorAction::ContactSupport,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
        .unwrap_or(ErrorAction::None)
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub user_id: i64,
    pub parent_job_id: Option<String>,
    pub request_id: Option<String>,
    pub name: String,
    pub service_id: i64,
    pub service_name: String,
    /// None only for a parent (a multi-service job has no target itself).
    pub api_type: Option<ApiType>,
    pub base_url: String,
    pub reference_panel_id: i64,
    pub panel_name: String,
    pub panel_slug: String,
    /// None only for a parent.
    pub build: Option<GenomeBuild>,
    /// None: the server's default.
    pub phasing: Option<Phasing>,
    pub population: String,
    pub mode: Mode,
    pub r2_filter: Option<f64>,
    pub status: Status,
    pub progress: i64,
    pub phase: Phase,
    pub external_job_id: String,
    pub remote_code: Option<i64>,
    pub remote_state: String,
    pub remote_position: Option<i64>,
    pub current_step: String,
    pub remote_observed_at: Option<i64>,
    pub error_message: String,
    pub error_reason: Option<FailureReason>,
    pub error_action: ErrorAction,
    pub error_action_url: String,
    pub input_file_id: String,
    /// The pre-flight summary, as encoded `fip.jobs.v1.InputSummary`.
    pub input_summary: Option<Vec<u8>>,
    /// The sealed per-job result password.
    pub secret: Option<fip_kit::vault::Sealed>,
    pub submit_started_at: Option<i64>,
    pub attempts: i64,
    pub next_poll_at: i64,
    pub poll_failures: i64,
    /// How many remote log messages have been copied into the job's logs.
    pub log_cursor: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub cancel_requested_at: Option<i64>,
    /// When the external server was asked to cancel the run.
    pub cancel_sent_at: Option<i64>,
    /// Looks at the run since the cancel was sent.
    pub cancel_polls: i64,
    pub results_expire_at: Option<i64>,
}

/// One entry of a job's status history.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub id: i64,
    pub job_id: String,
    pub status: Status,
    pub progress: i64,
    pub message: String,
    pub created_at: i64,
}

/// Where a log line comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    Remote,
    Hub,
}

impl LogSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LogSource::Remote => "remote",
            LogSource::Hub => "hub",
        }
    }

    pub fn parse(s: &str) -> Option<LogSource> {
        match s {
            "remote" => Some(LogSource::Remote),
            "hub" => Some(LogSource::Hub),
            _ => None,
        }
    }
}

/// Kind of a log line (Cloudgene's OK/ERROR/WARNING/RUNNING, plus hub INFO).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    Ok,
    Error,
    Warning,
    Running,
    Info,
}

impl LogType {
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::Ok => "ok",
            LogType::Error => "error",
            LogType::Warning => "warning",
            LogType::Running => "running",
            LogType::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<LogType> {
        [
            LogType::Ok,
            LogType::Error,
            LogType::Warning,
            LogType::Running,
            LogType::Info,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// One log line of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub id: i64,
    pub job_id: String,
    pub source: LogSource,
    pub step_name: String,
    pub log_type: LogType,
    pub message: String,
    pub time: i64,
}

/// A result file stored for a job.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultFile {
    pub file_id: String,
    pub name: String,
    pub kind: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub chromosome: String,
    pub content_type: String,
    pub created_at: i64,
}

/// QC figures of one chromosome of a job's results.
#[derive(Debug, Clone, PartialEq)]
pub struct ChromosomeQc {
    pub chromosome: String,
    pub variant_count: i64,
    pub typed_count: i64,
    pub mean_r2: f64,
    pub count_r2_ge_03: i64,
    pub count_r2_ge_08: i64,
}
