//! The `health_checks` table and the health columns of `services`.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::builder::Sql;
use super::codec::{self, flag, narrow};
use super::write_error;
use crate::model::{
    CheckTrigger, HealthCheck, HealthState, HealthStatus, NewHealthCheck, WesServerInfo,
};
use crate::store::{CheckCursor, CheckFilter, Claim, NextHealth, StoreError, StoreResult};

const CHECK_COLUMNS: &str =
    "id, service_id, status, response_time_ms, http_status, error, checked_at, trigger_kind";

#[allow(clippy::too_many_arguments)]
pub(super) async fn record(
    conn: &mut AnyConnection,
    postgres: bool,
    service_id: i64,
    check: &NewHealthCheck,
    next: NextHealth<'_>,
    wes_info: Option<&WesServerInfo>,
    keep: u32,
    keep_since: i64,
) -> StoreResult<HealthCheck> {
    // The insert comes first: on SQLite it takes the write lock before the
    // service's health is read, so concurrent checks of one service queue up.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO health_checks (service_id, status, response_time_ms, http_status, error, \
         checked_at, trigger_kind) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(service_id)
    .bind(check.status.as_str())
    .bind(i64::from(check.response_time_ms))
    .bind(i64::from(check.http_status))
    .bind(&check.error)
    .bind(check.checked_at)
    .bind(check.trigger.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| write_error(e, "health_check", "service"))?;

    let lock = if postgres { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT health_status, last_health_check_at, health_error, response_time_ms, \
         consecutive_failures, failing_since, last_available_at, health_available \
         FROM services WHERE id = $1{lock}"
    ))
    .bind(service_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::Missing("service"))?;
    let state = next(&decode_state(&row)?);

    sqlx::query(
        "UPDATE services SET health_status = $2, last_health_check_at = $3, health_error = $4, \
         response_time_ms = $5, consecutive_failures = $6, failing_since = $7, \
         last_available_at = $8, health_available = $9 WHERE id = $1",
    )
    .bind(service_id)
    .bind(state.status.as_str())
    .bind(state.last_check_at)
    .bind(&state.error)
    .bind(i64::from(state.response_time_ms))
    .bind(i64::from(state.consecutive_failures))
    .bind(state.failing_since)
    .bind(state.last_available_at)
    .bind(flag(state.available))
    .execute(&mut *conn)
    .await?;

    if let Some(info) = wes_info {
        sqlx::query(
            "UPDATE services SET wes_supported_versions = $2, wes_workflow_type_versions = $3 \
             WHERE id = $1 AND api_type = 'ga4gh_wes'",
        )
        .bind(service_id)
        .bind(codec::strings(&info.supported_wes_versions))
        .bind(codec::strings(&info.workflow_type_versions))
        .execute(&mut *conn)
        .await?;
    }

    sqlx::query(
        "DELETE FROM health_checks WHERE service_id = $1 AND (checked_at < $2 OR id NOT IN \
         (SELECT id FROM health_checks WHERE service_id = $1 \
         ORDER BY checked_at DESC, id DESC LIMIT $3))",
    )
    .bind(service_id)
    .bind(keep_since)
    .bind(i64::from(keep.max(1)))
    .execute(&mut *conn)
    .await?;

    Ok(HealthCheck {
        id,
        service_id,
        status: check.status,
        response_time_ms: check.response_time_ms,
        http_status: check.http_status,
        error: check.error.clone(),
        checked_at: check.checked_at,
        trigger: check.trigger,
    })
}

fn decode_state(row: &AnyRow) -> anyhow::Result<HealthState> {
    Ok(HealthState {
        status: codec::parse(
            &row.try_get::<String, _>("health_status")?,
            HealthStatus::parse,
        )?,
        last_check_at: row.try_get("last_health_check_at")?,
        error: row.try_get("health_error")?,
        response_time_ms: narrow(row.try_get("response_time_ms")?),
        consecutive_failures: narrow(row.try_get("consecutive_failures")?),
        failing_since: row.try_get("failing_since")?,
        last_available_at: row.try_get("last_available_at")?,
        available: row.try_get::<i64, _>("health_available")? != 0,
    })
}

pub(super) async fn list(
    conn: &mut AnyConnection,
    filter: &CheckFilter,
    after: Option<&CheckCursor>,
    limit: usize,
) -> StoreResult<Vec<HealthCheck>> {
    let mut sql = Sql::new(format!(
        "SELECT {CHECK_COLUMNS} FROM health_checks WHERE service_id = "
    ));
    sql.bind(filter.service_id);
    if let Some(since) = filter.checked_after {
        sql.push(" AND checked_at >= ").bind(since);
    }
    if let Some(until) = filter.checked_before {
        sql.push(" AND checked_at < ").bind(until);
    }
    if let Some(status) = filter.status {
        sql.push(" AND status = ").bind(status.as_str());
    }
    if let Some(cursor) = after {
        sql.push(" AND (checked_at < ")
            .bind(cursor.checked_at)
            .push(" OR (checked_at = ")
            .bind(cursor.checked_at)
            .push(" AND id < ")
            .bind(cursor.id)
            .push("))");
    }
    sql.push(" ORDER BY checked_at DESC, id DESC LIMIT ")
        .bind(limit as i64);
    let (text, args) = sql.build();
    sqlx::query_with(&text, args)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| decode_check(row).map_err(StoreError::Backend))
        .collect()
}

fn decode_check(row: &AnyRow) -> anyhow::Result<HealthCheck> {
    Ok(HealthCheck {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        status: codec::parse(&row.try_get::<String, _>("status")?, HealthStatus::parse)?,
        response_time_ms: narrow(row.try_get("response_time_ms")?),
        http_status: narrow(row.try_get("http_status")?),
        error: row.try_get("error")?,
        checked_at: row.try_get("checked_at")?,
        trigger: codec::parse(
            &row.try_get::<String, _>("trigger_kind")?,
            CheckTrigger::parse,
        )?,
    })
}

pub(super) async fn counts(
    conn: &mut AnyConnection,
    service_id: i64,
    since: i64,
) -> StoreResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS total, \
         COUNT(CASE WHEN status IN ('healthy', 'degraded') THEN 1 END) AS up \
         FROM health_checks WHERE service_id = $1 AND checked_at >= $2",
    )
    .bind(service_id)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    Ok((row.try_get("total")?, row.try_get("up")?))
}

pub(super) async fn claim_on_demand(
    conn: &mut AnyConnection,
    service_id: i64,
    now: i64,
    min_gap_ms: i64,
) -> StoreResult<Claim> {
    let done = sqlx::query(
        "UPDATE services SET last_on_demand_check_at = $2 WHERE id = $1 \
         AND (last_on_demand_check_at IS NULL OR last_on_demand_check_at <= $3)",
    )
    .bind(service_id)
    .bind(now)
    .bind(now - min_gap_ms)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        return Ok(Claim::Granted);
    }
    let last: Option<Option<i64>> =
        sqlx::query_scalar("SELECT last_on_demand_check_at FROM services WHERE id = $1")
            .bind(service_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match last {
        None => Claim::NoSuchService,
        Some(last_at) => Claim::TooSoon {
            last_at: last_at.unwrap_or(now),
        },
    })
}
