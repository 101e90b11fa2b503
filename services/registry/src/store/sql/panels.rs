//! The `reference_panels` and `panel_populations` tables.

use std::collections::HashMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::builder::Sql;
use super::codec::{self, flag};
use super::write_error;
use crate::model::{GenomeBuild, Panel, PanelSource, PanelSpec, Population};
use crate::store::{PanelCursor, PanelFilter, StoreError, StoreResult, SyncApplied, SyncChanges};

const COLUMNS: &str = "p.id, p.service_id, p.slug, p.name, p.description, p.build, \
    p.default_population, p.sample_count, p.variant_count, p.is_active, p.version, p.source, \
    p.last_synced_at, p.wes_workflow, p.created_at, p.updated_at";

pub(super) async fn insert(
    conn: &mut AnyConnection,
    service_id: i64,
    spec: &PanelSpec,
    source: PanelSource,
    now: i64,
) -> StoreResult<i64> {
    let synced_at = (source == PanelSource::Discovered).then_some(now);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO reference_panels (service_id, slug, name, description, build, \
         default_population, sample_count, variant_count, is_active, version, source, \
         last_synced_at, wes_workflow, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
    )
    .bind(service_id)
    .bind(&spec.slug)
    .bind(&spec.name)
    .bind(&spec.description)
    .bind(spec.build.as_str())
    .bind(&spec.default_population)
    .bind(spec.sample_count)
    .bind(spec.variant_count)
    .bind(flag(spec.is_active))
    .bind(&spec.version)
    .bind(source.as_str())
    .bind(synced_at)
    .bind(codec::workflow(spec.wes_workflow.as_ref()))
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| write_error(e, "slug", "service"))?;
    write_populations(conn, id, &spec.populations).await?;
    Ok(id)
}

pub(super) async fn update(
    conn: &mut AnyConnection,
    id: i64,
    spec: &PanelSpec,
    now: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE reference_panels SET slug = $2, name = $3, description = $4, build = $5, \
         default_population = $6, sample_count = $7, variant_count = $8, is_active = $9, \
         version = $10, wes_workflow = $11, updated_at = $12 WHERE id = $1",
    )
    .bind(id)
    .bind(&spec.slug)
    .bind(&spec.name)
    .bind(&spec.description)
    .bind(spec.build.as_str())
    .bind(&spec.default_population)
    .bind(spec.sample_count)
    .bind(spec.variant_count)
    .bind(flag(spec.is_active))
    .bind(&spec.version)
    .bind(codec::workflow(spec.wes_workflow.as_ref()))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| write_error(e, "slug", "panel"))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM panel_populations WHERE panel_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    write_populations(conn, id, &spec.populations).await?;
    Ok(true)
}

async fn write_populations(
    conn: &mut AnyConnection,
    panel_id: i64,
    populations: &[Population],
) -> StoreResult<()> {
    for (position, population) in populations.iter().enumerate() {
        sqlx::query(
            "INSERT INTO panel_populations (panel_id, position, population_id, name, \
             sample_count) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(panel_id)
        .bind(position as i64)
        .bind(&population.id)
        .bind(&population.name)
        .bind(population.sample_count)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub(super) async fn get(conn: &mut AnyConnection, id: i64) -> StoreResult<Option<Panel>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reference_panels p WHERE p.id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(with_populations(conn, vec![row]).await?.pop()),
    }
}

pub(super) async fn list(
    conn: &mut AnyConnection,
    filter: &PanelFilter,
    after: Option<&PanelCursor>,
    limit: usize,
) -> StoreResult<Vec<Panel>> {
    let mut sql = Sql::new(format!(
        "SELECT {COLUMNS} FROM reference_panels p JOIN services s ON s.id = p.service_id \
         WHERE 1 = 1"
    ));
    if let Some(service_id) = filter.service_id {
        sql.push(" AND p.service_id = ").bind(service_id);
    }
    if let Some(build) = filter.build {
        sql.push(" AND p.build = ").bind(build.as_str());
    }
    if !filter.include_inactive {
        sql.push(" AND p.is_active = 1 AND s.is_active = 1");
    }
    if let Some(cursor) = after {
        sql.push(" AND (p.service_id > ")
            .bind(cursor.service_id)
            .push(" OR (p.service_id = ")
            .bind(cursor.service_id)
            .push(" AND (p.name > ")
            .bind(cursor.name.clone())
            .push(" OR (p.name = ")
            .bind(cursor.name.clone())
            .push(" AND p.id > ")
            .bind(cursor.id)
            .push("))))");
    }
    sql.push(" ORDER BY p.service_id, p.name, p.id LIMIT ")
        .bind(limit as i64);
    let (text, args) = sql.build();
    let rows = sqlx::query_with(&text, args).fetch_all(&mut *conn).await?;
    with_populations(conn, rows).await
}

pub(super) async fn of_service(
    conn: &mut AnyConnection,
    service_id: i64,
) -> StoreResult<Vec<Panel>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM reference_panels p WHERE p.service_id = $1 ORDER BY p.name, p.id"
    ))
    .bind(service_id)
    .fetch_all(&mut *conn)
    .await?;
    with_populations(conn, rows).await
}

pub(super) async fn apply_sync(
    conn: &mut AnyConnection,
    service_id: i64,
    changes: &SyncChanges,
    now: i64,
) -> StoreResult<SyncApplied> {
    let mut added = Vec::new();
    for spec in &changes.add {
        added.push(insert(conn, service_id, spec, PanelSource::Discovered, now).await?);
    }
    let mut updated = Vec::new();
    for (id, spec) in &changes.update {
        if !update(conn, *id, spec, now).await? {
            return Err(StoreError::Missing("panel"));
        }
        updated.push(*id);
    }
    for id in &changes.deactivate {
        sqlx::query(
            "UPDATE reference_panels SET is_active = 0, updated_at = $3 \
             WHERE id = $1 AND service_id = $2",
        )
        .bind(*id)
        .bind(service_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let seen: Vec<i64> = updated.iter().chain(&changes.touch).copied().collect();
    if !seen.is_empty() {
        let mut sql = Sql::new("UPDATE reference_panels SET last_synced_at = ");
        sql.bind(now)
            .push(" WHERE service_id = ")
            .bind(service_id)
            .push(" AND id IN (")
            .bind_all(seen)
            .push(")");
        let (text, args) = sql.build();
        sqlx::query_with(&text, args).execute(&mut *conn).await?;
    }
    Ok(SyncApplied {
        added: by_ids(conn, &added).await?,
        updated: by_ids(conn, &updated).await?,
        deactivated: by_ids(conn, &changes.deactivate).await?,
    })
}

async fn by_ids(conn: &mut AnyConnection, ids: &[i64]) -> StoreResult<Vec<Panel>> {
    let mut panels = Vec::with_capacity(ids.len());
    for id in ids {
        panels.push(get(conn, *id).await?.ok_or(StoreError::Missing("panel"))?);
    }
    Ok(panels)
}

/// Decodes panel rows, reading their populations in one more query.
async fn with_populations(conn: &mut AnyConnection, rows: Vec<AnyRow>) -> StoreResult<Vec<Panel>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = rows
        .iter()
        .map(|r| r.try_get::<i64, _>("id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sql = Sql::new(
        "SELECT panel_id, population_id, name, sample_count FROM panel_populations \
         WHERE panel_id IN (",
    );
    sql.bind_all(ids).push(") ORDER BY panel_id, position");
    let (text, args) = sql.build();
    let mut populations: HashMap<i64, Vec<Population>> = HashMap::new();
    for row in sqlx::query_with(&text, args).fetch_all(&mut *conn).await? {
        populations
            .entry(row.try_get("panel_id")?)
            .or_default()
            .push(Population {
                id: row.try_get("population_id")?,
                name: row.try_get("name")?,
                sample_count: row.try_get("sample_count")?,
            });
    }
    rows.iter()
        .map(|row| {
            let id: i64 = row.try_get("id")?;
            decode(row, populations.remove(&id).unwrap_or_default()).map_err(StoreError::Backend)
        })
        .collect()
}

fn decode(row: &AnyRow, populations: Vec<Population>) -> anyhow::Result<Panel> {
    Ok(Panel {
        id: row.try_get("id")?,
        service_id: row.try_get("service_id")?,
        spec: PanelSpec {
            slug: row.try_get("slug")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            build: codec::parse(&row.try_get::<String, _>("build")?, GenomeBuild::parse)?,
            populations,
            default_population: row.try_get("default_population")?,
            sample_count: row.try_get("sample_count")?,
            variant_count: row.try_get("variant_count")?,
            is_active: row.try_get::<i64, _>("is_active")? != 0,
            version: row.try_get("version")?,
            wes_workflow: codec::parse_workflow(row.try_get("wes_workflow")?)?,
        },
        source: codec::parse(&row.try_get::<String, _>("source")?, PanelSource::parse)?,
        last_synced_at: row.try_get("last_synced_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
