//! Who may call what: reads need any signed-in user or platform service;
//! writes need `service_admin` (or `admin`).

use fip_kit::ApiError;
use fip_kit::auth::{self, Principal, Role};
use fip_proto::common::v1::ErrorReason;

/// A reader's rights: administrators and platform services also see
/// inactive services and panels.
pub fn reader<T>(request: &tonic::Request<T>) -> Result<bool, ApiError> {
    Ok(match auth::principal(request)? {
        Principal::User(user) => user.is_admin() || user.has_role(Role::ServiceAdmin),
        Principal::Service(_) => true,
    })
}

/// Refuses callers without `service_admin` or `admin`.
pub fn writer<T>(request: &tonic::Request<T>) -> Result<(), ApiError> {
    auth::require_role(request, Role::ServiceAdmin)
        .map(|_| ())
        .map_err(|e| {
            if e.reason == ErrorReason::PermissionDenied {
                e.with_metadata("required_role", Role::ServiceAdmin.as_str())
            } else {
                e
            }
        })
}
