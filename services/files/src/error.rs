//! The files service's one error enum, and its exhaustive mapping onto the
//! wire errors of `fip.common.v1.ErrorReason`.

use fip_kit::ApiError;
use fip_kit::db::rfc3339;
use fip_proto::common::v1::ErrorReason;
use tonic::Code;

use crate::store::StoreError;

/// What went wrong with the numbers an upload declared.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntegrityMismatch {
    pub expected_size_bytes: Option<i64>,
    pub actual_size_bytes: i64,
    pub expected_sha256: Option<String>,
    /// Known only once the whole stream arrived.
    pub actual_sha256: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("invalid request")]
    Validation(Vec<(String, String)>),
    #[error("file {id} not found")]
    NotFound { id: String },
    #[error("the upload is larger than the {max_size_bytes} bytes allowed")]
    TooLarge {
        max_size_bytes: i64,
        size_bytes: Option<i64>,
    },
    #[error("the upload does not match its declared size or checksum: nothing was stored")]
    Integrity(IntegrityMismatch),
    #[error(
        "the storage quota of {limit} bytes would be exceeded ({used} bytes used, \
         {reserved} reserved by other uploads in progress)"
    )]
    QuotaExceeded {
        limit: i64,
        used: i64,
        reserved: i64,
    },
    #[error("the content of file {file_id} was deleted by retention")]
    ResultsExpired { file_id: String, expired_at: i64 },
    #[error("the download link is not valid")]
    LinkInvalid,
    #[error("the download link has expired: ask for a new one")]
    LinkExpired { expired_at: i64 },
    #[error("this call is internal")]
    PermissionDenied { required_identity: &'static str },
    #[error("{message}")]
    NotSupported {
        message: String,
        operation: &'static str,
    },
    #[error("the file store failed: {0}")]
    ObjectStore(String),
    /// The client's upload stream failed before it ended.
    #[error("the upload stream broke off: nothing was stored")]
    StreamBroken { code: Code },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for FilesError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => FilesError::Internal(anyhow::anyhow!("file id collision")),
            StoreError::KeyTaken(file) => FilesError::Internal(anyhow::anyhow!(
                "upload key already taken by file {}",
                file.id
            )),
            StoreError::Database(e) => FilesError::Internal(e.into()),
        }
    }
}

impl From<object_store::Error> for FilesError {
    fn from(error: object_store::Error) -> Self {
        FilesError::ObjectStore(error.to_string())
    }
}

impl From<FilesError> for ApiError {
    fn from(error: FilesError) -> Self {
        let message = error.to_string();
        match error {
            FilesError::Validation(violations) => ApiError::validation(violations),
            FilesError::NotFound { id } => ApiError::not_found(format!("file {id}"))
                .with_metadata("resource_type", "file")
                .with_metadata("resource_id", id),
            FilesError::TooLarge {
                max_size_bytes,
                size_bytes,
            } => {
                let error =
                    ApiError::new(Code::InvalidArgument, ErrorReason::FileTooLarge, message)
                        .with_metadata("max_size_bytes", max_size_bytes);
                match size_bytes {
                    Some(size) => error.with_metadata("size_bytes", size),
                    None => error,
                }
            }
            FilesError::Integrity(mismatch) => {
                let IntegrityMismatch {
                    expected_size_bytes,
                    actual_size_bytes,
                    expected_sha256,
                    actual_sha256,
                } = mismatch;
                let mut error = ApiError::new(
                    Code::InvalidArgument,
                    ErrorReason::IntegrityCheckFailed,
                    message,
                );
                if let Some(expected) = expected_size_bytes {
                    error = error
                        .with_metadata("expected_size_bytes", expected)
                        .with_metadata("actual_size_bytes", actual_size_bytes);
                }
                if let Some(expected) = expected_sha256 {
                    error = error.with_metadata("expected_sha256", expected);
                    if let Some(actual) = actual_sha256 {
                        error = error.with_metadata("actual_sha256", actual);
                    }
                }
                error
            }
            FilesError::QuotaExceeded {
                limit,
                used,
                reserved: _,
            } => ApiError::new(Code::ResourceExhausted, ErrorReason::QuotaExceeded, message)
                .with_metadata("quota", "storage_bytes")
                .with_metadata("limit", limit)
                .with_metadata("used", used),
            FilesError::ResultsExpired {
                file_id,
                expired_at,
            } => ApiError::new(
                Code::FailedPrecondition,
                ErrorReason::ResultsExpired,
                message,
            )
            .with_metadata("file_id", file_id)
            .with_metadata("expired_at", rfc3339(expired_at)),
            FilesError::LinkInvalid => {
                ApiError::unauthenticated(ErrorReason::TokenInvalid, message)
                    .with_metadata("token_kind", "download_link")
            }
            FilesError::LinkExpired { expired_at } => {
                ApiError::unauthenticated(ErrorReason::TokenExpired, message)
                    .with_metadata("token_kind", "download_link")
                    .with_metadata("expired_at", rfc3339(expired_at))
            }
            FilesError::PermissionDenied { required_identity } => {
                ApiError::permission_denied(message)
                    .with_metadata("required_identity", required_identity)
            }
            FilesError::NotSupported { operation, .. } => ApiError::new(
                Code::FailedPrecondition,
                ErrorReason::OperationNotSupported,
                message,
            )
            .with_metadata("operation", operation),
            FilesError::ObjectStore(detail) => {
                tracing::warn!(error = %detail, "object store failed");
                ApiError::unavailable(
                    ErrorReason::UpstreamFailed,
                    "the file store is not available",
                )
                .with_metadata("upstream", "object_store")
            }
            FilesError::StreamBroken { code } => {
                ApiError::new(code, ErrorReason::UpstreamFailed, message)
                    .with_metadata("upstream", "client")
            }
            FilesError::Internal(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

impl From<FilesError> for tonic::Status {
    fn from(error: FilesError) -> Self {
        ApiError::from(error).into()
    }
}

/// A violation list as an error, or nothing.
pub fn check(violations: fip_kit::Violations) -> Result<(), FilesError> {
    violations
        .finish()
        .map_err(|e| FilesError::Validation(e.violations))
}

/// One bad field as an error.
pub fn invalid(field: &str, description: impl Into<String>) -> FilesError {
    FilesError::Validation(vec![(field.to_string(), description.into())])
}
