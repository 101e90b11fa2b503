//! The notify service's one error enum, and its exhaustive mapping onto the
//! wire errors of `fip.common.v1.ErrorReason`.

use fip_kit::ApiError;
use fip_kit::auth::AuthError;
use fip_proto::common::v1::ErrorReason;
use tonic::Code;

use crate::directory::DirectoryError;
use crate::events::BusError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("invalid request")]
    Validation(Vec<(String, String)>),
    #[error("{resource_type} {id} not found")]
    NotFound {
        resource_type: &'static str,
        id: String,
    },
    #[error("{message}")]
    PermissionDenied {
        message: String,
        required_identity: String,
    },
    #[error("the token has expired: sign in again")]
    TokenExpired { expired_at: String },
    #[error("the {upstream} service is unavailable: try again later")]
    UpstreamUnavailable {
        upstream: &'static str,
        detail: String,
    },
    #[error("the {upstream} service failed")]
    UpstreamFailed {
        upstream: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for NotifyError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Database(e) => NotifyError::Internal(e.into()),
        }
    }
}

impl From<DirectoryError> for NotifyError {
    fn from(error: DirectoryError) -> Self {
        let detail = error.to_string();
        match error {
            DirectoryError::Unavailable(_) => NotifyError::UpstreamUnavailable {
                upstream: "user",
                detail,
            },
            DirectoryError::Failed(_) => NotifyError::UpstreamFailed {
                upstream: "user",
                detail,
            },
        }
    }
}

impl From<BusError> for NotifyError {
    fn from(error: BusError) -> Self {
        NotifyError::UpstreamUnavailable {
            upstream: "events",
            detail: error.to_string(),
        }
    }
}

impl From<NotifyError> for ApiError {
    fn from(error: NotifyError) -> Self {
        let message = error.to_string();
        match error {
            NotifyError::Validation(violations) => ApiError::validation(violations),
            NotifyError::NotFound { resource_type, id } => {
                ApiError::new(Code::NotFound, ErrorReason::NotFound, message)
                    .with_metadata("resource_type", resource_type)
                    .with_metadata("resource_id", id)
            }
            NotifyError::PermissionDenied {
                message,
                required_identity,
            } => ApiError::permission_denied(message)
                .with_metadata("required_identity", required_identity),
            NotifyError::TokenExpired { expired_at } => ApiError::from(AuthError::Expired)
                .with_metadata("token_kind", "access")
                .with_metadata("expired_at", expired_at),
            NotifyError::UpstreamUnavailable { upstream, detail } => {
                tracing::warn!(upstream, error = %detail, "a dependency is unavailable");
                ApiError::unavailable(ErrorReason::UpstreamFailed, message)
                    .with_metadata("upstream", upstream)
            }
            NotifyError::UpstreamFailed { upstream, detail } => {
                tracing::error!(upstream, error = %detail, "a dependency failed");
                ApiError::new(Code::Internal, ErrorReason::UpstreamFailed, message)
                    .with_metadata("upstream", upstream)
            }
            NotifyError::Internal(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

impl From<NotifyError> for tonic::Status {
    fn from(error: NotifyError) -> Self {
        ApiError::from(error).into()
    }
}

/// A violation list as an error, or nothing.
pub fn check(violations: fip_kit::Violations) -> Result<(), NotifyError> {
    violations
        .finish()
        .map_err(|e| NotifyError::Validation(e.violations))
}
