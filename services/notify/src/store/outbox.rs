//! The `email_outbox` table: mails stored before they are sent, claimed by
//! one sender at a time through a lease.

use fip_kit::db::{Backend, Db};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::StoreResult;
use crate::model::{EmailStatus, NewEmail, OutboxEmail, Outcome};

const COLUMNS: &str = "id, notification_id, user_id, message_id, to_address, to_name, subject, \
     body_text, body_html, action_url, status, attempts, last_error, digest_id, created_at, sent_at";

fn email(row: &AnyRow) -> Result<OutboxEmail, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(OutboxEmail {
        id: row.try_get("id")?,
        notification_id: row.try_get("notification_id")?,
        user_id: row.try_get("user_id")?,
        message_id: row.try_get("message_id")?,
        to_address: row.try_get("to_address")?,
        to_name: row.try_get("to_name")?,
        subject: row.try_get("subject")?,
        body_text: row.try_get("body_text")?,
        body_html: row.try_get("body_html")?,
        action_url: row.try_get("action_url")?,
        status: EmailStatus::parse(&status).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown email status {status:?} in the database").into())
        })?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        digest_id: row.try_get("digest_id")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

/// Stores `new` for `notification_id` (None for a digest) within `tx`:
/// pending, or held when the user is over their rate limit.
pub async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    notification_id: Option<i64>,
    user_id: i64,
    new: NewEmail,
    at: i64,
) -> StoreResult<(i64, EmailStatus)> {
    let NewEmail {
        message_id,
        to_address,
        to_name,
        subject,
        body_text,
        body_html,
        action_url,
        rate_limit,
    } = new;
    let mut status = EmailStatus::Pending;
    if let Some(limit) = rate_limit {
        // Mails sent alone in the window, and whether some already wait for
        // the digest (then this one joins them, keeping their order).
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN status = 'held' THEN 1 ELSE 0 END), 0) AS held, \
               COALESCE(SUM(CASE WHEN status <> 'held' AND status <> 'digested' \
                 AND created_at >= $2 THEN 1 ELSE 0 END), 0) AS recent \
             FROM email_outbox WHERE user_id = $1 AND notification_id IS NOT NULL",
        )
        .bind(user_id)
        .bind(limit.since)
        .fetch_one(&mut **tx)
        .await?;
        let held: i64 = row.try_get("held")?;
        let recent: i64 = row.try_get("recent")?;
        if held > 0 || recent >= limit.limit {
            status = EmailStatus::Held;
        }
    }
    let row = sqlx::query(
        "INSERT INTO email_outbox (notification_id, user_id, message_id, to_address, to_name, \
         subject, body_text, body_html, action_url, status, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(notification_id)
    .bind(user_id)
    .bind(message_id)
    .bind(to_address)
    .bind(to_name)
    .bind(subject)
    .bind(body_text)
    .bind(body_html)
    .bind(action_url)
    .bind(status.as_str())
    .bind(at)
    .fetch_one(&mut **tx)
    .await?;
    Ok((row.try_get("id")?, status))
}

/// Takes the lease of up to `limit` pending mails due at `now` whose lease
/// is free or expired, for `owner` until `lease_until`, and counts an
/// attempt on each. Two senders never hold the same mail: PostgreSQL skips
/// rows another sender is claiming, and the lease is checked again on the
/// row being updated; SQLite has one writer at a time.
pub async fn claim(
    db: &Db,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> StoreResult<Vec<OutboxEmail>> {
    let lock = match db.backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let rows = sqlx::query(&format!(
        "UPDATE email_outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE status = 'pending' AND next_attempt_at <= $3 AND lease_until <= $3 AND id IN \
           (SELECT id FROM email_outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
            AND lease_until <= $3 ORDER BY id LIMIT $4{lock}) \
         RETURNING {COLUMNS}"
    ))
    .bind(owner.to_string())
    .bind(lease_until)
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    let mut emails = rows.iter().map(email).collect::<Result<Vec<_>, _>>()?;
    emails.sort_by_key(|e| e.id);
    Ok(emails)
}

/// Sets the email delivery of the notifications a mail carried (its own,
/// or those of a digest).
async fn set_delivery(
    tx: &mut Transaction<'static, Any>,
    id: i64,
    outcome: Outcome,
    error: &str,
    at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE notification_deliveries SET outcome = $1, error = $2, updated_at = $3 \
         WHERE channel = 'email' AND notification_id IN \
           (SELECT notification_id FROM email_outbox \
            WHERE (id = $4 OR digest_id = $4) AND notification_id IS NOT NULL)",
    )
    .bind(outcome.as_str())
    .bind(error.to_string())
    .bind(at)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends `owner`'s attempt at mail `id`: sent (`error` None) or failed for
/// good. False when `owner` no longer holds its lease (nothing changed).
pub async fn finish(
    db: &Db,
    id: i64,
    owner: &str,
    error: Option<&str>,
    at: i64,
) -> StoreResult<bool> {
    let mut tx = db.pool.begin().await?;
    let (status, outcome) = match error {
        None => (EmailStatus::Sent, Outcome::Delivered),
        Some(_) => (EmailStatus::Failed, Outcome::Failed),
    };
    let done = sqlx::query(
        "UPDATE email_outbox SET status = $1, last_error = $2, sent_at = $3, \
         lease_owner = NULL, lease_until = 0 \
         WHERE id = $4 AND lease_owner = $5 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(error.unwrap_or_default().to_string())
    .bind(error.is_none().then_some(at))
    .bind(id)
    .bind(owner.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    set_delivery(&mut tx, id, outcome, error.unwrap_or_default(), at).await?;
    tx.commit().await?;
    Ok(true)
}

/// Gives mail `id` back for another attempt at `next_attempt_at` after a
/// transient failure. False when `owner` no longer holds its lease.
pub async fn retry(
    db: &Db,
    id: i64,
    owner: &str,
    error: &str,
    next_attempt_at: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE email_outbox SET next_attempt_at = $1, last_error = $2, \
         lease_owner = NULL, lease_until = 0 \
         WHERE id = $3 AND lease_owner = $4 AND status = 'pending'",
    )
    .bind(next_attempt_at)
    .bind(error.to_string())
    .bind(id)
    .bind(owner.to_string())
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(done > 0)
}

/// Users whose oldest held mail was stored at or before `held_since`.
pub async fn digest_due(db: &Db, held_since: i64) -> StoreResult<Vec<i64>> {
    let rows = sqlx::query(
        "SELECT user_id FROM email_outbox WHERE status = 'held' \
         GROUP BY user_id HAVING MIN(created_at) <= $1 ORDER BY user_id",
    )
    .bind(held_since)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| r.try_get("user_id").map_err(Into::into))
        .collect()
}

/// The held mails of `user_id`, oldest first.
pub async fn held(db: &Db, user_id: i64) -> StoreResult<Vec<OutboxEmail>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM email_outbox WHERE user_id = $1 AND status = 'held' ORDER BY id"
    ))
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(email).collect::<Result<_, _>>()?)
}

/// Stores `digest` for `user_id`, carrying the held mails `ids`, in one
/// transaction; None (and nothing stored) when another sender took any of
/// them first.
pub async fn digest(
    db: &Db,
    user_id: i64,
    digest: NewEmail,
    ids: &[i64],
    at: i64,
) -> StoreResult<Option<i64>> {
    let mut tx = db.pool.begin().await?;
    let (digest_id, _) = enqueue(&mut tx, None, user_id, digest, at).await?;
    let mut taken = 0;
    for id in ids {
        taken += sqlx::query(
            "UPDATE email_outbox SET status = 'digested', digest_id = $1 \
             WHERE id = $2 AND user_id = $3 AND status = 'held'",
        )
        .bind(digest_id)
        .bind(*id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    if taken != ids.len() as u64 {
        tx.rollback().await?;
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(digest_id))
}

/// The mails of `user_id`, oldest first (digests included).
pub async fn of_user(db: &Db, user_id: i64) -> StoreResult<Vec<OutboxEmail>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM email_outbox WHERE user_id = $1 ORDER BY id"
    ))
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.iter().map(email).collect::<Result<_, _>>()?)
}
