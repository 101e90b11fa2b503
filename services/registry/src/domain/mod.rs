//! What the registry does, free of gRPC, HTTP and SQL: the catalogue's
//! rules, health bookkeeping and panel reconciliation over a [`Store`] and
//! an [`Upstream`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fip_kit::config::RegistryConfig;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::error::RegistryError;
use crate::store::{Store, StoreError};
use crate::upstream::Upstream;

mod health;
mod panels;
mod seed;
mod services;
mod sync;

pub use health::{next_state, verdict};
pub use sync::{SyncReport, SyncRequest, panel_key};

/// How long on-demand checks of one service must be apart.
pub const ON_DEMAND_GAP: Duration = Duration::from_secs(10);
/// How long health-check history is kept.
pub const HISTORY_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// The registry's tunables, from [`RegistryConfig`].
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Time between scheduled checks of a service; zero turns them off.
    pub check_interval: Duration,
    /// Continuous failure after which a service is marked unavailable.
    pub unavailable_after: Duration,
    /// Checks kept per service.
    pub health_history: u32,
    /// A successful answer slower than this is `degraded`.
    pub degraded_after: Duration,
    /// Checks that run at the same time.
    pub check_concurrency: usize,
    /// Minimum time between on-demand checks of one service.
    pub on_demand_gap: Duration,
    /// API tokens used by panel discovery, by service slug.
    pub discovery_tokens: BTreeMap<String, String>,
}

impl Settings {
    pub fn from_config(config: &RegistryConfig) -> Self {
        Self {
            check_interval: config.health_check_interval,
            unavailable_after: config.unavailable_after,
            health_history: config.health_history.max(1),
            degraded_after: config.degraded_after,
            check_concurrency: config.health_check_concurrency.max(1) as usize,
            on_demand_gap: ON_DEMAND_GAP,
            discovery_tokens: config.discovery_tokens.clone(),
        }
    }
}

/// The registry.
pub struct Registry {
    store: Arc<dyn Store>,
    upstream: Arc<dyn Upstream>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    /// Wakes the health scheduler (a service was added or moved).
    wake: Notify,
}

impl Registry {
    pub fn new(
        store: Arc<dyn Store>,
        upstream: Arc<dyn Upstream>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            upstream,
            clock,
            settings,
            wake: Notify::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Resolves when the scheduler should look for due checks early.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    fn wake_scheduler(&self) {
        self.wake.notify_one();
    }
}

/// Pages are read one row past their size to know whether another follows.
fn split_page<T>(mut rows: Vec<T>, limit: usize) -> (Vec<T>, bool) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Store errors on a write of `what`, with its conflicts made specific.
fn store_error(error: StoreError, conflict: impl FnOnce() -> RegistryError) -> RegistryError {
    match error {
        StoreError::Conflict(_) => conflict(),
        other => RegistryError::Store(other),
    }
}

/// Replaces `field` when a new value is given.
fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}
