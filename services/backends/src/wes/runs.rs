//! WES runs: submit (multipart `POST /runs`), find again by tag, follow
//! (`GET /runs/{id}`), cancel; and the reading of a `RunLog`.

use reqwest::header;
use reqwest::multipart::Form;
use serde_json::Value;

use crate::http::{self, Call};
use crate::run::{MessageKind, RemoteCode, RemoteRun, RunMessage, RunOutput, RunRequest, RunState};
use crate::{BackendError, Secret};

use super::workflow::{InputDelivery, JOB_TAG};
use super::{BACKEND, WesBackend, authorize, endpoint};

/// Runs listed per page when looking for a run by its tag.
const FIND_PAGE_SIZE: u32 = 100;
/// Pages of `GET /runs` searched.
const FIND_PAGES: u32 = 5;
/// Run logs read at most when looking for a run (the list has no tags).
const FIND_LOGS: usize = 50;
/// The tail of a failed run's stderr shown to the user.
const STDERR_TAIL_LINES: usize = 20;
const STDERR_TAIL_CHARS: usize = 2000;

/// The hub's reading of a WES state.
pub fn state_of(state: &str) -> RunState {
    match state {
        "QUEUED" | "UNKNOWN" => RunState::Queued,
        // Still going: a cancel is only done when the server says CANCELED.
        "INITIALIZING" | "RUNNING" | "PAUSED" | "CANCELING" => RunState::Running,
        "COMPLETE" => RunState::Completed,
        "EXECUTOR_ERROR" => RunState::Failed,
        "SYSTEM_ERROR" | "PREEMPTED" => RunState::Lost,
        "CANCELED" | "CANCELLED" => RunState::Cancelled,
        // A state of a later version: keep following.
        _ => RunState::Running,
    }
}

/// Reads a `RunLog`. `base_url` is the server's: outputs on its host get
/// the credential when downloaded.
pub(crate) fn parse_run_log(base_url: &str, log: &Value) -> Result<RemoteRun, BackendError> {
    let id = log
        .get("run_id")
        .and_then(Value::as_str)
        .ok_or_else(|| BackendError::protocol("a run log without a run_id"))?
        .to_string();
    let state_name = log
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or("UNKNOWN")
        .to_string();
    let state = state_of(&state_name);
    let run_log = log.get("run_log").filter(|v| v.is_object());
    let mut messages = Vec::new();
    let mut current_step = None;
    let tasks = log
        .get("task_logs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for task in tasks {
        let name = text(task, "name").unwrap_or_else(|| "task".into());
        current_step = Some(name.clone());
        if let Some(code) = task.get("exit_code").and_then(Value::as_i64) {
            messages.push(RunMessage {
                step: name.clone(),
                kind: if code == 0 {
                    MessageKind::Ok
                } else {
                    MessageKind::Error
                },
                text: format!("{name} ended with exit code {code}"),
                time: time_of(task, "end_time"),
            });
        }
    }
    let step = run_log
        .and_then(|l| text(l, "name"))
        .unwrap_or_else(|| "workflow".into());
    if current_step.is_none() && state != RunState::Queued {
        current_step = Some(step.clone());
    }
    match state {
        RunState::Failed | RunState::Lost => {
            let stderr = run_log
                .and_then(|l| text(l, "stderr"))
                .filter(|s| !looks_like_url(s));
            let code = run_log.and_then(|l| l.get("exit_code").and_then(Value::as_i64));
            let mut text = format!("the run ended {state_name}");
            if let Some(code) = code {
                text.push_str(&format!(" (exit code {code})"));
            }
            if let Some(stderr) = stderr.as_deref().map(tail).filter(|t| !t.is_empty()) {
                text.push_str(": ");
                text.push_str(&stderr);
            }
            messages.push(RunMessage {
                step,
                kind: MessageKind::Error,
                text,
                time: run_log.and_then(|l| time_of(l, "end_time")),
            });
        }
        RunState::Completed => messages.push(RunMessage {
            step,
            kind: MessageKind::Ok,
            text: "the workflow completed".into(),
            time: run_log.and_then(|l| time_of(l, "end_time")),
        }),
        _ => {}
    }
    let outputs = if state == RunState::Completed {
        outputs_of(base_url, log.get("outputs").unwrap_or(&Value::Null))
    } else {
        Vec::new()
    };
    Ok(RemoteRun {
        name: log
            .pointer(&format!("/request/tags/{JOB_TAG}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        code: RemoteCode::Wes { state: state_name },
        position_in_queue: None,
        id,
        state,
        current_step,
        messages,
        outputs,
    })
}

/// Every file a run's `outputs` point at: CWL `File` objects (with their
/// `secondaryFiles`, inside lists and records), `Directory` listings, and
/// bare location strings; grouped by the top-level output name.
pub(crate) fn outputs_of(base_url: &str, outputs: &Value) -> Vec<RunOutput> {
    let mut found = Vec::new();
    if let Value::Object(map) = outputs {
        for (group, value) in map {
            collect(value, group, &mut found);
        }
    }
    let host = http::base(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    let mut seen = std::collections::HashSet::new();
    found
        .into_iter()
        .filter(|o| seen.insert(o.url.clone()))
        .map(|mut o| {
            o.send_credential = host.is_some()
                && reqwest::Url::parse(&o.url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    == host;
            o
        })
        .collect()
}

fn collect(value: &Value, group: &str, out: &mut Vec<RunOutput>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| collect(v, group, out)),
        Value::String(location) if looks_like_url(location) => {
            out.push(output(location, None, None, group));
        }
        Value::Object(object) => {
            let class = object.get("class").and_then(Value::as_str);
            let location = object
                .get("location")
                .or_else(|| object.get("path"))
                .and_then(Value::as_str);
            match (class, location) {
                (Some("File"), Some(location)) => {
                    let name = object.get("basename").and_then(Value::as_str);
                    let size = object.get("size").and_then(Value::as_u64);
                    out.push(output(location, name, size, group));
                    if let Some(secondary) = object.get("secondaryFiles") {
                        collect(secondary, group, out);
                    }
                }
                (Some("Directory"), _) => {
                    if let Some(listing) = object.get("listing") {
                        collect(listing, group, out);
                    }
                }
                _ => object.values().for_each(|v| collect(v, group, out)),
            }
        }
        _ => {}
    }
}

fn output(location: &str, name: Option<&str>, size: Option<u64>, group: &str) -> RunOutput {
    let name = name
        .map(str::to_string)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            location
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(location)
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .to_string()
        });
    RunOutput {
        name,
        group: group.to_string(),
        url: location.to_string(),
        size,
        send_credential: false,
    }
}

fn looks_like_url(text: &str) -> bool {
    ["http://", "https://", "drs://", "file://"]
        .iter()
        .any(|scheme| text.starts_with(scheme))
}

fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// RFC 3339 times (WES) as epoch milliseconds.
fn time_of(value: &Value, key: &str) -> Option<i64> {
    let text = value.get(key)?.as_str()?;
    let parsed =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some((parsed.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The last lines of a log, at most a few thousand characters.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(STDERR_TAIL_LINES);
    let mut text = lines[start..].join("\n");
    if text.chars().count() > STDERR_TAIL_CHARS {
        let skip = text.chars().count() - STDERR_TAIL_CHARS;
        text = format!("…{}", text.chars().skip(skip).collect::<String>());
    }
    text
}

impl WesBackend {
    fn call<'a>(operation: &'static str, secret: &'a Secret) -> Call<'a> {
        Call {
            backend: BACKEND,
            operation,
            secret: Some(secret),
        }
    }

    /// Multipart `POST /runs`; returns the run id.
    pub(crate) async fn submit_run(
        &self,
        base_url: &str,
        secret: &Secret,
        run: &RunRequest,
    ) -> Result<String, BackendError> {
        let workflow = run.wes.as_ref().ok_or(BackendError::NotSupported {
            operation: "a wes run without a workflow (the service has no wes settings)",
        })?;
        workflow.check()?;
        let call = Self::call("submit", secret);
        let url = endpoint(base_url, "runs")?;
        let json = |value: &Value| serde_json::to_string(value).unwrap_or_default();
        let mut form = Form::new()
            .text("workflow_params", json(&workflow.params(run)?))
            .text("workflow_type", workflow.workflow_type.trim().to_string())
            .text(
                "workflow_type_version",
                workflow.workflow_type_version.trim().to_string(),
            )
            .text("tags", json(&workflow.tags(run)))
            .text("workflow_url", workflow.workflow_url.trim().to_string());
        if !workflow.engine_parameters.is_empty() {
            form = form.text(
                "workflow_engine_parameters",
                json(&Value::Object(workflow.engine_parameters.clone())),
            );
        }
        if !workflow.workflow_engine.trim().is_empty() {
            form = form.text(
                "workflow_engine",
                workflow.workflow_engine.trim().to_string(),
            );
        }
        if !workflow.workflow_engine_version.trim().is_empty() {
            form = form.text(
                "workflow_engine_version",
                workflow.workflow_engine_version.trim().to_string(),
            );
        }
        if workflow.input_delivery == InputDelivery::Attachment {
            for input in &run.inputs {
                form = form.part("workflow_attachment", http::file_part(input).await?);
            }
        }
        let request = authorize(
            self.client
                .post(url)
                .header(header::ACCEPT, "application/json"),
            secret,
        )
        .multipart(form);
        let answer = call.send(&self.client, request).await?;
        if !answer.status.is_success() {
            return Err(call.status_error(&answer));
        }
        let reply: Value = call.json(&answer, "the submit answer")?;
        reply
            .get("run_id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .ok_or_else(|| BackendError::protocol("the submit answer has no run_id"))
    }

    /// `GET /runs/{id}`, the whole run log.
    async fn run_log(&self, call: &Call<'_>, base_url: &str, id: &str) -> Result<Value, Answered> {
        let url = endpoint(base_url, &format!("runs/{id}")).map_err(Answered::Error)?;
        let secret = call.secret.expect("runs calls carry the credential");
        let request = authorize(
            self.client
                .get(url)
                .header(header::ACCEPT, "application/json"),
            secret,
        );
        let answer = call
            .send(&self.client, request)
            .await
            .map_err(Answered::Error)?;
        if !answer.status.is_success() {
            return Err(Answered::Status(answer));
        }
        call.json(&answer, "the run log").map_err(Answered::Error)
    }

    /// The run log of `id`. Servers may answer 400/404 for a few seconds
    /// after a submit, and some 500 for ids they do not know: those are
    /// transient here (the worker retries, within its limit).
    pub(crate) async fn run_status(
        &self,
        base_url: &str,
        secret: &Secret,
        id: &str,
    ) -> Result<RemoteRun, BackendError> {
        let call = Self::call("status", secret);
        match self.run_log(&call, base_url, id).await {
            Ok(log) => parse_run_log(base_url, &log),
            Err(Answered::Error(e)) => Err(e),
            Err(Answered::Status(answer)) => match call.status_error(&answer) {
                BackendError::Rejected { status, message } if status == 400 || status == 404 => {
                    Err(BackendError::Unavailable {
                        status: Some(status),
                        retry_after: None,
                        message: format!("the server does not show the run {id} (yet): {message}"),
                    })
                }
                other => Err(other),
            },
        }
    }

    /// Looks for the caller's run tagged with `job_name`, newest pages first
    /// as the server lists them; runs lost to a system error do not count.
    pub(crate) async fn find_run_by_tag(
        &self,
        base_url: &str,
        secret: &Secret,
        job_name: &str,
    ) -> Result<Option<String>, BackendError> {
        let call = Self::call("find_run", secret);
        let mut token: Option<String> = None;
        let mut candidates = Vec::new();
        for _ in 0..FIND_PAGES {
            let mut url = endpoint(base_url, "runs")?;
            url.query_pairs_mut()
                .append_pair("page_size", &FIND_PAGE_SIZE.to_string());
            if let Some(token) = &token {
                url.query_pairs_mut().append_pair("page_token", token);
            }
            let request = authorize(
                self.client
                    .get(url)
                    .header(header::ACCEPT, "application/json"),
                secret,
            );
            let answer = call.send(&self.client, request).await?;
            if !answer.status.is_success() {
                return Err(call.status_error(&answer));
            }
            let page: Value = call.json(&answer, "the run list")?;
            // Some servers list under `workflows` instead of `runs`.
            let runs = page
                .get("runs")
                .or_else(|| page.get("workflows"))
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for run in runs {
                let state = run.get("state").and_then(Value::as_str).unwrap_or_default();
                if let Some(id) = run.get("run_id").and_then(Value::as_str)
                    && state_of(state) != RunState::Lost
                    && !candidates.iter().any(|c| c == id)
                {
                    candidates.push(id.to_string());
                }
            }
            let next = text(&page, "next_page_token");
            // Servers that ignore paging give the same page again.
            if runs.is_empty() || next.is_none() || next == token {
                break;
            }
            token = next;
        }
        for id in candidates.iter().rev().take(FIND_LOGS) {
            match self.run_log(&call, base_url, id).await {
                Ok(log) => {
                    if log
                        .pointer(&format!("/request/tags/{JOB_TAG}"))
                        .and_then(Value::as_str)
                        == Some(job_name)
                    {
                        return Ok(Some(id.clone()));
                    }
                }
                Err(Answered::Error(e)) => return Err(e),
                Err(Answered::Status(answer)) => match call.status_error(&answer) {
                    e @ (BackendError::Unauthorized { .. } | BackendError::Unavailable { .. }) => {
                        return Err(e);
                    }
                    // Another user's run, or one gone since the listing.
                    _ => continue,
                },
            }
        }
        Ok(None)
    }

    /// `POST /runs/{id}/cancel`.
    pub(crate) async fn cancel_run(
        &self,
        base_url: &str,
        secret: &Secret,
        id: &str,
    ) -> Result<(), BackendError> {
        let call = Self::call("cancel", secret);
        let url = endpoint(base_url, &format!("runs/{id}/cancel"))?;
        let request = authorize(
            self.client
                .post(url)
                .header(header::ACCEPT, "application/json"),
            secret,
        );
        let answer = call.send(&self.client, request).await?;
        if !answer.status.is_success() {
            return Err(call.status_error(&answer));
        }
        Ok(())
    }
}

/// A run-log call that failed: before an answer, or with a non-success one.
enum Answered {
    Error(BackendError),
    Status(http::Answer),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_wes_state_is_mapped() {
        for (state, expected) in [
            ("UNKNOWN", RunState::Queued),
            ("QUEUED", RunState::Queued),
            ("INITIALIZING", RunState::Running),
            ("RUNNING", RunState::Running),
            ("PAUSED", RunState::Running),
            ("CANCELING", RunState::Running),
            ("COMPLETE", RunState::Completed),
            ("EXECUTOR_ERROR", RunState::Failed),
            ("SYSTEM_ERROR", RunState::Lost),
            ("PREEMPTED", RunState::Lost),
            ("CANCELED", RunState::Cancelled),
        ] {
            assert_eq!(state_of(state), expected, "{state}");
        }
    }

    #[test]
    fn a_failed_run_shows_the_tail_of_its_stderr() {
        let stderr: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let log = json!({
            "run_id": "r1", "state": "EXECUTOR_ERROR",
            "request": {"tags": {"fip_job_id": "fip-9"}},
            "run_log": {"name": "imputation", "exit_code": 1, "stderr": stderr,
                        "end_time": "2026-11-28T10:00:00Z"},
            "task_logs": [{"name": "beagle", "exit_code": 1}]
        });
        let run = parse_run_log("https://wes.example", &log).unwrap();
        assert_eq!(run.state, RunState::Failed);
        assert_eq!(run.name, "fip-9");
        let error = run.error_text().unwrap();
        assert!(
            error.starts_with("the run ended EXECUTOR_ERROR (exit code 1): line 11"),
            "{error}"
        );
        assert!(error.ends_with("line 30") && !error.contains("line 10\n"));
        assert_eq!(run.messages.last().unwrap().time, Some(1_795_860_000_000));
        assert_eq!(run.current_step.as_deref(), Some("beagle"));
        assert!(run.outputs.is_empty());
    }

    #[test]
    fn cwl_outputs_flatten_with_secondary_files() {
        let outputs = json!({
            "imputed": [{"class": "File", "location": "file:///w/r1/chr20.imputed.vcf.gz",
                         "basename": "chr20.imputed.vcf.gz", "size": 1200,
                         "secondaryFiles": [{"class": "File", "location": "file:///w/r1/chr20.imputed.vcf.gz.tbi"}]}],
            "info": [{"class": "File", "location": "drs://wes.example/obj-1", "basename": "chr20.info.gz"}],
            "report": "https://wes.example/files/r1/report.html?sig=x",
            "elsewhere": "https://bucket.example/r1/qc.txt",
            "dir": {"class": "Directory", "listing": [
                {"class": "File", "location": "file:///w/r1/dir/a.log"}]}
        });
        let found = outputs_of("https://wes.example/ga4gh/wes/v1", &outputs);
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|o| (o.group.as_str(), o.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("dir", "a.log"),
                ("elsewhere", "qc.txt"),
                ("imputed", "chr20.imputed.vcf.gz"),
                ("imputed", "chr20.imputed.vcf.gz.tbi"),
                ("info", "chr20.info.gz"),
                ("report", "report.html"),
            ]
        );
        assert_eq!(found[2].size, Some(1200));
        let credentialed: Vec<&str> = found
            .iter()
            .filter(|o| o.send_credential)
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(credentialed, ["chr20.info.gz", "report.html"]);
    }
}
