//! What the notify service keeps, behind a trait; [`SqlStore`] keeps it in
//! SQLite or PostgreSQL.

mod codec;
mod notifications;
mod outbox;
mod preferences;

use async_trait::async_trait;
use fip_kit::db::Db;

use crate::model::{
    Delivery, NewEmail, NewNotification, Notification, NotificationKind, OutboxEmail,
    PreferenceChanges, Preferences,
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
    /// Takes, for `owner` until `lease_until`, the lease of up to `limit`
    /// pending mails due at `now` that no other sender holds, counting an
    /// attempt on each. No two senders ever hold the same mail.
    async fn claim_emails(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxEmail>>;
    /// Records `owner`'s attempt at mail `id` as sent (`error` None) or
    /// failed for good, with the email delivery of the notifications it
    /// carried. False when `owner` lost the lease (nothing changed).
    async fn finish_email(
        &self,
        id: i64,
        owner: &str,
        error: Option<&str>,
        at: i64,
    ) -> StoreResult<bool>;
    /// Hands mail `id` back after a transient failure, due again at
    /// `next_attempt_at`. False when `owner` lost the lease.
    async fn retry_email(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        next_attempt_at: i64,
    ) -> StoreResult<bool>;
    /// Users whose oldest mail held for a digest was stored at or before
    /// `held_since`.
    async fn digests_due(&self, held_since: i64) -> StoreResult<Vec<i64>>;
    /// The mails of `user_id` held for their digest, oldest first.
    async fn held_emails(&self, user_id: i64) -> StoreResult<Vec<OutboxEmail>>;
    /// Stores the digest of the held mails `ids` of `user_id` and marks
    /// them digested, atomically; None when another sender took one first.
    async fn insert_digest(
        &self,
        user_id: i64,
        digest: NewEmail,
        ids: &[i64],
        at: i64,
    ) -> StoreResult<Option<i64>>;
    /// Every mail of `user_id`, oldest first.
    async fn emails(&self, user_id: i64) -> StoreResult<Vec<OutboxEmail>>;
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

    async fn claim_emails(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxEmail>> {
        outbox::claim(&self.db, owner, now, lease_until, limit).await
    }

    async fn finish_email(
        &self,
        id: i64,
        owner: &str,
        error: Option<&str>,
        at: i64,
    ) -> StoreResult<bool> {
        outbox::finish(&self.db, id, owner, error, at).await
    }

    async fn retry_email(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        next_attempt_at: i64,
    ) -> StoreResult<bool> {
        outbox::retry(&self.db, id, owner, error, next_attempt_at).await
    }

    async fn digests_due(&self, held_since: i64) -> StoreResult<Vec<i64>> {
        outbox::digest_due(&self.db, held_since).await
    }

    async fn held_emails(&self, user_id: i64) -> StoreResult<Vec<OutboxEmail>> {
        outbox::held(&self.db, user_id).await
    }

    async fn insert_digest(
        &self,
        user_id: i64,
        digest: NewEmail,
        ids: &[i64],
        at: i64,
    ) -> StoreResult<Option<i64>> {
        outbox::digest(&self.db, user_id, digest, ids, at).await
    }

    async fn emails(&self, user_id: i64) -> StoreResult<Vec<OutboxEmail>> {
        outbox::of_user(&self.db, user_id).await
    }
}
