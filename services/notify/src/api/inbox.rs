//! `fip.notify.v1.NotificationService`: the caller's own inbox. Watching
//! and preferences are in their own modules.

use fip_kit::Violations;
use fip_kit::auth;
use fip_kit::db::millis;
use fip_kit::paging::{self, Listing};
use fip_proto::notify::v1 as pb;
use fip_proto::notify::v1::notification_service_server::NotificationService;
use tonic::{Request, Response, Status};

use super::NotifyApi;
use super::convert::{kind_from_wire, notification_to_wire};
use super::watch::WatchStream;
use crate::error::check;
use crate::model::NotificationKind;
use crate::store::ListQuery;

/// Longest job id filter accepted.
const MAX_JOB_ID: usize = 64;

/// The filters of a listing as text, so that a page token is bound to them.
/// The listing a page token belongs to: the inbox with these filters.
fn listing(unread_only: bool, kinds: &[NotificationKind], job_id: &str) -> Listing {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    Listing::new("notifications")
        .filter("unread_only", unread_only)
        .filter("types", kinds)
        .filter("job_id", job_id)
}

#[tonic::async_trait]
impl NotificationService for NotifyApi {
    type WatchNotificationsStream = WatchStream;

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::ListNotificationsRequest {
            page_size,
            page_token,
            unread_only,
            types,
            job_id,
        } = request.into_inner();
        let mut v = Violations::new();
        let limit = paging::checked_page_size(&mut v, page_size);
        let mut kinds = Vec::new();
        for (i, value) in types.into_iter().enumerate() {
            match kind_from_wire(value) {
                Some(kind) => kinds.push(kind),
                None => v.add(format!("types[{i}]"), "is not a known notification type"),
            }
        }
        kinds.sort_by_key(|k| k.as_str());
        kinds.dedup();
        v.max_len("job_id", &job_id, MAX_JOB_ID);
        let listing = listing(unread_only, &kinds, &job_id);
        let before_id = paging::decode::<i64>(&mut v, &page_token, &listing);
        check(v)?;
        let page = self
            .notify
            .list(ListQuery {
                user_id: user.id,
                unread_only,
                kinds,
                job_id: Some(job_id).filter(|j| !j.is_empty()),
                before_id,
                limit,
            })
            .await?;
        Ok(Response::new(pb::ListNotificationsResponse {
            notifications: page
                .notifications
                .into_iter()
                .map(notification_to_wire)
                .collect(),
            next_page_token: page
                .next_before_id
                .map(|id| paging::encode(&listing, id))
                .unwrap_or_default(),
            unread_count: page.unread_count,
        }))
    }

    async fn mark_notification_read(
        &self,
        request: Request<pb::MarkNotificationReadRequest>,
    ) -> Result<Response<pb::MarkNotificationReadResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::MarkNotificationReadRequest { id } = request.into_inner();
        let mut v = Violations::new();
        v.id("id", id);
        check(v)?;
        let notification = self.notify.mark_read(user.id, id).await?;
        Ok(Response::new(pb::MarkNotificationReadResponse {
            notification: Some(notification_to_wire(notification)),
        }))
    }

    async fn mark_all_notifications_read(
        &self,
        request: Request<pb::MarkAllNotificationsReadRequest>,
    ) -> Result<Response<pb::MarkAllNotificationsReadResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::MarkAllNotificationsReadRequest { created_before } = request.into_inner();
        let marked = self
            .notify
            .mark_all_read(user.id, created_before.as_ref().map(millis))
            .await?;
        Ok(Response::new(pb::MarkAllNotificationsReadResponse {
            marked_count: marked.marked_count,
            unread_count: marked.unread_count,
        }))
    }

    async fn watch_notifications(
        &self,
        request: Request<pb::WatchNotificationsRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        self.watch(request).await
    }

    async fn get_notification_preferences(
        &self,
        request: Request<pb::GetNotificationPreferencesRequest>,
    ) -> Result<Response<pb::GetNotificationPreferencesResponse>, Status> {
        self.get_preferences(request).await
    }

    async fn update_notification_preferences(
        &self,
        request: Request<pb::UpdateNotificationPreferencesRequest>,
    ) -> Result<Response<pb::UpdateNotificationPreferencesResponse>, Status> {
        self.update_preferences(request).await
    }
}
