//! The `notifications` and `notification_deliveries` tables.

use fip_kit::db::{Db, SqlBuilder};
use sqlx::{AnyPool, Row};

use super::codec::{self, NOTIFICATION_COLUMNS};
use super::{ListQuery, StoreResult, Stored, outbox};
use crate::model::{Delivery, NewNotification, Notification};

pub async fn insert(db: &Db, new: NewNotification) -> StoreResult<Stored> {
    let NewNotification {
        user_id,
        kind,
        title,
        message,
        job_id,
        service_id,
        action_url,
        action_label,
        in_inbox,
        dedup_key,
        created_at,
        deliveries,
        email,
    } = new;
    let mut tx = db.pool.begin().await?;
    // A second insert under the same (user, key) does nothing and returns
    // no row; NULL keys never collide.
    let row = sqlx::query(&format!(
        "INSERT INTO notifications (user_id, notification_type, title, message, job_id, \
         service_id, action_url, action_label, in_inbox, created_at, dedup_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (user_id, dedup_key) DO NOTHING RETURNING {NOTIFICATION_COLUMNS}"
    ))
    .bind(user_id)
    .bind(kind.as_str())
    .bind(title)
    .bind(message)
    .bind(job_id)
    .bind(service_id)
    .bind(action_url)
    .bind(action_label)
    .bind(in_inbox)
    .bind(created_at)
    .bind(dedup_key.clone())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        let key = dedup_key.unwrap_or_default();
        return by_dedup_key(&db.pool, user_id, &key).await?.ok_or_else(|| {
            sqlx::Error::Protocol("a conflicting notification vanished".into()).into()
        });
    };
    let notification = codec::notification(&row)?;
    for delivery in &deliveries {
        sqlx::query(
            "INSERT INTO notification_deliveries \
             (notification_id, channel, outcome, error, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(notification.id)
        .bind(delivery.channel.as_str())
        .bind(delivery.outcome.as_str())
        .bind(delivery.error.clone())
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
    }
    if let Some(email) = email {
        let (_, status) =
            outbox::enqueue(&mut tx, Some(notification.id), user_id, email, created_at).await?;
        tracing::debug!(
            notification_id = notification.id,
            status = status.as_str(),
            "email stored in the outbox"
        );
    }
    tx.commit().await?;
    Ok(Stored {
        notification,
        deliveries: sorted(deliveries),
        deduplicated: false,
    })
}

/// Deliveries in channel order (web, then email).
fn sorted(mut deliveries: Vec<Delivery>) -> Vec<Delivery> {
    deliveries.sort_by_key(|d| d.channel as u8);
    deliveries
}

pub async fn by_dedup_key(
    pool: &AnyPool,
    user_id: i64,
    dedup_key: &str,
) -> StoreResult<Option<Stored>> {
    let row = sqlx::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1 AND dedup_key = $2"
    ))
    .bind(user_id)
    .bind(dedup_key.to_string())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let notification = codec::notification(&row)?;
    let deliveries = sqlx::query(
        "SELECT channel, outcome, error FROM notification_deliveries WHERE notification_id = $1",
    )
    .bind(notification.id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(codec::delivery)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Stored {
        notification,
        deliveries: sorted(deliveries),
        deduplicated: true,
    }))
}

pub async fn get(pool: &AnyPool, user_id: i64, id: i64) -> StoreResult<Option<Notification>> {
    let row = sqlx::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications \
         WHERE id = $1 AND user_id = $2 AND in_inbox"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(codec::notification).transpose()?)
}

pub async fn list(db: &Db, query: &ListQuery) -> StoreResult<Vec<Notification>> {
    let ListQuery {
        user_id,
        unread_only,
        kinds,
        job_id,
        before_id,
        limit,
    } = query;
    let mut q = SqlBuilder::new(format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE in_inbox AND user_id = "
    ));
    q.bind(*user_id);
    if *unread_only {
        q.push(" AND read_at IS NULL");
    }
    if !kinds.is_empty() {
        q.push(" AND notification_type IN (")
            .bind_list(kinds.iter().map(|k| k.as_str().to_string()))
            .push(")");
    }
    if let Some(job_id) = job_id {
        q.push(" AND job_id = ").bind(job_id.clone());
    }
    if let Some(before) = before_id {
        q.push(" AND id < ").bind(*before);
    }
    q.push(" ORDER BY id DESC LIMIT ").bind(*limit);
    let (sql, args) = q.finish();
    let rows = sqlx::query_with(&sql, args).fetch_all(&db.pool).await?;
    Ok(rows
        .iter()
        .map(codec::notification)
        .collect::<Result<_, _>>()?)
}

pub async fn unread_count(db: &Db, user_id: i64) -> StoreResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS unread FROM notifications \
         WHERE user_id = $1 AND in_inbox AND read_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(row.try_get("unread")?)
}

pub async fn mark_read(
    db: &Db,
    user_id: i64,
    id: i64,
    at: i64,
) -> StoreResult<Option<(Notification, bool)>> {
    let changed = sqlx::query(
        "UPDATE notifications SET read_at = $1 \
         WHERE id = $2 AND user_id = $3 AND in_inbox AND read_at IS NULL",
    )
    .bind(at)
    .bind(id)
    .bind(user_id)
    .execute(&db.pool)
    .await?
    .rows_affected()
        > 0;
    Ok(get(&db.pool, user_id, id).await?.map(|n| (n, changed)))
}

pub async fn mark_all_read(
    db: &Db,
    user_id: i64,
    created_before: Option<i64>,
    at: i64,
) -> StoreResult<i64> {
    let mut q = SqlBuilder::new("UPDATE notifications SET read_at = ");
    q.bind(at).push(" WHERE user_id = ").bind(user_id);
    q.push(" AND in_inbox AND read_at IS NULL");
    if let Some(before) = created_before {
        q.push(" AND created_at <= ").bind(before);
    }
    let (sql, args) = q.finish();
    let done = sqlx::query_with(&sql, args).execute(&db.pool).await?;
    Ok(i64::try_from(done.rows_affected()).unwrap_or(i64::MAX))
}
