//! The in-process bus: one `tokio::sync::broadcast` channel per watched
//! inbox, created by the first subscriber and removed with the last.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use futures::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{BusError, BusItem, EventBus, Subscription};
use crate::model::InboxEvent;

type Topics = Arc<Mutex<HashMap<i64, broadcast::Sender<Arc<InboxEvent>>>>>;

/// An [`EventBus`] within one process.
pub struct LocalBus {
    /// Changes held per inbox for its slowest subscriber.
    capacity: usize,
    topics: Topics,
}

impl LocalBus {
    /// A bus holding up to `capacity` (at least 1) changes per inbox.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            topics: Arc::default(),
        }
    }

    /// Inboxes with at least one subscriber.
    pub fn watched_inboxes(&self) -> usize {
        lock(&self.topics).len()
    }
}

fn lock(
    topics: &Topics,
) -> std::sync::MutexGuard<'_, HashMap<i64, broadcast::Sender<Arc<InboxEvent>>>> {
    // The map stays consistent whatever panicked while holding it.
    topics
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: InboxEvent) -> Result<(), BusError> {
        let topics = lock(&self.topics);
        if let Some(sender) = topics.get(&event.user_id) {
            // Fails only when nobody listens, which is not an error.
            let _ = sender.send(Arc::new(event));
        }
        Ok(())
    }

    async fn subscribe(&self, user_id: i64) -> Result<Subscription, BusError> {
        let mut topics = lock(&self.topics);
        let receiver = topics
            .entry(user_id)
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe();
        Ok(Box::pin(LocalSubscription {
            inner: BroadcastStream::new(receiver),
            user_id,
            topics: self.topics.clone(),
        }))
    }
}

/// One subscriber's stream; removes its inbox's channel when it is the
/// last to leave.
struct LocalSubscription {
    inner: BroadcastStream<Arc<InboxEvent>>,
    user_id: i64,
    topics: Topics,
}

impl Stream for LocalSubscription {
    type Item = BusItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BusItem>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|item| {
            item.map(|received| match received {
                Ok(event) => BusItem::Event(event),
                Err(BroadcastStreamRecvError::Lagged(missed)) => BusItem::Lagged(missed),
            })
        })
    }
}

impl Drop for LocalSubscription {
    fn drop(&mut self) {
        let mut topics = lock(&self.topics);
        // Our own receiver is still alive here: 1 means nobody else listens.
        if topics
            .get(&self.user_id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            topics.remove(&self.user_id);
        }
    }
}
