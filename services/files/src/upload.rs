//! Storing a file from a stream of chunks: size and SHA-256 computed on the
//! fly, limits and declared values checked as bytes arrive, the object
//! completed only when everything checks out, and the metadata written only
//! after that. A stream that fails or breaks off stores nothing.

use std::sync::Arc;

use bytes::Bytes;
use fip_kit::Violations;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::error::{FilesError, IntegrityMismatch, check};
use crate::files::{Files, MAX_JOB_ID_CHARS, UploadActivity};
use crate::objects::ChunkStream;
use crate::store::{FileKind, FileRecord, Reservation, Reserved, StoreError};

/// Largest accepted chunk of an upload stream.
pub const MAX_CHUNK_BYTES: usize = 3 * 1024 * 1024;
/// Longest file name, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// The media type of a file uploaded without one.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// Who uploads: a user (limits and quota apply) or a job of the platform.
#[derive(Debug, Clone, PartialEq)]
pub enum Uploader {
    User {
        user_id: i64,
    },
    Job {
        owner_user_id: i64,
        job_id: String,
        /// The caller's key of this upload within the job; empty if none.
        idempotency_key: String,
    },
}

/// Longest idempotency key, in characters.
pub const MAX_KEY_CHARS: usize = 255;

/// The metadata that opens an upload, as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRequest {
    pub uploader: Uploader,
    pub name: String,
    pub kind: FileKind,
    pub content_type: String,
    pub expected_size_bytes: Option<i64>,
    /// Empty when not declared.
    pub expected_sha256: String,
    pub expires_at: Option<i64>,
}

/// An upload checked and normalised.
#[derive(Debug)]
struct Upload {
    owner_user_id: i64,
    job_id: String,
    /// Empty if none.
    upload_key: String,
    /// Whether the hub's upload limit and the owner's quota apply.
    limited: bool,
    name: String,
    kind: FileKind,
    content_type: String,
    expected_size_bytes: Option<i64>,
    expected_sha256: Option<String>,
    expires_at: Option<i64>,
}

/// The name without any directory part (`/` or `\`), trimmed.
pub fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or_default().trim()
}

fn validate(request: UploadRequest) -> Result<Upload, FilesError> {
    let UploadRequest {
        uploader,
        name,
        kind,
        content_type,
        expected_size_bytes,
        expected_sha256,
        expires_at,
    } = request;
    let mut v = Violations::new();
    let (owner_user_id, job_id, upload_key, limited) = match uploader {
        Uploader::User { user_id } => {
            if kind != FileKind::Input {
                v.add("metadata.kind", "users may only upload inputs");
            }
            (user_id, String::new(), String::new(), true)
        }
        Uploader::Job {
            owner_user_id,
            job_id,
            idempotency_key,
        } => {
            v.id("metadata.owner_user_id", owner_user_id);
            v.text("metadata.job_id", &job_id, MAX_JOB_ID_CHARS);
            if idempotency_key.chars().count() > MAX_KEY_CHARS {
                v.add(
                    "metadata.idempotency_key",
                    format!("must be at most {MAX_KEY_CHARS} characters"),
                );
            } else if idempotency_key.chars().any(char::is_control) {
                v.add(
                    "metadata.idempotency_key",
                    "must not contain control characters",
                );
            }
            (
                owner_user_id,
                job_id.trim().to_string(),
                idempotency_key,
                false,
            )
        }
    };
    let name = base_name(&name).to_string();
    if name.is_empty() {
        v.add(
            "metadata.name",
            "is required (a file name without directories)",
        );
    } else if name.chars().count() > MAX_NAME_CHARS {
        v.add(
            "metadata.name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        );
    } else if name == "." || name == ".." || name.chars().any(char::is_control) {
        v.add("metadata.name", "is not a usable file name");
    }
    let content_type = content_type.trim();
    let content_type = if content_type.is_empty() {
        DEFAULT_CONTENT_TYPE.to_string()
    } else {
        let well_formed = content_type.len() <= 255
            && content_type.split_once('/').is_some_and(|(t, s)| {
                !t.is_empty() && !s.is_empty() && !t.contains(char::is_whitespace)
            })
            && content_type
                .chars()
                .all(|c| c.is_ascii_graphic() || c == ' ');
        if !well_formed {
            v.add(
                "metadata.content_type",
                "must be a media type such as application/gzip",
            );
        }
        content_type.to_string()
    };
    if expected_size_bytes.is_some_and(|n| n < 0) {
        v.add("metadata.expected_size_bytes", "must not be negative");
    }
    let expected_sha256 = match expected_sha256.trim() {
        "" => None,
        hex if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
            Some(hex.to_ascii_lowercase())
        }
        _ => {
            v.add(
                "metadata.expected_sha256",
                "must be 64 hexadecimal characters",
            );
            None
        }
    };
    if expires_at.is_some_and(|at| at <= 0) {
        v.add("metadata.expires_at", "must be a time after 1970");
    }
    check(v)?;
    Ok(Upload {
        owner_user_id,
        job_id,
        upload_key,
        limited,
        name,
        kind,
        content_type,
        expected_size_bytes,
        expected_sha256,
        expires_at,
    })
}

/// Counts an upload as active while it lives.
struct Active<'a>(&'a tokio::sync::watch::Sender<UploadActivity>);

impl<'a> Active<'a> {
    fn start(activity: &'a tokio::sync::watch::Sender<UploadActivity>) -> Self {
        activity.send_modify(|a| a.active += 1);
        Self(activity)
    }

    fn received(&self, bytes: usize) {
        self.0.send_modify(|a| a.received_bytes += bytes as u64);
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|a| a.active -= 1);
    }
}

impl Files {
    /// Stores a file from `chunks` and returns its metadata.
    ///
    /// The work runs in a task of its own, so that a caller that goes away
    /// (a client disconnecting) cannot interrupt the clean-up: the stream
    /// then fails, the partial object is aborted, and nothing is recorded.
    pub async fn upload(
        self: &Arc<Self>,
        request: UploadRequest,
        chunks: ChunkStream,
    ) -> Result<FileRecord, FilesError> {
        let upload = validate(request)?;
        let files = self.clone();
        tokio::spawn(async move { files.receive(upload, chunks).await })
            .await
            .map_err(|e| FilesError::Internal(anyhow::anyhow!("the upload task failed: {e}")))?
    }

    async fn receive(&self, upload: Upload, chunks: ChunkStream) -> Result<FileRecord, FilesError> {
        let active = Active::start(&self.activity);
        if let Some(stored) = self
            .store
            .file_by_key(&upload.job_id, &upload.upload_key)
            .await?
        {
            // A retry of an upload that was stored: its answer was lost, or
            // the caller died before recording it.
            tracing::info!(file_id = %stored.id, job_id = %upload.job_id,
                upload_key = %upload.upload_key, "upload already stored under its key");
            return Ok(stored);
        }
        let id = uuid::Uuid::now_v7().to_string();
        let mut quota = QuotaHold::new(self, &upload, &id);
        let outcome = self
            .store_content(&upload, &id, chunks, &active, &mut quota)
            .await;
        if outcome.is_err() && quota.held > 0 {
            // An upload that failed, broke off or was refused gives back
            // what it held (one that cannot is given back when it expires).
            if let Err(e) = self.store.release(upload.owner_user_id, &id).await {
                tracing::warn!(upload_id = %id, error = %e,
                    "could not give back an upload's reservation; it lapses when it expires");
            }
        }
        outcome
    }

    async fn store_content(
        &self,
        upload: &Upload,
        id: &str,
        mut chunks: ChunkStream,
        active: &Active<'_>,
        quota: &mut QuotaHold<'_>,
    ) -> Result<FileRecord, FilesError> {
        if let Some(expected) = upload.expected_size_bytes {
            self.check_size(upload, expected, true)?;
            quota.cover(expected, expected).await?;
        }
        let object_key = id.to_string();
        let mut writer = self.objects.writer(&object_key);
        let mut hasher = Sha256::new();
        let mut size: i64 = 0;
        let received: Result<(), FilesError> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk: Bytes = chunk?;
                if chunk.len() > MAX_CHUNK_BYTES {
                    return Err(crate::error::invalid(
                        "chunk",
                        format!("must be at most {MAX_CHUNK_BYTES} bytes"),
                    ));
                }
                size += chunk.len() as i64;
                if let Some(expected) = upload.expected_size_bytes
                    && size > expected
                {
                    return Err(FilesError::Integrity(IntegrityMismatch {
                        expected_size_bytes: Some(expected),
                        actual_size_bytes: size,
                        expected_sha256: upload.expected_sha256.clone(),
                        actual_sha256: None,
                    }));
                }
                self.check_size(upload, size, false)?;
                let ahead = upload
                    .expected_size_bytes
                    .unwrap_or_else(|| size.saturating_add(RESERVE_AHEAD_BYTES));
                quota.cover(size, ahead).await?;
                hasher.update(&chunk);
                let length = chunk.len();
                writer.write(chunk).await?;
                active.received(length);
            }
            Ok(())
        }
        .await;
        let sha256 = hex::encode(hasher.finalize());
        let outcome = received.and_then(|()| {
            let size_ok = upload.expected_size_bytes.is_none_or(|e| e == size);
            let sha_ok = upload.expected_sha256.as_ref().is_none_or(|e| *e == sha256);
            if size_ok && sha_ok {
                Ok(())
            } else {
                Err(FilesError::Integrity(IntegrityMismatch {
                    expected_size_bytes: upload.expected_size_bytes,
                    actual_size_bytes: size,
                    expected_sha256: upload.expected_sha256.clone(),
                    actual_sha256: Some(sha256.clone()),
                }))
            }
        });
        if let Err(e) = outcome {
            writer.abort().await;
            tracing::info!(owner_user_id = upload.owner_user_id, received_bytes = size,
                error = %e, "upload refused, nothing stored");
            return Err(e);
        }
        writer.finish().await?;
        let record = FileRecord {
            id: id.to_string(),
            owner_user_id: upload.owner_user_id,
            job_id: upload.job_id.clone(),
            kind: upload.kind,
            name: upload.name.clone(),
            content_type: upload.content_type.clone(),
            size_bytes: size,
            sha256,
            object_key,
            created_at: self.clock.now_millis(),
            expires_at: upload.expires_at,
            content_deleted_at: None,
            upload_key: upload.upload_key.clone(),
        };
        // Recording the file turns its reservation into used bytes.
        if let Err(e) = self.store.insert_file(&record).await {
            if let Err(cleanup) = self.objects.delete(&record.object_key).await {
                tracing::warn!(object_key = %record.object_key, error = %cleanup,
                    "could not remove the content of an unrecorded upload");
            }
            if let StoreError::KeyTaken(stored) = e {
                // The same upload, retried while this one ran, won.
                return Ok(*stored);
            }
            return Err(e.into());
        }
        quota.held = 0;
        tracing::info!(file_id = %record.id, owner_user_id = record.owner_user_id,
            size_bytes = record.size_bytes, kind = record.kind.as_str(), "file stored");
        Ok(record)
    }

    /// The hub's upload limit, for `size` bytes.
    fn check_size(&self, upload: &Upload, size: i64, declared: bool) -> Result<(), FilesError> {
        if !upload.limited {
            return Ok(());
        }
        let max = self.settings.max_upload_bytes;
        if size > max {
            return Err(FilesError::TooLarge {
                max_size_bytes: max,
                size_bytes: declared.then_some(size),
            });
        }
        Ok(())
    }
}

/// Bytes an upload of unknown size reserves beyond what it has received, so
/// that it asks the store once per this many bytes rather than per chunk.
pub const RESERVE_AHEAD_BYTES: i64 = 8 * 1024 * 1024;
/// How long a reservation holds unless renewed: the bytes of an upload that
/// dies with its process come back at most this long after its last renewal.
pub const RESERVATION_TTL_MILLIS: i64 = 10 * 60 * 1000;

/// What an upload holds of its owner's quota.
struct QuotaHold<'a> {
    files: &'a Files,
    upload_id: &'a str,
    owner_user_id: i64,
    /// 0: no quota applies.
    quota_bytes: i64,
    /// Bytes reserved so far.
    held: i64,
    renewed_at: i64,
}

impl<'a> QuotaHold<'a> {
    fn new(files: &'a Files, upload: &Upload, upload_id: &'a str) -> Self {
        let quota_bytes = if upload.limited {
            files.settings.quota_bytes.max(0)
        } else {
            0
        };
        Self {
            files,
            upload_id,
            owner_user_id: upload.owner_user_id,
            quota_bytes,
            held: 0,
            renewed_at: 0,
        }
    }

    /// Makes sure at least `needed` bytes are reserved, asking for `wanted`
    /// (≥ `needed`) when more must be asked for, or for `needed` alone when
    /// `wanted` does not fit; renews the reservation before it expires.
    async fn cover(&mut self, needed: i64, wanted: i64) -> Result<(), FilesError> {
        if self.quota_bytes == 0 {
            return Ok(());
        }
        let now = self.files.clock.now_millis();
        if needed <= self.held && now - self.renewed_at < RESERVATION_TTL_MILLIS / 3 {
            return Ok(());
        }
        let least = needed.max(self.held);
        let mut asks = vec![wanted.max(least)];
        if least < asks[0] {
            asks.push(least);
        }
        let mut refused = (0, 0);
        for total in asks {
            let answer = self
                .files
                .store
                .reserve(&Reservation {
                    upload_id: self.upload_id.to_string(),
                    owner_user_id: self.owner_user_id,
                    total_bytes: total,
                    quota_bytes: self.quota_bytes,
                    now,
                    expires_at: now + RESERVATION_TTL_MILLIS,
                })
                .await?;
            match answer {
                Reserved::Granted => {
                    self.held = total;
                    self.renewed_at = now;
                    return Ok(());
                }
                Reserved::Refused {
                    used_bytes,
                    reserved_bytes,
                } => refused = (used_bytes, reserved_bytes),
            }
        }
        let (used, reserved) = refused;
        Err(FilesError::QuotaExceeded {
            limit: self.quota_bytes,
            used,
            // Other uploads' reservations, not this one's own.
            reserved: (reserved - self.held).max(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_directories() {
        assert_eq!(base_name("cohort.vcf.gz"), "cohort.vcf.gz");
        assert_eq!(base_name("/data/run 1/cohort.vcf.gz"), "cohort.vcf.gz");
        assert_eq!(base_name("C:\\Users\\me\\x.vcf"), "x.vcf");
        assert_eq!(base_name("dir/"), "");
    }

    fn request(name: &str) -> UploadRequest {
        UploadRequest {
            uploader: Uploader::User { user_id: 1 },
            name: name.into(),
            kind: FileKind::Input,
            content_type: String::new(),
            expected_size_bytes: None,
            expected_sha256: String::new(),
            expires_at: None,
        }
    }

    #[test]
    fn metadata_is_checked_field_by_field() {
        let ok = validate(UploadRequest {
            expected_sha256: "AB".repeat(32),
            ..request("a/b.vcf")
        })
        .unwrap();
        assert_eq!(ok.name, "b.vcf");
        assert_eq!(ok.content_type, DEFAULT_CONTENT_TYPE);
        assert_eq!(
            ok.expected_sha256.as_deref(),
            Some("ab".repeat(32).as_str())
        );
        assert!(ok.limited);

        let bad = validate(UploadRequest {
            kind: FileKind::Output,
            content_type: "not a type".into(),
            expected_size_bytes: Some(-1),
            expected_sha256: "xyz".into(),
            ..request("dir/")
        });
        let Err(FilesError::Validation(violations)) = bad else {
            panic!("expected a validation error, got {bad:?}");
        };
        let fields: Vec<&str> = violations.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "metadata.kind",
                "metadata.name",
                "metadata.content_type",
                "metadata.expected_size_bytes",
                "metadata.expected_sha256"
            ]
        );
    }

    #[test]
    fn job_uploads_need_an_owner_and_a_job() {
        let bad = validate(UploadRequest {
            uploader: Uploader::Job {
                owner_user_id: 0,
                job_id: " ".into(),
                idempotency_key: "\n".into(),
            },
            kind: FileKind::Output,
            ..request("x")
        });
        assert!(matches!(bad, Err(FilesError::Validation(v)) if v.len() == 3));
        let ok = validate(UploadRequest {
            uploader: Uploader::Job {
                owner_user_id: 3,
                job_id: "job-1".into(),
                idempotency_key: "chr_20.zip/chr20.dose.vcf.gz".into(),
            },
            kind: FileKind::Output,
            ..request("x")
        })
        .unwrap();
        assert!(!ok.limited);
        assert_eq!(ok.job_id, "job-1");
        assert_eq!(ok.upload_key, "chr_20.zip/chr20.dose.vcf.gz");
    }
}
