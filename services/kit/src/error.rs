//! Errors on the wire: `google.rpc.Status` with an `ErrorInfo` whose reason
//! comes from the closed list `fip.common.v1.ErrorReason`, plus `BadRequest`
//! field violations for invalid input. Internal detail (SQL, I/O, stack) is
//! logged, never sent.

use std::collections::HashMap;
use std::fmt;

use fip_proto::common::v1::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// `ErrorInfo.domain` of every error the platform emits.
pub const ERROR_DOMAIN: &str = "fip";

/// The wire form of a reason: the enum value name without its prefix
/// (`ERROR_REASON_CREDENTIALS_MISSING` → `CREDENTIALS_MISSING`).
pub fn reason_str(reason: ErrorReason) -> &'static str {
    let name = reason.as_str_name();
    name.strip_prefix("ERROR_REASON_").unwrap_or(name)
}

/// Parses a wire reason back into the enum.
pub fn parse_reason(wire: &str) -> Option<ErrorReason> {
    ErrorReason::from_str_name(&format!("ERROR_REASON_{wire}"))
}

/// An error a client may see: code, reason, a lowercase human message, and
/// optional metadata and field violations.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: Code,
    pub reason: ErrorReason,
    pub message: String,
    pub metadata: HashMap<String, String>,
    pub violations: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(code: Code, reason: ErrorReason, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            metadata: HashMap::new(),
            violations: Vec::new(),
        }
    }

    pub fn with_metadata(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.metadata.insert(key.into(), value.to_string());
        self
    }

    /// INVALID_ARGUMENT / VALIDATION_FAILED with one violation per bad field.
    pub fn validation(violations: Vec<(String, String)>) -> Self {
        let message = match violations.as_slice() {
            [(field, description)] => format!("invalid {field}: {description}"),
            _ => format!("{} fields are invalid", violations.len()),
        };
        Self {
            violations,
            ..Self::new(
                Code::InvalidArgument,
                ErrorReason::ValidationFailed,
                message,
            )
        }
    }

    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::validation(vec![(field.into(), description.into())])
    }

    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(
            Code::NotFound,
            ErrorReason::NotFound,
            format!("{} not found", bounded(&what.to_string())),
        )
    }

    pub fn already_exists(what: impl fmt::Display) -> Self {
        Self::new(
            Code::AlreadyExists,
            ErrorReason::AlreadyExists,
            format!("{what} already exists"),
        )
    }

    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(
            Code::PermissionDenied,
            ErrorReason::PermissionDenied,
            message,
        )
    }

    pub fn unauthenticated(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, reason, message)
    }

    /// The user has no active credential for an imputation service.
    pub fn credentials_missing(service_id: i64, service_name: &str) -> Self {
        Self::new(
            Code::FailedPrecondition,
            ErrorReason::CredentialsMissing,
            format!(
                "no active credentials for {service_name}: configure your API token in settings"
            ),
        )
        .with_metadata("service_id", service_id)
        .with_metadata("settings_path", format!("/settings/services/{service_id}"))
    }

    pub fn unavailable(reason: ErrorReason, message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, reason, message)
    }

    /// An unexpected failure: the detail is logged here and replaced by a
    /// generic message on the wire.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(Code::Internal, ErrorReason::Internal, "internal error")
    }

    /// Reads an `ApiError` back from a status (clients, gateway, tests).
    pub fn from_status(status: &Status) -> Option<Self> {
        let details = status.get_error_details();
        let info = details.error_info()?;
        let reason = parse_reason(&info.reason)?;
        let violations = details
            .bad_request()
            .map(|b| {
                b.field_violations
                    .iter()
                    .map(|v| (v.field.clone(), v.description.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            code: status.code(),
            reason,
            message: status.message().to_string(),
            metadata: info.metadata.clone(),
            violations,
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, reason_str(self.reason))
    }
}

impl std::error::Error for ApiError {}

/// Longest text of a client's input an error echoes (in its message, a
/// metadata value, a field name): errors travel in HTTP/2 trailers, whose
/// size is limited, and a 6,000-character id echoed whole broke the
/// answer itself.
pub const MAX_ECHO_CHARS: usize = 128;

/// `text` cut to [`MAX_ECHO_CHARS`] characters, marked when cut.
pub fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHO_CHARS) {
        None => text.to_string(),
        Some((end, _)) => format!("{}… ({} bytes)", &text[..end], text.len()),
    }
}

/// Messages are longer than echoed values (they explain), but bounded too.
const MAX_MESSAGE_CHARS: usize = 1024;

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let mut details = ErrorDetails::new();
        let metadata: HashMap<String, String> = error
            .metadata
            .into_iter()
            .map(|(key, value)| (bounded(&key), bounded(&value)))
            .collect();
        details.set_error_info(reason_str(error.reason), ERROR_DOMAIN, metadata);
        if !error.violations.is_empty() {
            details.set_bad_request(
                error
                    .violations
                    .into_iter()
                    .take(50)
                    .map(|(field, description)| FieldViolation::new(bounded(&field), description))
                    .collect::<Vec<_>>(),
            );
        }
        let message = match error.message.char_indices().nth(MAX_MESSAGE_CHARS) {
            None => error.message,
            Some((end, _)) => format!("{}…", &error.message[..end]),
        };
        Status::with_error_details(error.code, message, details)
    }
}

/// Collects field violations so that every bad field is reported at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    /// A required text field: present after trimming, and at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "is required");
        } else {
            self.max_len(field, value, max);
        }
    }

    /// An optional one-line text field of at most `max` characters, with
    /// no control characters (NUL, line breaks, escapes: PostgreSQL cannot
    /// store NUL, and the others forge lines in logs and listings).
    pub fn max_len(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if value.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
        }
    }

    /// A required positive id.
    pub fn id(&mut self, field: &str, value: i64) {
        if value <= 0 {
            self.add(field, "is required and must be a positive id");
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was added, else the VALIDATION_FAILED error.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn echoed_input_is_bounded_on_the_wire() {
        let id = "a".repeat(30_000);
        let status = Status::from(
            ApiError::not_found(format!("job {id}"))
                .with_metadata("resource_id", &id)
                .with_metadata(id.clone(), "x"),
        );
        assert!(status.message().len() < 200, "{}", status.message().len());
        let back = ApiError::from_status(&status).unwrap();
        assert!(back.metadata["resource_id"].len() < 200);
        assert!(back.metadata["resource_id"].ends_with("(30000 bytes)"));
        assert!(back.metadata.keys().all(|k| k.len() < 200));
        let huge = Status::from(ApiError::invalid_field(id.clone(), id.clone()));
        assert!(huge.message().len() <= 1024 + 3);
        let short = Status::from(ApiError::not_found("job 01"));
        assert_eq!(short.message(), "job 01 not found");
    }

    use super::*;

    #[test]
    fn reasons_travel_in_error_info() {
        let status: Status = ApiError::credentials_missing(3, "TOPMed").into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(info.reason, "CREDENTIALS_MISSING");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.metadata["service_id"], "3");
        assert_eq!(info.metadata["settings_path"], "/settings/services/3");
        let back = ApiError::from_status(&status).unwrap();
        assert_eq!(back.reason, ErrorReason::CredentialsMissing);
    }

    #[test]
    fn violations_become_bad_request() {
        let mut v = Violations::new();
        v.text("username", "  ", 10);
        v.text("label", "abcdefghijkl", 10);
        v.id("service_id", 0);
        let status: Status = v.finish().unwrap_err().into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["username", "label", "service_id"]);
        assert_eq!(
            details.error_info().unwrap().reason,
            reason_str(ErrorReason::ValidationFailed)
        );
    }

    #[test]
    fn internal_detail_stays_home() {
        let status: Status = ApiError::internal("duplicate key value violates users_pkey").into();
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
        assert!(!format!("{status:?}").contains("users_pkey"));
    }

    #[test]
    fn every_reason_round_trips() {
        for value in 1..64 {
            if let Ok(reason) = ErrorReason::try_from(value) {
                assert_eq!(parse_reason(reason_str(reason)), Some(reason));
            }
        }
        assert_eq!(parse_reason("NO_SUCH_REASON"), None);
    }
}
