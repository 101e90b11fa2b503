//! What a request is for, decided once at the edge and kept in its
//! extensions: the other layers (auth, rate limits) and the dispatcher
//! read it.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use futures::future::BoxFuture;
use http::{Request, header};
use tower::{Layer, Service};

use crate::descriptors::{OPEN_SERVICES, is_public_method};
use crate::rest::Matched;
use crate::rest::table::{Lookup, RouteTable};

/// Path of the OpenAPI document.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The kind of a request.
#[derive(Clone)]
pub enum Target {
    /// gRPC (`application/grpc*`) or gRPC-web (`application/grpc-web*`).
    Grpc {
        service: String,
        method: String,
        web: bool,
    },
    /// A REST route, and whether it is public (the matched route and its
    /// path variables are a [`Matched`] extension); not found when no route
    /// matches (answered 404/405).
    Rest { public: bool },
    /// `GET /api/openapi.json`.
    OpenApi,
    /// Anything else: the web UI's static assets.
    Web,
}

impl Target {
    /// Whether the request may be served without an access token.
    pub fn is_public(&self) -> bool {
        match self {
            Target::Grpc {
                service, method, ..
            } => is_public_method(service, method),
            Target::Rest { public } => *public,
            Target::OpenApi | Target::Web => true,
        }
    }

    /// Whether the request counts against rate limits: API calls do; static
    /// assets and the gateway's own health and reflection (probes, tools) do
    /// not.
    pub fn is_api(&self) -> bool {
        match self {
            Target::Grpc { service, .. } => !OPEN_SERVICES.contains(&service.as_str()),
            Target::Web => false,
            Target::Rest { .. } | Target::OpenApi => true,
        }
    }

    /// A short label for logs: `grpc`, `grpc-web`, `rest`, `openapi`, `web`.
    pub fn protocol(&self) -> &'static str {
        match self {
            Target::Grpc { web: false, .. } => "grpc",
            Target::Grpc { web: true, .. } => "grpc-web",
            Target::Rest { .. } => "rest",
            Target::OpenApi => "openapi",
            Target::Web => "web",
        }
    }
}

/// Classifies a request against the route table; a matched REST route
/// comes back beside the target.
pub fn classify<B>(table: &RouteTable, request: &Request<B>) -> (Target, Option<Matched>) {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path = request.uri().path();
    if content_type.starts_with("application/grpc") {
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let target = Target::Grpc {
            service: parts.next().unwrap_or_default().to_string(),
            method: parts.next().unwrap_or_default().to_string(),
            web: content_type.starts_with("application/grpc-web"),
        };
        return (target, None);
    }
    if path.trim_end_matches('/') == OPENAPI_PATH {
        return (Target::OpenApi, None);
    }
    if path == "/api" || path.starts_with("/api/") {
        return match table.lookup(request.method(), path) {
            Lookup::Found(route, params) => (
                Target::Rest {
                    public: route.public,
                },
                Some(Matched {
                    route: route.clone(),
                    params,
                }),
            ),
            _ => (Target::Rest { public: true }, None),
        };
    }
    (Target::Web, None)
}

/// Inserts the [`Target`] of each request into its extensions.
#[derive(Clone)]
pub struct ClassifyLayer {
    table: Arc<RouteTable>,
}

impl ClassifyLayer {
    pub fn new(table: Arc<RouteTable>) -> Self {
        Self { table }
    }
}

impl<S> Layer<S> for ClassifyLayer {
    type Service = Classify<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Classify {
            inner,
            table: self.table.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Classify<S> {
    inner: S,
    table: Arc<RouteTable>,
}

impl<S> Service<Request<Body>> for Classify<S>
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
        let (target, matched) = classify(&self.table, &request);
        if let Some(matched) = matched {
            request.extensions_mut().insert(matched);
        }
        request.extensions_mut().insert(target);
        Box::pin(self.inner.call(request))
    }
}
