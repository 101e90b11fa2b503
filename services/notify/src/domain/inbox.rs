//! A user's own inbox: listing, unread counts, marking read.

use fip_kit::db::now_millis;

use super::Notify;
use crate::error::NotifyError;
use crate::model::{InboxChange, Notification};
use crate::store::ListQuery;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub notifications: Vec<Notification>,
    /// The cursor of the next page; None on the last page.
    pub next_before_id: Option<i64>,
    /// The user's unread notifications, whatever the filters.
    pub unread_count: i64,
}

/// The result of marking everything read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkedAll {
    pub marked_count: i64,
    pub unread_count: i64,
}

impl Notify {
    /// A page of `query.user_id`'s inbox, newest first, of at most
    /// `query.limit` notifications.
    pub async fn list(&self, mut query: ListQuery) -> Result<Page, NotifyError> {
        let size = query.limit.max(1);
        query.limit = size + 1;
        let mut notifications = self.store.list(&query).await?;
        let next_before_id = if notifications.len() as i64 > size {
            notifications.truncate(size as usize);
            notifications.last().map(|n| n.id)
        } else {
            None
        };
        let unread_count = self.store.unread_count(query.user_id).await?;
        Ok(Page {
            notifications,
            next_before_id,
            unread_count,
        })
    }

    /// Marks `user_id`'s notification `id` read (again is harmless) and
    /// tells their watchers when it was unread.
    pub async fn mark_read(&self, user_id: i64, id: i64) -> Result<Notification, NotifyError> {
        let not_found = || NotifyError::NotFound {
            resource_type: "notification",
            id: id.to_string(),
        };
        if id <= 0 {
            return Err(not_found());
        }
        let (notification, changed) = self
            .store
            .mark_read(user_id, id, now_millis())
            .await?
            .ok_or_else(not_found)?;
        if changed {
            tracing::debug!(user_id, notification_id = id, "notification read");
            self.publish(user_id, InboxChange::Read(notification.clone()))
                .await;
        }
        Ok(notification)
    }

    /// Marks every unread notification of `user_id` created at or before
    /// `created_before` (all when None) read.
    pub async fn mark_all_read(
        &self,
        user_id: i64,
        created_before: Option<i64>,
    ) -> Result<MarkedAll, NotifyError> {
        let marked_count = self
            .store
            .mark_all_read(user_id, created_before, now_millis())
            .await?;
        if marked_count > 0 {
            tracing::debug!(user_id, marked_count, "notifications read");
            self.publish(user_id, InboxChange::AllRead).await;
        }
        Ok(MarkedAll {
            marked_count,
            unread_count: self.store.unread_count(user_id).await?,
        })
    }
}
