//! The `notification_preferences` table.

use fip_kit::db::{Db, SqlBuilder};

use super::StoreResult;
use super::codec::{self, PREFERENCE_COLUMNS};
use crate::model::{PreferenceChanges, Preferences};

pub async fn get(db: &Db, user_id: i64) -> StoreResult<Option<Preferences>> {
    let row = sqlx::query(&format!(
        "SELECT {PREFERENCE_COLUMNS} FROM notification_preferences WHERE user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.as_ref().map(codec::preferences).transpose()?)
}

/// One upsert statement, so that two concurrent updates of different
/// fields both land: a new row takes the defaults for the fields not
/// changed, an existing row keeps them.
pub async fn update(
    db: &Db,
    user_id: i64,
    changes: &PreferenceChanges,
    at: i64,
) -> StoreResult<Preferences> {
    let defaults = Preferences::default();
    let PreferenceChanges {
        web_enabled,
        email_on_job_completed,
        email_on_job_failed,
        email_on_job_cancelled,
        email_on_credential_issue,
        email_address,
    } = changes;
    let flags = [
        ("web_enabled", *web_enabled, defaults.web_enabled),
        (
            "email_on_job_completed",
            *email_on_job_completed,
            defaults.email_on_job_completed,
        ),
        (
            "email_on_job_failed",
            *email_on_job_failed,
            defaults.email_on_job_failed,
        ),
        (
            "email_on_job_cancelled",
            *email_on_job_cancelled,
            defaults.email_on_job_cancelled,
        ),
        (
            "email_on_credential_issue",
            *email_on_credential_issue,
            defaults.email_on_credential_issue,
        ),
    ];
    let mut q = SqlBuilder::new(format!(
        "INSERT INTO notification_preferences (user_id, {PREFERENCE_COLUMNS}) VALUES ("
    ));
    q.bind(user_id);
    let mut updates = Vec::new();
    for (column, change, default) in flags {
        q.push(", ").bind(change.unwrap_or(default));
        if change.is_some() {
            updates.push(column);
        }
    }
    q.push(", ")
        .bind(email_address.clone().unwrap_or(defaults.email_address));
    if email_address.is_some() {
        updates.push("email_address");
    }
    q.push(", ").bind(at);
    q.push(") ON CONFLICT (user_id) DO UPDATE SET updated_at = excluded.updated_at");
    for column in updates {
        q.push(&format!(", {column} = excluded.{column}"));
    }
    q.push(&format!(" RETURNING {PREFERENCE_COLUMNS}"));
    let (sql, args) = q.finish();
    let row = sqlx::query_with(&sql, args).fetch_one(&db.pool).await?;
    Ok(codec::preferences(&row)?)
}
