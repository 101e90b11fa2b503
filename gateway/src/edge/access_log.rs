//! Access logs: one span per request (method, path, request id, trace
//! parent) and one line per answer with its status, gRPC status when there
//! is one, and latency.

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
            path = %request.uri().path(),
            version = ?request.version(),
            request_id = %header(HEADER),
            traceparent = %header("traceparent"),
        )
    }
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
