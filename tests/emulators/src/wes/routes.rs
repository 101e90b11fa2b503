//! The WES API: service-info, submit, list, run log, status, cancel.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::config::{OutputLocations, Script};
use super::outputs::impute;
use super::state::{Attachment, Fetch, OutputFile, Products, Run, State, Submission};
use super::{Refusal, Shared, caller, error, lifecycle, new_run_id, random_hex, render};

fn ok(value: Value) -> Response {
    axum::Json(value).into_response()
}

/// `GET /service-info`.
pub(crate) async fn service_info(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    let state = shared.lock();
    if state.config.service_info_requires_auth
        && let Err(refusal) = caller(&state, &headers)
    {
        return refusal.into_response();
    }
    let config = &state.config;
    if config.minimal_service_info {
        return ok(json!({"supported_wes_versions": config.wes_versions}));
    }
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for run in &state.runs {
        *counts.entry(run.state.as_str()).or_default() += 1;
    }
    let protocols = match config.output_locations {
        OutputLocations::Http => vec!["http", "https"],
        OutputLocations::Drs => vec!["drs", "http", "https"],
        OutputLocations::File(_) => vec!["file", "http", "https"],
    };
    let (engine, version) = &config.engine;
    ok(json!({
        "id": "org.fip.tests.wes",
        "name": "Emulated WES",
        "type": {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"},
        "organization": {"name": "fip tests", "url": "https://example.org"},
        "version": env!("CARGO_PKG_VERSION"),
        "workflow_type_versions": {"CWL": {"workflow_type_version": config.cwl_versions}},
        "supported_wes_versions": config.wes_versions,
        "supported_filesystem_protocols": protocols,
        "workflow_engine_versions": {engine.as_str(): version},
        "default_workflow_engine_parameters": [],
        "system_state_counts": counts,
        "auth_instructions_url": format!("{}/auth-instructions", state.base_url),
        "tags": {"emulator": "fip-emulators", "engine": engine},
    }))
}

/// Paging of `GET /runs`.
#[derive(serde::Deserialize)]
pub(crate) struct Paging {
    page_size: Option<String>,
    page_token: Option<String>,
}

/// `GET /runs`: the caller's runs, newest first.
pub(crate) async fn list_runs(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    let state = shared.lock();
    let user = match caller(&state, &headers) {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    let mine: Vec<Value> = state
        .runs
        .iter()
        .rev()
        .filter(|run| run.user == user)
        .map(|run| json!({"run_id": run.id, "state": run.state.as_str()}))
        .collect();
    let config = &state.config;
    let (page, next) = if config.ignore_paging {
        (mine, String::new())
    } else {
        let size = match paging.page_size.as_deref().filter(|s| !s.is_empty()) {
            None => config.default_page_size.max(1),
            Some(text) => match text.parse::<usize>() {
                Ok(size) if size > 0 => size,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("page_size must be a positive integer, got '{text}'"),
                    );
                }
            },
        };
        let start = match paging.page_token.as_deref().filter(|t| !t.is_empty()) {
            None => 0,
            Some(token) => match token
                .strip_prefix("offset-")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(start) if start <= mine.len() => start,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("Invalid page_token '{token}'"),
                    );
                }
            },
        };
        let end = (start + size).min(mine.len());
        let next = if end < mine.len() {
            format!("offset-{end}")
        } else {
            String::new()
        };
        (mine[start..end].to_vec(), next)
    };
    let key = if config.list_key_workflows {
        "workflows"
    } else {
        "runs"
    };
    ok(json!({key: page, "next_page_token": next}))
}

/// The run `id` if the caller may see it, or the refusal.
fn owned_run(state: &State, headers: &HeaderMap, id: &str) -> Result<usize, Refusal> {
    let user = caller(state, headers)?;
    let Some(index) = state.runs.iter().position(|run| run.id == id) else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            format!("The requested workflow run '{id}' wasn't found"),
        ));
    };
    if state.runs[index].user != user {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            format!("The requester is not authorized to access workflow run '{id}'"),
        ));
    }
    Ok(index)
}

/// A GET of a run: the not-found quirk, or one poll.
fn get_run(state: &mut State, headers: &HeaderMap, id: &str) -> Result<usize, Refusal> {
    let index = owned_run(state, headers, id)?;
    let run = &mut state.runs[index];
    if run.hidden_polls > 0 {
        run.hidden_polls -= 1;
        run.hidden_seen += 1;
        return Err(if run.hidden_seen % 2 == 1 {
            Refusal::new(
                StatusCode::NOT_FOUND,
                format!("The requested workflow run '{id}' wasn't found"),
            )
        } else {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                format!("Workflow run '{id}' is not ready yet"),
            )
        });
    }
    lifecycle::poll(state, index);
    Ok(index)
}

/// `GET /runs/{id}`.
pub(crate) async fn run_log(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = shared.lock();
    match get_run(&mut state, &headers, &id) {
        Ok(index) => {
            let run = &state.runs[index];
            ok(render::run_log(&state, run, run.state))
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /runs/{id}/status`.
pub(crate) async fn run_status(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = shared.lock();
    match get_run(&mut state, &headers, &id) {
        Ok(index) => ok(json!({"run_id": id, "state": state.runs[index].state.as_str()})),
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /runs/{id}/tasks` (WES 1.1): the task logs, all on one page; not a poll.
pub(crate) async fn tasks(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let state = shared.lock();
    match owned_run(&state, &headers, &id) {
        Ok(index) => {
            let run = &state.runs[index];
            ok(json!({"task_logs": render::task_logs(run, run.state), "next_page_token": ""}))
        }
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /runs/{id}/tasks/{task_id}` (WES 1.1); not a poll.
pub(crate) async fn task(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path((id, task_id)): Path<(String, String)>,
) -> Response {
    let state = shared.lock();
    let index = match owned_run(&state, &headers, &id) {
        Ok(index) => index,
        Err(refusal) => return refusal.into_response(),
    };
    let run = &state.runs[index];
    match render::task_logs(run, run.state)
        .into_iter()
        .find(|task| task["id"] == task_id.as_str())
    {
        Some(task) => ok(task),
        None => error(
            StatusCode::NOT_FOUND,
            format!("Task '{task_id}' of workflow run '{id}' wasn't found"),
        ),
    }
}

/// `POST /runs/{id}/cancel`.
pub(crate) async fn cancel(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut state = shared.lock();
    let index = match owned_run(&state, &headers, &id) {
        Ok(index) => index,
        Err(refusal) => return refusal.into_response(),
    };
    if !state.config.cancel_is_noop {
        let polls = state.config.polls;
        lifecycle::cancel(&mut state.runs[index], polls);
    }
    ok(json!({"run_id": id}))
}

/// The parts of a submit.
#[derive(Default)]
struct Form {
    texts: Vec<(String, String)>,
    attachments: Vec<Attachment>,
}

impl Form {
    fn text(&self, name: &str) -> Option<&str> {
        self.texts
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

async fn read_form(mut multipart: Multipart) -> Result<Form, String> {
    let mut form = Form::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| e.body_text())?;
        if name == "workflow_attachment" {
            form.attachments.push(Attachment {
                name: file_name.unwrap_or_else(|| "workflow_attachment".to_owned()),
                bytes: bytes.to_vec(),
            });
        } else {
            form.texts
                .push((name, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok(form)
}

fn json_field(form: &Form, name: &str) -> Result<Option<Value>, String> {
    match form.text(name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| format!("{name} is not valid JSON: {e}")),
    }
}

/// The submission a valid form makes, or the 400 message.
fn validate(state: &State, form: Form, user: &str, run_id: &str) -> Result<Submission, String> {
    let workflow_params = json_field(&form, "workflow_params")?
        .ok_or_else(|| "Missing required field 'workflow_params'".to_owned())?;
    if !workflow_params.is_object() {
        return Err("workflow_params must be a JSON object".to_owned());
    }
    let workflow_type = form
        .text("workflow_type")
        .ok_or("Missing required field 'workflow_type'")?
        .to_owned();
    if workflow_type != "CWL" {
        return Err(format!(
            "Unsupported workflow_type '{workflow_type}': this server runs CWL"
        ));
    }
    let workflow_type_version = form
        .text("workflow_type_version")
        .ok_or("Missing required field 'workflow_type_version'")?
        .to_owned();
    if !state.config.cwl_versions.contains(&workflow_type_version) {
        return Err(format!(
            "Unsupported workflow_type_version '{workflow_type_version}' for CWL; offered: {}",
            state.config.cwl_versions.join(", ")
        ));
    }
    let workflow_url = form
        .text("workflow_url")
        .filter(|url| !url.trim().is_empty())
        .ok_or("Missing required field 'workflow_url'")?
        .to_owned();
    if !workflow_url.contains("://")
        && !form.attachments.iter().any(|a| {
            a.name == workflow_url
                || a.name.trim_start_matches("./") == workflow_url.trim_start_matches("./")
        })
    {
        return Err(format!(
            "workflow_url '{workflow_url}' is relative but no workflow_attachment has that name"
        ));
    }
    let tags = match json_field(&form, "tags")? {
        None => Map::new(),
        Some(Value::Object(tags)) => tags,
        Some(_) => return Err("tags must be a JSON object".to_owned()),
    };
    let workflow_engine_parameters = json_field(&form, "workflow_engine_parameters")?;
    let (engine, version) = &state.config.engine;
    let workflow_engine = form.text("workflow_engine").map(str::to_owned);
    if let Some(asked) = &workflow_engine
        && asked != engine
    {
        return Err(format!(
            "Unsupported workflow_engine '{asked}': this server runs {engine}"
        ));
    }
    let workflow_engine_version = form.text("workflow_engine_version").map(str::to_owned);
    if let Some(asked) = &workflow_engine_version
        && asked != version
    {
        return Err(format!(
            "Unsupported workflow_engine_version '{asked}': {engine} is {version}"
        ));
    }
    Ok(Submission {
        run_id: run_id.to_owned(),
        user: user.to_owned(),
        workflow_params,
        workflow_type,
        workflow_type_version,
        tags,
        workflow_engine_parameters,
        workflow_url,
        workflow_engine,
        workflow_engine_version,
        attachments: form.attachments,
    })
}

/// Where an input comes from.
enum Source {
    Attachment(usize),
    Url(String),
}

/// The inputs of a submission, or cwltool's error.
fn inputs(submission: &Submission, key: &str) -> Result<Vec<Source>, String> {
    let mut sources = Vec::new();
    let mut used = vec![false; submission.attachments.len()];
    let listed: Vec<&Value> = match submission.workflow_params.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(item) => vec![item],
    };
    for item in listed {
        let location = match item {
            Value::String(location) => location.as_str(),
            Value::Object(file) => file
                .get("location")
                .or_else(|| file.get("path"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    format!("ERROR Workflow error: a File in '{key}' has neither location nor path")
                })?,
            other => {
                return Err(format!(
                    "ERROR Workflow error: '{key}' holds {other}, not a File"
                ));
            }
        };
        if location.starts_with("http://") || location.starts_with("https://") {
            sources.push(Source::Url(location.to_owned()));
        } else if let Some((scheme, _)) = location.split_once("://") {
            return Err(format!(
                "ERROR Workflow error: unsupported scheme '{scheme}' in '{location}'"
            ));
        } else {
            let wanted = location.trim_start_matches("./");
            let found = submission.attachments.iter().position(|a| {
                let name = a.name.trim_start_matches("./");
                name == wanted || name.rsplit('/').next() == Some(wanted)
            });
            match found {
                Some(index) => {
                    if !used[index] {
                        used[index] = true;
                        sources.push(Source::Attachment(index));
                    }
                }
                None => {
                    return Err(format!(
                        "ERROR Workflow error: [Errno 2] No such file or directory: '{location}'"
                    ));
                }
            }
        }
    }
    let workflow = submission.workflow_url.trim_start_matches("./");
    for (index, attachment) in submission.attachments.iter().enumerate() {
        let name = attachment.name.trim_start_matches("./");
        if !used[index] && name != workflow && (name.ends_with(".vcf.gz") || name.ends_with(".vcf"))
        {
            used[index] = true;
            sources.push(Source::Attachment(index));
        }
    }
    if sources.is_empty() {
        return Err(format!(
            "ERROR Workflow error: Missing required input parameter '{key}'"
        ));
    }
    Ok(sources)
}

/// Downloads an input; its bytes or cwltool's error, and the record.
async fn fetch(
    client: &reqwest::Client,
    run_id: &str,
    url: &str,
) -> (Result<Vec<u8>, String>, Fetch) {
    let mut record = Fetch {
        run_id: run_id.to_owned(),
        url: url.to_owned(),
        status: None,
        size: 0,
        error: None,
    };
    let result = match client.get(url).send().await {
        Err(e) => Err(format!("ERROR Workflow error: cannot fetch {url}: {e}")),
        Ok(response) => {
            let status = response.status();
            record.status = Some(status.as_u16());
            if !status.is_success() {
                Err(format!(
                    "ERROR Workflow error: HTTP Error {}: {} for url {url}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("Error")
                ))
            } else {
                match response.bytes().await {
                    Ok(bytes) => {
                        record.size = bytes.len();
                        Ok(bytes.to_vec())
                    }
                    Err(e) => Err(format!("ERROR Workflow error: reading {url}: {e}")),
                }
            }
        }
    };
    if let Err(message) = &result {
        record.error = Some(message.clone());
    }
    (result, record)
}

fn output_file(name: String, bytes: Vec<u8>) -> OutputFile {
    OutputFile {
        name,
        bytes: Arc::new(bytes),
        object_id: random_hex(16),
        signature: random_hex(16),
    }
}

/// Gathers and imputes the inputs: the products, or the error that ends
/// the run.
async fn stage(
    submission: &Submission,
    key: &str,
    fetches: &mut Vec<Fetch>,
) -> Result<Products, String> {
    let sources = inputs(submission, key)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("ERROR Workflow error: {e}"))?;
    let mut products = Products::default();
    for source in sources {
        let (name, bytes) = match source {
            Source::Attachment(index) => {
                let attachment = &submission.attachments[index];
                (attachment.name.clone(), attachment.bytes.clone())
            }
            Source::Url(url) => {
                let (result, record) = fetch(&client, &submission.run_id, &url).await;
                fetches.push(record);
                let name = url
                    .split(['?', '#'])
                    .next()
                    .and_then(|path| path.rsplit('/').next())
                    .unwrap_or("input.vcf.gz")
                    .to_owned();
                (name, result?)
            }
        };
        for imputed in impute(&name, &bytes)? {
            let stem = format!("chr{}", imputed.chromosome);
            products.tasks.push(format!("impute_{stem}"));
            products.imputed.push((
                output_file(format!("{stem}.imputed.vcf.gz"), imputed.vcf),
                output_file(format!("{stem}.imputed.vcf.gz.tbi"), imputed.tbi),
            ));
            products
                .info
                .push(output_file(format!("{stem}.info.gz"), imputed.info));
        }
    }
    Ok(products)
}

/// `POST /runs`.
pub(crate) async fn submit(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let user = match caller(&shared.lock(), &headers) {
        Ok(user) => user,
        Err(refusal) => return refusal.into_response(),
    };
    let form = match multipart {
        Ok(multipart) => read_form(multipart).await,
        Err(rejection) => Err(format!(
            "POST /runs takes multipart/form-data: {}",
            rejection.body_text()
        )),
    };
    let form = match form {
        Ok(form) => form,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let run_id = new_run_id();
    let (submission, key) = {
        let state = shared.lock();
        match validate(&state, form, &user, &run_id) {
            Ok(submission) => (submission, state.config.input_key.clone()),
            Err(message) => return error(StatusCode::BAD_REQUEST, message),
        }
    };
    let mut fetches = Vec::new();
    let staged = stage(&submission, &key, &mut fetches).await;
    let mut state = shared.lock();
    let scripted = state
        .scripts
        .pop_front()
        .unwrap_or_else(|| state.config.outcome.clone());
    let (products, script) = match (staged, scripted) {
        (Ok(products), script) => (products, script),
        (Err(stderr), Script::Succeed) => (Products::default(), Script::ExecutorError { stderr }),
        (Err(_), script) => (Products::default(), script),
    };
    let (first, timeline) = lifecycle::timeline(state.config.polls, &script);
    let hidden_polls = state.config.not_found_polls;
    state.fetches.extend(fetches);
    state.submissions.push(submission.clone());
    state.runs.push(Run {
        id: run_id.clone(),
        user,
        submission,
        state: first,
        timeline,
        hidden_polls,
        hidden_seen: 0,
        polls: 0,
        script,
        products,
        start_time: None,
        end_time: None,
        written: None,
    });
    ok(json!({"run_id": run_id}))
}
