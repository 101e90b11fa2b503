//! The domain of the files service: who may see which file, listing,
//! deletion and job links. Uploads are in [`crate::upload`], downloads and
//! signed links in [`crate::download`], retention in [`crate::retention`].

use std::sync::Arc;

use fip_kit::Violations;
use fip_kit::auth::UserPrincipal;
use fip_kit::config::Config;
use fip_kit::paging::{self, Listing};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::error::{FilesError, check, invalid};
use crate::links::LinkSigner;
use crate::objects::Objects;
use crate::store::{FileKind, FileQuery, FileRecord, Store};

/// Limits and settings of the files service.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Largest user upload, in bytes.
    pub max_upload_bytes: i64,
    /// Bytes each user may store; 0 for no limit.
    pub quota_bytes: i64,
    /// The hub's public base URL, without a trailing slash.
    pub public_base_url: Option<String>,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        let files = &config.files;
        Self {
            max_upload_bytes: i64::try_from(files.max_upload_bytes).unwrap_or(i64::MAX),
            quota_bytes: i64::try_from(files.quota_bytes).unwrap_or(i64::MAX),
            public_base_url: files
                .public_base_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
        }
    }
}

/// Uploads in progress, for health and tests that wait on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadActivity {
    /// Uploads running now.
    pub active: usize,
    /// Bytes received by all uploads since the start (kept or not).
    pub received_bytes: u64,
}

/// A page of a user's files.
#[derive(Debug, Clone, PartialEq)]
pub struct FilePage {
    pub files: Vec<FileRecord>,
    pub next_page_token: String,
    pub total_size: i64,
    pub used_bytes: i64,
    pub quota_bytes: i64,
}

/// Which of their files a user lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListRequest {
    pub page_size: i32,
    pub page_token: String,
    pub kind: Option<FileKind>,
    pub job_id: Option<String>,
}

/// The files service's domain.
pub struct Files {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) objects: Objects,
    pub(crate) links: LinkSigner,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Settings,
    pub(crate) activity: watch::Sender<UploadActivity>,
}

/// Longest accepted job id.
pub const MAX_JOB_ID_CHARS: usize = 64;

impl Files {
    pub fn new(
        store: Arc<dyn Store>,
        objects: Objects,
        links: LinkSigner,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            objects,
            links,
            clock,
            settings,
            activity: watch::Sender::new(UploadActivity::default()),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Watches the uploads in progress.
    pub fn upload_activity(&self) -> watch::Receiver<UploadActivity> {
        self.activity.subscribe()
    }

    /// The file `id`, or NOT_FOUND.
    pub(crate) async fn existing(&self, id: &str) -> Result<FileRecord, FilesError> {
        // File ids are UUIDs: anything else names no file, and is not worth
        // a query (nor, at any length, an echo).
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(FilesError::NotFound {
                id: fip_kit::error::bounded(id),
            });
        }
        self.store
            .file(id)
            .await?
            .ok_or_else(|| FilesError::NotFound { id: id.to_string() })
    }

    /// The file `id` if `user` may see it (theirs, or any for an admin);
    /// another user's file is NOT_FOUND, like an absent one.
    pub async fn get(&self, user: &UserPrincipal, id: &str) -> Result<FileRecord, FilesError> {
        let file = self.existing(id).await?;
        if file.owner_user_id == user.id || user.is_admin() {
            Ok(file)
        } else {
            Err(FilesError::NotFound { id: id.to_string() })
        }
    }

    /// The file `id`, checked to belong to `owner_user_id` unless that is 0.
    pub async fn lookup(&self, id: &str, owner_user_id: i64) -> Result<FileRecord, FilesError> {
        let file = self.existing(id).await?;
        if owner_user_id != 0 && file.owner_user_id != owner_user_id {
            return Err(FilesError::NotFound { id: id.to_string() });
        }
        Ok(file)
    }

    /// A page of the user's own files, newest first, with their storage use.
    pub async fn list(
        &self,
        user: &UserPrincipal,
        request: ListRequest,
    ) -> Result<FilePage, FilesError> {
        let ListRequest {
            page_size,
            page_token,
            kind,
            job_id,
        } = request;
        let mut v = Violations::new();
        let limit = paging::checked_page_size(&mut v, page_size);
        if let Some(job_id) = &job_id {
            v.max_len("job_id", job_id, MAX_JOB_ID_CHARS);
        }
        let listing = Listing::new("files")
            .filter("kind", kind.map(FileKind::as_str))
            .filter("job_id", &job_id);
        let before_id = paging::decode::<String>(&mut v, &page_token, &listing);
        check(v)?;
        let query = FileQuery {
            owner_user_id: user.id,
            kind,
            job_id,
            before_id,
            limit: limit + 1,
        };
        let (mut files, total_size) = self.store.list_files(&query).await?;
        let next_page_token =
            paging::next_page_token(&mut files, limit, |f| paging::encode(&listing, &f.id));
        Ok(FilePage {
            files,
            next_page_token,
            total_size,
            used_bytes: self.store.used_bytes(user.id).await?,
            quota_bytes: self.settings.quota_bytes,
        })
    }

    /// Deletes a file the user may see: its metadata first (so it is gone
    /// at once), then its content.
    pub async fn delete(&self, user: &UserPrincipal, id: &str) -> Result<(), FilesError> {
        let file = self.get(user, id).await?;
        if !self.store.delete_file(&file.id).await? {
            return Err(FilesError::NotFound { id: id.to_string() });
        }
        if let Err(e) = self.objects.delete(&file.object_key).await {
            tracing::warn!(file_id = %file.id, object_key = %file.object_key, error = %e,
                "the file is deleted but its content could not be removed");
        }
        tracing::info!(file_id = %file.id, owner_user_id = file.owner_user_id, "file deleted");
        Ok(())
    }

    /// Deletes every output file of the owner's job, content and metadata;
    /// returns how many. Deleting again finds none.
    pub async fn delete_job_outputs(
        &self,
        owner_user_id: i64,
        job_id: &str,
    ) -> Result<usize, FilesError> {
        let mut v = Violations::new();
        v.text("job_id", job_id, MAX_JOB_ID_CHARS);
        v.id("owner_user_id", owner_user_id);
        check(v)?;
        let query = FileQuery {
            owner_user_id,
            kind: Some(FileKind::Output),
            job_id: Some(job_id.trim().to_string()),
            before_id: None,
            limit: 100,
        };
        let mut deleted = 0;
        loop {
            let (batch, _) = self.store.list_files(&query).await?;
            if batch.is_empty() {
                break;
            }
            for file in batch {
                if self.store.delete_file(&file.id).await? {
                    deleted += 1;
                }
                if let Err(e) = self.objects.delete(&file.object_key).await {
                    tracing::warn!(file_id = %file.id, object_key = %file.object_key, error = %e,
                        "the file is deleted but its content could not be removed");
                }
            }
        }
        tracing::info!(owner_user_id, job_id, deleted, "job outputs deleted");
        Ok(deleted)
    }

    /// Links the owner's file to a job (idempotent); the first job becomes
    /// the file's `job_id`.
    pub async fn link_to_job(
        &self,
        file_id: &str,
        job_id: &str,
        owner_user_id: i64,
    ) -> Result<FileRecord, FilesError> {
        let mut v = Violations::new();
        v.text("job_id", job_id, MAX_JOB_ID_CHARS);
        v.id("owner_user_id", owner_user_id);
        check(v)?;
        self.lookup(file_id, owner_user_id).await?;
        self.store
            .link_job(file_id, job_id.trim(), self.clock.now_millis())
            .await?
            .ok_or_else(|| FilesError::NotFound {
                id: file_id.to_string(),
            })
    }
}

/// Checks a file id: required, and a UUID.
pub fn check_id(field: &str, id: &str) -> Result<(), FilesError> {
    if id.is_empty() {
        return Err(invalid(field, "is required"));
    }
    match uuid::Uuid::try_parse(id) {
        Ok(parsed) if parsed.hyphenated().to_string() == id => Ok(()),
        _ => Err(invalid(field, "must be a file id (a lowercase UUID)")),
    }
}
