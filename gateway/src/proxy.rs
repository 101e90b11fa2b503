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

use crate::descriptors::{is_client_streaming, is_exposed};

/// Forwards one gRPC call to its owner, headers and all (the edge has
/// stamped the client's address and user agent on them).
pub async fn forward(State(peers): State<Peers>, mut request: Request<Body>) -> Response {
    request.headers_mut().remove(http::header::CONTENT_LENGTH);
    let (service, method) = {
        let mut parts = request.uri().path().trim_start_matches('/').split('/');
        let service = parts.next().unwrap_or_default().to_string();
        (service, parts.next().unwrap_or_default().to_string())
    };
    if !is_exposed(&service) {
        return grpc_error(Status::unimplemented(format!("unknown service {service}")));
    }
    let Some(owner) = ServiceName::owning(&service) else {
        return grpc_error(Status::unimplemented(format!("unknown service {service}")));
    };
    // An upload answers only after its last byte: it goes on the streaming
    // channel, which sets no overall time limit.
    let channel = if is_client_streaming(&service, &method) {
        peers.streaming_channel(owner)
    } else {
        peers.channel(owner)
    };
    let Some(channel) = channel else {
        return grpc_error(Status::unavailable(format!(
            "the {owner} service is not configured"
        )));
    };
    let request = request.map(|body| tonic::body::Body::new(Unsized(body)));
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

/// A body that does not tell its size. gRPC-web text bodies shrink when
/// tonic-web decodes their base64, yet keep the size hint of the encoded
/// text; hyper would send that as `content-length` upstream and the HTTP/2
/// stream would fail.
struct Unsized(Body);

impl http_body::Body for Unsized {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
}
