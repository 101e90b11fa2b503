//! The `services` and `service_builds` tables.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::builder::Sql;
use super::codec::{self, flag, narrow};
use super::write_error;
use crate::model::{
    ApiSettings, ApiType, GenomeBuild, HealthState, HealthStatus, InputFormat, MichiganSettings,
    Phasing, Service, ServiceSpec, WesSettings,
};
use crate::store::{ServiceCursor, ServiceFilter, StoreError, StoreResult};

const COLUMNS: &str = "s.id, s.name, s.slug, s.api_type, s.base_url, s.description, \
    s.location_country, s.location_institution, s.input_formats, s.supported_phasing, \
    s.max_file_size_bytes, s.is_active, s.auth_instructions_url, s.michigan_app_id, \
    s.michigan_aes_encryption, s.michigan_max_concurrent_jobs, s.michigan_r2_filter_values, \
    s.wes_default_workflow, s.wes_supported_versions, s.wes_workflow_type_versions, \
    s.health_status, s.last_health_check_at, s.health_error, s.response_time_ms, \
    s.consecutive_failures, s.failing_since, s.last_available_at, s.health_available, \
    s.created_at, s.updated_at, \
    (SELECT COUNT(*) FROM reference_panels p WHERE p.service_id = s.id AND p.is_active = 1) \
    AS panel_count";

/// The stored form of the writable fields, in column order.
struct Columns {
    input_formats: String,
    supported_phasing: String,
    michigan: MichiganSettings,
    wes_default_workflow: Option<String>,
    wes_supported_versions: String,
    wes_workflow_type_versions: String,
}

impl Columns {
    fn of(spec: &ServiceSpec) -> Self {
        let (michigan, wes) = match &spec.settings {
            ApiSettings::Michigan(m) => (m.clone(), WesSettings::default()),
            ApiSettings::Wes(w) => (
                MichiganSettings {
                    app_id: String::new(),
                    ..MichiganSettings::default()
                },
                w.clone(),
            ),
        };
        Self {
            input_formats: codec::names(&spec.input_formats, InputFormat::as_str),
            supported_phasing: codec::names(&spec.supported_phasing, Phasing::as_str),
            michigan,
            wes_default_workflow: codec::workflow(wes.default_workflow.as_ref()),
            wes_supported_versions: codec::strings(&wes.supported_wes_versions),
            wes_workflow_type_versions: codec::strings(&wes.workflow_type_versions),
        }
    }
}

pub(super) async fn insert(
    conn: &mut AnyConnection,
    spec: &ServiceSpec,
    now: i64,
) -> StoreResult<i64> {
    let c = Columns::of(spec);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO services (name, slug, api_type, base_url, description, location_country, \
         location_institution, input_formats, supported_phasing, max_file_size_bytes, is_active, \
         auth_instructions_url, michigan_app_id, michigan_aes_encryption, \
         michigan_max_concurrent_jobs, michigan_r2_filter_values, wes_default_workflow, \
         wes_supported_versions, wes_workflow_type_versions, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $20) RETURNING id",
    )
    .bind(&spec.name)
    .bind(&spec.slug)
    .bind(spec.api_type.as_str())
    .bind(&spec.base_url)
    .bind(&spec.description)
    .bind(&spec.location_country)
    .bind(&spec.location_institution)
    .bind(&c.input_formats)
    .bind(&c.supported_phasing)
    .bind(spec.max_file_size_bytes)
    .bind(flag(spec.is_active))
    .bind(&spec.auth_instructions_url)
    .bind(&c.michigan.app_id)
    .bind(flag(c.michigan.aes_encryption))
    .bind(i64::from(c.michigan.max_concurrent_jobs_per_user))
    .bind(codec::numbers(&c.michigan.r2_filter_values))
    .bind(c.wes_default_workflow)
    .bind(&c.wes_supported_versions)
    .bind(&c.wes_workflow_type_versions)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| write_error(e, "slug", "service"))?;
    write_builds(conn, id, &spec.supported_builds).await?;
    Ok(id)
}

pub(super) async fn update(
    conn: &mut AnyConnection,
    id: i64,
    spec: &ServiceSpec,
    now: i64,
) -> StoreResult<bool> {
    let c = Columns::of(spec);
    let done = sqlx::query(
        "UPDATE services SET name = $2, slug = $3, base_url = $4, description = $5, \
         location_country = $6, location_institution = $7, input_formats = $8, \
         supported_phasing = $9, max_file_size_bytes = $10, is_active = $11, \
         auth_instructions_url = $12, michigan_app_id = $13, michigan_aes_encryption = $14, \
         michigan_max_concurrent_jobs = $15, michigan_r2_filter_values = $16, \
         wes_default_workflow = $17, wes_supported_versions = $18, \
         wes_workflow_type_versions = $19, updated_at = $20 WHERE id = $1",
    )
    .bind(id)
    .bind(&spec.name)
    .bind(&spec.slug)
    .bind(&spec.base_url)
    .bind(&spec.description)
    .bind(&spec.location_country)
    .bind(&spec.location_institution)
    .bind(&c.input_formats)
    .bind(&c.supported_phasing)
    .bind(spec.max_file_size_bytes)
    .bind(flag(spec.is_active))
    .bind(&spec.auth_instructions_url)
    .bind(&c.michigan.app_id)
    .bind(flag(c.michigan.aes_encryption))
    .bind(i64::from(c.michigan.max_concurrent_jobs_per_user))
    .bind(codec::numbers(&c.michigan.r2_filter_values))
    .bind(c.wes_default_workflow)
    .bind(&c.wes_supported_versions)
    .bind(&c.wes_workflow_type_versions)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| write_error(e, "slug", "service"))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM service_builds WHERE service_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    write_builds(conn, id, &spec.supported_builds).await?;
    Ok(true)
}

async fn write_builds(
    conn: &mut AnyConnection,
    service_id: i64,
    builds: &[GenomeBuild],
) -> StoreResult<()> {
    for (position, build) in builds.iter().enumerate() {
        sqlx::query("INSERT INTO service_builds (service_id, position, build) VALUES ($1, $2, $3)")
            .bind(service_id)
            .bind(position as i64)
            .bind(build.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(e, "supported_builds", "service"))?;
    }
    Ok(())
}

pub(super) async fn get(conn: &mut AnyConnection, id: i64) -> StoreResult<Option<Service>> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM services s WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(with_builds(conn, vec![row]).await?.pop()),
    }
}

pub(super) async fn list(
    conn: &mut AnyConnection,
    filter: &ServiceFilter,
    after: Option<&ServiceCursor>,
    limit: usize,
) -> StoreResult<Vec<Service>> {
    let mut sql = Sql::new(format!("SELECT {COLUMNS} FROM services s WHERE 1 = 1"));
    if let Some(api_type) = filter.api_type {
        sql.push(" AND s.api_type = ").bind(api_type.as_str());
    }
    if let Some(build) = filter.build {
        sql.push(
            " AND EXISTS (SELECT 1 FROM service_builds b WHERE b.service_id = s.id AND b.build = ",
        )
        .bind(build.as_str())
        .push(")");
    }
    if filter.available_only {
        sql.push(" AND s.is_active = 1 AND s.health_available = 1");
    }
    if !filter.include_inactive {
        sql.push(" AND s.is_active = 1");
    }
    if let Some(cursor) = after {
        sql.push(" AND (s.name > ")
            .bind(cursor.name.clone())
            .push(" OR (s.name = ")
            .bind(cursor.name.clone())
            .push(" AND s.id > ")
            .bind(cursor.id)
            .push("))");
    }
    sql.push(" ORDER BY s.name, s.id LIMIT ").bind(limit as i64);
    let (text, args) = sql.build();
    let rows = sqlx::query_with(&text, args).fetch_all(&mut *conn).await?;
    with_builds(conn, rows).await
}

/// Decodes service rows, reading their builds in one more query.
async fn with_builds(conn: &mut AnyConnection, rows: Vec<AnyRow>) -> StoreResult<Vec<Service>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = rows
        .iter()
        .map(|r| r.try_get::<i64, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sql = Sql::new("SELECT service_id, build FROM service_builds WHERE service_id IN (");
    sql.bind_all(ids).push(") ORDER BY service_id, position");
    let (text, args) = sql.build();
    let mut builds: HashMap<i64, Vec<GenomeBuild>> = HashMap::new();
    for row in sqlx::query_with(&text, args).fetch_all(&mut *conn).await? {
        let build: String = row.try_get("build")?;
        builds
            .entry(row.try_get("service_id")?)
            .or_default()
            .push(codec::parse(&build, GenomeBuild::parse)?);
    }
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            decode(row, builds.remove(&id).unwrap_or_default()).map_err(StoreError::Backend)
        })
        .collect()
}

fn decode(row: &AnyRow, supported_builds: Vec<GenomeBuild>) -> anyhow::Result<Service> {
    let api_type = codec::parse(&row.try_get::<String, _>("api_type")?, ApiType::parse)?;
    let settings = match api_type {
        ApiType::Michigan => ApiSettings::Michigan(MichiganSettings {
            app_id: row.try_get("michigan_app_id")?,
            aes_encryption: row.try_get::<i64, _>("michigan_aes_encryption")? != 0,
            max_concurrent_jobs_per_user: narrow(row.try_get("michigan_max_concurrent_jobs")?),
            r2_filter_values: codec::parse_numbers(
                &row.try_get::<String, _>("michigan_r2_filter_values")?,
            )?,
        }),
        ApiType::Ga4ghWes => ApiSettings::Wes(WesSettings {
            default_workflow: codec::parse_workflow(row.try_get("wes_default_workflow")?)?,
            supported_wes_versions: codec::parse_strings(
                &row.try_get::<String, _>("wes_supported_versions")?,
            )?,
            workflow_type_versions: codec::parse_strings(
                &row.try_get::<String, _>("wes_workflow_type_versions")?,
            )?,
        }),
    };
    Ok(Service {
        id: row.try_get("id")?,
        spec: ServiceSpec {
            name: row.try_get("name")?,
            slug: row.try_get("slug")?,
            api_type,
            base_url: row.try_get("base_url")?,
            description: row.try_get("description")?,
            location_country: row.try_get("location_country")?,
            location_institution: row.try_get("location_institution")?,
            supported_builds,
            input_formats: codec::parse_names(
                &row.try_get::<String, _>("input_formats")?,
                InputFormat::parse,
            )?,
            supported_phasing: codec::parse_names(
                &row.try_get::<String, _>("supported_phasing")?,
                Phasing::parse,
            )?,
            max_file_size_bytes: row.try_get("max_file_size_bytes")?,
            is_active: row.try_get::<i64, _>("is_active")? != 0,
            auth_instructions_url: row.try_get("auth_instructions_url")?,
            settings,
        },
        health: HealthState {
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
        },
        reference_panel_count: narrow(row.try_get("panel_count")?),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
