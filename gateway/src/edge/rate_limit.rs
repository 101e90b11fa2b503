//! Rate limits: token buckets per client address and per signed-in user.
//!
//! [`RateLimiter`] is the storage-independent interface, with two
//! implementations of the same token bucket: [`TokenBuckets`] counts in this
//! process; [`RedisTokenBuckets`] counts in Redis, so that replicas of the
//! gateway share their counts (the gateway uses it when `redis_url` is set,
//! and falls back to counting in-process while Redis cannot be reached).
//! [`RateLimitLayer`] applies one kind of key;
//! the gateway stacks the per-address layer before authentication and the
//! per-user layer after it. Every API answer carries `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` (of the tighter limit); a
//! refusal is HTTP 429 with `Retry-After`, or gRPC RESOURCE_EXHAUSTED with
//! ErrorInfo reason `RATE_LIMITED` and RetryInfo.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use fip_kit::auth::Principal;
use fip_kit::config::RateQuota;
use fip_kit::error::{ERROR_DOMAIN, reason_str};
use fip_proto::common::v1::ErrorReason;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Request};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use super::{Target, reject, request_id_of};

mod redis;

pub use self::redis::RedisTokenBuckets;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// The bucket size.
    pub limit: u32,
    /// Requests left right now.
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset: Duration,
    /// Until the next request is allowed (zero when allowed).
    pub retry_after: Duration,
}

/// Counts requests per key against a quota.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes one request from `key`'s bucket if it has one.
    async fn check(&self, key: &str, quota: RateQuota) -> Decision;
}

/// A source of the current time (controllable in tests).
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// In-process token buckets.
pub struct TokenBuckets<C: Clock = SystemClock> {
    clock: C,
    buckets: Mutex<HashMap<String, Bucket>>,
    last_prune: Mutex<Option<Instant>>,
}

/// Buckets are pruned (full ones dropped) at most this often.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// ... and only when there are more than this many.
const PRUNE_ABOVE: usize = 10_000;

impl TokenBuckets<SystemClock> {
    pub fn new() -> Self {
        Self::with_clock(SystemClock)
    }
}

impl Default for TokenBuckets<SystemClock> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Clock> TokenBuckets<C> {
    pub fn with_clock(clock: C) -> Self {
        Self {
            clock,
            buckets: Mutex::new(HashMap::new()),
            last_prune: Mutex::new(None),
        }
    }

    /// The verdict for `key` at `now` (synchronous core of [`RateLimiter::check`]).
    pub fn take(&self, key: &str, quota: RateQuota) -> Decision {
        let now = self.clock.now();
        let burst = f64::from(quota.burst);
        let rate = quota.per_second;
        let mut buckets = self.buckets.lock().expect("rate limit buckets poisoned");
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let tokens = bucket.tokens;
        let size = buckets.len();
        drop(buckets);
        if size > PRUNE_ABOVE {
            self.prune(now, quota);
        }
        decision(quota, allowed, tokens)
    }

    fn prune(&self, now: Instant, quota: RateQuota) {
        let mut last = self.last_prune.lock().expect("prune clock poisoned");
        if last.is_some_and(|t| now.saturating_duration_since(t) < PRUNE_EVERY) {
            return;
        }
        *last = Some(now);
        let burst = f64::from(quota.burst);
        let rate = quota.per_second;
        self.buckets
            .lock()
            .expect("rate limit buckets poisoned")
            .retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst
            });
    }
}

/// The verdict on a bucket left with `tokens` after the request was
/// `allowed` (took one) or not.
fn decision(quota: RateQuota, allowed: bool, tokens: f64) -> Decision {
    let burst = f64::from(quota.burst);
    let rate = quota.per_second;
    Decision {
        allowed,
        limit: quota.burst,
        remaining: tokens.floor().max(0.0) as u32,
        reset: Duration::from_secs_f64(((burst - tokens) / rate).max(0.0)),
        retry_after: if allowed {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(((1.0 - tokens) / rate).max(0.0))
        },
    }
}

#[async_trait]
impl<C: Clock> RateLimiter for TokenBuckets<C> {
    async fn check(&self, key: &str, quota: RateQuota) -> Decision {
        self.take(key, quota)
    }
}

/// Which key a layer limits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The client's IP address.
    Address,
    /// The signed-in user (requests without one pass).
    User,
}

/// Applies one quota per key to API requests.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<dyn RateLimiter>,
    quota: RateQuota,
    kind: KeyKind,
}

impl RateLimitLayer {
    pub fn new(limiter: Arc<dyn RateLimiter>, quota: RateQuota, kind: KeyKind) -> Self {
        Self {
            limiter,
            quota,
            kind,
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    layer: RateLimitLayer,
}

fn key_of<B>(kind: KeyKind, request: &Request<B>) -> Option<String> {
    match kind {
        KeyKind::Address => request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| format!("addr:{}", c.0.ip())),
        KeyKind::User => match request.extensions().get::<Principal>() {
            Some(Principal::User(user)) => Some(format!("user:{}", user.id)),
            _ => None,
        },
    }
}

impl<S> Service<Request<Body>> for RateLimit<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone is ready only once polled; take the ready one (tower's
        // usual dance) and leave the clone for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let target = request
                .extensions()
                .get::<Target>()
                .cloned()
                .unwrap_or(Target::Web);
            let key = key_of(layer.kind, &request);
            let (Some(key), true) = (key, target.is_api() && layer.quota.burst > 0) else {
                return inner.call(request).await;
            };
            let decision = layer.limiter.check(&key, layer.quota).await;
            if !decision.allowed {
                tracing::info!(key = %key, protocol = target.protocol(), "rate limited");
                let mut response = reject(&target, limited(&decision), &request_id_of(&request));
                set_headers(response.headers_mut(), &decision);
                let seconds = decision.retry_after.as_secs_f64().ceil().max(1.0) as u64;
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
                return Ok(response);
            }
            let mut response = inner.call(request).await?;
            set_headers(response.headers_mut(), &decision);
            Ok(response)
        })
    }
}

/// RESOURCE_EXHAUSTED / RATE_LIMITED with RetryInfo.
fn limited(decision: &Decision) -> Status {
    let seconds = decision.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut details = ErrorDetails::new();
    let mut metadata = HashMap::new();
    metadata.insert("retry_after_seconds".to_string(), seconds.to_string());
    details.set_error_info(reason_str(ErrorReason::RateLimited), ERROR_DOMAIN, metadata);
    details.set_retry_info(Some(decision.retry_after));
    Status::with_error_details(
        Code::ResourceExhausted,
        format!("too many requests: retry in {seconds} s"),
        details,
    )
}

const LIMIT: &str = "ratelimit-limit";
const REMAINING: &str = "ratelimit-remaining";
const RESET: &str = "ratelimit-reset";

/// Writes the `RateLimit-*` headers unless tighter ones are already there.
fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    let existing = headers
        .get(REMAINING)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    if existing.is_some_and(|r| r <= decision.remaining) {
        return;
    }
    headers.insert(LIMIT, HeaderValue::from(decision.limit));
    headers.insert(REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(
        RESET,
        HeaderValue::from(decision.reset.as_secs_f64().ceil() as u64),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock tests move by hand.
    #[derive(Clone)]
    struct ManualClock(Arc<Mutex<Instant>>);

    impl ManualClock {
        fn new() -> Self {
            Self(Arc::new(Mutex::new(Instant::now())))
        }
        fn advance(&self, by: Duration) {
            *self.0.lock().unwrap() += by;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap()
        }
    }

    const QUOTA: RateQuota = RateQuota {
        burst: 3,
        per_second: 2.0,
    };

    #[test]
    fn bucket_empties_and_refills() {
        let clock = ManualClock::new();
        let buckets = TokenBuckets::with_clock(clock.clone());
        for remaining in [2, 1, 0] {
            let d = buckets.take("a", QUOTA);
            assert!(d.allowed);
            assert_eq!(d.remaining, remaining);
        }
        let refused = buckets.take("a", QUOTA);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert_eq!(refused.reset, Duration::from_millis(1500));
        // Other keys are not affected.
        assert!(buckets.take("b", QUOTA).allowed);
        clock.advance(Duration::from_millis(499));
        assert!(!buckets.take("a", QUOTA).allowed);
        clock.advance(Duration::from_millis(1));
        assert!(buckets.take("a", QUOTA).allowed);
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            buckets.take("a", QUOTA).remaining,
            2,
            "refills to the burst only"
        );
    }

    #[test]
    fn refusal_is_rate_limited_with_retry_info() {
        let status = limited(&Decision {
            allowed: false,
            limit: 3,
            remaining: 0,
            reset: Duration::from_secs(2),
            retry_after: Duration::from_millis(300),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        let details = status.get_error_details();
        assert_eq!(details.error_info().unwrap().reason, "RATE_LIMITED");
        assert_eq!(
            details.error_info().unwrap().metadata["retry_after_seconds"],
            "1"
        );
        assert!(details.retry_info().is_some());
    }

    #[test]
    fn tighter_headers_win() {
        let mut headers = HeaderMap::new();
        let loose = Decision {
            allowed: true,
            limit: 100,
            remaining: 90,
            reset: Duration::from_secs(1),
            retry_after: Duration::ZERO,
        };
        let tight = Decision {
            remaining: 2,
            limit: 3,
            ..loose
        };
        set_headers(&mut headers, &tight);
        set_headers(&mut headers, &loose);
        assert_eq!(headers[REMAINING], "2");
        assert_eq!(headers[LIMIT], "3");
    }
}
