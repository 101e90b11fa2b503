//! The live stream of a user's inbox changes.

use std::pin::Pin;

use futures::{Stream, StreamExt};

use super::Notify;
use crate::error::NotifyError;
use crate::events::BusItem;
use crate::model::{InboxChange, InboxEvent};

/// A user's inbox changes: a snapshot first, then each change.
pub type Watch = Pin<Box<dyn Stream<Item = Result<InboxEvent, NotifyError>> + Send>>;

impl Notify {
    /// Watches `user_id`'s inbox: first a snapshot (the unread count), then
    /// every change as it is published. A watcher that falls behind by more
    /// than the bus holds gets a fresh snapshot in place of the changes it
    /// missed. The stream ends when the service shuts down.
    pub async fn watch(&self, user_id: i64) -> Result<Watch, NotifyError> {
        // Subscribe before counting, so that no change falls in between.
        let mut subscription = self.bus.subscribe(user_id).await?;
        let unread_count = self.store.unread_count(user_id).await?;
        let store = self.store.clone();
        let shutdown = self.shutdown.clone();
        let snapshot = move |unread_count| InboxEvent {
            user_id,
            change: InboxChange::Snapshot,
            unread_count,
        };
        tracing::debug!(user_id, "watch opened");
        Ok(Box::pin(async_stream::stream! {
            yield Ok(snapshot(unread_count));
            loop {
                let item = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => break,
                    item = subscription.next() => item,
                };
                match item {
                    None => break,
                    Some(BusItem::Event(event)) if event.user_id == user_id => {
                        yield Ok(InboxEvent::clone(&event));
                    }
                    Some(BusItem::Event(event)) => {
                        tracing::error!(
                            user_id,
                            other_user_id = event.user_id,
                            "the bus delivered another user's change; dropped"
                        );
                    }
                    Some(BusItem::Lagged(missed)) => {
                        tracing::info!(user_id, missed, "watcher fell behind; resynchronising");
                        match store.unread_count(user_id).await {
                            Ok(count) => yield Ok(snapshot(count)),
                            Err(error) => {
                                yield Err(error.into());
                                break;
                            }
                        }
                    }
                }
            }
            tracing::debug!(user_id, "watch closed");
        }))
    }
}
