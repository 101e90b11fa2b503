//! Rows to domain values.

use fip_kit::db::get_bool;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::{Channel, Delivery, Notification, NotificationKind, Outcome, Preferences};

/// The columns [`notification`] reads, in SELECT order.
pub const NOTIFICATION_COLUMNS: &str = "id, user_id, notification_type, title, message, job_id, \
     service_id, action_url, action_label, in_inbox, created_at, read_at";

/// The columns [`preferences`] reads.
pub const PREFERENCE_COLUMNS: &str = "web_enabled, email_on_job_completed, email_on_job_failed, \
     email_on_job_cancelled, email_on_credential_issue, email_address, updated_at";

fn corrupt(what: &str, value: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("unknown {what} {value:?} in the database").into())
}

pub fn notification(row: &AnyRow) -> Result<Notification, sqlx::Error> {
    let kind: String = row.try_get("notification_type")?;
    Ok(Notification {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        kind: NotificationKind::parse(&kind).ok_or_else(|| corrupt("notification type", &kind))?,
        title: row.try_get("title")?,
        message: row.try_get("message")?,
        job_id: row.try_get("job_id")?,
        service_id: row.try_get("service_id")?,
        action_url: row.try_get("action_url")?,
        action_label: row.try_get("action_label")?,
        in_inbox: get_bool(row, "in_inbox")?,
        created_at: row.try_get("created_at")?,
        read_at: row.try_get("read_at")?,
    })
}

pub fn delivery(row: &AnyRow) -> Result<Delivery, sqlx::Error> {
    let channel: String = row.try_get("channel")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(Delivery {
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?,
        error: row.try_get("error")?,
    })
}

pub fn preferences(row: &AnyRow) -> Result<Preferences, sqlx::Error> {
    Ok(Preferences {
        web_enabled: get_bool(row, "web_enabled")?,
        email_on_job_completed: get_bool(row, "email_on_job_completed")?,
        email_on_job_failed: get_bool(row, "email_on_job_failed")?,
        email_on_job_cancelled: get_bool(row, "email_on_job_cancelled")?,
        email_on_credential_issue: get_bool(row, "email_on_credential_issue")?,
        email_address: row.try_get("email_address")?,
        updated_at: Some(row.try_get("updated_at")?),
    })
}
