//! What the notify service keeps, behind a trait; [`SqlStore`] keeps it in
//! SQLite or PostgreSQL.

mod codec;
mod notifications;
mod preferences;

use async_trait::async_trait;
use fip_kit::db::Db;

use crate::model::{
    Delivery, NewNotification, Notification, NotificationKind, PreferenceChanges, Preferences,
};

/// Which inbox notifications to list, newest first; `before_id` is the page
/// cursor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    pub user_id: i64,
    pub unread_only: bool,
    /// Only these kinds; all when empty.
    pub kinds: Vec<NotificationKind>,
    /// Only about this job.
    pub job_id: Option<String>,
    /// Only notifications with a smaller id.
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// A stored notification and its deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub notification: Notification,
    pub deliveries: Vec<Delivery>,
    /// True when the dedup key matched an earlier notification, which is
    /// the one returned; nothing new was stored.
    pub deduplicated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a notification and its deliveries in one transaction, unless
    /// one with the same `(user_id, dedup_key)` exists: then that one is
    /// returned with `deduplicated` set.
    async fn insert(&self, new: NewNotification) -> StoreResult<Stored>;
    /// The notification sent earlier to `user_id` under `dedup_key`.
    async fn by_dedup_key(&self, user_id: i64, dedup_key: &str) -> StoreResult<Option<Stored>>;
    /// An inbox notification of `user_id` (None for another user's, or one
    /// kept out of the inbox).
    async fn notification(&self, user_id: i64, id: i64) -> StoreResult<Option<Notification>>;
    /// Inbox notifications, newest (highest id) first.
    async fn list(&self, query: &ListQuery) -> StoreResult<Vec<Notification>>;
    /// Unread inbox notifications of `user_id`.
    async fn unread_count(&self, user_id: i64) -> StoreResult<i64>;
    /// Marks an inbox notification read at `at` (keeping an earlier
    /// `read_at`); returns it and whether it was unread before. None when
    /// `user_id` has no such inbox notification.
    async fn mark_read(
        &self,
        user_id: i64,
        id: i64,
        at: i64,
    ) -> StoreResult<Option<(Notification, bool)>>;
    /// Marks every unread inbox notification of `user_id` created at or
    /// before `created_before` (all when None) read; returns how many.
    async fn mark_all_read(
        &self,
        user_id: i64,
        created_before: Option<i64>,
        at: i64,
    ) -> StoreResult<i64>;
    /// The saved preferences of `user_id`; None while never saved.
    async fn preferences(&self, user_id: i64) -> StoreResult<Option<Preferences>>;
    /// Applies `changes` to the saved preferences (or to the defaults when
    /// none were saved) atomically, stamps them `at`, returns the result.
    async fn update_preferences(
        &self,
        user_id: i64,
        changes: &PreferenceChanges,
        at: i64,
    ) -> StoreResult<Preferences>;
}

/// The SQL store (SQLite and PostgreSQL through one `AnyPool`).
pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn insert(&self, new: NewNotification) -> StoreResult<Stored> {
        notifications::insert(&self.db, new).await
    }

    async fn by_dedup_key(&self, user_id: i64, dedup_key: &str) -> StoreResult<Option<Stored>> {
        notifications::by_dedup_key(&self.db.pool, user_id, dedup_key).await
    }

    async fn notification(&self, user_id: i64, id: i64) -> StoreResult<Option<Notification>> {
        notifications::get(&self.db.pool, user_id, id).await
    }

    async fn list(&self, query: &ListQuery) -> StoreResult<Vec<Notification>> {
        notifications::list(&self.db, query).await
    }

    async fn unread_count(&self, user_id: i64) -> StoreResult<i64> {
        notifications::unread_count(&self.db, user_id).await
    }

    async fn mark_read(
        &self,
        user_id: i64,
        id: i64,
        at: i64,
    ) -> StoreResult<Option<(Notification, bool)>> {
        notifications::mark_read(&self.db, user_id, id, at).await
    }

    async fn mark_all_read(
        &self,
        user_id: i64,
        created_before: Option<i64>,
        at: i64,
    ) -> StoreResult<i64> {
        notifications::mark_all_read(&self.db, user_id, created_before, at).await
    }

    async fn preferences(&self, user_id: i64) -> StoreResult<Option<Preferences>> {
        preferences::get(&self.db, user_id).await
    }

    async fn update_preferences(
        &self,
        user_id: i64,
        changes: &PreferenceChanges,
        at: i64,
    ) -> StoreResult<Preferences> {
        preferences::update(&self.db, user_id, changes, at).await
    }
}
