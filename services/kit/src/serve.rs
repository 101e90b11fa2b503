//! Hosting a service: its gRPC routes plus `grpc.health.v1` and server
//! reflection, behind the auth layer, on a listener, until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower_http::classify::{GrpcCode, GrpcErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultMakeSpan, DefaultOnFailure, OnEos, OnResponse, TraceLayer};

use crate::auth::{AuthLayer, Authenticator, Keys, ServiceIdentity, TokenVerifier};
use crate::config::Config;
use crate::events::Bus;
use crate::mesh::{Peers, ServiceName, http2};
use crate::sessions::{RemoteSessions, SessionSource, Sessions};
use crate::streams::StrictStreamEndLayer;

/// What a service hands to the host: its routes and the fully-qualified
/// names of the gRPC services in them (reported through health).
pub struct Hosted {
    pub name: ServiceName,
    pub routes: Routes,
    pub grpc_services: Vec<&'static str>,
    /// Where this service learns whether a session is live, when not from
    /// the user service over the mesh (the user service itself).
    pub sessions: Option<Arc<Sessions>>,
}

/// Everything a service needs to start.
#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub keys: Keys,
    pub verifier: Arc<TokenVerifier>,
    /// This service's own identity for calls to its peers.
    pub identity: Arc<ServiceIdentity>,
    pub peers: Peers,
    /// The process's event bus, shared by the services it hosts.
    pub bus: Bus,
    /// Checks tokens and their sessions (asking the user service).
    pub auth: Authenticator,
    /// Cancelled when the process shuts down; background tasks stop on it.
    pub shutdown: CancellationToken,
}

impl Context {
    /// The context of service `name`; `bus` is the process's (shared by
    /// every service it hosts, so that an event is in force in all of them
    /// when its publisher goes on).
    pub fn new(
        name: ServiceName,
        config: Arc<Config>,
        keys: Keys,
        peers: Peers,
        bus: Bus,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let verifier = Arc::new(TokenVerifier::new(&keys, &config)?);
        let identity = Arc::new(ServiceIdentity::new(name, &keys, &config)?);
        let remote = RemoteSessions::new(peers.channel(ServiceName::User), identity.clone());
        let sessions = Sessions::new(
            Arc::new(remote),
            config.auth.session_check_ttl,
            &bus,
            &shutdown,
        );
        Ok(Self {
            auth: Authenticator::new(verifier.clone(), sessions),
            config,
            keys,
            verifier,
            identity,
            peers,
            bus,
            shutdown,
        })
    }

    /// The same context, speaking as another service (one process hosting several).
    pub fn for_service(&self, name: ServiceName) -> anyhow::Result<Self> {
        Ok(Self {
            identity: Arc::new(ServiceIdentity::new(name, &self.keys, &self.config)?),
            ..self.clone()
        })
    }

    /// Sessions answered by `source` instead of the user service, kept
    /// current by this process's events (the user service's own).
    pub fn sessions_from(&self, source: Arc<dyn SessionSource>) -> Arc<Sessions> {
        Sessions::new(
            source,
            self.config.auth.session_check_ttl,
            &self.bus,
            &self.shutdown,
        )
    }

    /// The authenticator for `hosted`: its own sessions when it has them.
    pub fn authenticator_for(&self, hosted: &Hosted) -> Authenticator {
        match &hosted.sessions {
            Some(sessions) => self.auth.with_sessions(sessions.clone()),
            None => self.auth.clone(),
        }
    }
}

/// The descriptor-backed reflection services (v1 and v1alpha) for `descriptor_set`.
pub fn reflection_routes(routes: Routes, descriptor_set: &[u8]) -> anyhow::Result<Routes> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(descriptor_set)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    Ok(routes
        .add_service(builder().build_v1()?)
        .add_service(builder().build_v1alpha()?))
}

/// Serves `hosted` on `listener` until `shutdown` is cancelled. Health turns
/// NOT_SERVING first, so that callers watching it stop sending work.
pub async fn serve(
    listener: TcpListener,
    hosted: Hosted,
    auth: Authenticator,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    set_all(&reporter, &hosted.grpc_services, ServingStatus::Serving).await;
    let routes = reflection_routes(
        hosted.routes.add_service(health),
        fip_proto::FILE_DESCRIPTOR_SET,
    )?;
    let addr = listener.local_addr()?;
    tracing::debug!(service = %hosted.name, %addr, "serving");
    let shutdown_watches = shutdown.clone();
    let stopping = {
        let reporter = reporter.clone();
        let names = hosted.grpc_services.clone();
        async move {
            shutdown.cancelled().await;
            set_all(&reporter, &names, ServingStatus::NotServing).await;
        }
    };
    Server::builder()
        .initial_stream_window_size(Some(http2::STREAM_WINDOW_BYTES))
        .initial_connection_window_size(Some(http2::CONNECTION_WINDOW_BYTES))
        .max_frame_size(Some(http2::MAX_FRAME_BYTES))
        .layer(call_log())
        .layer(StrictStreamEndLayer)
        .layer(EndWatchesLayer::new(shutdown_watches))
        .layer(AuthLayer::new(auth))
        .add_routes(routes)
        // Small request/answer exchanges must not wait for Nagle's algorithm
        // (tonic ignores `tcp_nodelay` when handed a listener).
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            stopping,
        )
        .await?;
    tracing::debug!(service = %hosted.name, "stopped");
    Ok(())
}

/// gRPC codes that report the caller's mistake or situation (a wrong
/// password, an unknown id, a refusal), not a failure of the service.
const CLIENT_CODES: [GrpcCode; 10] = [
    GrpcCode::Cancelled,
    GrpcCode::InvalidArgument,
    GrpcCode::NotFound,
    GrpcCode::AlreadyExists,
    GrpcCode::PermissionDenied,
    GrpcCode::ResourceExhausted,
    GrpcCode::FailedPrecondition,
    GrpcCode::Aborted,
    GrpcCode::OutOfRange,
    GrpcCode::Unauthenticated,
];

type CallLog = TraceLayer<
    SharedClassifier<GrpcErrorsAsFailures>,
    DefaultMakeSpan,
    (),
    Answered,
    (),
    Answered,
    DefaultOnFailure,
>;

/// The log of the calls a service answers: a span per call (its method),
/// a DEBUG line for each answer with its gRPC code, and an ERROR line only
/// when the service itself failed (INTERNAL, UNKNOWN, UNAVAILABLE,
/// DEADLINE_EXCEEDED, UNIMPLEMENTED, DATA_LOSS): a client's error is not
/// the operator's alarm.
pub fn call_log() -> CallLog {
    let classifier = CLIENT_CODES.into_iter().fold(
        GrpcErrorsAsFailures::new(),
        GrpcErrorsAsFailures::with_success,
    );
    TraceLayer::new(SharedClassifier::new(classifier))
        .make_span_with(DefaultMakeSpan::new())
        .on_request(())
        .on_response(Answered)
        .on_body_chunk(())
        .on_eos(Answered)
        .on_failure(DefaultOnFailure::new().level(tracing::Level::ERROR))
}

/// Logs a call's gRPC code at DEBUG, from a trailers-only answer's
/// headers or from the trailers.
#[derive(Clone, Copy)]
pub struct Answered;

fn grpc_code(headers: &http::HeaderMap) -> Option<&str> {
    headers.get("grpc-status").and_then(|v| v.to_str().ok())
}

impl<B> OnResponse<B> for Answered {
    fn on_response(self, response: &http::Response<B>, latency: Duration, _: &tracing::Span) {
        if let Some(code) = grpc_code(response.headers()) {
            tracing::debug!(
                grpc_status = code,
                latency_us = latency.as_micros() as u64,
                "answered"
            );
        }
    }
}

impl OnEos for Answered {
    fn on_eos(self, trailers: Option<&http::HeaderMap>, duration: Duration, _: &tracing::Span) {
        if let Some(code) = trailers.and_then(grpc_code) {
            tracing::debug!(
                grpc_status = code,
                stream_us = duration.as_micros() as u64,
                "answered"
            );
        }
    }
}

async fn set_all(reporter: &HealthReporter, names: &[&'static str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in names {
        reporter.set_service_status(*name, status).await;
    }
}

/// Ends the answer streams of `Watch*` calls cleanly when `shutdown` is
/// cancelled: after the message being sent, the stream closes with status
/// OK, so a client sees the stream end (and watches again elsewhere) rather
/// than an error, and the server's graceful stop does not wait on streams
/// that never end by themselves. Other calls are left to finish.
#[derive(Clone, Debug)]
pub struct EndWatchesLayer {
    shutdown: CancellationToken,
}

impl EndWatchesLayer {
    pub fn new(shutdown: CancellationToken) -> Self {
        Self { shutdown }
    }
}

impl<S> tower::Layer<S> for EndWatchesLayer {
    type Service = EndWatches<S>;
    fn layer(&self, inner: S) -> Self::Service {
        EndWatches {
            inner,
            shutdown: self.shutdown.clone(),
        }
    }
}

/// The service [`EndWatchesLayer`] wraps.
#[derive(Clone, Debug)]
pub struct EndWatches<S> {
    inner: S,
    shutdown: CancellationToken,
}

/// Whether the call at `path` (`/package.Service/Method`) is a watch.
pub fn is_watch(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|m| m.starts_with("Watch"))
}

impl<S, B, R> tower::Service<http::Request<B>> for EndWatches<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
    R::Error: Into<tonic::codegen::StdError>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let shutdown = is_watch(request.uri().path()).then(|| self.shutdown.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| match shutdown {
                Some(shutdown) => tonic::body::Body::new(EndOnShutdown {
                    inner: body,
                    shutdown: Box::pin(shutdown.cancelled_owned()),
                    ended: false,
                }),
                None => tonic::body::Body::new(body),
            }))
        })
    }
}

/// A response body that ends with OK trailers once shutdown begins.
pub struct EndOnShutdown<B> {
    inner: B,
    shutdown: std::pin::Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    ended: bool,
}

impl<B> http_body::Body for EndOnShutdown<B>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
{
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, B::Error>>> {
        use std::task::Poll;
        if self.ended {
            return Poll::Ready(None);
        }
        if self.shutdown.as_mut().poll(cx).is_ready() {
            self.ended = true;
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            return Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers))));
        }
        let frame = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) | Poll::Ready(Some(Ok(_))) = &frame
            && !matches!(&frame, Poll::Ready(Some(Ok(f))) if f.is_data())
        {
            // The inner stream ended or sent its trailers: nothing follows.
            self.ended = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }
}

/// Binds `addr` (port 0: any free port), with a clear error when it is taken.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("interrupted, shutting down"),
        _ = term => tracing::info!("terminated, shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::CapturedLogs;
    use tower::{Layer, ServiceExt};

    /// What the call log writes for an answer with `status`, at `level` and above.
    async fn logged(status: tonic::Status, level: tracing::Level) -> String {
        let logs = CapturedLogs::start(level);
        let service =
            call_log().layer(tower::service_fn(
                move |_: http::Request<tonic::body::Body>| {
                    let status = status.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(status.into_http::<tonic::body::Body>())
                    }
                },
            ));
        let request = http::Request::post("/fip.user.v1.UserService/Login")
            .body(tonic::body::Body::empty())
            .unwrap();
        service.oneshot(request).await.unwrap();
        logs.text()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_clients_error_is_no_error_of_the_service() {
        for status in [
            tonic::Status::unauthenticated("wrong password"),
            tonic::Status::not_found("job x not found"),
            tonic::Status::invalid_argument("bad"),
        ] {
            let code = status.code() as i32;
            assert_eq!(logged(status.clone(), tracing::Level::WARN).await, "");
            let debug = logged(status, tracing::Level::DEBUG).await;
            assert!(
                debug.contains(&format!("grpc_status=\"{code}\"")),
                "{debug}"
            );
            assert!(debug.contains("/fip.user.v1.UserService/Login"), "{debug}");
        }
        let failure = logged(tonic::Status::internal("boom"), tracing::Level::WARN).await;
        assert!(failure.contains("ERROR"), "{failure}");
    }
}
