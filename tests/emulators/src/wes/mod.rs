//! An emulated GA4GH Workflow Execution Service (WES 1.0/1.1) running
//! cwltool, with a minimal GA4GH DRS 1.x endpoint, for black-box tests of
//! the hub's WES client.
//!
//! It answers as real servers do (the `wes-service` reference server, the
//! GA4GH Starter Kit, Funnel-like quirks): same paths, methods, multipart
//! submit, JSON fields and `{"msg", "status_code"}` errors. Runs advance one
//! step per poll (`GET /runs/{id}` or `/status`), never with the clock, so
//! tests need no sleeps. Every request, accepted submission and input
//! download is recorded for assertions.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn demo() {
//! use fip_emulators::fixtures::VcfSpec;
//! use fip_emulators::wes::{Config, Emulator, OutputLocations};
//!
//! let server = Emulator::start(Config {
//!     output_locations: OutputLocations::Drs,
//!     ..Config::default()
//! })
//! .await;
//! let token = server.issue_token("alice"); // `Authorization: Bearer {token}`
//! let vcf = VcfSpec::new(10, 20).build().bgzf();
//! // POST {wes}/runs, multipart: workflow_params = {"target": [{"class":
//! // "File", "location": "chr20.vcf.gz"}]}, workflow_type = CWL,
//! // workflow_type_version = v1.0, workflow_url = impute.cwl, tags = {},
//! // workflow_attachment parts impute.cwl and chr20.vcf.gz (the vcf bytes);
//! // then GET {wes}/runs/{run_id}/status until COMPLETE (4th poll), read
//! // `outputs.imputed[0].location` from GET {wes}/runs/{run_id}.
//! let wes = server.wes_url(); // {base_url}/ga4gh/wes/v1
//! # let _ = (token, vcf, wes);
//! # }
//! ```
//!
//! # What it does
//!
//! | call | behaviour |
//! |---|---|
//! | `GET /ga4gh/wes/v1/service-info` | `workflow_type_versions {"CWL": {"workflow_type_version": ["v1.0"]}}`, `supported_wes_versions ["1.0.0"]`, `supported_filesystem_protocols`, `workflow_engine_versions {"cwltool": …}`, `default_workflow_engine_parameters []`, `system_state_counts`, `auth_instructions_url`, `tags`; anonymous allowed unless [`Config::service_info_requires_auth`]; only `supported_wes_versions` with [`Config::minimal_service_info`] |
//! | `POST /ga4gh/wes/v1/runs` | multipart: `workflow_params` (JSON object), `workflow_type` (`CWL`), `workflow_type_version`, `workflow_url`, `tags` (JSON object, optional), `workflow_engine_parameters` (JSON, optional), `workflow_engine` / `workflow_engine_version` (1.1, optional), repeated `workflow_attachment` files; 400 with a clear `msg` for a missing or malformed field, another type, a version not offered, or a relative `workflow_url` that is not attached; `{"run_id"}` |
//! | `GET /ga4gh/wes/v1/runs?page_size&page_token` | the caller's runs, newest first: `{"runs": [{run_id, state}], "next_page_token"}` (`""` on the last page); under `"workflows"` with [`Config::list_key_workflows`]; all at once with [`Config::ignore_paging`]; a bad token 400 |
//! | `GET /ga4gh/wes/v1/runs/{id}` | the RunLog: `run_id, request{workflow_params, workflow_type, workflow_type_version, tags, workflow_url}, state, run_log{name, cmd, start_time, end_time, stdout, stderr, exit_code}, task_logs, outputs`; **one poll** |
//! | `GET /ga4gh/wes/v1/runs/{id}/status` | `{run_id, state}`; **one poll** |
//! | `POST /ga4gh/wes/v1/runs/{id}/cancel` | `{run_id}`; the run is CANCELING, and the next poll shows CANCELED (unless [`Polls::canceling`] asks for more polls of CANCELING); a finished run is left as it is; nothing at all with [`Config::cancel_is_noop`] |
//! | `GET /ga4gh/wes/v1/runs/{id}/tasks[/{task_id}]` | WES 1.1: `{task_logs, next_page_token}` or one TaskLog (`id` = name, `impute_chr20`); not a poll |
//! | `GET /files/{run_id}/{name}` | an output file ([`OutputLocations::Http`]); the owner's bearer token, a DRS presigned `?signature=`, or nothing with [`Config::anonymous_files`] |
//! | `GET /ga4gh/drs/v1/objects/{id}` | `{id, name, self_uri, size, created_time, checksums [{type: "sha-256", checksum}], access_methods [{type: "http", access_id: "a1"}]}` ([`OutputLocations::Drs`]); `access_url {url}` inline instead of `access_id` with [`Config::drs_inline_access_url`] |
//! | `GET /ga4gh/drs/v1/objects/{id}/access/{access_id}` | `{url}`: a presigned `/files/…?signature=…` URL that needs no header |
//!
//! Auth: `Authorization: Bearer <token>` from [`Emulator::issue_token`];
//! missing or unknown tokens get 401 on every call but `service-info`; a run
//! (its log, status, cancel, files and DRS objects) belongs to the user who
//! submitted it, anyone else gets 403; an unknown run or object 404.
//! [`Emulator::set_down`] makes every call answer 503.
//!
//! # Lifecycle
//!
//! A run shows QUEUED, INITIALIZING and RUNNING for [`Polls`] polls each
//! (default 1), then its outcome: the 4th poll shows COMPLETE
//! ([`Polls::to_finish`]). [`Script`]s queued with
//! [`Emulator::script_next_run`] (one per run, in order; otherwise
//! [`Config::outcome`]) end it EXECUTOR_ERROR (`run_log.exit_code` 1, the
//! scripted stderr, and a task log with it), SYSTEM_ERROR (stderr
//! `node lost`) or keep it RUNNING forever. With
//! [`Config::not_found_polls`] = n the first n GETs of a new run answer 404,
//! 400, 404, … (they are not polls). `stdout` and `stderr` are text: cwltool's
//! log on stderr, the output object on stdout.
//!
//! # Inputs and outputs
//!
//! The inputs are the VCFs named by `workflow_params[input_key]`
//! ([`Config::input_key`], `target`): a list of (or one) `{"class": "File",
//! "location": …}` or plain string; a relative location names an attachment,
//! an `http(s)://` one is downloaded at submit time (see
//! [`Emulator::fetches`]). Attached `*.vcf.gz` / `*.vcf` files other than the
//! workflow are inputs too. A missing input, a failed download, an unknown
//! scheme or a file that is not a VCF ends the run EXECUTOR_ERROR with
//! cwltool's message (unless a script says otherwise).
//!
//! For each chromosome of the inputs, a COMPLETE run has
//! `chr<N>.imputed.vcf.gz` (BGZF, the input's sites and samples, phased GT,
//! INFO `AF`, `DR2` = [`dr2`]`(position)` and the `IMP` flag, with
//! `##INFO` lines) with a tabix `.tbi` secondary file, and `chr<N>.info.gz`
//! (BGZF sites-only VCF, same INFO). `outputs` is shaped as cwltool prints
//! it: `{"imputed": [{"class": "File", "location", "basename", "nameroot",
//! "nameext", "size", "checksum": "sha1$…", "secondaryFiles": [{… .tbi}]}],
//! "info": [{…}]}`; locations follow [`Config::output_locations`].

mod config;
mod emulator;
mod files;
mod lifecycle;
mod outputs;
mod render;
mod routes;
mod sha1;
mod state;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use config::{Config, OutputLocations, Polls, Script};
pub use emulator::Emulator;
pub use outputs::dr2;
pub use state::{Attachment, Fetch, RequestRecord, RunState, Submission};

use state::State;

/// The WES base path.
pub const WES_PATH: &str = "/ga4gh/wes/v1";

/// State shared by the handlers.
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler must not take the other tests' server down.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A WES/DRS error: `{"msg": …, "status_code": …}`.
pub(crate) fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"msg": msg.into(), "status_code": status.as_u16()})),
    )
        .into_response()
}

/// A refusal decided before a handler's work: small to pass around, turned
/// into its `{"msg", "status_code"}` answer at the end.
#[derive(Debug)]
pub(crate) struct Refusal(StatusCode, String);

impl Refusal {
    pub(crate) fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        Self(status, msg.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// The current time as RFC 3339 (`2026-01-01T12:00:00.123Z`).
pub(crate) fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// `n` random bytes as hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let data: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(data)
}

/// A random UUID (version 4) as text.
pub(crate) fn new_run_id() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The user a bearer token stands for, or the 401 answer.
pub(crate) fn caller(state: &State, headers: &HeaderMap) -> Result<String, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim);
    match token.and_then(|token| state.tokens.get(token)) {
        Some(user) => Ok(user.clone()),
        None if token.is_none() => Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "The request is unauthorized: no bearer token.",
        )),
        None => Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "The request is unauthorized: unknown or expired token.",
        )),
    }
}

/// Records every request; answers 503 while the server is down.
async fn middleware(
    AxumState(shared): AxumState<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let record = RequestRecord {
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        auth: request.headers().contains_key(header::AUTHORIZATION),
        status: None,
    };
    let (index, down) = {
        let mut state = shared.lock();
        state.requests.push(record);
        (state.requests.len() - 1, state.down)
    };
    let response = if down {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable.",
        )
    } else {
        next.run(request).await
    };
    shared.lock().requests[index].status = Some(response.status().as_u16());
    response
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ga4gh/wes/v1/service-info", get(routes::service_info))
        .route(
            "/ga4gh/wes/v1/runs",
            get(routes::list_runs).post(routes::submit),
        )
        .route("/ga4gh/wes/v1/runs/{id}", get(routes::run_log))
        .route("/ga4gh/wes/v1/runs/{id}/status", get(routes::run_status))
        .route("/ga4gh/wes/v1/runs/{id}/cancel", post(routes::cancel))
        .route("/ga4gh/wes/v1/runs/{id}/tasks", get(routes::tasks))
        .route("/ga4gh/wes/v1/runs/{id}/tasks/{task_id}", get(routes::task))
        .route("/files/{run}/{*name}", get(files::download))
        .route("/ga4gh/drs/v1/objects/{id}", get(files::drs_object))
        .route(
            "/ga4gh/drs/v1/objects/{id}/access/{access_id}",
            get(files::drs_access),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "The requested URL was not found.") })
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            middleware,
        ))
        .with_state(shared)
}
