//! Cloudgene jobs: submit, find again, follow, cancel, and the outputs of a
//! finished job (`reference/cloudgene-api.md`).

use reqwest::header::{self, HeaderValue};
use reqwest::multipart::Form;
use serde_json::Value;

use crate::http::{self, Call};
use crate::run::{MessageKind, RemoteCode, RemoteRun, RunMessage, RunOutput, RunRequest, RunState};
use crate::{BackendError, Secret};

use super::{BACKEND, MichiganBackend, TOKEN_HEADER};

/// Pages of `GET /api/v2/jobs` searched for a run by name.
const FIND_PAGES: u32 = 5;

/// The hub's reading of a Cloudgene state code (AbstractJob).
pub fn state_of(code: i64) -> (RunState, &'static str) {
    match code {
        1 => (RunState::Queued, "WAITING"),
        2 => (RunState::Running, "RUNNING"),
        // Exporting is not done yet: outputs are still being written.
        3 => (RunState::Running, "EXPORTING"),
        4 => (RunState::Completed, "SUCCESS"),
        5 => (RunState::Failed, "FAILED"),
        6 => (RunState::Cancelled, "CANCELED"),
        // Retired: the results were deleted; nothing to download.
        7 => (RunState::Expired, "RETIRED"),
        8 => (RunState::Completed, "SUCCESS_AND_NOTIFICATION_SEND"),
        9 => (RunState::Failed, "FAILED_AND_NOTIFICATION_SEND"),
        10 => (RunState::Cancelled, "DELETED"),
        -1 => (RunState::Failed, "DEAD"),
        _ => (RunState::Running, "UNKNOWN"),
    }
}

fn kind_of(code: i64) -> MessageKind {
    match code {
        0 => MessageKind::Ok,
        1 => MessageKind::Error,
        2 => MessageKind::Warning,
        3 => MessageKind::Running,
        _ => MessageKind::Info,
    }
}

/// The token header of a Cloudgene call (API tokens only).
pub(crate) fn token_header(secret: &Secret) -> Result<HeaderValue, BackendError> {
    match secret {
        Secret::ApiToken(token) => {
            let mut value = HeaderValue::from_str(token.trim()).map_err(|_| {
                BackendError::protocol("the api token contains characters a header cannot carry")
            })?;
            value.set_sensitive(true);
            Ok(value)
        }
        Secret::Basic { .. } | Secret::OAuth2 { .. } => Err(BackendError::NotSupported {
            operation: "credentials other than api tokens on a cloudgene server",
        }),
    }
}

/// Reads a Job JSON object.
pub(crate) fn parse_job(base_url: &str, job: &Value) -> Result<RemoteRun, BackendError> {
    let id = job
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| BackendError::protocol("a job without an id"))?
        .to_string();
    let code = job
        .get("state")
        .and_then(Value::as_i64)
        .ok_or_else(|| BackendError::protocol(format!("job {id} has no state")))?;
    let (state, name) = state_of(code);
    let mut messages = Vec::new();
    let mut current_step = None;
    for step in job
        .get("steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let step_name = step
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let logs = step.get("logMessages").and_then(Value::as_array);
        if logs.is_some_and(|l| !l.is_empty()) {
            current_step = Some(step_name.clone());
        }
        for message in logs.into_iter().flatten() {
            messages.push(RunMessage {
                step: step_name.clone(),
                kind: kind_of(message.get("type").and_then(Value::as_i64).unwrap_or(-99)),
                text: message
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                time: message
                    .get("time")
                    .and_then(Value::as_i64)
                    .filter(|t| *t > 0),
            });
        }
    }
    let mut outputs = Vec::new();
    for param in job
        .get("outputParams")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let group = param
            .get("description")
            .or_else(|| param.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let param_hash = param.get("hash").and_then(Value::as_str);
        for file in param
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = file.get("name").and_then(Value::as_str) else {
                continue;
            };
            let Some(hash) = file.get("hash").and_then(Value::as_str).or(param_hash) else {
                continue;
            };
            let url = http::endpoint(base_url, &["share", "results", hash, name])?;
            outputs.push(RunOutput {
                name: name.to_string(),
                group: group.clone(),
                url: url.to_string(),
                size: file.get("size").and_then(|s| {
                    s.as_u64()
                        .or_else(|| s.as_str().and_then(|t| t.parse().ok()))
                }),
                // Share links are capabilities.
                send_credential: false,
            });
        }
    }
    Ok(RemoteRun {
        name: job
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        position_in_queue: job
            .get("positionInQueue")
            .and_then(Value::as_i64)
            .filter(|p| *p > 0)
            .map(|p| p as i32),
        code: RemoteCode::Michigan {
            code: code as i32,
            name: name.to_string(),
        },
        id,
        state,
        current_step,
        messages,
        outputs,
    })
}

impl MichiganBackend {
    fn call<'a>(operation: &'static str, secret: &'a Secret) -> Call<'a> {
        Call {
            backend: BACKEND,
            operation,
            secret: Some(secret),
        }
    }

    /// `POST /api/v2/jobs/submit/{app}` with only the app's form fields;
    /// returns the server's job id.
    pub(crate) async fn submit_run(
        &self,
        base_url: &str,
        secret: &Secret,
        run: &RunRequest,
    ) -> Result<String, BackendError> {
        let call = Self::call("submit", secret);
        let url = http::endpoint(base_url, &["api", "v2", "jobs", "submit", &self.app])?;
        let mut form = Form::new();
        for input in &run.inputs {
            form = form.part("files", http::file_part(input).await?);
        }
        form = form
            .text("refpanel", run.panel.clone())
            .text("build", run.build.clone())
            .text("mode", run.mode.clone())
            .text("password", run.password.clone())
            .text("job-name", run.job_name.clone());
        if let Some(phasing) = &run.phasing {
            form = form.text("phasing", phasing.clone());
        }
        if let Some(population) = &run.population {
            form = form.text("population", population.clone());
        }
        if let Some(r2) = run.r2_filter {
            form = form.text("r2Filter", r2.to_string());
        }
        if run.aes_encryption {
            form = form.text("aesEncryption", "yes");
        }
        let request = self
            .client
            .post(url)
            .header(header::ACCEPT, "application/json")
            .header(TOKEN_HEADER, token_header(secret)?)
            .multipart(form);
        let answer = call.send(&self.client, request).await?;
        if !answer.status.is_success() {
            return Err(call.status_error(&answer));
        }
        let reply: Value = call.json(&answer, "the submit answer")?;
        if reply.get("success").and_then(Value::as_bool) == Some(false) {
            return Err(BackendError::Rejected {
                status: answer.status.as_u16(),
                message: call
                    .server_message(&answer)
                    .unwrap_or_else(|| "the server refused the job".into()),
            });
        }
        reply
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| BackendError::protocol("the submit answer has no job id"))
    }

    /// Searches the caller's recent jobs for one named `job_name`.
    pub(crate) async fn find_run_by_name(
        &self,
        base_url: &str,
        secret: &Secret,
        job_name: &str,
    ) -> Result<Option<String>, BackendError> {
        let call = Self::call("find_run", secret);
        for page in 1..=FIND_PAGES {
            let mut url = http::endpoint(base_url, &["api", "v2", "jobs"])?;
            url.query_pairs_mut().append_pair("page", &page.to_string());
            let request = self
                .client
                .get(url)
                .header(header::ACCEPT, "application/json")
                .header(TOKEN_HEADER, token_header(secret)?);
            let answer = call.send(&self.client, request).await?;
            if !answer.status.is_success() {
                return Err(call.status_error(&answer));
            }
            let reply: Value = call.json(&answer, "the job list")?;
            // Cloudgene 3 pages `{data: [...], pages}`; Cloudgene 2 answers a bare array.
            let (jobs, pages) = match &reply {
                Value::Array(jobs) => (jobs.as_slice(), 1),
                other => (
                    other
                        .get("data")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                    other.get("pages").and_then(Value::as_u64).unwrap_or(1),
                ),
            };
            if let Some(found) = jobs
                .iter()
                .find(|j| j.get("name").and_then(Value::as_str) == Some(job_name))
            {
                return Ok(found.get("id").and_then(Value::as_str).map(str::to_string));
            }
            if u64::from(page) >= pages {
                break;
            }
        }
        Ok(None)
    }

    /// `GET /api/v2/jobs/{id}` (the list omits steps and outputs).
    pub(crate) async fn run_status(
        &self,
        base_url: &str,
        secret: &Secret,
        id: &str,
    ) -> Result<RemoteRun, BackendError> {
        let call = Self::call("status", secret);
        let url = http::endpoint(base_url, &["api", "v2", "jobs", id])?;
        let request = self
            .client
            .get(url)
            .header(header::ACCEPT, "application/json")
            .header(TOKEN_HEADER, token_header(secret)?);
        let answer = call.send(&self.client, request).await?;
        if !answer.status.is_success() {
            return Err(call.status_error(&answer));
        }
        let job: Value = call.json(&answer, "the job")?;
        parse_job(base_url, &job)
    }

    /// `GET /api/v2/jobs/{id}/cancel` (a GET, as the server defines it).
    pub(crate) async fn cancel_run(
        &self,
        base_url: &str,
        secret: &Secret,
        id: &str,
    ) -> Result<(), BackendError> {
        let call = Self::call("cancel", secret);
        let url = http::endpoint(base_url, &["api", "v2", "jobs", id, "cancel"])?;
        let request = self
            .client
            .get(url)
            .header(header::ACCEPT, "application/json")
            .header(TOKEN_HEADER, token_header(secret)?);
        let answer = call.send(&self.client, request).await?;
        if !answer.status.is_success() {
            return Err(call.status_error(&answer));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_follow_the_reference_table() {
        assert_eq!(state_of(3).0, RunState::Running, "exporting is not done");
        assert_eq!(state_of(4).0, RunState::Completed);
        assert_eq!(state_of(8).0, RunState::Completed);
        assert_eq!(state_of(7).0, RunState::Expired, "retired is not cancelled");
        assert_eq!(state_of(6).0, RunState::Cancelled);
        assert_eq!(state_of(10).0, RunState::Cancelled);
        assert_eq!(state_of(-1).0, RunState::Failed);
        assert_eq!(state_of(9).0, RunState::Failed);
        assert_eq!(state_of(1).0, RunState::Queued);
    }

    #[test]
    fn a_job_reads_with_steps_and_share_links() {
        let job = json!({
            "id": "job-20251016-224029-866", "name": "fip-0193", "state": 5,
            "positionInQueue": -1,
            "steps": [
                {"id": 1, "name": "Input Validation", "logMessages": [
                    {"message": "3 valid VCF file(s) found.", "type": 0, "time": 1700000000000i64},
                    {"message": "At least 20 samples must be uploaded.", "type": 1, "time": 1700000001000i64}
                ]},
                {"id": 2, "name": "Quality Control", "logMessages": []}
            ],
            "outputParams": [{"id": 3, "name": "output", "description": "Imputation Results",
                "hash": "p-hash", "files": [
                    {"name": "chr_20.zip", "path": "output/chr_20.zip", "hash": "f-hash", "size": "1024"},
                    {"name": "qc_report.txt", "path": "output/qc_report.txt", "size": 10}
                ]}]
        });
        let run = parse_job("https://server.example/", &job).unwrap();
        assert_eq!(run.state, RunState::Failed);
        assert_eq!(
            run.error_text(),
            Some("At least 20 samples must be uploaded.")
        );
        assert_eq!(
            run.messages[0].kind,
            MessageKind::Ok,
            "type 0 is OK, not an error"
        );
        assert_eq!(run.current_step.as_deref(), Some("Input Validation"));
        assert_eq!(run.position_in_queue, None);
        assert_eq!(
            run.outputs[0].url,
            "https://server.example/share/results/f-hash/chr_20.zip"
        );
        assert_eq!(run.outputs[0].size, Some(1024));
        assert_eq!(
            run.outputs[1].url,
            "https://server.example/share/results/p-hash/qc_report.txt"
        );
        assert!(parse_job("https://x", &json!({"id": "j"})).is_err());
    }
}
