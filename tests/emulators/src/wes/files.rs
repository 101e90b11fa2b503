//! Output files over HTTP (`/files/…`) and the DRS 1.x objects API.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::state::{OutputFile, Run, RunState, State};
use super::{Refusal, Shared, caller, error, now_rfc3339};

/// The files of a COMPLETE run.
fn files(run: &Run) -> impl Iterator<Item = &OutputFile> {
    let complete = run.state == RunState::Complete;
    run.products
        .imputed
        .iter()
        .flat_map(|(vcf, tbi)| [vcf, tbi])
        .chain(run.products.info.iter())
        .filter(move |_| complete)
}

/// The presigned URL of a file (what a DRS access call hands out).
fn presigned(state: &State, run: &Run, file: &OutputFile) -> String {
    format!(
        "{}/files/{}/{}?signature={}",
        state.base_url, run.id, file.name, file.signature
    )
}

/// `GET /files/{run}/{name}`.
pub(crate) async fn download(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path((run_id, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let state = shared.lock();
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            format!("File '{name}' of run '{run_id}' not found"),
        )
    };
    let Some(run) = state.run(&run_id) else {
        return not_found();
    };
    let Some(file) = files(run).find(|file| file.name == name) else {
        return not_found();
    };
    let signed = query.get("signature") == Some(&file.signature);
    if !signed && !state.config.anonymous_files {
        match caller(&state, &headers) {
            Err(refusal) => return refusal.into_response(),
            Ok(user) if user != run.user => {
                return error(
                    StatusCode::FORBIDDEN,
                    format!("The requester is not authorized to access run '{run_id}'"),
                );
            }
            Ok(_) => {}
        }
    }
    let bytes = file.bytes.clone();
    let content_type = if name.ends_with(".gz") {
        "application/gzip"
    } else {
        "application/octet-stream"
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from(bytes.as_ref().clone()),
    )
        .into_response()
}

/// The object and its run, if the caller may see it, or the refusal.
fn object<'a>(
    state: &'a State,
    headers: &HeaderMap,
    id: &str,
) -> Result<(&'a Run, &'a OutputFile), Refusal> {
    let user = caller(state, headers)?;
    let found = state.runs.iter().find_map(|run| {
        files(run)
            .find(|file| file.object_id == id)
            .map(|file| (run, file))
    });
    let Some((run, file)) = found else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            format!("The requested DrsObject '{id}' wasn't found"),
        ));
    };
    if run.user != user {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!("The requester is not authorized to access DrsObject '{id}'"),
        ));
    }
    Ok((run, file))
}

/// `GET /ga4gh/drs/v1/objects/{id}`.
pub(crate) async fn drs_object(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let state = shared.lock();
    let (run, file) = match object(&state, &headers, &id) {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let mut method = json!({"type": "http", "access_id": "a1"});
    if state.config.drs_inline_access_url {
        method = json!({"type": "http", "access_url": {"url": presigned(&state, run, file)}});
    }
    let created = run.end_time.clone().unwrap_or_else(now_rfc3339);
    axum::Json(json!({
        "id": file.object_id,
        "name": file.name,
        "self_uri": format!("drs://{}/{}", state.authority, file.object_id),
        "size": file.bytes.len(),
        "created_time": created,
        "mime_type": "application/octet-stream",
        "checksums": [{"type": "sha-256", "checksum": hex::encode(Sha256::digest(file.bytes.as_slice()))}],
        "access_methods": [method],
    }))
    .into_response()
}

/// `GET /ga4gh/drs/v1/objects/{id}/access/{access_id}`.
pub(crate) async fn drs_access(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, access_id)): Path<(String, String)>,
) -> Response {
    let state = shared.lock();
    let (run, file) = match object(&state, &headers, &id) {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    if access_id != "a1" || state.config.drs_inline_access_url {
        return error(
            StatusCode::NOT_FOUND,
            format!("The requested access method '{access_id}' of DrsObject '{id}' wasn't found"),
        );
    }
    axum::Json(json!({"url": presigned(&state, run, file)})).into_response()
}
