//! What the files service keeps about each file, behind a trait;
//! [`sql::SqlStore`] keeps it in SQLite or PostgreSQL. The content itself
//! lives in the object store ([`crate::objects`]).

pub mod sql;

use async_trait::async_trait;

/// Whether a file is a job input or a job result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Input,
    Output,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Input => "input",
            FileKind::Output => "output",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Input, Self::Output]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A stored file's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    /// UUIDv7, so ids sort by creation time.
    pub id: String,
    pub owner_user_id: i64,
    /// The producing job, or the first job an input was linked to; empty if none.
    pub job_id: String,
    pub kind: FileKind,
    pub name: String,
    pub content_type: String,
    pub size_bytes: i64,
    /// Lowercase hex.
    pub sha256: String,
    /// Where the content is in the object store.
    pub object_key: String,
    pub created_at: i64,
    /// When retention deletes the content (None: kept until deleted).
    pub expires_at: Option<i64>,
    /// When retention deleted the content.
    pub content_deleted_at: Option<i64>,
}

impl FileRecord {
    /// Whether the content is gone or due to go at `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.content_deleted_at.is_some() || self.expires_at.is_some_and(|at| at <= now)
    }
}

/// One user's files to list, newest first; `before_id` is the page cursor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileQuery {
    pub owner_user_id: i64,
    pub kind: Option<FileKind>,
    /// Files linked to this job.
    pub job_id: Option<String>,
    pub before_id: Option<String>,
    pub limit: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a file with this id already exists")]
    Conflict,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Records a file whose content is complete; a non-empty `job_id` is also
    /// recorded as the file's first job link.
    async fn insert_file(&self, file: &FileRecord) -> StoreResult<()>;
    async fn file(&self, id: &str) -> StoreResult<Option<FileRecord>>;
    /// A page of `query` (at most `limit` files) and the number of files
    /// matching its filters over all pages.
    async fn list_files(&self, query: &FileQuery) -> StoreResult<(Vec<FileRecord>, i64)>;
    /// Bytes of content `owner_user_id` stores (expired content excluded).
    async fn used_bytes(&self, owner_user_id: i64) -> StoreResult<i64>;
    /// Removes a file's metadata and its job links; false if it was absent.
    async fn delete_file(&self, id: &str) -> StoreResult<bool>;
    /// Links a file to a job (again: no change) and sets its `job_id` when
    /// empty; None if the file is absent.
    async fn link_job(
        &self,
        file_id: &str,
        job_id: &str,
        at: i64,
    ) -> StoreResult<Option<FileRecord>>;
    /// Files whose retention ran out by `now` and whose content still exists.
    async fn expired_files(&self, now: i64, limit: i64) -> StoreResult<Vec<FileRecord>>;
    /// Records that retention deleted a file's content.
    async fn mark_content_deleted(&self, id: &str, at: i64) -> StoreResult<()>;
}
