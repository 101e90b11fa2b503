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
     sha256, object_key, created_at, expires_at, content_deleted_at";

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

#[async_trait]
impl Store for SqlStore {
    async fn insert_file(&self, file: &FileRecord) -> StoreResult<()> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO files ({FILE_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
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

    async fn delete_file(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        sqlx::query("DELETE FROM file_jobs WHERE file_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM files WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
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
        sqlx::query(
            "UPDATE files SET content_deleted_at = $1 WHERE id = $2 AND content_deleted_at IS NULL",
        )
        .bind(at)
        .bind(id)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }
}
