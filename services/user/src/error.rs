//! The user service's one error enum, and its exhaustive mapping onto the
//! wire errors of `fip.common.v1.ErrorReason`.

use fip_kit::ApiError;
use fip_proto::common::v1::ErrorReason;
use tonic::Code;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("invalid request")]
    Validation(Vec<(String, String)>),
    #[error("{resource_type} {id} not found")]
    NotFound {
        resource_type: &'static str,
        id: String,
    },
    #[error("{field} already taken")]
    Conflict {
        resource_type: &'static str,
        field: &'static str,
    },
    #[error("wrong username or password")]
    LoginFailed,
    #[error("too many failed logins: try again in {retry_after_seconds} s")]
    LoginThrottled { retry_after_seconds: i64 },
    #[error("this account is deactivated")]
    AccountDisabled,
    #[error("the session has ended: sign in again")]
    SessionEnded,
    #[error("self-registration is turned off: ask an administrator for an account")]
    RegistrationDisabled,
    #[error("{message}")]
    PermissionDenied {
        message: String,
        required_role: &'static str,
    },
    #[error("this would leave the platform without an active admin")]
    LastAdmin,
    #[error("{message}")]
    SelfAdministration { message: String },
    #[error("{message}")]
    ServiceInactive { message: String, service_id: i64 },
    #[error("{message}")]
    ServiceUnavailable { message: String, service_id: i64 },
    #[error("{message}")]
    UpstreamFailed { message: String, upstream: String },
    #[error("no active credentials for service {service_id}: configure your API token in settings")]
    CredentialsMissing {
        service_id: i64,
        state: &'static str,
    },
    #[error("the stored credential for service {service_id} has expired: update it in settings")]
    CredentialsExpired { service_id: i64, expired_at: String },
    #[error("checked a moment ago: try again in {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: i64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for UserError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { field } => UserError::Conflict {
                resource_type: "user",
                field,
            },
            StoreError::NotFound => UserError::Internal(anyhow::anyhow!("row vanished")),
            StoreError::Database(e) => UserError::Internal(e.into()),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        let message = error.to_string();
        match error {
            UserError::Validation(violations) => ApiError::validation(violations),
            UserError::NotFound { resource_type, id } => {
                ApiError::new(Code::NotFound, ErrorReason::NotFound, message)
                    .with_metadata("resource_type", resource_type)
                    .with_metadata("resource_id", id)
            }
            UserError::Conflict {
                resource_type,
                field,
            } => ApiError::new(Code::AlreadyExists, ErrorReason::AlreadyExists, message)
                .with_metadata("resource_type", resource_type)
                .with_metadata("field", field),
            UserError::LoginFailed => {
                ApiError::new(Code::Unauthenticated, ErrorReason::LoginFailed, message)
            }
            UserError::LoginThrottled {
                retry_after_seconds,
            } => ApiError::new(
                Code::ResourceExhausted,
                ErrorReason::LoginThrottled,
                message,
            )
            .with_metadata("retry_after_seconds", retry_after_seconds),
            UserError::AccountDisabled => ApiError::new(
                Code::PermissionDenied,
                ErrorReason::AccountDisabled,
                message,
            ),
            UserError::SessionEnded => {
                ApiError::new(Code::Unauthenticated, ErrorReason::SessionEnded, message)
            }
            UserError::RegistrationDisabled => ApiError::new(
                Code::PermissionDenied,
                ErrorReason::RegistrationDisabled,
                message,
            ),
            UserError::PermissionDenied {
                message,
                required_role,
            } => ApiError::permission_denied(message).with_metadata("required_role", required_role),
            UserError::SelfAdministration { message } => {
                ApiError::permission_denied(message).with_metadata("target", "self")
            }
            UserError::LastAdmin => {
                ApiError::new(Code::FailedPrecondition, ErrorReason::LastAdmin, message)
            }
            UserError::ServiceInactive { service_id, .. } => ApiError::new(
                Code::FailedPrecondition,
                ErrorReason::ServiceInactive,
                message,
            )
            .with_metadata("service_id", service_id),
            UserError::ServiceUnavailable { service_id, .. } => {
                ApiError::unavailable(ErrorReason::ServiceUnavailable, message)
                    .with_metadata("service_id", service_id)
            }
            UserError::UpstreamFailed { upstream, .. } => {
                ApiError::unavailable(ErrorReason::UpstreamFailed, message)
                    .with_metadata("upstream", upstream)
            }
            UserError::CredentialsMissing { service_id, state } => ApiError::new(
                Code::FailedPrecondition,
                ErrorReason::CredentialsMissing,
                message,
            )
            .with_metadata("service_id", service_id)
            .with_metadata("settings_path", format!("/settings/services/{service_id}"))
            .with_metadata("state", state),
            UserError::CredentialsExpired {
                service_id,
                expired_at,
            } => ApiError::new(
                Code::FailedPrecondition,
                ErrorReason::CredentialsExpired,
                message,
            )
            .with_metadata("service_id", service_id)
            .with_metadata("settings_path", format!("/settings/services/{service_id}"))
            .with_metadata("expired_at", expired_at),
            UserError::RateLimited {
                retry_after_seconds,
            } => ApiError::new(Code::ResourceExhausted, ErrorReason::RateLimited, message)
                .with_metadata("retry_after_seconds", retry_after_seconds),
            UserError::Internal(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

impl From<UserError> for tonic::Status {
    fn from(error: UserError) -> Self {
        ApiError::from(error).into()
    }
}

/// A violation list as an error, or nothing.
pub fn check(violations: fip_kit::Violations) -> Result<(), UserError> {
    violations
        .finish()
        .map_err(|e| UserError::Validation(e.violations))
}
