//! `/api/v2/jobs` (`JobController`): list, details and status (each a poll
//! that advances the job), cancel (a GET), restart, delete.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::auth::{self, Accepts, Caller};
use super::super::reply::Refusal;
use super::super::state::{self as model, Phase, job_state};
use super::super::{Shared, lifecycle, now_millis, render, reply};

/// Cloudgene's `DEFAULT_PAGE_SIZE`.
const PAGE_SIZE: usize = 15;

/// Authenticates, then refuses during maintenance (`blockInMaintenanceMode`).
fn caller(state: &model::State, headers: &HeaderMap, accepts: Accepts) -> Result<Caller, Refusal> {
    let caller = auth::require(state, headers, accepts, now_millis())?;
    if state.config.maintenance && !caller.admin {
        return Err(Refusal::Message(
            StatusCode::SERVICE_UNAVAILABLE,
            "This functionality is currently under maintenance.".to_owned(),
        ));
    }
    Ok(caller)
}

/// `JobService.getByIdAndUser`: 404 for an unknown job, 403 for another user's.
fn owned(state: &model::State, caller: &Caller, id: &str) -> Result<usize, Refusal> {
    let Some(index) = state.jobs.iter().position(|job| job.id == id) else {
        return Err(Refusal::Message(
            StatusCode::NOT_FOUND,
            format!("Job {id} not found."),
        ));
    };
    if !caller.admin && state.jobs[index].username != caller.username {
        return Err(Refusal::Message(
            StatusCode::FORBIDDEN,
            "Access denied.".to_owned(),
        ));
    }
    Ok(index)
}

pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.lock();
    let caller = match caller(&state, &headers, Accepts::AllTokens) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let page = match query.get("page").map(|page| page.trim().parse::<i64>()) {
        None => None,
        Some(Ok(page)) => Some(page),
        Some(Err(_)) => {
            return reply::error(
                StatusCode::BAD_REQUEST,
                format!(
                    "Failed to convert argument [page] for value [{}]",
                    query["page"]
                ),
            );
        }
    };
    let now = now_millis();
    // Newest first, as the job DAO orders them.
    let mine: Vec<&model::Job> = state
        .jobs
        .iter()
        .rev()
        .filter(|job| job.username == caller.username && job.state != job_state::DELETED)
        .collect();
    let count = mine.len();
    let (page, page_size, selected): (usize, usize, Vec<&model::Job>) = match page {
        Some(page) => {
            let page = page.max(1) as usize;
            let selected = mine
                .into_iter()
                .skip((page - 1) * PAGE_SIZE)
                .take(PAGE_SIZE)
                .collect();
            (page, PAGE_SIZE, selected)
        }
        None => (1, count, mine),
    };
    let data = selected
        .into_iter()
        .map(|job| {
            // Finished jobs come from the database, without steps or outputs.
            let running = job.phase != Phase::Finished;
            render::job(&state, job, caller.admin, running, now)
        })
        .collect();
    reply::ok(render::page(page, page_size, count, data))
}

/// `GET /api/v2/jobs/{id}` and `/status`: one poll, then the job.
pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut state = shared.lock();
    let caller = match caller(&state, &headers, Accepts::AllTokens) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let index = match owned(&state, &caller, &id) {
        Ok(index) => index,
        Err(refusal) => return refusal.into_response(),
    };
    let now = now_millis();
    lifecycle::poll(&mut state, index, now);
    reply::ok(render::job(
        &state,
        &state.jobs[index],
        caller.admin,
        true,
        now,
    ))
}

/// `GET /api/v2/jobs/{id}/cancel`.
pub(crate) async fn cancel(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut state = shared.lock();
    let caller = match caller(&state, &headers, Accepts::AllTokens) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let index = match owned(&state, &caller, &id) {
        Ok(index) => index,
        Err(refusal) => return refusal.into_response(),
    };
    let now = now_millis();
    lifecycle::cancel(&mut state.jobs[index], now);
    reply::ok(render::job(
        &state,
        &state.jobs[index],
        caller.admin,
        true,
        now,
    ))
}

/// `GET /api/v2/jobs/{id}/restart`: only a DEAD job.
pub(crate) async fn restart(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut state = shared.lock();
    let caller = match caller(&state, &headers, Accepts::AllTokens) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let index = match owned(&state, &caller, &id) {
        Ok(index) => index,
        Err(refusal) => return refusal.into_response(),
    };
    if state.jobs[index].state != job_state::DEAD {
        return reply::error(StatusCode::BAD_REQUEST, format!("Job {id} is not pending."));
    }
    lifecycle::restart(&mut state.jobs[index]);
    reply::ok(json!({
        "success": true,
        "message": "Your job was successfully added to the job queue.",
        "type": 0,
        "time": 0,
    }))
}

/// `DELETE /api/v2/jobs/{id}`: web-login tokens only; state 10, files gone.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut state = shared.lock();
    let caller = match caller(&state, &headers, Accepts::AccessTokens) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    let index = match owned(&state, &caller, &id) {
        Ok(index) => index,
        Err(refusal) => return refusal.into_response(),
    };
    let now = now_millis();
    let job = &mut state.jobs[index];
    job.state = job_state::DELETED;
    job.phase = Phase::Finished;
    let hashes: Vec<String> = job
        .output
        .iter()
        .flat_map(|output| output.files.iter().map(|file| file.hash.clone()))
        .collect();
    for hash in hashes {
        state.downloads.remove(&hash);
    }
    reply::ok(render::job(
        &state,
        &state.jobs[index],
        caller.admin,
        true,
        now,
    ))
}
