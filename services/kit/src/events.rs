//! A process-wide event bus: small messages on named topics, delivered to
//! the listeners of this process at once and, when Redis is configured, to
//! every other process of the deployment through Redis pub/sub.
//!
//! Delivery within the process is synchronous: when [`Bus::publish`]
//! returns, every local listener has seen the message, so a change a
//! service makes is in force in its own process before it answers. Across
//! processes delivery is best-effort (pub/sub keeps nothing): a listener is
//! told with [`Listener::gap`] whenever its process may have missed
//! messages (the subscription broke, or was not yet up), so that it can
//! drop whatever it derived from them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use redis::AsyncCommands;
use tokio_util::sync::CancellationToken;

/// A user's stored credential for a service was created, replaced or
/// deleted (published by the user service on [`CredentialChanged::TOPIC`]):
/// whoever remembers that credential forgets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CredentialChanged {
    pub user_id: i64,
    pub service_id: i64,
}

impl CredentialChanged {
    pub const TOPIC: &'static str = "credentials";

    /// Announces the change on `bus`.
    pub async fn publish(self, bus: &Bus) {
        let payload = serde_json::to_string(&self).expect("a change always encodes");
        bus.publish(Self::TOPIC, &payload).await;
    }
}

/// Receives the messages of one topic.
pub trait Listener: Send + Sync + 'static {
    /// One message, as published.
    fn message(&self, payload: &str);
    /// Messages from other processes may have been missed.
    fn gap(&self);
}

/// The bus. Cheap to clone; clones share listeners and connections.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells this process's own messages apart when Redis echoes them.
    origin: String,
    listeners: Mutex<HashMap<String, Vec<Arc<dyn Listener>>>>,
    redis: Option<RedisBus>,
}

struct RedisBus {
    client: redis::Client,
    /// Channels are `<prefix><topic>`.
    prefix: String,
    publisher: tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>,
    subscriber: OnceLock<CancellationToken>,
}

/// How long a Redis publish may take before it is given up (the local
/// listeners already have the message).
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);

impl Bus {
    /// A bus within this process only.
    pub fn local() -> Self {
        Self::build(None)
    }

    /// A bus that also reaches every process subscribed to the same Redis
    /// server under `prefix` (e.g. `fip:events:`). Connects lazily.
    pub fn redis(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("redis_url {url:?} is not usable: {e}"))?;
        Ok(Self::build(Some(RedisBus {
            client,
            prefix: prefix.to_string(),
            publisher: tokio::sync::Mutex::new(None),
            subscriber: OnceLock::new(),
        })))
    }

    /// The bus a configuration calls for: Redis when `redis_url` is set.
    pub fn for_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        match &config.redis_url {
            Some(url) => Self::redis(url, &format!("{}events:", config.redis_key_prefix())),
            None => Ok(Self::local()),
        }
    }

    fn build(redis: Option<RedisBus>) -> Self {
        Self {
            inner: Arc::new(Inner {
                origin: uuid::Uuid::now_v7().simple().to_string(),
                listeners: Mutex::new(HashMap::new()),
                redis,
            }),
        }
    }

    /// Adds `listener` to `topic`'s. With Redis, the first listener starts
    /// this process's subscription (which runs until `shutdown`); until it
    /// is up, and after every break, listeners get [`Listener::gap`].
    pub fn listen(&self, topic: &str, listener: Arc<dyn Listener>, shutdown: &CancellationToken) {
        self.inner
            .listeners
            .lock()
            .expect("bus listeners poisoned")
            .entry(topic.to_string())
            .or_default()
            .push(listener);
        if let Some(redis) = &self.inner.redis
            && tokio::runtime::Handle::try_current().is_ok()
        {
            redis.subscriber.get_or_init(|| {
                let stop = shutdown.child_token();
                tokio::spawn(subscribe(self.inner.clone(), stop.clone()));
                stop
            });
        }
    }

    /// Delivers `payload` to `topic`'s listeners here, then to the other
    /// processes. A Redis failure is logged, not returned: the change that
    /// is announced has happened, and listeners elsewhere bound how long
    /// they trust what they derived (see [`Listener::gap`]).
    pub async fn publish(&self, topic: &str, payload: &str) {
        self.inner.deliver(topic, payload);
        let Some(redis) = &self.inner.redis else {
            return;
        };
        let channel = format!("{}{topic}", redis.prefix);
        let message = format!("{}\n{payload}", self.inner.origin);
        let sent = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            let mut slot = redis.publisher.lock().await;
            if slot.is_none() {
                *slot = Some(redis::aio::ConnectionManager::new(redis.client.clone()).await?);
            }
            let connection = slot.as_mut().expect("connected above");
            connection.publish::<_, _, i64>(&channel, &message).await
        })
        .await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, topic, "event not sent to other processes"),
            Err(_) => tracing::warn!(topic, "event not sent to other processes: redis timed out"),
        }
    }
}

impl Inner {
    fn listeners(&self, topic: Option<&str>) -> Vec<Arc<dyn Listener>> {
        let listeners = self.listeners.lock().expect("bus listeners poisoned");
        match topic {
            Some(topic) => listeners.get(topic).cloned().unwrap_or_default(),
            None => listeners.values().flatten().cloned().collect(),
        }
    }

    fn deliver(&self, topic: &str, payload: &str) {
        for listener in self.listeners(Some(topic)) {
            listener.message(payload);
        }
    }

    fn gap(&self) {
        for listener in self.listeners(None) {
            listener.gap();
        }
    }
}

/// This process's Redis subscription: every topic under the prefix, kept up
/// with backoff until `stop`.
async fn subscribe(inner: Arc<Inner>, stop: CancellationToken) {
    let Some(redis) = &inner.redis else { return };
    let pattern = format!("{}*", redis.prefix);
    let mut backoff = Duration::from_millis(100);
    loop {
        let session = async {
            let mut pubsub = redis.client.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            // Subscribed: whatever was published before may have been
            // missed.
            inner.gap();
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            _ = stop.cancelled() => return,
            session = session => session,
        };
        match pubsub {
            Ok(mut pubsub) => {
                backoff = Duration::from_millis(100);
                let mut messages = pubsub.on_message();
                loop {
                    let message = tokio::select! {
                        _ = stop.cancelled() => return,
                        message = messages.next() => message,
                    };
                    let Some(message) = message else { break };
                    let (Ok(payload), Some(topic)) = (
                        message.get_payload::<String>(),
                        message.get_channel_name().strip_prefix(&redis.prefix),
                    ) else {
                        continue;
                    };
                    match payload.split_once('\n') {
                        Some((origin, _)) if origin == inner.origin => {}
                        Some((_, body)) => inner.deliver(topic, body),
                        None => {}
                    }
                }
                tracing::warn!("event subscription ended; subscribing again");
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe to events; retrying"),
        }
        inner.gap();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        messages: Mutex<Vec<String>>,
        gaps: Mutex<u32>,
        changed: tokio::sync::Notify,
    }

    impl Listener for Recorder {
        fn message(&self, payload: &str) {
            self.messages.lock().unwrap().push(payload.to_string());
            self.changed.notify_waiters();
        }
        fn gap(&self) {
            *self.gaps.lock().unwrap() += 1;
            self.changed.notify_waiters();
        }
    }

    impl Recorder {
        fn messages(&self) -> Vec<String> {
            self.messages.lock().unwrap().clone()
        }

        /// Waits (10 s at most) until `done` holds.
        async fn wait_until(&self, done: impl Fn(&Self) -> bool) {
            tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    let changed = self.changed.notified();
                    if done(self) {
                        return;
                    }
                    changed.await;
                }
            })
            .await
            .expect("the awaited event arrives");
        }
    }

    #[tokio::test]
    async fn local_listeners_hear_their_topic_before_publish_returns() {
        let bus = Bus::local();
        let stop = CancellationToken::new();
        let sessions = Arc::new(Recorder::default());
        let jobs = Arc::new(Recorder::default());
        bus.listen("sessions", sessions.clone(), &stop);
        bus.listen("jobs", jobs.clone(), &stop);
        bus.publish("sessions", "ended 1").await;
        assert_eq!(sessions.messages(), vec!["ended 1"]);
        assert!(jobs.messages().is_empty());
    }

    /// Two buses on one Redis server stand for two processes.
    #[tokio::test]
    async fn redis_carries_messages_between_processes_once() {
        let Ok(url) = std::env::var("FIP_TEST_REDIS_URL") else {
            eprintln!("FIP_TEST_REDIS_URL unset: the Redis bus is tested in the Redis pass");
            return;
        };
        let prefix = format!("{}events:", crate::testing::unique_schema_prefix("bus"));
        let stop = CancellationToken::new();
        let here = Bus::redis(&url, &prefix).unwrap();
        let there = Bus::redis(&url, &prefix).unwrap();
        let heard_here = Arc::new(Recorder::default());
        let heard_there = Arc::new(Recorder::default());
        here.listen("sessions", heard_here.clone(), &stop);
        there.listen("sessions", heard_there.clone(), &stop);
        // Each subscription reports a gap once it is up.
        heard_here.wait_until(|r| *r.gaps.lock().unwrap() > 0).await;
        heard_there
            .wait_until(|r| *r.gaps.lock().unwrap() > 0)
            .await;
        here.publish("sessions", "ended 7").await;
        heard_there.wait_until(|r| !r.messages().is_empty()).await;
        assert_eq!(heard_there.messages(), vec!["ended 7"]);
        // The publisher's own process heard it once, directly, and not again
        // through Redis: by the time a second message has crossed, an echo
        // of the first would have too.
        here.publish("sessions", "ended 8").await;
        heard_there.wait_until(|r| r.messages().len() == 2).await;
        assert_eq!(heard_here.messages(), vec!["ended 7", "ended 8"]);
        stop.cancel();
    }
}
