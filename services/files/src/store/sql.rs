//! The SQL store (SQLite and PostgreSQL through one `AnyPool`).

use async_trait::async_trait;
use fip_kit::db::{Db, SqlBuilder, is_unique_violation};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;

pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

const FILE_COLUMNS: &str = "id, owner_user_id, job_id, kind, name, content_type, size_bytes, \
     sha256, object_key, created_at, expires_at, content_deleted_at, upload_key";

fn file_from_row(row: &AnyRow) -> Result<FileRecord, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(FileRecord {
        id: row.try_get("id")?,
        owner_user_id: row.try_get("owner_user_id")?,
        job_id: row.try_get("job_id")?,
        kind: FileKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("file kind {kind}").into()))?,
        name: row.try_get("name")?,
        content_type: row.try_get("content_type")?,
        size_bytes: row.try_get("size_bytes")?,
        sha256: row.try_get("sha256")?,
        object_key: row.try_get("object_key")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        content_deleted_at: row.try_get("content_deleted_at")?,
        upload_key: row.try_get("upload_key")?,
    })
}

/// The filters of a listing, shared by its count and its page.
fn conditions(query: &mut SqlBuilder, filter: &FileQuery) {
    query
        .push(" WHERE owner_user_id = ")
        .bind(filter.owner_user_id);
    if let Some(kind) = filter.kind {
        query.push(" AND kind = ").bind(kind.as_str());
    }
    if let Some(job_id) = &filter.job_id {
        query
            .push(" AND id IN (SELECT file_id FROM file_jobs WHERE job_id = ")
            .bind(job_id.clone())
            .push(")");
    }
}

/// Adds `used_delta` and `reserved_delta` to the owner's counter, creating
/// it when absent. Every transaction that changes an owner's counter or
/// reservations starts with this write, which takes the owner's row lock
/// (PostgreSQL) or the write lock (SQLite) before anything is read, so that
/// they run one after another.
async fn add_usage(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    owner_user_id: i64,
    used_delta: i64,
    reserved_delta: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO quota_usage (owner_user_id, used_bytes, reserved_bytes) VALUES ($1, $2, $3) \
         ON CONFLICT (owner_user_id) DO UPDATE SET \
         used_bytes = quota_usage.used_bytes + excluded.used_bytes, \
         reserved_bytes = quota_usage.reserved_bytes + excluded.reserved_bytes",
    )
    .bind(owner_user_id)
    .bind(used_delta)
    .bind(reserved_delta)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ends the reservation `upload_id`; returns the bytes it held.
async fn end_reservation(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    upload_id: &str,
) -> Result<i64, sqlx::Error> {
    let rows = sqlx::query(
        "DELETE FROM upload_reservations WHERE upload_id = $1 RETURNING reserved_bytes",
    )
    .bind(upload_id)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>("reserved_bytes"))
        .sum()
}

#[async_trait]
impl Store for SqlStore {
    async fn insert_file(&self, file: &FileRecord) -> StoreResult<()> {
        let mut tx = self.db.pool.begin().await?;
        let used = if file.content_deleted_at.is_none() {
            file.size_bytes
        } else {
            0
        };
        add_usage(&mut tx, file.owner_user_id, used, 0).await?;
        let reserved = end_reservation(&mut tx, &file.id).await?;
        if reserved > 0 {
            add_usage(&mut tx, file.owner_user_id, 0, -reserved).await?;
        }
        if !file.upload_key.is_empty() {
            // Read after the owner's lock: a concurrent upload with the same
            // key of the same job (and owner) has committed or not started.
            let existing = sqlx::query(&format!(
                "SELECT {FILE_COLUMNS} FROM files WHERE job_id = $1 AND upload_key = $2"
            ))
            .bind(&file.job_id)
            .bind(&file.upload_key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = existing {
                let existing = file_from_row(&row)?;
                tx.rollback().await?;
                return Err(StoreError::KeyTaken(Box::new(existing)));
            }
        }
        sqlx::query(&format!(
            "INSERT INTO files ({FILE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&file.id)
        .bind(file.owner_user_id)
        .bind(&file.job_id)
        .bind(file.kind.as_str())
        .bind(&file.name)
        .bind(&file.content_type)
        .bind(file.size_bytes)
        .bind(&file.sha256)
        .bind(&file.object_key)
        .bind(file.created_at)
        .bind(file.expires_at)
        .bind(file.content_deleted_at)
        .bind(&file.upload_key)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict
            } else {
                StoreError::Database(e)
            }
        })?;
        if !file.job_id.is_empty() {
            sqlx::query("INSERT INTO file_jobs (file_id, job_id, linked_at) VALUES ($1, $2, $3)")
                .bind(&file.id)
                .bind(&file.job_id)
                .bind(file.created_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn file_by_key(&self, job_id: &str, upload_key: &str) -> StoreResult<Option<FileRecord>> {
        if upload_key.is_empty() {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE job_id = $1 AND upload_key = $2"
        ))
        .bind(job_id)
        .bind(upload_key)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.as_ref().map(file_from_row).transpose()?)
    }

    async fn file(&self, id: &str) -> StoreResult<Option<FileRecord>> {
        let row = sqlx::query(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.as_ref().map(file_from_row).transpose()?)
    }

    async fn list_files(&self, filter: &FileQuery) -> StoreResult<(Vec<FileRecord>, i64)> {
        let mut count = SqlBuilder::new("SELECT COUNT(*) AS n FROM files");
        conditions(&mut count, filter);
        let (sql, args) = count.finish();
        let total: i64 = sqlx::query_with(&sql, args)
            .fetch_one(&self.db.pool)
            .await?
            .try_get("n")?;

        let mut page = SqlBuilder::new(format!("SELECT {FILE_COLUMNS} FROM files"));
        conditions(&mut page, filter);
        if let Some(before) = &filter.before_id {
            page.push(" AND id < ").bind(before.clone());
        }
        page.push(" ORDER BY id DESC LIMIT ").bind(filter.limit);
        let (sql, args) = page.finish();
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&self.db.pool)
            .await?;
        let files = rows
            .iter()
            .map(file_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((files, total))
    }

    async fn used_bytes(&self, owner_user_id: i64) -> StoreResult<i64> {
        // SUM of BIGINT is NUMERIC on PostgreSQL, which the Any driver does
        // not decode: cast it back.
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) AS n FROM files \
             WHERE owner_user_id = $1 AND content_deleted_at IS NULL",
        )
        .bind(owner_user_id)
        .fetch_one(&self.db.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    async fn reserve(&self, r: &Reservation) -> StoreResult<Reserved> {
        let mut tx = self.db.pool.begin().await?;
        add_usage(&mut tx, r.owner_user_id, 0, 0).await?;
        let expired = sqlx::query(
            "DELETE FROM upload_reservations \
             WHERE owner_user_id = $1 AND expires_at <= $2 AND upload_id <> $3 \
             RETURNING reserved_bytes",
        )
        .bind(r.owner_user_id)
        .bind(r.now)
        .bind(&r.upload_id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get::<i64, _>("reserved_bytes"))
        .sum::<Result<i64, _>>()?;
        if expired > 0 {
            add_usage(&mut tx, r.owner_user_id, 0, -expired).await?;
        }
        let held: i64 =
            sqlx::query("SELECT reserved_bytes FROM upload_reservations WHERE upload_id = $1")
                .bind(&r.upload_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.try_get("reserved_bytes"))
                .transpose()?
                .unwrap_or(0);
        let delta = r.total_bytes - held;
        let granted = sqlx::query(
            "UPDATE quota_usage SET reserved_bytes = reserved_bytes + $1 \
             WHERE owner_user_id = $2 AND used_bytes + reserved_bytes + $1 <= $3",
        )
        .bind(delta)
        .bind(r.owner_user_id)
        .bind(r.quota_bytes)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        let answer = if granted {
            sqlx::query(
                "INSERT INTO upload_reservations \
                 (upload_id, owner_user_id, reserved_bytes, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (upload_id) DO UPDATE SET \
                 reserved_bytes = excluded.reserved_bytes, expires_at = excluded.expires_at",
            )
            .bind(&r.upload_id)
            .bind(r.owner_user_id)
            .bind(r.total_bytes)
            .bind(r.expires_at)
            .execute(&mut *tx)
            .await?;
            Reserved::Granted
        } else {
            let usage = usage_in(&mut tx, r.owner_user_id).await?;
            Reserved::Refused {
                used_bytes: usage.used_bytes,
                reserved_bytes: usage.reserved_bytes,
            }
        };
        // Expired reservations given back stay given back, refused or not.
        tx.commit().await?;
        Ok(answer)
    }

    async fn release(&self, owner_user_id: i64, upload_id: &str) -> StoreResult<()> {
        let mut tx = self.db.pool.begin().await?;
        add_usage(&mut tx, owner_user_id, 0, 0).await?;
        let reserved = end_reservation(&mut tx, upload_id).await?;
        if reserved > 0 {
            add_usage(&mut tx, owner_user_id, 0, -reserved).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn usage(&self, owner_user_id: i64) -> StoreResult<Usage> {
        let mut tx = self.db.pool.begin().await?;
        let usage = usage_in(&mut tx, owner_user_id).await?;
        tx.commit().await?;
        Ok(usage)
    }

    async fn delete_file(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query("DELETE FROM file_jobs WHERE file_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query(
            "DELETE FROM files WHERE id = $1 \
             RETURNING owner_user_id, size_bytes, content_deleted_at",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = deleted else {
            tx.rollback().await?;
            return Ok(false);
        };
        let owner: i64 = row.try_get("owner_user_id")?;
        let size: i64 = row.try_get("size_bytes")?;
        let content_deleted_at: Option<i64> = row.try_get("content_deleted_at")?;
        if content_deleted_at.is_none() {
            add_usage(&mut tx, owner, -size, 0).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn link_job(
        &self,
        file_id: &str,
        job_id: &str,
        at: i64,
    ) -> StoreResult<Option<FileRecord>> {
        let mut tx = self.db.pool.begin().await?;
        let exists = sqlx::query("SELECT id FROM files WHERE id = $1")
            .bind(file_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO file_jobs (file_id, job_id, linked_at) VALUES ($1, $2, $3) \
             ON CONFLICT (file_id, job_id) DO NOTHING",
        )
        .bind(file_id)
        .bind(job_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE files SET job_id = $1 WHERE id = $2 AND job_id = ''")
            .bind(job_id)
            .bind(file_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.file(file_id).await
    }

    async fn expired_files(&self, now: i64, limit: i64) -> StoreResult<Vec<FileRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {FILE_COLUMNS} FROM files \
             WHERE expires_at <= $1 AND content_deleted_at IS NULL ORDER BY expires_at LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .map(file_from_row)
            .collect::<Result<Vec<_>, _>>()?)
    }

    async fn mark_content_deleted(&self, id: &str, at: i64) -> StoreResult<()> {
        let mut tx = self.db.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE files SET content_deleted_at = $1 WHERE id = $2 AND content_deleted_at IS NULL \
             RETURNING owner_user_id, size_bytes",
        )
        .bind(at)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = marked {
            add_usage(
                &mut tx,
                row.try_get("owner_user_id")?,
                -row.try_get::<i64, _>("size_bytes")?,
                0,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The owner's counter (zero when the owner has none yet).
async fn usage_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    owner_user_id: i64,
) -> Result<Usage, sqlx::Error> {
    let row =
        sqlx::query("SELECT used_bytes, reserved_bytes FROM quota_usage WHERE owner_user_id = $1")
            .bind(owner_user_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(match row {
        Some(row) => Usage {
            used_bytes: row.try_get("used_bytes")?,
            reserved_bytes: row.try_get("reserved_bytes")?,
        },
        None => Usage::default(),
    })
}
