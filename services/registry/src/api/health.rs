//! `GetServiceHealth`, `CheckServiceHealth`, `ListHealthChecks`.

use fip_kit::Violations;
use fip_kit::db::millis;
use fip_kit::paging::{self, Listing};
use fip_proto::registry::v1 as pb;
use tonic::{Request, Response, Status};

use super::{access, convert, errors};
use crate::domain::Registry;
use crate::model::{HealthCheck, ServiceHealth};
use crate::store::{CheckCursor, CheckFilter};

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

pub async fn get(
    registry: &Registry,
    request: Request<pb::GetServiceHealthRequest>,
) -> Result<Response<pb::GetServiceHealthResponse>, Status> {
    let privileged = access::reader(&request)?;
    let pb::GetServiceHealthRequest { id } = request.into_inner();
    let mut v = Violations::new();
    v.id("id", id);
    v.finish()?;
    let health = registry
        .service_health(id, privileged)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::GetServiceHealthResponse {
        health: Some(health_out(&health)),
    }))
}

pub async fn check(
    registry: &Registry,
    request: Request<pb::CheckServiceHealthRequest>,
) -> Result<Response<pb::CheckServiceHealthResponse>, Status> {
    access::writer(&request)?;
    let pb::CheckServiceHealthRequest { id } = request.into_inner();
    let mut v = Violations::new();
    v.id("id", id);
    v.finish()?;
    let check = registry.check_now(id).await.map_err(errors::status)?;
    Ok(Response::new(pb::CheckServiceHealthResponse {
        health_check: Some(check_out(&check)),
    }))
}

pub async fn list(
    registry: &Registry,
    request: Request<pb::ListHealthChecksRequest>,
) -> Result<Response<pb::ListHealthChecksResponse>, Status> {
    let privileged = access::reader(&request)?;
    let pb::ListHealthChecksRequest {
        service_id,
        page_size,
        page_token,
        checked_after,
        checked_before,
        status,
    } = request.into_inner();
    let mut v = Violations::new();
    v.id("service_id", service_id);
    let limit =
        paging::checked_page_size_within(&mut v, page_size, DEFAULT_PAGE, MAX_PAGE) as usize;
    let filter = CheckFilter {
        service_id,
        checked_after: checked_after.as_ref().map(millis),
        checked_before: checked_before.as_ref().map(millis),
        status: convert::health_in(&mut v, "status", status),
    };
    if let (Some(after), Some(before)) = (filter.checked_after, filter.checked_before)
        && after >= before
    {
        v.add("checked_before", "must be later than checked_after");
    }
    let listing = Listing::new("health_checks")
        .filter("service_id", service_id)
        .filter("checked_after", filter.checked_after)
        .filter("checked_before", filter.checked_before)
        .filter("status", status);
    let after = paging::decode::<(i64, i64)>(&mut v, &page_token, &listing)
        .map(|(checked_at, id)| CheckCursor { checked_at, id });
    v.finish()?;
    let page = registry
        .list_checks(&filter, after.as_ref(), limit, privileged)
        .await
        .map_err(errors::status)?;
    Ok(Response::new(pb::ListHealthChecksResponse {
        health_checks: page.items.iter().map(check_out).collect(),
        next_page_token: page
            .next
            .map(|c| paging::encode(&listing, (c.checked_at, c.id)))
            .unwrap_or_default(),
    }))
}

pub fn check_out(check: &HealthCheck) -> pb::HealthCheck {
    pb::HealthCheck {
        id: check.id,
        service_id: check.service_id,
        status: convert::health_out(check.status),
        response_time_ms: check.response_time_ms,
        http_status: check.http_status,
        error: check.error.clone(),
        checked_at: convert::time(check.checked_at),
        trigger: convert::trigger_out(check.trigger),
    }
}

fn health_out(health: &ServiceHealth) -> pb::ServiceHealth {
    pb::ServiceHealth {
        service_id: health.service_id,
        status: convert::health_out(health.status),
        is_available: health.is_available,
        last_check: health.last_check.as_ref().map(check_out),
        consecutive_failures: health.consecutive_failures,
        last_available_at: convert::optional_time(health.last_available_at),
        availability_24h: health.availability_24h,
    }
}
