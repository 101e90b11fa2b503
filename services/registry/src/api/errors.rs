//! The domain error onto the wire: one arm per variant.

use fip_kit::ApiError;
use fip_kit::error::{ERROR_DOMAIN, reason_str};
use fip_proto::common::v1::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::RegistryError;
use crate::store::StoreError;

/// The wire error of a domain error.
pub fn api_error(error: RegistryError) -> ApiError {
    match error {
        RegistryError::ServiceNotFound(id) => {
            ApiError::not_found(format!("imputation service {id}"))
                .with_metadata("resource_type", "imputation_service")
                .with_metadata("resource_id", id)
        }
        RegistryError::PanelNotFound(id) => ApiError::not_found(format!("reference panel {id}"))
            .with_metadata("resource_type", "reference_panel")
            .with_metadata("resource_id", id),
        RegistryError::ServiceSlugTaken(slug) => {
            ApiError::already_exists(format!("an imputation service with slug {slug:?}"))
                .with_metadata("resource_type", "imputation_service")
                .with_metadata("field", "slug")
        }
        RegistryError::PanelSlugTaken { service_id, slug } => ApiError::already_exists(format!(
            "a reference panel with slug {slug:?} in service {service_id}"
        ))
        .with_metadata("resource_type", "reference_panel")
        .with_metadata("field", "slug"),
        RegistryError::SettingsMismatch { member, api_type } => ApiError::invalid_field(
            format!("service.{member}"),
            format!("does not apply to a {api_type} service"),
        ),
        RegistryError::ApiTypeChange(current) => ApiError::invalid_field(
            "service.api_type",
            format!("cannot change (the service is {current})"),
        ),
        RegistryError::BuildNotSupported { service_id, build } => ApiError::invalid_field(
            "reference_panel.build",
            format!("{build} is not among the builds service {service_id} supports"),
        ),
        RegistryError::WorkflowOnMichigan => ApiError::invalid_field(
            "reference_panel.wes_workflow",
            "applies to GA4GH WES services only",
        ),
        RegistryError::UnknownDefaultPopulation(population) => ApiError::invalid_field(
            "reference_panel.default_population",
            format!("{population:?} is not one of the panel's populations"),
        ),
        RegistryError::RateLimited {
            service_id,
            retry_after_ms,
        } => ApiError::new(
            Code::ResourceExhausted,
            ErrorReason::RateLimited,
            format!("service {service_id} was checked moments ago: retry in a few seconds"),
        )
        .with_metadata("retry_after_seconds", retry_seconds(retry_after_ms)),
        RegistryError::NotSupported {
            operation,
            api_type,
        } => ApiError::new(
            Code::FailedPrecondition,
            ErrorReason::OperationNotSupported,
            format!("{operation} does not apply to {api_type} services"),
        )
        .with_metadata("operation", operation)
        .with_metadata("api_type", api_type),
        RegistryError::CredentialsRejected {
            service_id,
            message,
        } => ApiError::new(
            Code::FailedPrecondition,
            ErrorReason::CredentialsRejected,
            format!(
                "the imputation server refused the token: {}",
                lowercase_first(&message)
            ),
        )
        .with_metadata("service_id", service_id)
        .with_metadata("settings_path", format!("/settings/services/{service_id}")),
        RegistryError::Unreachable {
            service_id,
            message,
        } => ApiError::unavailable(
            ErrorReason::ServiceUnavailable,
            format!(
                "the imputation server cannot be reached: {}",
                lowercase_first(&message)
            ),
        )
        .with_metadata("service_id", service_id),
        RegistryError::UpstreamFailed {
            service_id,
            http_status,
            message,
        } => {
            let error = ApiError::unavailable(
                ErrorReason::UpstreamFailed,
                format!(
                    "the imputation server answered unexpectedly: {}",
                    lowercase_first(&message)
                ),
            )
            .with_metadata("upstream", format!("service:{service_id}"));
            match http_status {
                Some(status) => error.with_metadata("http_status", status),
                None => error,
            }
        }
        RegistryError::Store(StoreError::Conflict(what) | StoreError::Missing(what)) => {
            ApiError::internal(format!("unexpected store outcome on {what}"))
        }
        RegistryError::Store(StoreError::Backend(error)) => {
            ApiError::internal(format!("{error:#}"))
        }
    }
}

fn retry_seconds(millis: i64) -> i64 {
    (millis + 999).div_euclid(1000).max(1)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The status of a domain error. RATE_LIMITED also carries
/// `google.rpc.RetryInfo`, which `ApiError` has no room for.
pub fn status(error: RegistryError) -> Status {
    let retry = match &error {
        RegistryError::RateLimited { retry_after_ms, .. } => Some(*retry_after_ms),
        _ => None,
    };
    let api = api_error(error);
    match retry {
        None => api.into(),
        Some(millis) => {
            let mut details = ErrorDetails::new();
            details.set_error_info(reason_str(api.reason), ERROR_DOMAIN, api.metadata);
            details.set_retry_info(Some(std::time::Duration::from_secs(
                retry_seconds(millis) as u64
            )));
            Status::with_error_details(api.code, api.message, details)
        }
    }
}
