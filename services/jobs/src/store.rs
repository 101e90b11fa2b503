//! What the jobs service keeps, behind a trait; [`sql::SqlStore`] keeps it in
//! SQLite or PostgreSQL.

pub mod sql;

use async_trait::async_trait;

use crate::model::{
    ChromosomeQc, Job, LogEntry, LogSource, LogType, ResultFile, Status, StatusUpdate,
};

/// Which jobs to list; newest first, `before` is the page cursor
/// (created_at, id) of the last job of the previous page.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// None: every user's (admins).
    pub user_id: Option<i64>,
    pub statuses: Vec<Status>,
    pub service_id: Option<i64>,
    pub created_after: Option<i64>,
    pub created_before: Option<i64>,
    pub parent_job_id: Option<String>,
    pub top_level_only: bool,
    pub query: Option<String>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// Which log lines to list, oldest first.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub source: Option<LogSource>,
    pub types: Vec<LogType>,
    pub after_id: i64,
    pub limit: i64,
}

/// Job counts for the dashboard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub by_status: Vec<(Status, i64)>,
    /// (service id, service name, status, count).
    pub by_service: Vec<(i64, String, Status, i64)>,
    /// Mean seconds from start to completion of completed jobs.
    pub average_duration_seconds: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("request id already used")]
    DuplicateRequest,
    /// A save of a job that another writer has ended meanwhile (a cancel).
    #[error("job {0} has already ended")]
    Ended(String),
    /// A conditional save of a job another writer has changed meanwhile.
    #[error("job {0} has changed meanwhile")]
    Changed(String),
    /// The database failed, or returned something unreadable.
    #[error("database error: {0:#}")]
    Backend(anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts jobs (a parent before its children) and their first history
    /// entries, all or nothing.
    async fn create_jobs(&self, jobs: &[Job], message: &str) -> StoreResult<()>;
    async fn job(&self, id: &str) -> StoreResult<Option<Job>>;
    async fn job_by_request(&self, user_id: i64, request_id: &str) -> StoreResult<Option<Job>>;
    async fn children(&self, parent_id: &str) -> StoreResult<Vec<Job>>;
    async fn list_jobs(&self, filter: &JobFilter) -> StoreResult<(Vec<Job>, i64)>;
    /// Writes every mutable field of `job`; with `history`, appends a status
    /// update in the same transaction. Returns the history entry's id.
    /// Never clears a cancel request, and never writes over a job that has
    /// ended meanwhile ([`StoreError::Ended`]).
    async fn save(&self, job: &Job, history: Option<&str>) -> StoreResult<Option<i64>>;
    /// Like [`Self::save`], but only while the stored job still has the
    /// status, progress and update time of `read`, the copy `job` was
    /// derived from; otherwise nothing is written ([`StoreError::Changed`],
    /// or [`StoreError::Ended`] when it has ended).
    async fn save_unchanged(
        &self,
        job: &Job,
        read: &Job,
        history: Option<&str>,
    ) -> StoreResult<Option<i64>>;
    /// Records a cancel request of an unfinished job, touching nothing else
    /// (the worker driving it may be writing it). A job nothing has worked
    /// on yet (pending or queued, phase `new`) ends `cancelled` at once: a
    /// worker that picks it up meanwhile finds it ended when it saves.
    /// Returns whether it ended.
    async fn request_cancel(&self, id: &str, at: i64) -> StoreResult<bool>;
    /// Jobs a worker must still drive: not final, not parents.
    async fn unfinished(&self) -> StoreResult<Vec<Job>>;
    async fn status_updates(
        &self,
        job_id: &str,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<StatusUpdate>>;
    /// Appends log lines; returns them with their ids.
    async fn add_logs(&self, entries: &[LogEntry]) -> StoreResult<Vec<LogEntry>>;
    async fn logs(&self, job_id: &str, filter: &LogFilter) -> StoreResult<Vec<LogEntry>>;
    /// Records (or replaces, by name) a result file.
    async fn put_result(&self, job_id: &str, file: &ResultFile) -> StoreResult<()>;
    async fn put_qc(&self, job_id: &str, qc: &ChromosomeQc) -> StoreResult<()>;
    async fn results(&self, job_id: &str) -> StoreResult<(Vec<ResultFile>, Vec<ChromosomeQc>)>;
    /// Records that every file of the remote output `output` is stored and
    /// recorded (again: no change).
    async fn mark_output_fetched(&self, job_id: &str, output: &str, at: i64) -> StoreResult<()>;
    /// The remote outputs of the job recorded as fetched.
    async fn fetched_outputs(&self, job_id: &str) -> StoreResult<Vec<String>>;
    /// Forgets the job's result files, QC and fetched outputs.
    async fn clear_results(&self, job_id: &str) -> StoreResult<()>;
    /// Counts of top-level jobs (and of children of multi-service jobs).
    async fn counts(&self, user_id: Option<i64>, created_after: Option<i64>)
    -> StoreResult<Counts>;
}
