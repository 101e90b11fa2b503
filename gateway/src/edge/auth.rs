//! JWT validation at the edge: a bad token is refused here, before any
//! upstream call; a request without a token is refused unless its target is
//! public (login, register, platform health, the OpenAPI document,
//! downloads by signed link, the web UI). The verified principal goes into
//! the request's extensions (the per-user rate limit reads it); the token
//! itself travels on, and each service checks it again, with its session
//! (a revoked session's token passes here and is refused there, with
//! `SESSION_ENDED`: the gateway serves nothing of a user's by itself).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use fip_kit::auth::{AuthError, TokenVerifier, Verified, bearer_token};
use futures::future::BoxFuture;
use http::Request;
use tonic::Status;
use tower::{Layer, Service};

use super::{Target, reject, request_id_of};

#[derive(Clone)]
pub struct AuthLayer {
    verifier: Arc<TokenVerifier>,
    verified: Arc<Verified>,
}

impl AuthLayer {
    pub fn new(verifier: Arc<TokenVerifier>) -> Self {
        Self {
            verifier,
            verified: Arc::new(Verified::default()),
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            verifier: self.verifier.clone(),
            verified: self.verified.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    verifier: Arc<TokenVerifier>,
    verified: Arc<Verified>,
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
            Some(token) => self.verified.verify(&self.verifier, token).map(Some),
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

#[cfg(test)]
mod tests {
    use super::*;
    use fip_kit::auth::Keys;
    use fip_kit::config::Config;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::ServiceExt;

    type Inner = tower::util::BoxCloneService<Request<Body>, Response, Infallible>;

    /// The edge in front of a service that counts the calls reaching it.
    struct Edge {
        service: Auth<Inner>,
        reached: Arc<AtomicUsize>,
        target: Target,
    }

    impl Edge {
        fn new(target: Target) -> Self {
            let config = Config::default();
            let keys = Keys::ephemeral();
            let verifier = Arc::new(TokenVerifier::new(&keys, &config).unwrap());
            let reached = Arc::new(AtomicUsize::new(0));
            let counter = reached.clone();
            let inner = tower::service_fn(move |_: Request<Body>| {
                counter.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, Infallible>(Response::new(Body::empty())) }
            });
            Self {
                service: AuthLayer::new(verifier).layer(tower::util::BoxCloneService::new(inner)),
                reached,
                target,
            }
        }

        async fn call(&self, token: Option<&str>) -> Response {
            let mut builder = Request::builder().uri("/api/auth/user");
            if let Some(token) = token {
                builder = builder.header("authorization", format!("Bearer {token}"));
            }
            let mut request = builder.body(Body::empty()).unwrap();
            request.extensions_mut().insert(self.target.clone());
            self.service.clone().oneshot(request).await.unwrap()
        }

        fn reached(&self) -> usize {
            self.reached.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn bad_or_missing_tokens_never_reach_the_service() {
        let private = Target::Grpc {
            service: "fip.user.v1.UserService".into(),
            method: "GetCurrentUser".into(),
            web: false,
        };
        let edge = Edge::new(private);
        for token in [None, Some("forged.token.here")] {
            let response = edge.call(token).await;
            assert_eq!(response.headers()["grpc-status"], "16");
        }
        assert_eq!(edge.reached(), 0);

        let public = Target::Grpc {
            service: "fip.user.v1.UserService".into(),
            method: "Login".into(),
            web: false,
        };
        let edge = Edge::new(public);
        edge.call(None).await;
        assert_eq!(edge.reached(), 1, "public calls pass without a token");
        let refused = edge.call(Some("forged")).await;
        assert_eq!(
            refused.headers()["grpc-status"],
            "16",
            "a bad token is refused even there"
        );
    }
}
