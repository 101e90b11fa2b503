//! `fip.notify.v1.NotificationInternalService`: sending on behalf of the
//! platform's services.

use fip_kit::auth::{self, Principal};
use fip_kit::mesh::ServiceName;
use fip_proto::notify::v1 as pb;
use fip_proto::notify::v1::notification_internal_service_server::NotificationInternalService;
use tonic::{Request, Response, Status};

use super::NotifyApi;
use super::convert::{
    channel_from_wire, delivery_to_wire, kind_from_wire, notification_to_wire, qc_from_wire,
};
use crate::domain::send::SendRequest;
use crate::error::NotifyError;

/// The service identities that may send notifications.
const SENDERS: [ServiceName; 3] = [ServiceName::Jobs, ServiceName::User, ServiceName::Registry];

/// The calling service, when it is one of [`SENDERS`].
fn require_sender<T>(request: &Request<T>) -> Result<ServiceName, Status> {
    match auth::principal(request)? {
        Principal::Service(name) if SENDERS.contains(name) => Ok(*name),
        _ => Err(NotifyError::PermissionDenied {
            message: "only the jobs, user and registry services send notifications".into(),
            required_identity: SENDERS
                .iter()
                .map(|s| format!("service:{s}"))
                .collect::<Vec<_>>()
                .join(","),
        }
        .into()),
    }
}

#[tonic::async_trait]
impl NotificationInternalService for NotifyApi {
    async fn send_notification(
        &self,
        request: Request<pb::SendNotificationRequest>,
    ) -> Result<Response<pb::SendNotificationResponse>, Status> {
        let sender = require_sender(&request)?;
        let pb::SendNotificationRequest {
            user_id,
            r#type,
            title,
            message,
            job_id,
            service_id,
            action_url,
            action_label,
            channels,
            dedup_key,
            qc_summary,
        } = request.into_inner();
        tracing::debug!(%sender, user_id, "send notification");
        let stored = self
            .notify
            .send(SendRequest {
                user_id,
                kind: kind_from_wire(r#type),
                title,
                message,
                job_id,
                service_id,
                action_url,
                action_label,
                channels: channels.into_iter().map(channel_from_wire).collect(),
                dedup_key,
                qc_summary: qc_summary.map(qc_from_wire),
            })
            .await?;
        Ok(Response::new(pb::SendNotificationResponse {
            notification: Some(notification_to_wire(stored.notification)),
            deliveries: stored
                .deliveries
                .into_iter()
                .map(delivery_to_wire)
                .collect(),
            deduplicated: stored.deduplicated,
        }))
    }
}
