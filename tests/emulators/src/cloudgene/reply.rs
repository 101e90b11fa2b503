//! Answers in Cloudgene's shapes.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `JsonHttpStatusException`: `{"success":false,"message":"..."}`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"success": false, "message": message.into()})),
    )
        .into_response()
}

/// A JSON body with status 200.
pub(crate) fn ok(value: Value) -> Response {
    axum::Json(value).into_response()
}

/// What Micronaut security answers when it refuses a caller: a status and
/// no body.
pub(crate) fn refused(status: StatusCode) -> Response {
    (status, [(header::CONTENT_LENGTH, "0")]).into_response()
}

/// 503 of `blockInMaintenanceMode`.
pub(crate) fn maintenance() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "This functionality is currently under maintenance.",
    )
}

/// A refusal decided before a handler's work: small to pass around, turned
/// into its answer at the end.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Micronaut security: a status and no body.
    Bare(StatusCode),
    /// Cloudgene: `{"success":false,"message":…}`.
    Message(StatusCode, String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Bare(status) => refused(status),
            Refusal::Message(status, message) => error(status, message),
        }
    }
}
