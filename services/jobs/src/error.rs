//! The jobs service's one error enum, mapped exhaustively onto wire errors.

use fip_kit::ApiError;
use fip_proto::common::v1::ErrorReason;
use tonic::{Code, Status};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("invalid request")]
    Validation(Vec<(String, String)>),
    #[error("{resource_type} {id} not found")]
    NotFound {
        resource_type: &'static str,
        id: String,
    },
    #[error("{message}")]
    TargetMismatch {
        message: String,
        field: String,
        service_id: i64,
        panel_id: i64,
    },
    #[error("{message}")]
    ServiceInactive { message: String, service_id: i64 },
    #[error("job {id} has already finished ({status})")]
    NotCancellable { id: String, status: &'static str },
    /// A write to a job that another writer ended meanwhile.
    #[error("job {0} has already ended")]
    Ended(String),
    #[error("this call needs the {0} role")]
    PermissionDenied(&'static str),
    /// An error another service answered, passed on as it is (it already
    /// carries its reason, e.g. CREDENTIALS_MISSING from the user service).
    #[error("{}", .0.message())]
    Upstream(Status),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for JobError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Ended(id) => JobError::Ended(id),
            other => JobError::Internal(other.into()),
        }
    }
}

impl From<Status> for JobError {
    fn from(status: Status) -> Self {
        JobError::Upstream(status)
    }
}

impl From<JobError> for Status {
    fn from(error: JobError) -> Self {
        let message = error.to_string();
        let api = match error {
            JobError::Validation(v) => ApiError::validation(v),
            JobError::NotFound { resource_type, id } => {
                ApiError::new(Code::NotFound, ErrorReason::NotFound, message)
                    .with_metadata("resource_type", resource_type)
                    .with_metadata("resource_id", id)
            }
            JobError::TargetMismatch {
                field,
                service_id,
                panel_id,
                ..
            } => {
                let mut e = ApiError::new(
                    Code::InvalidArgument,
                    ErrorReason::TargetMismatch,
                    message.clone(),
                )
                .with_metadata("service_id", service_id)
                .with_metadata("field", field.clone());
                if panel_id > 0 {
                    e = e.with_metadata("reference_panel_id", panel_id);
                }
                e.violations = vec![(field, message)];
                e
            }
            JobError::ServiceInactive { service_id, .. } => ApiError::new(
                Code::FailedPrecondition,
                ErrorReason::ServiceInactive,
                message,
            )
            .with_metadata("service_id", service_id),
            JobError::NotCancellable { id, .. } | JobError::Ended(id) => ApiError::new(
                Code::FailedPrecondition,
                ErrorReason::JobNotCancellable,
                message,
            )
            .with_metadata("job_id", id),
            JobError::PermissionDenied(role) => {
                ApiError::permission_denied(message).with_metadata("required_role", role)
            }
            JobError::Upstream(status) => return status,
            JobError::Internal(e) => ApiError::internal(format!("{e:#}")),
        };
        api.into()
    }
}
