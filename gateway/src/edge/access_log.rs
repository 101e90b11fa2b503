//! Access logs: one span per request (method, path, request id, trace
//! parent) and one line per answer with its status, gRPC status when there
//! is one, and latency.
//!
//! The path is logged without secrets: a signed download link's token is a
//! bearer credential (valid for its whole lifetime to anyone who reads the
//! log), so it is replaced by `[redacted]`; an overlong path is cut.

use std::borrow::Cow;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

use super::request_id::HEADER;

/// The access-log layer.
pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, Spans, (), Answers> {
    TraceLayer::new_for_http()
        .make_span_with(Spans)
        .on_request(())
        .on_response(Answers)
}

#[derive(Clone, Copy)]
pub struct Spans;

impl MakeSpan<Body> for Spans {
    fn make_span(&mut self, request: &Request<Body>) -> Span {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        tracing::info_span!(
            "request",
            method = %request.method(),
            path = %loggable_path(request.uri().path()),
            version = ?request.version(),
            request_id = %header(HEADER),
            traceparent = %header("traceparent"),
        )
    }
}

/// Paths whose last segment is a bearer credential.
const SECRET_PREFIXES: &[&str] = &["/api/downloads/"];

/// Longest path logged as is.
const MAX_LOGGED_PATH: usize = 256;

/// `path` fit for a log line.
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    for prefix in SECRET_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return Cow::Owned(format!("{prefix}[redacted]"));
        }
    }
    if path.len() > MAX_LOGGED_PATH {
        let mut end = MAX_LOGGED_PATH;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        return Cow::Owned(format!("{}…({} bytes)", &path[..end], path.len()));
    }
    Cow::Borrowed(path)
}

#[derive(Clone, Copy)]
pub struct Answers;

impl<B> OnResponse<B> for Answers {
    fn on_response(self, response: &Response<B>, latency: Duration, _span: &Span) {
        let grpc_status = response
            .headers()
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info!(
            status = response.status().as_u16(),
            grpc_status,
            latency_us = latency.as_micros() as u64,
            "answered"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fip_kit::testing::CapturedLogs;
    use tower::{Layer, ServiceExt};

    #[tokio::test(flavor = "current_thread")]
    async fn the_access_log_never_holds_a_download_link() {
        let logs = CapturedLogs::start(tracing::Level::DEBUG);
        let service = layer().layer(tower::service_fn(|_: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        }));
        let secret = "eyJhbGciOiJFZERTQSJ9.eyJmaWxlIjoiMDEifQ.c2lnbmF0dXJl";
        let request = Request::get(format!("/api/downloads/{secret}?x=1"))
            .body(Body::empty())
            .unwrap();
        service.oneshot(request).await.unwrap();
        let log = logs.text();
        assert!(log.contains("/api/downloads/[redacted]"), "{log}");
        assert!(!log.contains(secret), "{log}");
        assert!(!log.contains("c2lnbmF0dXJl"), "{log}");
    }

    #[test]
    fn download_tokens_are_never_logged_and_long_paths_are_cut() {
        assert_eq!(
            loggable_path("/api/downloads/eyJhbGciOi.secret.sig"),
            "/api/downloads/[redacted]"
        );
        assert_eq!(loggable_path("/api/jobs/01ab"), "/api/jobs/01ab");
        let long = format!("/api/jobs/{}", "a".repeat(6000));
        let logged = loggable_path(&long);
        assert!(logged.len() < 300, "{}", logged.len());
        assert!(logged.ends_with("(6010 bytes)"));
    }
}
