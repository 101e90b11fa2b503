//! The [`Store`](super::Store) over SQLite or PostgreSQL through
//! `sqlx::AnyPool`: one set of queries with `$N` placeholders and portable
//! types for both backends.

use async_trait::async_trait;
use fip_kit::db::{Backend, Db, is_foreign_key_violation, is_unique_violation};

use super::{
    CheckCursor, CheckFilter, Claim, NextHealth, PanelCursor, PanelFilter, ServiceCursor,
    ServiceFilter, Store, StoreError, StoreResult, SyncApplied, SyncChanges,
};
use crate::model::{
    HealthCheck, NewHealthCheck, Panel, PanelSource, PanelSpec, Service, ServiceSpec, WesServerInfo,
};

mod builder;
mod codec;
mod health;
mod panels;
mod services;

/// The registry's tables in one service database.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    fn is_postgres(&self) -> bool {
        self.db.backend == Backend::Postgres
    }
}

/// Maps a write error: unique and foreign-key violations become domain
/// conflicts, the rest stays a backend failure.
fn write_error(error: sqlx::Error, conflict: &'static str, missing: &'static str) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(conflict)
    } else if is_foreign_key_violation(&error) {
        StoreError::Missing(missing)
    } else {
        StoreError::from(error)
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn insert_service(&self, spec: &ServiceSpec, now: i64) -> StoreResult<Service> {
        let mut tx = self.db.pool.begin().await?;
        let id = services::insert(&mut tx, spec, now).await?;
        tx.commit().await?;
        self.get_service(id)
            .await?
            .ok_or(StoreError::Missing("service"))
    }

    async fn get_service(&self, id: i64) -> StoreResult<Option<Service>> {
        let mut conn = self.db.pool.acquire().await?;
        services::get(&mut conn, id).await
    }

    async fn list_services(
        &self,
        filter: &ServiceFilter,
        after: Option<&ServiceCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Service>> {
        let mut conn = self.db.pool.acquire().await?;
        services::list(&mut conn, filter, after, limit).await
    }

    async fn update_service(&self, id: i64, spec: &ServiceSpec, now: i64) -> StoreResult<Service> {
        let mut tx = self.db.pool.begin().await?;
        if !services::update(&mut tx, id, spec, now).await? {
            return Err(StoreError::Missing("service"));
        }
        tx.commit().await?;
        self.get_service(id)
            .await?
            .ok_or(StoreError::Missing("service"))
    }

    async fn delete_service(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM services WHERE id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn count_services(&self) -> StoreResult<i64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM services")
            .fetch_one(&self.db.pool)
            .await?;
        Ok(count)
    }

    async fn seed(&self, catalog: &[(ServiceSpec, Vec<PanelSpec>)], now: i64) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM services")
            .fetch_one(&mut *tx)
            .await?;
        if count > 0 {
            return Ok(false);
        }
        for (spec, panels) in catalog {
            let service_id = match services::insert(&mut tx, spec, now).await {
                Ok(id) => id,
                // Another replica seeded at the same moment.
                Err(StoreError::Conflict(_)) => return Ok(false),
                Err(e) => return Err(e),
            };
            for panel in panels {
                panels::insert(&mut tx, service_id, panel, PanelSource::Manual, now).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_panel(
        &self,
        service_id: i64,
        spec: &PanelSpec,
        source: PanelSource,
        now: i64,
    ) -> StoreResult<Panel> {
        let mut tx = self.db.pool.begin().await?;
        let id = panels::insert(&mut tx, service_id, spec, source, now).await?;
        tx.commit().await?;
        self.get_panel(id)
            .await?
            .ok_or(StoreError::Missing("panel"))
    }

    async fn get_panel(&self, id: i64) -> StoreResult<Option<Panel>> {
        let mut conn = self.db.pool.acquire().await?;
        panels::get(&mut conn, id).await
    }

    async fn list_panels(
        &self,
        filter: &PanelFilter,
        after: Option<&PanelCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Panel>> {
        let mut conn = self.db.pool.acquire().await?;
        panels::list(&mut conn, filter, after, limit).await
    }

    async fn panels_of_service(&self, service_id: i64) -> StoreResult<Vec<Panel>> {
        let mut conn = self.db.pool.acquire().await?;
        panels::of_service(&mut conn, service_id).await
    }

    async fn update_panel(&self, id: i64, spec: &PanelSpec, now: i64) -> StoreResult<Panel> {
        let mut tx = self.db.pool.begin().await?;
        if !panels::update(&mut tx, id, spec, now).await? {
            return Err(StoreError::Missing("panel"));
        }
        tx.commit().await?;
        self.get_panel(id)
            .await?
            .ok_or(StoreError::Missing("panel"))
    }

    async fn delete_panel(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM reference_panels WHERE id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn apply_sync(
        &self,
        service_id: i64,
        changes: &SyncChanges,
        now: i64,
    ) -> StoreResult<SyncApplied> {
        let mut tx = self.db.pool.begin().await?;
        let applied = panels::apply_sync(&mut tx, service_id, changes, now).await?;
        tx.commit().await?;
        Ok(applied)
    }

    async fn record_check(
        &self,
        service_id: i64,
        check: &NewHealthCheck,
        next: NextHealth<'_>,
        wes_info: Option<&WesServerInfo>,
        keep: u32,
        keep_since: i64,
    ) -> StoreResult<HealthCheck> {
        let mut tx = self.db.pool.begin().await?;
        let recorded = health::record(
            &mut tx,
            self.is_postgres(),
            service_id,
            check,
            next,
            wes_info,
            keep,
            keep_since,
        )
        .await?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn list_checks(
        &self,
        filter: &CheckFilter,
        after: Option<&CheckCursor>,
        limit: usize,
    ) -> StoreResult<Vec<HealthCheck>> {
        let mut conn = self.db.pool.acquire().await?;
        health::list(&mut conn, filter, after, limit).await
    }

    async fn check_counts(&self, service_id: i64, since: i64) -> StoreResult<(i64, i64)> {
        let mut conn = self.db.pool.acquire().await?;
        health::counts(&mut conn, service_id, since).await
    }

    async fn claim_on_demand(
        &self,
        service_id: i64,
        now: i64,
        min_gap_ms: i64,
    ) -> StoreResult<Claim> {
        let mut conn = self.db.pool.acquire().await?;
        health::claim_on_demand(&mut conn, service_id, now, min_gap_ms).await
    }
}
