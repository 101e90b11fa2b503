//! A request stream that the client cancels is an error, not its end.
//!
//! tonic's decoder ends a server's request stream quietly when the client
//! resets it with `CANCEL`, which is what hyper sends when a caller drops a
//! call (on a timeout, say). A handler reading an upload then cannot tell a
//! stream that ended from one broken off half-way, and would keep the half
//! as if it were whole. In front of every service of the mesh,
//! [`StrictStreamEndLayer`] turns such a reset into an `ABORTED` error, so
//! that only a real end of stream ends one.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tonic::{Code, Status};

/// See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct StrictStreamEndLayer;

impl<S> tower::Layer<S> for StrictStreamEndLayer {
    type Service = StrictStreamEnd<S>;
    fn layer(&self, inner: S) -> Self::Service {
        StrictStreamEnd { inner }
    }
}

/// The service [`StrictStreamEndLayer`] wraps.
#[derive(Clone, Debug)]
pub struct StrictStreamEnd<S> {
    inner: S,
}

impl<S> tower::Service<http::Request<tonic::body::Body>> for StrictStreamEnd<S>
where
    S: tower::Service<http::Request<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        self.inner
            .call(request.map(|body| tonic::body::Body::new(StrictEnd(body))))
    }
}

/// A request body whose cancellation is an `ABORTED` error.
struct StrictEnd(tonic::body::Body);

/// The error a cancelled request stream becomes.
fn broken_off(status: Status) -> Status {
    if status.code() == Code::Cancelled {
        Status::aborted(format!(
            "the client cancelled the request stream before its end ({})",
            status.message()
        ))
    } else {
        status
    }
}

impl Body for StrictEnd {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.0)
            .poll_frame(cx)
            .map(|frame| frame.map(|f| f.map_err(broken_off)))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_cancel_is_turned_into_an_abort() {
        let aborted = broken_off(Status::cancelled("h2 protocol error: stream reset"));
        assert_eq!(aborted.code(), Code::Aborted);
        assert!(aborted.message().contains("stream reset"), "{aborted:?}");
        let other = broken_off(Status::internal("decode"));
        assert_eq!(other.code(), Code::Internal);
        assert_eq!(other.message(), "decode");
    }
}
