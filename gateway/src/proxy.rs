//! gRPC pass-through: a call to `/fip.<domain>.v1.<Service>/<Method>` goes to
//! the service that owns `<domain>`, unchanged (headers, body stream and
//! trailers), over the mesh channel. Internal services are not routed.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use fip_kit::mesh::{Peers, ServiceName};
use http::Request;
use tonic::Status;
use tower::ServiceExt;

use crate::descriptors::is_internal;

/// Forwards one gRPC call to its owner.
pub async fn forward(State(peers): State<Peers>, request: Request<Body>) -> Response {
    let service = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if is_internal(&service) {
        return grpc_error(Status::unimplemented(format!("unknown service {service}")));
    }
    let Some(owner) = ServiceName::owning(&service) else {
        return grpc_error(Status::unimplemented(format!("unknown service {service}")));
    };
    let Some(channel) = peers.channel(owner) else {
        return grpc_error(Status::unavailable(format!(
            "the {owner} service is not configured"
        )));
    };
    let request = request.map(tonic::body::Body::new);
    match channel.oneshot(request).await {
        Ok(response) => response.map(Body::new).into_response(),
        Err(error) => {
            tracing::warn!(%owner, %error, "upstream unreachable");
            grpc_error(Status::unavailable(format!(
                "the {owner} service is unreachable"
            )))
        }
    }
}

fn grpc_error(status: Status) -> Response {
    status.into_http::<Body>().into_response()
}
