//! Result downloads (`DownloadController`): anonymous, the hash is the
//! capability, each file has a download budget.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;

use super::super::state::job_state;
use super::super::{Shared, reply};

/// `GET /share/results/{hash}/{filename}`; the file name is not checked.
pub(crate) async fn share(
    State(shared): State<Arc<Shared>>,
    Path((hash, _filename)): Path<(String, String)>,
) -> Response {
    serve(&shared, &hash, None)
}

/// `GET /downloads/{jobId}/{hash}/{filename}`.
pub(crate) async fn job_download(
    State(shared): State<Arc<Shared>>,
    Path((job, hash, _filename)): Path<(String, String, String)>,
) -> Response {
    serve(&shared, &hash, Some(&job))
}

fn serve(shared: &Shared, hash: &str, job_id: Option<&str>) -> Response {
    let mut state = shared.lock();
    if let Some(id) = job_id
        && state.job(id).is_none()
    {
        return reply::error(StatusCode::NOT_FOUND, format!("Job {id} not found."));
    }
    let Some(owner) = state.downloads.get(hash).cloned() else {
        return reply::error(StatusCode::NOT_FOUND, "download not found.");
    };
    let Some(job) = state.job_mut(&owner) else {
        return reply::error(StatusCode::NOT_FOUND, "download not found.");
    };
    let gone = matches!(job.state, job_state::RETIRED | job_state::DELETED);
    let Some(file) = job
        .output
        .as_mut()
        .and_then(|output| output.files.iter_mut().find(|file| file.hash == hash))
    else {
        return reply::error(StatusCode::NOT_FOUND, "download not found.");
    };
    if file.count == 0 {
        return reply::error(StatusCode::BAD_REQUEST, "number of max downloads exceeded.");
    }
    if file.count != -1 {
        file.count -= 1;
    }
    if gone {
        // The record is still there, the file on disk is not.
        return reply::refused(StatusCode::NOT_FOUND);
    }
    let leaf = file
        .name
        .rsplit('/')
        .next()
        .unwrap_or(&file.name)
        .to_owned();
    let content_type = match leaf.rsplit('.').next() {
        Some("zip") => "application/zip",
        Some("txt") => "text/plain",
        Some("html") => "text/html",
        Some("gz") => "application/gzip",
        _ => "application/octet-stream",
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{leaf}\""),
        )
        .body(Body::from(file.bytes.as_ref().clone()))
        .expect("static response")
}
