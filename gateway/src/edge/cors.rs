//! CORS for browsers on other origins, for gRPC-web and REST alike: the
//! configured origins may send the gRPC-web and API headers and read the
//! gRPC status, request id, rate-limit and pagination headers.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Headers a browser may send.
const ALLOWED: &[&str] = &[
    "authorization",
    "content-type",
    "accept",
    "range",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "x-request-id",
    "traceparent",
    "tracestate",
];

/// Headers a browser may read (besides the CORS-safelisted ones).
const EXPOSED: &[&str] = &[
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "x-request-id",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
    "content-disposition",
    "content-range",
    "accept-ranges",
    "etag",
    "digest",
];

/// The CORS layer for `origins` (`*` for any); `None` when the list is
/// empty (same-origin only). `extra_exposed` are the `X-*` headers the REST
/// routes set.
pub fn layer(origins: &[String], max_age: Duration, extra_exposed: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    let exposed: Vec<HeaderName> = EXPOSED
        .iter()
        .map(|h| h.to_string())
        .chain(extra_exposed.iter().map(|h| h.to_ascii_lowercase()))
        .filter_map(|h| HeaderName::try_from(h).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(
                ALLOWED
                    .iter()
                    .map(|h| HeaderName::from_static(h))
                    .collect::<Vec<_>>(),
            )
            .expose_headers(exposed)
            .max_age(max_age),
    )
}
