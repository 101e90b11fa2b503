//! Domain values to wire messages and back (enums by exhaustive match).

use fip_kit::db::timestamp;
use fip_proto::notify::v1 as pb;

use crate::model::{
    Channel, Delivery, InboxChange, InboxEvent, Notification, NotificationKind, Outcome,
    Preferences,
};

pub fn kind_to_wire(kind: NotificationKind) -> pb::NotificationType {
    match kind {
        NotificationKind::JobCompleted => pb::NotificationType::JobCompleted,
        NotificationKind::JobFailed => pb::NotificationType::JobFailed,
        NotificationKind::JobCancelled => pb::NotificationType::JobCancelled,
        NotificationKind::CredentialExpiring => pb::NotificationType::CredentialExpiring,
        NotificationKind::CredentialRejected => pb::NotificationType::CredentialRejected,
        NotificationKind::System => pb::NotificationType::System,
    }
}

/// A wire type; None for UNSPECIFIED and unknown numbers.
pub fn kind_from_wire(value: i32) -> Option<NotificationKind> {
    match pb::NotificationType::try_from(value).ok()? {
        pb::NotificationType::JobCompleted => Some(NotificationKind::JobCompleted),
        pb::NotificationType::JobFailed => Some(NotificationKind::JobFailed),
        pb::NotificationType::JobCancelled => Some(NotificationKind::JobCancelled),
        pb::NotificationType::CredentialExpiring => Some(NotificationKind::CredentialExpiring),
        pb::NotificationType::CredentialRejected => Some(NotificationKind::CredentialRejected),
        pb::NotificationType::System => Some(NotificationKind::System),
        pb::NotificationType::Unspecified => None,
    }
}

pub fn channel_to_wire(channel: Channel) -> pb::DeliveryChannel {
    match channel {
        Channel::Web => pb::DeliveryChannel::Web,
        Channel::Email => pb::DeliveryChannel::Email,
    }
}

/// A wire channel; None for UNSPECIFIED and unknown numbers.
pub fn channel_from_wire(value: i32) -> Option<Channel> {
    match pb::DeliveryChannel::try_from(value).ok()? {
        pb::DeliveryChannel::Web => Some(Channel::Web),
        pb::DeliveryChannel::Email => Some(Channel::Email),
        pb::DeliveryChannel::Unspecified => None,
    }
}

pub fn outcome_to_wire(outcome: Outcome) -> pb::DeliveryOutcome {
    match outcome {
        Outcome::Delivered => pb::DeliveryOutcome::Delivered,
        Outcome::Queued => pb::DeliveryOutcome::Queued,
        Outcome::SkippedByPreference => pb::DeliveryOutcome::SkippedByPreference,
        Outcome::SkippedUnavailable => pb::DeliveryOutcome::SkippedUnavailable,
        Outcome::Failed => pb::DeliveryOutcome::Failed,
    }
}

pub fn delivery_to_wire(delivery: Delivery) -> pb::ChannelDelivery {
    let Delivery {
        channel,
        outcome,
        error,
    } = delivery;
    pb::ChannelDelivery {
        channel: channel_to_wire(channel) as i32,
        outcome: outcome_to_wire(outcome) as i32,
        error,
    }
}

pub fn notification_to_wire(notification: Notification) -> pb::Notification {
    let Notification {
        id,
        user_id,
        kind,
        title,
        message,
        job_id,
        service_id,
        action_url,
        action_label,
        in_inbox: _,
        created_at,
        read_at,
    } = notification;
    pb::Notification {
        id,
        user_id,
        r#type: kind_to_wire(kind) as i32,
        title,
        message,
        job_id,
        service_id,
        action_url,
        action_label,
        is_read: read_at.is_some(),
        created_at: Some(timestamp(created_at)),
        read_at: read_at.map(timestamp),
    }
}

pub fn preferences_to_wire(preferences: Preferences) -> pb::NotificationPreferences {
    let Preferences {
        web_enabled,
        email_on_job_completed,
        email_on_job_failed,
        email_on_job_cancelled,
        email_on_credential_issue,
        email_address,
        updated_at,
    } = preferences;
    pb::NotificationPreferences {
        web_enabled,
        email_on_job_completed,
        email_on_job_failed,
        email_on_job_cancelled,
        email_on_credential_issue,
        email_address,
        updated_at: updated_at.map(timestamp),
    }
}

pub fn event_to_wire(event: InboxEvent) -> pb::WatchNotificationsResponse {
    let InboxEvent {
        user_id: _,
        change,
        unread_count,
    } = event;
    let (event, notification) = match change {
        InboxChange::Snapshot => (pb::NotificationEvent::Snapshot, None),
        InboxChange::Created(n) => (pb::NotificationEvent::Created, Some(n)),
        InboxChange::Read(n) => (pb::NotificationEvent::Read, Some(n)),
        InboxChange::AllRead => (pb::NotificationEvent::AllRead, None),
    };
    pb::WatchNotificationsResponse {
        event: event as i32,
        notification: notification.map(notification_to_wire),
        unread_count,
    }
}

/// A job's QC summary from the wire (every field destructured).
pub fn qc_from_wire(qc: fip_proto::jobs::v1::QcSummary) -> crate::model::QcSummary {
    let fip_proto::jobs::v1::QcSummary {
        chromosomes,
        variant_count,
        mean_r2,
        count_r2_ge_0_3,
        count_r2_ge_0_8,
    } = qc;
    crate::model::QcSummary {
        chromosomes: chromosomes
            .into_iter()
            .map(|c| {
                let fip_proto::jobs::v1::ChromosomeQc {
                    chromosome,
                    variant_count,
                    typed_variant_count: _,
                    mean_r2,
                    count_r2_ge_0_3,
                    count_r2_ge_0_8,
                } = c;
                crate::model::ChromosomeQc {
                    chromosome,
                    variant_count,
                    mean_r2,
                    count_r2_ge_0_3,
                    count_r2_ge_0_8,
                }
            })
            .collect(),
        variant_count,
        mean_r2,
        count_r2_ge_0_3,
        count_r2_ge_0_8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_unspecified_is_none() {
        for kind in NotificationKind::ALL {
            assert_eq!(kind_from_wire(kind_to_wire(kind) as i32), Some(kind));
            // The stored name is the wire name without its prefix.
            assert_eq!(
                kind_to_wire(kind).as_str_name(),
                format!("NOTIFICATION_TYPE_{}", kind.as_str().to_uppercase())
            );
        }
        for channel in Channel::ALL {
            assert_eq!(
                channel_from_wire(channel_to_wire(channel) as i32),
                Some(channel)
            );
        }
        for outcome in Outcome::ALL {
            assert_eq!(
                outcome_to_wire(outcome).as_str_name(),
                format!("DELIVERY_OUTCOME_{}", outcome.as_str().to_uppercase())
            );
        }
        assert_eq!(kind_from_wire(0), None);
        assert_eq!(kind_from_wire(99), None);
        assert_eq!(channel_from_wire(0), None);
        assert_eq!(channel_from_wire(-1), None);
    }
}
