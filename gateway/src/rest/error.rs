//! gRPC errors as REST answers: the HTTP status of the gRPC code (AIP-193)
//! and a `fip.common.v1.RestError` JSON body flattening the
//! `google.rpc.Status` details, plus the details themselves (`details`:
//! ErrorInfo, BadRequest, RetryInfo, Help as JSON) and, for the original
//! REST surface's clients, `service_id` at the top level as a number.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::json;
use crate::descriptors::pool;

/// The HTTP status of a gRPC code.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).expect("499 is a valid status"),
        Code::Internal | Code::Unknown | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
    }
}

/// `FAILED_PRECONDITION` for `Code::FailedPrecondition`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The seconds to wait before retrying, from RetryInfo or the
/// `retry_after_seconds` metadata.
pub fn retry_after_seconds(status: &Status) -> Option<u64> {
    let details = status.get_error_details();
    if let Some(delay) = details.retry_info().and_then(|r| r.retry_delay) {
        return Some(delay.as_secs_f64().ceil() as u64);
    }
    details
        .error_info()
        .and_then(|i| i.metadata.get("retry_after_seconds"))
        .and_then(|s| s.parse().ok())
}

/// The JSON error body of `status`.
pub fn body(status: &Status, trace_id: &str) -> Value {
    let details = status.get_error_details();
    let http = http_status(status.code());
    let info = details.error_info();
    let help = details.help().and_then(|h| h.links.first().cloned());
    let metadata: Map<String, Value> = info
        .map(|i| {
            i.metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()
        })
        .unwrap_or_default();
    let violations: Vec<Value> = details
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| json!({"field": v.field, "description": v.description}))
                .collect()
        })
        .unwrap_or_default();
    let action_url = help
        .as_ref()
        .map(|h| h.url.clone())
        .or_else(|| info.and_then(|i| i.metadata.get("settings_path").cloned()))
        .unwrap_or_default();
    let rest = json!({
        "error": info.map(|i| i.reason.clone()).unwrap_or_else(|| code_name(status.code()).to_string()),
        "message": status.message(),
        "action": help.as_ref().map(|h| h.description.clone()).unwrap_or_default(),
        "action_url": action_url,
        "code": http.as_u16(),
        "status": code_name(status.code()),
        "metadata": metadata,
        "field_violations": violations,
        "retry_after_seconds": retry_after_seconds(status).unwrap_or(0),
        "trace_id": trace_id,
    });
    // Through the RestError descriptor, so the body is exactly its JSON form.
    let descriptor = pool()
        .get_message_by_name("fip.common.v1.RestError")
        .expect("the contracts define RestError");
    let mut value = match json::from_json(rest.clone(), &descriptor) {
        Ok(message) => json::to_json(&message),
        Err(_) => rest,
    };
    if let Value::Object(map) = &mut value {
        if let Some(id) = info
            .and_then(|i| i.metadata.get("service_id"))
            .and_then(|s| s.parse::<i64>().ok())
        {
            map.insert("service_id".into(), Value::from(id));
        }
        map.insert("details".into(), Value::Array(details_json(status)));
    }
    value
}

fn details_json(status: &Status) -> Vec<Value> {
    let details = status.get_error_details();
    let mut out = Vec::new();
    if let Some(info) = details.error_info() {
        out.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": info.reason,
            "domain": info.domain,
            "metadata": info.metadata,
        }));
    }
    if let Some(bad) = details.bad_request() {
        let violations: Vec<Value> = bad
            .field_violations
            .iter()
            .map(|v| json!({"field": v.field, "description": v.description}))
            .collect();
        out.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "field_violations": violations,
        }));
    }
    if let Some(delay) = details.retry_info().and_then(|r| r.retry_delay) {
        out.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retry_delay": format!("{}s", delay.as_secs_f64()),
        }));
    }
    if let Some(help) = details.help() {
        let links: Vec<Value> = help
            .links
            .iter()
            .map(|l| json!({"description": l.description, "url": l.url}))
            .collect();
        out.push(json!({"@type": "type.googleapis.com/google.rpc.Help", "links": links}));
    }
    out
}

/// The HTTP answer for `status`.
pub fn response(status: &Status, trace_id: &str) -> Response {
    let body = body(status, trace_id);
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = http_status(status.code());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status.code() == Code::ResourceExhausted
        && let Some(seconds) = retry_after_seconds(status)
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use fip_kit::ApiError;

    #[test]
    fn credentials_missing_keeps_the_seed_shape() {
        let status: Status = ApiError::credentials_missing(3, "TOPMed").into();
        let response = response(&status, "abc");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let value = body(&status, "abc");
        assert_eq!(value["error"], "CREDENTIALS_MISSING");
        assert_eq!(value["service_id"], 3);
        assert_eq!(value["status"], "FAILED_PRECONDITION");
        assert_eq!(value["code"], 400);
        assert_eq!(value["action_url"], "/settings/services/3");
        assert!(
            value["message"].as_str().unwrap().contains("topmed")
                || value["message"].as_str().unwrap().contains("TOPMed")
        );
        assert_eq!(value["details"][0]["reason"], "CREDENTIALS_MISSING");
        assert_eq!(value["trace_id"], "abc");
    }

    #[test]
    fn validation_errors_carry_violations() {
        let status: Status = ApiError::invalid_field("username", "is required").into();
        let value = body(&status, "");
        assert_eq!(value["field_violations"][0]["field"], "username");
        assert_eq!(value["field_violations"][0]["reason"], "");
        assert_eq!(
            value["details"][1]["@type"],
            "type.googleapis.com/google.rpc.BadRequest"
        );
    }

    #[test]
    fn codes_map_to_http() {
        assert_eq!(http_status(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(http_status(Code::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(
            http_status(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(http_status(Code::Cancelled).as_u16(), 499);
    }
}
