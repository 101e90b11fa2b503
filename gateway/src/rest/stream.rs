//! Server-streaming RPCs over HTTP: Server-Sent Events (one `data:` line of
//! JSON per message) when the client accepts `text/event-stream`, otherwise
//! newline-delimited JSON. A keep-alive goes out every 15 s; an error after
//! the stream started is sent as a last `event: error` (SSE) or as a line
//! `{"error": RestError}` (NDJSON).
//!
//! Browsers authenticate these streams like any other call, with the
//! `Authorization: Bearer` header: `EventSource` cannot send headers, so a
//! web client reads the stream with `fetch` and a `ReadableStream` (as
//! `@microsoft/fetch-event-source` does). Tokens are never taken from the
//! query string, where they would end up in logs and browser history.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Request, StatusCode, header};

use super::table::Route;
use super::upstream::Upstream;
use super::{Call, Rest, error, json, read_body, request};

/// Interval of keep-alive lines.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Sse,
    Ndjson,
}

fn format_of(request: &Request<Body>) -> Format {
    let accepts_sse = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    if accepts_sse {
        Format::Sse
    } else {
        Format::Ndjson
    }
}

fn frame(format: Format, event: Option<&str>, json: &serde_json::Value) -> Bytes {
    match format {
        Format::Sse => {
            let mut out = String::new();
            if let Some(event) = event {
                out.push_str("event: ");
                out.push_str(event);
                out.push('\n');
            }
            out.push_str("data: ");
            out.push_str(&json.to_string());
            out.push_str("\n\n");
            Bytes::from(out)
        }
        Format::Ndjson => {
            let line = match event {
                Some(_) => serde_json::json!({ "error": json }),
                None => json.clone(),
            };
            Bytes::from(format!("{line}\n"))
        }
    }
}

/// Serves a server-streaming RPC as SSE or NDJSON.
pub async fn serve(
    rest: &Rest,
    route: &Route,
    params: &[(String, String)],
    call: Call,
    request: Request<Body>,
) -> Response {
    let format = format_of(&request);
    let query = request.uri().query().map(str::to_string);
    let body = match read_body(request.into_body(), rest.max_body_bytes).await {
        Ok(b) => b,
        Err(status) => return call.error(&status),
    };
    let message = match request::build(route, params, query.as_deref(), &body) {
        Ok(m) => m,
        Err(e) => return call.error(&e.into()),
    };
    let upstream = match Upstream::for_route(&rest.peers, route) {
        Ok(u) => u,
        Err(status) => return call.error(&status),
    };
    // The first answer decides the HTTP status: an error before any message
    // (not found, unauthenticated) is an ordinary error response.
    let mut messages = match upstream.server_streaming(message, call.metadata()).await {
        Ok(s) => s,
        Err(status) => return call.error(&status),
    };
    let trace_id = call.trace_id.clone();
    let body = async_stream::stream! {
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.tick().await;
        loop {
            tokio::select! {
                next = messages.message() => match next {
                    Ok(Some(message)) => {
                        yield Ok::<_, std::convert::Infallible>(frame(format, None, &json::to_json(&message)));
                    }
                    Ok(None) => break,
                    Err(status) => {
                        yield Ok(frame(format, Some("error"), &error::body(&status, &trace_id)));
                        break;
                    }
                },
                _ = keep_alive.tick() => {
                    yield Ok(Bytes::from_static(match format {
                        Format::Sse => b": keep-alive\n\n",
                        Format::Ndjson => b"\n",
                    }));
                }
            }
        }
    };
    let mut response = Response::new(Body::from_stream(body.boxed()));
    *response.status_mut() = StatusCode::OK;
    let content_type = match format {
        Format::Sse => "text/event-stream",
        Format::Ndjson => "application/x-ndjson",
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx must not buffer an event stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
