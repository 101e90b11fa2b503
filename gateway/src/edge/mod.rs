//! Edge concerns, as tower layers in front of every protocol: request ids,
//! access logs, CORS, classification of the request, rate limits and JWT
//! validation. A refusal is written in the protocol of the request: a gRPC
//! status (trailers-only) for gRPC and gRPC-web, a `RestError` otherwise.

pub mod access_log;
pub mod auth;
pub mod classify;
pub mod cors;
pub mod rate_limit;
pub mod request_id;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use fip_kit::auth::EdgeIdentity;
use http::Request;
use http::{HeaderValue, header};
use tonic::Status;

pub use classify::Target;

/// The answer refusing a request for `target` with `status`.
pub fn reject(target: &Target, status: Status, request_id: &str) -> Response {
    match target {
        Target::Grpc { web, .. } => {
            let mut response = status.into_http::<Body>();
            if *web {
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/grpc-web+proto"),
                );
            }
            response
        }
        _ => crate::rest::error::response(&status, request_id),
    }
}

/// Replaces whatever the client said in the headers only the gateway may
/// set ([`fip_kit::auth::forwarded`]) with its address as this socket saw
/// it and its user agent, vouched for by the gateway's edge identity.
pub fn stamp_client(identity: &EdgeIdentity, mut request: Request<Body>) -> Request<Body> {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    identity.stamp(request.headers_mut(), client);
    request
}

/// The request id a request carries (set by [`request_id`]).
pub fn request_id_of<B>(request: &http::Request<B>) -> String {
    request
        .headers()
        .get(request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
