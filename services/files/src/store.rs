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
    /// The uploader's idempotency key, unique within the job; empty if none.
    pub upload_key: String,
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

/// An upload in progress asks to hold `total_bytes` of its owner's quota
/// (its whole reservation so far, not an increment: asking again is harmless).
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    /// The id the file will have once stored.
    pub upload_id: String,
    pub owner_user_id: i64,
    pub total_bytes: i64,
    /// The owner's quota (> 0).
    pub quota_bytes: i64,
    pub now: i64,
    /// Until when the reservation holds unless renewed.
    pub expires_at: i64,
}

/// The answer to a [`Reservation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    Granted,
    /// Stored and reserved bytes of the owner when it was refused (the
    /// upload's own earlier reservation included); nothing changed.
    Refused {
        used_bytes: i64,
        reserved_bytes: i64,
    },
}

/// An owner's storage counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub used_bytes: i64,
    pub reserved_bytes: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a file with this id already exists")]
    Conflict,
    /// The job already has a file with the upload key: that file.
    #[error("the job already has a file with this upload key")]
    KeyTaken(Box<FileRecord>),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Records a file whose content is complete; a non-empty `job_id` is also
    /// recorded as the file's first job link. Its bytes count as used, and
    /// the reservation of the upload with the file's id (if any) ends. A
    /// file whose job already has one with its non-empty `upload_key` is not
    /// recorded ([`StoreError::KeyTaken`] with the one recorded).
    async fn insert_file(&self, file: &FileRecord) -> StoreResult<()>;
    /// The file of `job_id` with the non-empty `upload_key`, if any.
    async fn file_by_key(&self, job_id: &str, upload_key: &str) -> StoreResult<Option<FileRecord>>;
    /// Sets an upload's reservation to `total_bytes` while the owner's
    /// stored and reserved bytes stay within the quota, atomically against
    /// every other reservation of the owner; first gives back the owner's
    /// expired reservations.
    async fn reserve(&self, reservation: &Reservation) -> StoreResult<Reserved>;
    /// Gives back an upload's reservation (none: no change).
    async fn release(&self, owner_user_id: i64, upload_id: &str) -> StoreResult<()>;
    /// The owner's storage counter (expired reservations still included
    /// until the owner's next reservation gives them back).
    async fn usage(&self, owner_user_id: i64) -> StoreResult<Usage>;
    async fn file(&self, id: &str) -> StoreResult<Option<FileRecord>>;
    /// A page of `query` (at most `limit` files) and the number of files
    /// matching its filters over all pages.
    async fn list_files(&self, query: &FileQuery) -> StoreResult<(Vec<FileRecord>, i64)>;
    /// Bytes of content `owner_user_id` stores (expired content excluded).
    async fn used_bytes(&self, owner_user_id: i64) -> StoreResult<i64>;
    /// Removes a file's metadata and its job links, and its bytes from the
    /// owner's use; false if it was absent.
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
    /// Records that retention deleted a file's content (its bytes no longer
    /// count as used).
    async fn mark_content_deleted(&self, id: &str, at: i64) -> StoreResult<()>;
}
