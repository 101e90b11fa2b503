//! JWT validation at the edge: a bad token is refused here, before any
//! upstream call; a request without a token is refused unless its target is
//! public (login, register, platform health, the OpenAPI document,
//! downloads by signed link, the web UI). The verified principal goes into
//! the request's extensions (the per-user rate limit reads it); the token
//! itself travels on, and each service checks it again.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use fip_kit::auth::{AuthError, TokenVerifier, bearer_token};
use futures::future::BoxFuture;
use http::Request;
use tonic::Status;
use tower::{Layer, Service};

use super::{Target, reject, request_id_of};

#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<TokenVerifier>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<TokenVerifier>) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    verifier: Arc<TokenVerifier>,
}

impl<S> Service<Request<Body>> for Auth<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let target = request
            .extensions()
            .get::<Target>()
            .cloned()
            .unwrap_or(Target::Web);
        let verdict = match bearer_token(request.headers()) {
            Some(token) => self.verifier.verify(token).map(Some),
            None if target.is_public() => Ok(None),
            None => Err(AuthError::Missing),
        };
        match verdict {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                Box::pin(self.inner.call(request))
            }
            Err(error) => {
                tracing::debug!(%error, protocol = target.protocol(), "refused at the edge");
                let response = reject(&target, Status::from(error), &request_id_of(&request));
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
