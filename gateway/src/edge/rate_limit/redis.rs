//! Token buckets in Redis, shared by every replica of the gateway.
//!
//! A bucket is the hash `<prefix>rl:<key>` = `{tokens, ts}`. One Lua script
//! (sent as EVALSHA) refills it from the time elapsed since `ts`, takes one
//! token when there is one and writes it back, atomically; the time is
//! Redis's own (`TIME`), so replicas with skewed clocks agree. The key
//! expires once the bucket would be full again, so idle buckets vanish.
//!
//! Redis being down or slow must neither block traffic nor refuse it: each
//! call is bounded by a short timeout, and a call that fails is answered by
//! in-process buckets instead (this replica's counts only), with a warning at
//! most every [`WARN_EVERY`]. After a failure, calls skip Redis for
//! [`RETRY_AFTER_FAILURE`] rather than each waiting for it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError, Script};
use async_trait::async_trait;
use fip_kit::config::RateQuota;

use super::{Decision, RateLimiter, TokenBuckets, decision};

/// Refills and takes one token; answers `{allowed (0|1), tokens left}`.
///
/// KEYS[1] the bucket; ARGV[1] the burst, ARGV[2] tokens added per second.
/// Numbers are written with 17 significant digits: Lua's default formatting
/// (14) would round the microsecond timestamps.
const TAKE: &str = r#"
if redis.replicate_commands then redis.replicate_commands() end
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(bucket[1])
local ts = tonumber(bucket[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
local elapsed = math.max(0, now - ts) / 1000000
tokens = math.min(burst, tokens + elapsed * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'ts', string.format('%.17g', now))
local ttl = math.ceil((burst - tokens) / rate * 1000)
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
return {allowed, string.format('%.17g', tokens)}
"#;

/// The key prefix unless told otherwise.
pub const DEFAULT_PREFIX: &str = "fip:";
/// How long one call may wait for Redis (connecting included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is left alone this long (calls count in-process).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// At most one warning about Redis failures this often.
pub const WARN_EVERY: Duration = Duration::from_secs(30);

/// Token buckets in Redis, with the same semantics as [`TokenBuckets`].
///
/// Nothing connects until the first check, so a Redis that is down when the
/// gateway starts does not stop it; the connection is re-established on
/// demand after Redis restarts.
pub struct RedisTokenBuckets {
    client: Client,
    prefix: String,
    timeout: Duration,
    script: Script,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// Redis is skipped until then (after a failure).
    down_until: Mutex<Option<Instant>>,
    /// Answers while Redis cannot.
    fallback: TokenBuckets,
    warnings: WarnThrottle,
}

impl RedisTokenBuckets {
    /// Buckets in the Redis at `url` (`redis://` or `rediss://`), under
    /// [`DEFAULT_PREFIX`]. Only checks the URL; does not connect.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: Client::open(url)?,
            prefix: DEFAULT_PREFIX.to_string(),
            timeout: DEFAULT_TIMEOUT,
            script: Script::new(TAKE),
            connection: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
            fallback: TokenBuckets::new(),
            warnings: WarnThrottle::new(WARN_EVERY),
        })
    }

    /// Puts the buckets under `prefix` (the key is `<prefix>rl:<key>`):
    /// deployments, or tests, sharing one Redis keep apart by prefix.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bounds each call to Redis by `timeout` instead of [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Redis key of `key`'s bucket.
    pub fn bucket_key(&self, key: &str) -> String {
        format!("{}rl:{key}", self.prefix)
    }

    /// The shared connection, opened on first use.
    async fn connection(&self) -> Result<ConnectionManager, RedisError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(0);
        let connection = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// The verdict from the shared bucket.
    async fn take_shared(&self, key: &str, quota: RateQuota) -> Result<Decision, RedisError> {
        let mut connection = self.connection().await?;
        let (allowed, tokens): (i64, String) = self
            .script
            .key(self.bucket_key(key))
            .arg(quota.burst)
            .arg(quota.per_second)
            .invoke_async(&mut connection)
            .await?;
        let tokens = tokens
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite())
            .ok_or_else(|| {
                RedisError::from((
                    ::redis::ErrorKind::TypeError,
                    "rate limit script answered a non-number",
                    tokens,
                ))
            })?;
        Ok(decision(quota, allowed == 1, tokens))
    }

    fn is_down(&self, now: Instant) -> bool {
        self.down_until
            .lock()
            .expect("redis rate limit state poisoned")
            .is_some_and(|until| now < until)
    }

    /// Notes a failure: skip Redis for a while, warn if not too recently.
    fn failed(&self, error: &dyn std::fmt::Display) {
        let now = Instant::now();
        *self
            .down_until
            .lock()
            .expect("redis rate limit state poisoned") = Some(now + RETRY_AFTER_FAILURE);
        if let Some(suppressed) = self.warnings.allow(now) {
            tracing::warn!(
                %error,
                suppressed,
                "rate limits counted in this process only: Redis did not answer"
            );
        }
    }
}

#[async_trait]
impl RateLimiter for RedisTokenBuckets {
    async fn check(&self, key: &str, quota: RateQuota) -> Decision {
        // A quota the script cannot compute with (configuration validation
        // rules these out) is counted in-process, as before Redis.
        let usable = quota.per_second.is_finite() && quota.per_second > 0.0;
        if !usable || self.is_down(Instant::now()) {
            return self.fallback.take(key, quota);
        }
        match tokio::time::timeout(self.timeout, self.take_shared(key, quota)).await {
            Ok(Ok(decision)) => decision,
            Ok(Err(error)) => {
                self.failed(&error);
                self.fallback.take(key, quota)
            }
            Err(_) => {
                self.failed(&format_args!("no answer within {:?}", self.timeout));
                self.fallback.take(key, quota)
            }
        }
    }
}

/// Lets one event through per period and counts the others.
struct WarnThrottle {
    every: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl WarnThrottle {
    fn new(every: Duration) -> Self {
        Self {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(events held back since the last one let through)` when an event
    /// at `now` may be reported, `None` when it is held back.
    fn allow(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().expect("warning throttle poisoned");
        let (last, held) = &mut *state;
        if last.is_some_and(|t| now.saturating_duration_since(t) < self.every) {
            *held += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets of 3 refilled every 100 ms: quick to drain, quick to refill.
    const QUOTA: RateQuota = RateQuota {
        burst: 3,
        per_second: 10.0,
    };

    /// Buckets of 3 refilled every 100 s: none refills during a test.
    const SLOW: RateQuota = RateQuota {
        burst: 3,
        per_second: 0.01,
    };

    /// The test Redis, or `None` (after saying the test is skipped).
    fn redis_url(test: &str) -> Option<String> {
        match std::env::var("FIP_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                eprintln!("{test}: skipped (FIP_TEST_REDIS_URL is not set)");
                None
            }
        }
    }

    /// A prefix no other test run uses.
    fn unique_prefix() -> String {
        format!("fip:test:{}:", uuid::Uuid::now_v7().simple())
    }

    /// Deletes every key under `prefix`.
    async fn delete_prefix(url: &str, prefix: &str) {
        let client = Client::open(url).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut connection)
                .await
                .unwrap();
            if !keys.is_empty() {
                let _: () = ::redis::cmd("DEL")
                    .arg(&keys)
                    .query_async(&mut connection)
                    .await
                    .unwrap();
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }

    /// Milliseconds until `key` expires (-1: no expiry, -2: no key).
    async fn pttl(url: &str, key: &str) -> i64 {
        let client = Client::open(url).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap()
    }

    /// Two limiters on one Redis, as two gateway replicas, connected (so
    /// that connecting does not count against the refill timing).
    async fn replicas(url: &str, prefix: &str) -> (RedisTokenBuckets, RedisTokenBuckets) {
        let a = RedisTokenBuckets::new(url).unwrap().with_prefix(prefix);
        let b = RedisTokenBuckets::new(url).unwrap().with_prefix(prefix);
        for replica in [&a, &b] {
            replica
                .take_shared("warm-up", QUOTA)
                .await
                .expect("the test Redis answers");
        }
        (a, b)
    }

    #[tokio::test]
    async fn replicas_share_one_bucket_that_refills() {
        let Some(url) = redis_url("replicas_share_one_bucket_that_refills") else {
            return;
        };
        let prefix = unique_prefix();
        let (a, b) = replicas(&url, &prefix).await;
        let started = Instant::now();
        // The burst is shared: 3 requests over both replicas...
        for (replica, remaining) in [(&a, 2), (&b, 1), (&a, 0)] {
            let d = replica.check("addr:192.0.2.1", QUOTA).await;
            assert!(d.allowed, "{d:?}");
            assert_eq!(d.remaining, remaining, "{d:?}");
            assert_eq!(d.limit, 3);
        }
        // ... and the next one is refused, on either (b alone has seen one
        // request: counted in-process it would still allow two).
        let refused = b.check("addr:192.0.2.1", QUOTA).await;
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "too slow for the refill rate: {:?}",
            started.elapsed()
        );
        assert!(!refused.allowed, "{refused:?}");
        assert_eq!(refused.remaining, 0);
        assert!(
            refused.retry_after > Duration::ZERO
                && refused.retry_after <= Duration::from_millis(100),
            "{refused:?}"
        );
        assert!(
            refused.reset > Duration::from_millis(200)
                && refused.reset <= Duration::from_millis(300),
            "{refused:?}"
        );
        // The idle bucket expires once it would be full again.
        let ttl = pttl(&url, &a.bucket_key("addr:192.0.2.1")).await;
        assert!(ttl > 0 && ttl <= 300, "PTTL {ttl}");
        // Once refilled (one token per 100 ms), requests pass again.
        tokio::time::sleep(refused.retry_after + Duration::from_millis(20)).await;
        let again = a.check("addr:192.0.2.1", QUOTA).await;
        assert!(again.allowed, "{again:?}");
        assert_eq!(again.remaining, 0, "{again:?}");
        delete_prefix(&url, &prefix).await;
    }

    #[tokio::test]
    async fn keys_do_not_interfere() {
        let Some(url) = redis_url("keys_do_not_interfere") else {
            return;
        };
        let prefix = unique_prefix();
        let (a, b) = replicas(&url, &prefix).await;
        for _ in 0..3 {
            assert!(a.check("user:1", SLOW).await.allowed);
        }
        assert!(!b.check("user:1", SLOW).await.allowed);
        let other = b.check("user:2", SLOW).await;
        assert!(other.allowed, "{other:?}");
        assert_eq!(other.remaining, 2);
        // Another prefix is another set of buckets.
        let elsewhere = RedisTokenBuckets::new(&url)
            .unwrap()
            .with_prefix(unique_prefix());
        let there = elsewhere.take_shared("user:1", SLOW).await.unwrap();
        assert!(there.allowed);
        assert_eq!(there.remaining, 2);
        delete_prefix(&url, &prefix).await;
        delete_prefix(&url, &elsewhere.prefix).await;
    }

    #[tokio::test]
    async fn unreachable_redis_falls_back_to_this_process() {
        // Nothing listens on port 1: connecting is refused.
        let limiter = RedisTokenBuckets::new("redis://127.0.0.1:1").unwrap();
        assert!(limiter.take_shared("addr:x", QUOTA).await.is_err());
        let started = Instant::now();
        for remaining in [2, 1, 0] {
            let d = limiter.check("addr:192.0.2.7", SLOW).await;
            assert!(d.allowed, "{d:?}");
            assert_eq!(d.remaining, remaining);
        }
        let refused = limiter.check("addr:192.0.2.7", SLOW).await;
        assert!(!refused.allowed, "the in-process quota still holds");
        assert!(refused.retry_after > Duration::from_secs(90), "{refused:?}");
        assert!(limiter.check("addr:192.0.2.8", SLOW).await.allowed);
        assert!(
            started.elapsed() < DEFAULT_TIMEOUT * 2,
            "waited for Redis: {:?}",
            started.elapsed()
        );
        assert!(limiter.is_down(Instant::now()));
    }

    #[tokio::test]
    async fn silent_redis_is_bounded_by_the_timeout() {
        // A listener that accepts and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let limiter = RedisTokenBuckets::new(&format!("redis://{address}"))
            .unwrap()
            .with_timeout(Duration::from_millis(100));
        let started = Instant::now();
        let d = limiter.check("addr:192.0.2.9", QUOTA).await;
        assert!(d.allowed);
        assert_eq!(d.remaining, 2);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
        // Redis is left alone for a while: the next call does not wait.
        let started = Instant::now();
        assert_eq!(limiter.check("addr:192.0.2.9", QUOTA).await.remaining, 1);
        assert!(started.elapsed() < Duration::from_millis(50));
        accept.abort();
    }

    #[test]
    fn warnings_are_throttled() {
        let throttle = WarnThrottle::new(Duration::from_secs(30));
        let t0 = Instant::now();
        assert_eq!(throttle.allow(t0), Some(0));
        assert_eq!(throttle.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(throttle.allow(t0 + Duration::from_secs(29)), None);
        assert_eq!(throttle.allow(t0 + Duration::from_secs(30)), Some(2));
        assert_eq!(throttle.allow(t0 + Duration::from_secs(31)), None);
        assert_eq!(throttle.allow(t0 + Duration::from_secs(61)), Some(1));
    }
}
