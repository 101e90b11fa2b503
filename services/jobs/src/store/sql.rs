//! The SQL store (SQLite and PostgreSQL through one `AnyPool`).

use async_trait::async_trait;
use fip_kit::db::{Db, SqlBuilder, is_unique_violation};
use fip_kit::vault::Sealed;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;
use crate::model::{
    ApiType, ErrorAction, FailureReason, GenomeBuild, Mode, Phase, Phasing, parse_api_type,
    parse_build,
};

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Backend(error.into())
    }
}

/// `(…)` of the unfinished states, for `status IN` (from the one list).
fn unfinished_states() -> String {
    let states: Vec<String> = Status::UNFINISHED
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", states.join(", "))
}

pub struct SqlStore {
    db: Db,
}

impl SqlStore {
    /// [`Store::save`], and with `read` [`Store::save_unchanged`].
    async fn save_where(
        &self,
        job: &Job,
        read: Option<&Job>,
        history: Option<&str>,
    ) -> StoreResult<Option<i64>> {
        let mut tx = self.db.pool.begin().await?;
        let mut q = SqlBuilder::new("UPDATE jobs SET ");
        for (i, name) in JOB_COLUMNS[1..].iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            if *name == "cancel_requested_at" {
                // A cancel the API recorded meanwhile stays.
                q.push("cancel_requested_at = COALESCE(cancel_requested_at, ");
                bind_column(&mut q, job, name);
                q.push(")");
                continue;
            }
            q.push(&format!("{name} = "));
            bind_column(&mut q, job, name);
        }
        q.push(" WHERE id = ").bind(job.id.clone());
        q.push(&format!(" AND status IN {}", unfinished_states()));
        if let Some(read) = read {
            q.push(" AND status = ").bind(read.status.as_str());
            q.push(" AND progress = ").bind(read.progress);
            q.push(" AND updated_at = ").bind(read.updated_at);
        }
        let (sql, args) = q.finish();
        let written = sqlx::query_with(&sql, args).execute(&mut *tx).await?;
        if written.rows_affected() == 0 {
            // An unconditional save fails only on an ended job; a
            // conditional one may also find it changed.
            if read.is_none() {
                return Err(StoreError::Ended(job.id.clone()));
            }
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
                    .bind(job.id.clone())
                    .fetch_optional(&mut *tx)
                    .await?;
            let running = status
                .as_deref()
                .and_then(Status::parse)
                .is_some_and(|s| !s.is_final());
            return Err(if running {
                StoreError::Changed(job.id.clone())
            } else {
                StoreError::Ended(job.id.clone())
            });
        }
        let mut inserted = None;
        if let Some(message) = history {
            let row = sqlx::query(
                "INSERT INTO job_status_updates (job_id, status, progress, message, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(job.id.clone())
            .bind(job.status.as_str())
            .bind(job.progress)
            .bind(message.to_string())
            .bind(job.updated_at)
            .fetch_one(&mut *tx)
            .await?;
            inserted = Some(row.try_get("id")?);
        }
        tx.commit().await?;
        Ok(inserted)
    }

    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

/// The columns of `jobs`.
const JOB_COLUMNS: [&str; 48] = [
    "id",
    "user_id",
    "parent_job_id",
    "request_id",
    "name",
    "service_id",
    "service_name",
    "api_type",
    "base_url",
    "reference_panel_id",
    "panel_name",
    "panel_slug",
    "build",
    "phasing",
    "population",
    "mode",
    "r2_filter",
    "status",
    "progress",
    "phase",
    "external_job_id",
    "remote_code",
    "remote_state",
    "remote_position",
    "current_step",
    "remote_observed_at",
    "error_message",
    "error_reason",
    "error_action",
    "error_action_url",
    "input_file_id",
    "input_summary",
    "secret_key_id",
    "secret_nonce",
    "secret_sealed",
    "submit_started_at",
    "attempts",
    "next_poll_at",
    "poll_failures",
    "log_cursor",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
    "cancel_requested_at",
    "cancel_sent_at",
    "cancel_polls",
    "results_expire_at",
];

fn columns() -> String {
    JOB_COLUMNS.join(", ")
}

/// A value stored as text; an unknown one is an error that names it.
fn decode<T>(what: &str, parse: fn(&str) -> Option<T>, value: String) -> Result<T, sqlx::Error> {
    parse(&value).ok_or_else(|| sqlx::Error::Decode(format!("unknown {what} {value:?}").into()))
}

/// A value stored as text, empty for none; an unknown one is an error.
fn optional<T>(
    what: &str,
    parse: fn(&str) -> Option<T>,
    value: String,
) -> Result<Option<T>, sqlx::Error> {
    if value.is_empty() {
        return Ok(None);
    }
    decode(what, parse, value).map(Some)
}

fn job_from_row(row: &AnyRow) -> Result<Job, sqlx::Error> {
    let key_id: String = row.try_get("secret_key_id")?;
    let nonce: Option<Vec<u8>> = row.try_get("secret_nonce")?;
    let sealed: Option<Vec<u8>> = row.try_get("secret_sealed")?;
    let secret = match (key_id.is_empty(), nonce, sealed) {
        (false, Some(nonce), Some(ciphertext)) => Some(Sealed {
            key_id,
            nonce,
            ciphertext,
        }),
        _ => None,
    };
    Ok(Job {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        parent_job_id: row.try_get("parent_job_id")?,
        request_id: row.try_get("request_id")?,
        name: row.try_get("name")?,
        service_id: row.try_get("service_id")?,
        service_name: row.try_get("service_name")?,
        api_type: optional("api_type", parse_api_type, row.try_get("api_type")?)?,
        base_url: row.try_get("base_url")?,
        reference_panel_id: row.try_get("reference_panel_id")?,
        panel_name: row.try_get("panel_name")?,
        panel_slug: row.try_get("panel_slug")?,
        build: optional("build", parse_build, row.try_get("build")?)?,
        phasing: optional("phasing", Phasing::parse, row.try_get("phasing")?)?,
        population: row.try_get("population")?,
        mode: decode("mode", Mode::parse, row.try_get("mode")?)?,
        r2_filter: row.try_get("r2_filter")?,
        status: decode("status", Status::parse, row.try_get("status")?)?,
        progress: row.try_get("progress")?,
        phase: decode("phase", Phase::parse, row.try_get("phase")?)?,
        external_job_id: row.try_get("external_job_id")?,
        remote_code: row.try_get("remote_code")?,
        remote_state: row.try_get("remote_state")?,
        remote_position: row.try_get("remote_position")?,
        current_step: row.try_get("current_step")?,
        remote_observed_at: row.try_get("remote_observed_at")?,
        error_message: row.try_get("error_message")?,
        error_reason: optional(
            "error_reason",
            FailureReason::parse,
            row.try_get("error_reason")?,
        )?,
        error_action: ErrorAction::parse(&row.try_get::<String, _>("error_action")?),
        error_action_url: row.try_get("error_action_url")?,
        input_file_id: row.try_get("input_file_id")?,
        input_summary: row.try_get("input_summary")?,
        secret,
        submit_started_at: row.try_get("submit_started_at")?,
        attempts: row.try_get("attempts")?,
        next_poll_at: row.try_get("next_poll_at")?,
        poll_failures: row.try_get("poll_failures")?,
        log_cursor: row.try_get("log_cursor")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        completed_at: row.try_get("completed_at")?,
        cancel_requested_at: row.try_get("cancel_requested_at")?,
        cancel_sent_at: row.try_get("cancel_sent_at")?,
        cancel_polls: row.try_get("cancel_polls")?,
        results_expire_at: row.try_get("results_expire_at")?,
    })
}

fn log_from_row(row: &AnyRow) -> Result<LogEntry, sqlx::Error> {
    Ok(LogEntry {
        id: row.try_get("id")?,
        job_id: row.try_get("job_id")?,
        source: decode("log source", LogSource::parse, row.try_get("source")?)?,
        step_name: row.try_get("step_name")?,
        log_type: decode("log type", LogType::parse, row.try_get("type")?)?,
        message: row.try_get("message")?,
        time: row.try_get("time")?,
    })
}

fn filter_sql(q: &mut SqlBuilder, f: &JobFilter) {
    q.push(" WHERE 1 = 1");
    if let Some(user) = f.user_id {
        q.push(" AND user_id = ").bind(user);
    }
    if !f.statuses.is_empty() {
        q.push(" AND status IN (")
            .bind_list(f.statuses.iter().map(|s| s.as_str()))
            .push(")");
    }
    if let Some(service) = f.service_id {
        q.push(" AND service_id = ").bind(service);
    }
    if let Some(after) = f.created_after {
        q.push(" AND created_at >= ").bind(after);
    }
    if let Some(before) = f.created_before {
        q.push(" AND created_at < ").bind(before);
    }
    if let Some(parent) = &f.parent_job_id {
        q.push(" AND parent_job_id = ").bind(parent.clone());
    } else if f.top_level_only {
        q.push(" AND parent_job_id IS NULL");
    }
    if let Some(text) = &f.query {
        let pattern = format!("%{}%", text.to_lowercase());
        q.push(" AND (lower(name) LIKE ")
            .bind(pattern.clone())
            .push(" OR lower(id) LIKE ")
            .bind(pattern)
            .push(")");
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn create_jobs(&self, jobs: &[Job], message: &str) -> StoreResult<()> {
        let mut tx = self.db.pool.begin().await?;
        for job in jobs {
            let mut q = SqlBuilder::new(format!("INSERT INTO jobs ({}) VALUES (", columns()));
            for (i, column) in JOB_COLUMNS.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                bind_column(&mut q, job, column);
            }
            q.push(")");
            let (sql, args) = q.finish();
            sqlx::query_with(&sql, args)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::DuplicateRequest
                    } else {
                        StoreError::from(e)
                    }
                })?;
            sqlx::query(
                "INSERT INTO job_status_updates (job_id, status, progress, message, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(job.id.clone())
            .bind(job.status.as_str())
            .bind(job.progress)
            .bind(message)
            .bind(job.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn job(&self, id: &str) -> StoreResult<Option<Job>> {
        let row = sqlx::query(&format!("SELECT {} FROM jobs WHERE id = $1", columns()))
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }

    async fn job_by_request(&self, user_id: i64, request_id: &str) -> StoreResult<Option<Job>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM jobs WHERE user_id = $1 AND request_id = $2",
            columns()
        ))
        .bind(user_id)
        .bind(request_id.to_string())
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }

    async fn children(&self, parent_id: &str) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM jobs WHERE parent_job_id = $1 ORDER BY created_at, id",
            columns()
        ))
        .bind(parent_id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(job_from_row).collect::<Result<_, _>>()?)
    }

    async fn list_jobs(&self, filter: &JobFilter) -> StoreResult<(Vec<Job>, i64)> {
        let mut count = SqlBuilder::new("SELECT COUNT(*) AS n FROM jobs");
        filter_sql(&mut count, filter);
        let (sql, args) = count.finish();
        let total: i64 = sqlx::query_with(&sql, args)
            .fetch_one(&self.db.pool)
            .await?
            .try_get("n")?;
        let mut page = SqlBuilder::new(format!("SELECT {} FROM jobs", columns()));
        filter_sql(&mut page, filter);
        if let Some((created, id)) = &filter.before {
            page.push(" AND (created_at < ")
                .bind(*created)
                .push(" OR (created_at = ")
                .bind(*created)
                .push(" AND id < ")
                .bind(id.clone())
                .push("))");
        }
        page.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .bind(filter.limit);
        let (sql, args) = page.finish();
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&self.db.pool)
            .await?;
        Ok((
            rows.iter().map(job_from_row).collect::<Result<_, _>>()?,
            total,
        ))
    }

    async fn save(&self, job: &Job, history: Option<&str>) -> StoreResult<Option<i64>> {
        self.save_where(job, None, history).await
    }

    async fn save_unchanged(
        &self,
        job: &Job,
        read: &Job,
        history: Option<&str>,
    ) -> StoreResult<Option<i64>> {
        self.save_where(job, Some(read), history).await
    }

    async fn request_cancel(&self, id: &str, at: i64) -> StoreResult<bool> {
        let mut tx = self.db.pool.begin().await?;
        let ended = sqlx::query(
            "UPDATE jobs SET status = 'cancelled', phase = 'done', completed_at = $1, \
             cancel_requested_at = $1, updated_at = $1 \
             WHERE id = $2 AND status IN ('pending', 'queued') AND phase = 'new' \
             AND cancel_requested_at IS NULL",
        )
        .bind(at)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if ended {
            sqlx::query(
                "INSERT INTO job_status_updates (job_id, status, progress, message, created_at) \
                 SELECT id, status, progress, 'cancelled by the user', $1 FROM jobs WHERE id = $2",
            )
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(&format!(
                "UPDATE jobs SET cancel_requested_at = $1, updated_at = $1 \
                 WHERE id = $2 AND cancel_requested_at IS NULL AND status IN {}",
                unfinished_states()
            ))
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    async fn unfinished(&self) -> StoreResult<Vec<Job>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM jobs j WHERE status IN {} \
             AND NOT EXISTS (SELECT 1 FROM jobs c WHERE c.parent_job_id = j.id) \
             ORDER BY created_at",
            columns(),
            unfinished_states()
        ))
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(job_from_row).collect::<Result<_, _>>()?)
    }

    async fn status_updates(
        &self,
        job_id: &str,
        after_id: i64,
        limit: i64,
    ) -> StoreResult<Vec<StatusUpdate>> {
        let rows = sqlx::query(
            "SELECT id, job_id, status, progress, message, created_at FROM job_status_updates \
             WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(job_id.to_string())
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StatusUpdate {
                    id: r.try_get("id")?,
                    job_id: r.try_get("job_id")?,
                    status: decode("status", Status::parse, r.try_get("status")?)?,
                    progress: r.try_get("progress")?,
                    message: r.try_get("message")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn add_logs(&self, entries: &[LogEntry]) -> StoreResult<Vec<LogEntry>> {
        let mut tx = self.db.pool.begin().await?;
        let mut saved = Vec::with_capacity(entries.len());
        for entry in entries {
            let row = sqlx::query(
                "INSERT INTO job_logs (job_id, source, step_name, type, message, time) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(entry.job_id.clone())
            .bind(entry.source.as_str())
            .bind(entry.step_name.clone())
            .bind(entry.log_type.as_str())
            .bind(entry.message.clone())
            .bind(entry.time)
            .fetch_one(&mut *tx)
            .await?;
            saved.push(LogEntry {
                id: row.try_get("id")?,
                ..entry.clone()
            });
        }
        tx.commit().await?;
        Ok(saved)
    }

    async fn logs(&self, job_id: &str, f: &LogFilter) -> StoreResult<Vec<LogEntry>> {
        let mut q = SqlBuilder::new("SELECT * FROM job_logs WHERE job_id = ");
        q.bind(job_id.to_string())
            .push(" AND id > ")
            .bind(f.after_id);
        if let Some(source) = f.source {
            q.push(" AND source = ").bind(source.as_str());
        }
        if !f.types.is_empty() {
            q.push(" AND type IN (")
                .bind_list(f.types.iter().map(|t| t.as_str()))
                .push(")");
        }
        q.push(" ORDER BY id LIMIT ").bind(f.limit);
        let (sql, args) = q.finish();
        let rows = sqlx::query_with(&sql, args)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows.iter().map(log_from_row).collect::<Result<_, _>>()?)
    }

    async fn put_result(&self, job_id: &str, file: &ResultFile) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO job_results (job_id, file_id, name, kind, size_bytes, sha256, chromosome, \
             content_type, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (job_id, name) DO UPDATE SET file_id = $2, kind = $4, size_bytes = $5, \
             sha256 = $6, chromosome = $7, content_type = $8, created_at = $9",
        )
        .bind(job_id.to_string())
        .bind(file.file_id.clone())
        .bind(file.name.clone())
        .bind(file.kind.clone())
        .bind(file.size_bytes)
        .bind(file.sha256.clone())
        .bind(file.chromosome.clone())
        .bind(file.content_type.clone())
        .bind(file.created_at)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn put_qc(&self, job_id: &str, qc: &ChromosomeQc) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO job_qc (job_id, chromosome, variant_count, typed_count, mean_r2, \
             count_r2_ge_03, count_r2_ge_08) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (job_id, chromosome) DO UPDATE SET variant_count = $3, typed_count = $4, \
             mean_r2 = $5, count_r2_ge_03 = $6, count_r2_ge_08 = $7",
        )
        .bind(job_id.to_string())
        .bind(qc.chromosome.clone())
        .bind(qc.variant_count)
        .bind(qc.typed_count)
        .bind(qc.mean_r2)
        .bind(qc.count_r2_ge_03)
        .bind(qc.count_r2_ge_08)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn mark_output_fetched(&self, job_id: &str, output: &str, at: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO job_fetched_outputs (job_id, output, fetched_at) VALUES ($1, $2, $3) \
             ON CONFLICT (job_id, output) DO NOTHING",
        )
        .bind(job_id.to_string())
        .bind(output.to_string())
        .bind(at)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn fetched_outputs(&self, job_id: &str) -> StoreResult<Vec<String>> {
        let rows =
            sqlx::query("SELECT output FROM job_fetched_outputs WHERE job_id = $1 ORDER BY output")
                .bind(job_id.to_string())
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("output"))
            .collect::<Result<_, sqlx::Error>>()?)
    }

    async fn clear_results(&self, job_id: &str) -> StoreResult<()> {
        let mut tx = self.db.pool.begin().await?;
        for table in ["job_results", "job_qc", "job_fetched_outputs"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE job_id = $1"))
                .bind(job_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn results(&self, job_id: &str) -> StoreResult<(Vec<ResultFile>, Vec<ChromosomeQc>)> {
        let files = sqlx::query("SELECT * FROM job_results WHERE job_id = $1 ORDER BY name")
            .bind(job_id.to_string())
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ResultFile {
                    file_id: r.try_get("file_id")?,
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    size_bytes: r.try_get("size_bytes")?,
                    sha256: r.try_get("sha256")?,
                    chromosome: r.try_get("chromosome")?,
                    content_type: r.try_get("content_type")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let qc = sqlx::query("SELECT * FROM job_qc WHERE job_id = $1")
            .bind(job_id.to_string())
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(ChromosomeQc {
                    chromosome: r.try_get("chromosome")?,
                    variant_count: r.try_get("variant_count")?,
                    typed_count: r.try_get("typed_count")?,
                    mean_r2: r.try_get("mean_r2")?,
                    count_r2_ge_03: r.try_get("count_r2_ge_03")?,
                    count_r2_ge_08: r.try_get("count_r2_ge_08")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let mut qc = qc;
        qc.sort_by_key(|q| chromosome_order(&q.chromosome));
        Ok((files, qc))
    }

    async fn counts(
        &self,
        user_id: Option<i64>,
        created_after: Option<i64>,
    ) -> StoreResult<Counts> {
        let scope = |q: &mut SqlBuilder| {
            q.push(" WHERE 1 = 1");
            if let Some(user) = user_id {
                q.push(" AND user_id = ").bind(user);
            }
            if let Some(after) = created_after {
                q.push(" AND created_at >= ").bind(after);
            }
            // A multi-service job counts once, as its parent.
            q.push(" AND parent_job_id IS NULL");
        };
        let mut by_status = SqlBuilder::new("SELECT status, COUNT(*) AS n FROM jobs");
        scope(&mut by_status);
        by_status.push(" GROUP BY status");
        let (sql, args) = by_status.finish();
        let mut counts = Counts::default();
        for row in sqlx::query_with(&sql, args)
            .fetch_all(&self.db.pool)
            .await?
        {
            let status = decode("status", Status::parse, row.try_get("status")?)?;
            counts.by_status.push((status, row.try_get("n")?));
        }
        let mut by_service =
            SqlBuilder::new("SELECT service_id, service_name, status, COUNT(*) AS n FROM jobs");
        scope(&mut by_service);
        by_service.push(" GROUP BY service_id, service_name, status ORDER BY service_id");
        let (sql, args) = by_service.finish();
        for row in sqlx::query_with(&sql, args)
            .fetch_all(&self.db.pool)
            .await?
        {
            let status = decode("status", Status::parse, row.try_get("status")?)?;
            counts.by_service.push((
                row.try_get("service_id")?,
                row.try_get("service_name")?,
                status,
                row.try_get("n")?,
            ));
        }
        let mut duration = SqlBuilder::new(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(completed_at - started_at), 0) AS BIGINT) AS total FROM jobs",
        );
        scope(&mut duration);
        duration.push(
            " AND status = 'completed' AND started_at IS NOT NULL AND completed_at IS NOT NULL",
        );
        let (sql, args) = duration.finish();
        let row = sqlx::query_with(&sql, args)
            .fetch_one(&self.db.pool)
            .await?;
        let n: i64 = row.try_get("n")?;
        let total: i64 = row.try_get("total")?;
        counts.average_duration_seconds = if n > 0 { total / n / 1000 } else { 0 };
        Ok(counts)
    }
}

fn bind_column(q: &mut SqlBuilder, job: &Job, column: &str) {
    let sealed = job.secret.as_ref();
    match column {
        "id" => q.bind(job.id.clone()),
        "user_id" => q.bind(job.user_id),
        "parent_job_id" => q.bind(job.parent_job_id.clone()),
        "request_id" => q.bind(job.request_id.clone()),
        "name" => q.bind(job.name.clone()),
        "service_id" => q.bind(job.service_id),
        "service_name" => q.bind(job.service_name.clone()),
        "api_type" => q.bind(job.api_type.map_or("", ApiType::as_str)),
        "base_url" => q.bind(job.base_url.clone()),
        "reference_panel_id" => q.bind(job.reference_panel_id),
        "panel_name" => q.bind(job.panel_name.clone()),
        "panel_slug" => q.bind(job.panel_slug.clone()),
        "build" => q.bind(job.build.map_or("", GenomeBuild::as_str)),
        "phasing" => q.bind(job.phasing.map_or("", Phasing::as_str)),
        "population" => q.bind(job.population.clone()),
        "mode" => q.bind(job.mode.as_str()),
        "r2_filter" => q.bind(job.r2_filter),
        "status" => q.bind(job.status.as_str()),
        "progress" => q.bind(job.progress),
        "phase" => q.bind(job.phase.as_str()),
        "external_job_id" => q.bind(job.external_job_id.clone()),
        "remote_code" => q.bind(job.remote_code),
        "remote_state" => q.bind(job.remote_state.clone()),
        "remote_position" => q.bind(job.remote_position),
        "current_step" => q.bind(job.current_step.clone()),
        "remote_observed_at" => q.bind(job.remote_observed_at),
        "error_message" => q.bind(job.error_message.clone()),
        "error_reason" => q.bind(job.error_reason.map_or("", FailureReason::as_str)),
        "error_action" => q.bind(job.error_action.as_str()),
        "error_action_url" => q.bind(job.error_action_url.clone()),
        "input_file_id" => q.bind(job.input_file_id.clone()),
        "input_summary" => q.bind(job.input_summary.clone()),
        "secret_key_id" => q.bind(sealed.map(|s| s.key_id.clone()).unwrap_or_default()),
        "secret_nonce" => q.bind(sealed.map(|s| s.nonce.clone())),
        "secret_sealed" => q.bind(sealed.map(|s| s.ciphertext.clone())),
        "submit_started_at" => q.bind(job.submit_started_at),
        "attempts" => q.bind(job.attempts),
        "next_poll_at" => q.bind(job.next_poll_at),
        "poll_failures" => q.bind(job.poll_failures),
        "log_cursor" => q.bind(job.log_cursor),
        "created_at" => q.bind(job.created_at),
        "updated_at" => q.bind(job.updated_at),
        "started_at" => q.bind(job.started_at),
        "completed_at" => q.bind(job.completed_at),
        "cancel_requested_at" => q.bind(job.cancel_requested_at),
        "cancel_sent_at" => q.bind(job.cancel_sent_at),
        "cancel_polls" => q.bind(job.cancel_polls),
        "results_expire_at" => q.bind(job.results_expire_at),
        other => unreachable!("unknown jobs column {other}"),
    };
}

/// Sort key of chromosome names: 1..22, X, Y, MT, then the rest by name.
pub fn chromosome_order(name: &str) -> (u32, String) {
    let bare = name.strip_prefix("chr").unwrap_or(name);
    match bare.parse::<u32>() {
        Ok(n) => (n, String::new()),
        Err(_) => match bare {
            "X" => (23, String::new()),
            "Y" => (24, String::new()),
            "M" | "MT" => (25, String::new()),
            other => (100, other.to_string()),
        },
    }
}
