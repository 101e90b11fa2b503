//! Persistence of the catalogue: the [`Store`] trait the domain talks to, and
//! its SQL implementation over [`fip_kit::db::Db`].

use async_trait::async_trait;

use crate::model::{
    ApiType, GenomeBuild, HealthCheck, HealthState, HealthStatus, NewHealthCheck, Panel, PanelSpec,
    Service, ServiceSpec, WesServerInfo,
};

pub mod sql;

pub use sql::SqlStore;

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value is taken (a service slug, a panel slug within its service).
    #[error("{0} already taken")]
    Conflict(&'static str),
    /// A row the call depends on does not exist (e.g. the service of a new panel).
    #[error("{0} not found")]
    Missing(&'static str),
    /// The database failed or returned something unreadable.
    #[error("database: {0}")]
    Backend(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Backend(error.into())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which services a listing returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceFilter {
    pub api_type: Option<ApiType>,
    pub build: Option<GenomeBuild>,
    pub available_only: bool,
    pub include_inactive: bool,
}

/// Position after the last service of a page (listings are ordered by name, then id).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCursor {
    pub name: String,
    pub id: i64,
}

/// Which panels a listing returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PanelFilter {
    pub service_id: Option<i64>,
    pub build: Option<GenomeBuild>,
    /// Also inactive panels and panels of inactive services.
    pub include_inactive: bool,
}

/// Position after the last panel of a page (ordered by service, name, id).
#[derive(Debug, Clone, PartialEq)]
pub struct PanelCursor {
    pub service_id: i64,
    pub name: String,
    pub id: i64,
}

/// Which health checks a listing returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckFilter {
    pub service_id: i64,
    /// Inclusive lower bound of `checked_at`.
    pub checked_after: Option<i64>,
    /// Exclusive upper bound of `checked_at`.
    pub checked_before: Option<i64>,
    pub status: Option<HealthStatus>,
}

/// Position after the last check of a page (newest first).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckCursor {
    pub checked_at: i64,
    pub id: i64,
}

/// The outcome of claiming an on-demand check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Granted,
    /// The previous on-demand check was at this time.
    TooSoon {
        last_at: i64,
    },
    NoSuchService,
}

/// A reconciliation of a service's panels with what its server offers,
/// applied at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncChanges {
    pub add: Vec<PanelSpec>,
    /// Existing panels with their new description.
    pub update: Vec<(i64, PanelSpec)>,
    pub deactivate: Vec<i64>,
    /// Panels found unchanged: only their sync time moves.
    pub touch: Vec<i64>,
}

/// Panels after a sync was applied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncApplied {
    pub added: Vec<Panel>,
    pub updated: Vec<Panel>,
    pub deactivated: Vec<Panel>,
}

/// Decides a service's next health state from the previous one; run by the
/// store inside the transaction that records the check.
pub type NextHealth<'a> = &'a (dyn Fn(&HealthState) -> HealthState + Send + Sync);

/// The registry's persistence. One implementation per storage technology;
/// every implementation passes the conformance suite in the crate's tests.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Adds a service; `Conflict("slug")` when its slug is taken.
    async fn insert_service(&self, spec: &ServiceSpec, now: i64) -> StoreResult<Service>;
    async fn get_service(&self, id: i64) -> StoreResult<Option<Service>>;
    /// At most `limit` services after `after`, ordered by name then id.
    async fn list_services(
        &self,
        filter: &ServiceFilter,
        after: Option<&ServiceCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Service>>;
    /// Replaces the writable fields of service `id`; `Conflict("slug")`,
    /// `Missing("service")`.
    async fn update_service(&self, id: i64, spec: &ServiceSpec, now: i64) -> StoreResult<Service>;
    /// Removes a service with its panels and checks; false when it did not exist.
    async fn delete_service(&self, id: i64) -> StoreResult<bool>;
    async fn count_services(&self) -> StoreResult<i64>;
    /// Inserts the services with their panels in one transaction, only when
    /// the registry has no service yet. Returns whether it did.
    async fn seed(&self, catalog: &[(ServiceSpec, Vec<PanelSpec>)], now: i64) -> StoreResult<bool>;

    /// Adds a panel as `source`; `Missing("service")`, `Conflict("slug")`.
    async fn insert_panel(
        &self,
        service_id: i64,
        spec: &PanelSpec,
        source: crate::model::PanelSource,
        now: i64,
    ) -> StoreResult<Panel>;
    async fn get_panel(&self, id: i64) -> StoreResult<Option<Panel>>;
    /// At most `limit` panels after `after`, ordered by service, name, id.
    async fn list_panels(
        &self,
        filter: &PanelFilter,
        after: Option<&PanelCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Panel>>;
    /// Every panel of a service, active or not.
    async fn panels_of_service(&self, service_id: i64) -> StoreResult<Vec<Panel>>;
    /// Replaces the writable fields of panel `id`; `Conflict("slug")`, `Missing("panel")`.
    async fn update_panel(&self, id: i64, spec: &PanelSpec, now: i64) -> StoreResult<Panel>;
    async fn delete_panel(&self, id: i64) -> StoreResult<bool>;
    /// Applies a sync in one transaction, stamping `last_synced_at = now` on
    /// every panel seen on the server.
    async fn apply_sync(
        &self,
        service_id: i64,
        changes: &SyncChanges,
        now: i64,
    ) -> StoreResult<SyncApplied>;

    /// Records a check, moves the service's health to `next(previous)`,
    /// stores what a WES server reported, and keeps only the newest `keep`
    /// checks of the service and none older than `keep_since` — all at once.
    /// `Missing("service")` when the service is gone.
    async fn record_check(
        &self,
        service_id: i64,
        check: &NewHealthCheck,
        next: NextHealth<'_>,
        wes_info: Option<&WesServerInfo>,
        keep: u32,
        keep_since: i64,
    ) -> StoreResult<HealthCheck>;
    /// Newest first: at most `limit` checks after `after`.
    async fn list_checks(
        &self,
        filter: &CheckFilter,
        after: Option<&CheckCursor>,
        limit: usize,
    ) -> StoreResult<Vec<HealthCheck>>;
    /// `(all, up)` counts of the service's checks at or after `since`.
    async fn check_counts(&self, service_id: i64, since: i64) -> StoreResult<(i64, i64)>;
    /// Atomically takes the on-demand check slot of a service unless one was
    /// taken less than `min_gap_ms` ago.
    async fn claim_on_demand(
        &self,
        service_id: i64,
        now: i64,
        min_gap_ms: i64,
    ) -> StoreResult<Claim>;
}
