//! Inbox changes, published by whoever changes an inbox and fed to the
//! `WatchNotifications` streams of that inbox's owner.
//!
//! [`EventBus`] is the seam: [`LocalBus`] (tokio broadcast, one process)
//! now; a Redis pub/sub bus (one channel per user, so that any replica's
//! watchers see any replica's changes) fits the same trait. Delivery is
//! best-effort and bounded: a subscriber that cannot keep up is told how
//! many changes it missed ([`BusItem::Lagged`]) instead of holding up the
//! publisher or other subscribers.

mod local;

use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use futures::Stream;

pub use local::LocalBus;

use crate::model::InboxEvent;

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum BusItem {
    /// A change of the subscribed inbox.
    Event(Arc<InboxEvent>),
    /// This many changes were dropped because the subscriber fell behind;
    /// it should resynchronise from the store.
    Lagged(u64),
}

/// The changes of one user's inbox, from the moment of subscribing. Ends
/// when the bus closes; dropping it unsubscribes.
pub type Subscription = Pin<Box<dyn Stream<Item = BusItem> + Send>>;

/// The bus could not publish or subscribe (e.g. its server is unreachable).
#[derive(Debug, thiserror::Error)]
#[error("event bus: {0}")]
pub struct BusError(pub String);

/// Publishes inbox changes and subscribes to one user's.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Sends `event` to the current subscribers of `event.user_id`'s
    /// inbox. Never waits for subscribers; none is not an error.
    async fn publish(&self, event: InboxEvent) -> Result<(), BusError>;

    /// Subscribes to the changes of `user_id`'s inbox published from now on.
    async fn subscribe(&self, user_id: i64) -> Result<Subscription, BusError>;
}
