//! The rules of the notify service, free of wire types and SQL: the inbox
//! ([`inbox`]), its live stream ([`watch`]), preferences ([`preferences`])
//! and sending on behalf of other services ([`send`]).

pub mod inbox;
pub mod preferences;
pub mod send;
pub mod watch;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::directory::Directory;
use crate::email::Email;
use crate::events::EventBus;
use crate::model::{InboxChange, InboxEvent};
use crate::store::Store;

/// The notify service's domain.
pub struct Notify {
    store: Arc<dyn Store>,
    bus: Arc<dyn EventBus>,
    directory: Arc<dyn Directory>,
    /// Mails into the outbox; None on a hub without email.
    email: Option<Arc<Email>>,
    /// Cancelled when the process shuts down: open watches end.
    shutdown: CancellationToken,
}

impl Notify {
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn EventBus>,
        directory: Arc<dyn Directory>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            store,
            bus,
            directory,
            email: None,
            shutdown,
        }
    }

    /// This domain, mailing through `email`'s outbox.
    pub fn with_email(mut self, email: Arc<Email>) -> Self {
        self.email = Some(email);
        self
    }

    /// The store (for the sender, and tests looking at the outbox).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Tells `user_id`'s watchers about `change`, with the unread count
    /// after it. The change is already stored: a failure here is logged,
    /// not returned (watchers resynchronise when they reconnect).
    async fn publish(&self, user_id: i64, change: InboxChange) {
        let unread_count = match self.store.unread_count(user_id).await {
            Ok(count) => count,
            Err(error) => {
                tracing::warn!(user_id, %error, "cannot count unread notifications to publish");
                return;
            }
        };
        let event = InboxEvent {
            user_id,
            change,
            unread_count,
        };
        if let Err(error) = self.bus.publish(event).await {
            tracing::warn!(user_id, %error, "cannot publish an inbox change");
        }
    }
}
