//! The platform's one public port.
//!
//! One listener (HTTP/1.1 and HTTP/2 cleartext) serves:
//! - gRPC: calls to public services are passed through to their owners over
//!   the mesh ([`proxy`]); `grpc.health.v1` mirrors each public service's
//!   health ([`health`]); server reflection lists the public contracts;
//! - gRPC-web (binary and text, HTTP/1.1 and HTTP/2), translated to gRPC by
//!   tonic-web in front of the same services;
//! - REST/JSON derived from the `google.api.http` annotations ([`rest`]),
//!   with its OpenAPI 3.1 document at `/api/openapi.json` ([`openapi`]);
//! - the web UI's static assets, when a directory is configured ([`web`]).
//!
//! In front of all of them sit the edge layers ([`edge`]): request ids,
//! access logs, CORS, JWT validation and rate limits. Internal services
//! (`*InternalService`) are neither listed nor routed, by any protocol.

pub mod descriptors;
pub mod edge;
pub mod health;
pub mod openapi;
pub mod proxy;
pub mod rest;
pub mod web;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use fip_kit::auth::{EdgeIdentity, Keys, TokenVerifier};
use fip_kit::config::Config;
use fip_kit::mesh::Peers;
use http::{HeaderValue, Request, header};
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::ServingStatus;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use self::edge::Target;
use self::edge::rate_limit::{
    KeyKind, RateLimitLayer, RateLimiter, RedisTokenBuckets, TokenBuckets,
};
use self::rest::Rest;
use self::rest::table::RouteTable;

/// A configured gateway, ready to serve.
pub struct Gateway {
    config: Arc<Config>,
    verifier: Arc<TokenVerifier>,
    edge: Arc<EdgeIdentity>,
    peers: Peers,
    limiter: Arc<dyn RateLimiter>,
}

impl Gateway {
    /// A gateway verifying tokens with `keys`, calling `peers`.
    pub fn new(config: Arc<Config>, keys: &Keys, peers: Peers) -> anyhow::Result<Self> {
        let verifier = Arc::new(TokenVerifier::new(keys, &config)?);
        let edge = Arc::new(EdgeIdentity::new(keys, &config)?);
        let limiter = rate_limiter(&config)?;
        Ok(Self {
            config,
            verifier,
            edge,
            peers,
            limiter,
        })
    }

    /// Uses another rate limiter (shared storage, or a test clock).
    pub fn with_rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// Serves on `listener` until `shutdown` is cancelled.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let app = self.router(shutdown.clone()).await?;
        // Answers are several small writes (gRPC: headers, data, trailers):
        // without TCP_NODELAY, Nagle's algorithm holds them back.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
        Ok(())
    }

    /// Every protocol behind the edge layers.
    pub async fn router(&self, shutdown: CancellationToken) -> anyhow::Result<Router> {
        let pool = descriptors::pool();
        let table = Arc::new(RouteTable::from_pool(pool)?);
        let settings = &self.config.gateway;
        let openapi = Arc::new(openapi::document(pool, &table).to_string());
        let state = Arc::new(Dispatch {
            grpc: grpc_router(self.peers.clone(), shutdown).await?,
            rest: Arc::new(Rest {
                table: (*table).clone(),
                peers: self.peers.clone(),
                max_body_bytes: usize::try_from(settings.max_body_bytes).unwrap_or(usize::MAX),
            }),
            openapi,
            web: settings.web_dir.as_deref().and_then(web::Web::new),
        });
        let exposed = openapi::response_headers(&table);
        let identity = self.edge.clone();
        let edge = ServiceBuilder::new()
            .map_request(edge::request_id::sanitize::<Body>)
            .map_request(move |request| edge::stamp_client(&identity, request))
            .layer(SetRequestIdLayer::new(
                edge::request_id::header(),
                edge::request_id::MakeId,
            ))
            .layer(edge::access_log::layer())
            .layer(PropagateRequestIdLayer::new(edge::request_id::header()))
            .option_layer(edge::cors::layer(
                &settings.cors_allowed_origins,
                settings.cors_max_age,
                &exposed,
            ))
            .layer(edge::classify::ClassifyLayer::new(table))
            .layer(RateLimitLayer::new(
                self.limiter.clone(),
                settings.rate_limit_per_address,
                KeyKind::Address,
            ))
            .layer(edge::auth::AuthLayer::new(self.verifier.clone()))
            .layer(RateLimitLayer::new(
                self.limiter.clone(),
                settings.rate_limit_per_user,
                KeyKind::User,
            ));
        Ok(Router::new()
            .fallback(dispatch)
            .with_state(state)
            .layer(DefaultBodyLimit::disable())
            .layer(edge))
    }
}

/// The rate limiter for `config`: buckets in Redis, shared by the replicas,
/// when `redis_url` is set (connected on first use, so a Redis that is down
/// does not stop the gateway from starting); in-process otherwise.
///
/// The Redis keys are namespaced by [`Config::redis_key_prefix`], so the
/// replicas of one deployment share their buckets and deployments (or test
/// platforms) sharing one Redis do not.
fn rate_limiter(config: &Config) -> anyhow::Result<Arc<dyn RateLimiter>> {
    Ok(match &config.redis_url {
        Some(url) => Arc::new(RedisTokenBuckets::new(url)?.with_prefix(config.redis_key_prefix())),
        None => Arc::new(TokenBuckets::new()),
    })
}

/// Serves the gateway on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    config: Arc<Config>,
    keys: Keys,
    peers: Peers,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Gateway::new(config, &keys, peers)?
        .serve(listener, shutdown)
        .await
}

/// The gateway's gRPC side: its own health and reflection, then
/// pass-through, all behind the gRPC-web translation.
async fn grpc_router(peers: Peers, shutdown: CancellationToken) -> anyhow::Result<GrpcService> {
    let services = descriptors::public_services();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for service in &services {
        reporter
            .set_service_status(service, ServingStatus::NotServing)
            .await;
    }
    health::mirror(reporter, peers.clone(), services, shutdown.clone());

    let public = descriptors::public_descriptor_set().encode_to_vec();
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(&public)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let routes = Routes::new(health)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?);
    // Watches through the gateway end cleanly when it stops, whatever the
    // service behind them does.
    let passthrough = Router::new()
        .fallback(proxy::forward)
        .with_state(peers)
        .layer(fip_kit::serve::EndWatchesLayer::new(shutdown));
    let router = routes.into_axum_router().fallback_service(passthrough);
    Ok(tower::Layer::layer(&tonic_web::GrpcWebLayer::new(), router))
}

type GrpcService = tonic_web::GrpcWebService<Router>;

/// Where requests go once the edge let them through.
struct Dispatch {
    grpc: GrpcService,
    rest: Arc<Rest>,
    openapi: Arc<String>,
    web: Option<web::Web>,
}

async fn dispatch(State(state): State<Arc<Dispatch>>, request: Request<Body>) -> Response {
    let target = request
        .extensions()
        .get::<Target>()
        .cloned()
        .unwrap_or(Target::Web);
    match target {
        Target::Grpc { .. } => {
            let response: Result<_, Infallible> = state.grpc.clone().oneshot(request).await;
            match response {
                Ok(response) => response.map(Body::new),
                Err(never) => match never {},
            }
        }
        Target::Rest { .. } => state.rest.clone().handle(request).await,
        Target::OpenApi => {
            let mut response = Response::new(Body::from(state.openapi.as_str().to_owned()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Target::Web => match &state.web {
            Some(web) => web.serve(request).await,
            None => http::StatusCode::NOT_FOUND.into_response(),
        },
    }
}
