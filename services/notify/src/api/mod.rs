//! The gRPC face of the notify service: thin adapters that check the
//! caller, convert and validate wire types, call the domain and map its
//! errors.

mod convert;
mod inbox;
mod internal;
mod preferences;
mod watch;

use std::sync::Arc;

use crate::domain::Notify;

/// Implements `NotificationService` and `NotificationInternalService`.
#[derive(Clone)]
pub struct NotifyApi {
    notify: Arc<Notify>,
    /// Ends a watch whose session ends.
    sessions: Arc<fip_kit::sessions::Sessions>,
}

impl NotifyApi {
    pub fn new(notify: Arc<Notify>, sessions: Arc<fip_kit::sessions::Sessions>) -> Self {
        Self { notify, sessions }
    }
}
