//! `POST /api/v2/jobs/submit/{app}` (`JobController.submit`,
//! `JobService.submitJob`): multipart form of the imputationserver2 inputs.
//!
//! The submit succeeds for a job that will fail: an unknown panel fails it at
//! once (state 5), bad files fail it at the input validation step.

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde_json::json;

use super::super::auth::{self, Accepts, Caller};
use super::super::config::{Panel, Script, Step};
use super::super::state::{
    self as model, Job, Params, Phase, StepRecord, Submission, SubmittedFile, Upload, job_state,
};
use super::super::validation::validate;
use super::super::{Shared, format_job_id, now_millis, reply};
use crate::fixtures::is_bgzf;

/// The inputs of the imputationserver2 `cloudgene.yaml`, and `job-name`.
const FIELDS: [&str; 15] = [
    "refpanel",
    "files",
    "build",
    "r2Filter",
    "phasing",
    "population",
    "mode",
    "aesEncryption",
    "meta",
    "myseparator",
    "password",
    "check1",
    "check2",
    "job-name",
    "files-source",
];

struct Form {
    texts: Vec<(String, String)>,
    uploads: Vec<(String, Upload)>,
}

pub(crate) async fn submit(
    State(shared): State<Arc<Shared>>,
    Path(app): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    // Micronaut security answers before the body is read.
    let caller = {
        let state = shared.lock();
        match auth::require(&state, &headers, Accepts::AllTokens, now_millis()) {
            Ok(caller) => caller,
            Err(refusal) => return refusal.into_response(),
        }
    };
    let mut form = Form {
        texts: Vec::new(),
        uploads: Vec::new(),
    };
    let read = match multipart {
        Ok(multipart) => read_form(multipart, &mut form).await,
        Err(rejection) => Err(rejection.body_text()),
    };
    let mut state = shared.lock();
    let (response, job_id) = match read {
        Ok(()) => process(&mut state, &caller, &app, &form),
        Err(message) => (reply::error(StatusCode::BAD_REQUEST, message), None),
    };
    state.submissions.push(Submission {
        username: caller.username,
        app,
        fields: form.texts,
        files: form
            .uploads
            .iter()
            .map(|(field, upload)| SubmittedFile {
                field: field.clone(),
                file_name: upload.file_name.clone(),
                size: upload.bytes.len(),
                bgzf: is_bgzf(&upload.bytes),
            })
            .collect(),
        status: response.status().as_u16(),
        job_id,
    });
    response
}

async fn read_form(mut multipart: Multipart, form: &mut Form) -> Result<(), String> {
    while let Some(field) = multipart.next_field().await.map_err(|e| e.body_text())? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| e.body_text())?;
        match file_name {
            Some(file_name) => form.uploads.push((
                name,
                Upload {
                    file_name,
                    bytes: bytes.to_vec(),
                },
            )),
            None => form
                .texts
                .push((name, String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    Ok(())
}

/// `StringEscapeUtils.escapeHtml`, which Cloudgene applies to every value.
fn escape_html(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            c if !c.is_ascii() => escaped.push_str(&format!("&#{};", u32::from(c))),
            c => escaped.push(c),
        }
    }
    escaped
}

/// `refpanel` → the panel: `apps@id@version`, `apps@id`, `id@version` or `id`.
fn resolve_panel<'a>(panels: &'a [Panel], value: &str) -> Option<&'a Panel> {
    let bare = value.trim().strip_prefix("apps@").unwrap_or(value.trim());
    let (id, version) = match bare.split_once('@') {
        Some((id, version)) => (id, Some(version)),
        None => (bare, None),
    };
    panels
        .iter()
        .find(|panel| panel.id == id && version.is_none_or(|v| v == panel.version))
}

fn process(
    state: &mut model::State,
    caller: &Caller,
    app: &str,
    form: &Form,
) -> (Response, Option<String>) {
    let refuse = |status, message: String| (reply::error(status, message), None);
    if state.config.maintenance && !caller.admin {
        return (reply::maintenance(), None);
    }
    let max = state.config.max_jobs_per_user;
    let active = state
        .jobs
        .iter()
        .filter(|job| job.username == caller.username && job.phase != Phase::Finished)
        .count();
    if !caller.admin && active >= max {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("Only {max} jobs per user can be executed simultaneously."),
        );
    }
    if app != state.config.app.id {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("Application '{app}' not found."),
        );
    }
    for (name, _) in &form.texts {
        let key = name.strip_prefix("input-").unwrap_or(name);
        if !FIELDS.contains(&key) {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("Parameter '{key}' not found."),
            );
        }
    }
    for (name, _) in &form.uploads {
        let key = name.replace("-upload", "").replace("input-", "");
        if key != "files" {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("Parameter '{key}' not found."),
            );
        }
    }
    // A repeated field keeps its first value.
    let value = |field: &str| {
        form.texts
            .iter()
            .find(|(name, _)| name.strip_prefix("input-").unwrap_or(name) == field)
            .map(|(_, value)| escape_html(value))
    };
    let params = Params {
        refpanel: value("refpanel"),
        build: value("build").unwrap_or_else(|| "hg19".to_owned()),
        r2_filter: value("r2Filter").unwrap_or_else(|| "0".to_owned()),
        phasing: value("phasing").unwrap_or_else(|| "eagle".to_owned()),
        population: value("population"),
        mode: value("mode").unwrap_or_else(|| "imputation".to_owned()),
        // A checkbox is true when sent at all, whatever its value.
        aes_encryption: value("aesEncryption").is_some(),
        meta: value("meta").is_some(),
        password: value("password").filter(|password| !password.is_empty()),
        job_name: value("job-name").filter(|name| !name.trim().is_empty()),
    };

    let now = now_millis();
    let millis = now.max(state.last_job_millis + 1);
    state.last_job_millis = millis;
    let id = format_job_id(millis);
    let script = state.scripts.pop_front().unwrap_or_else(|| Script {
        polls: state.config.polls,
        outcome: state.config.outcome.clone(),
    });
    let panel = params
        .refpanel
        .as_deref()
        .and_then(|value| resolve_panel(&state.config.panels, value))
        .cloned();
    let uploads: Vec<Upload> = form.uploads.iter().map(|(_, u)| u.clone()).collect();
    let validation = match &panel {
        Some(panel) => validate(&params, panel, &uploads, state.config.min_samples),
        None => Err("reference panel not found".to_owned()),
    };
    let (password, password_mailed) = match &params.password {
        Some(password) => (password.clone(), false),
        None => (
            rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(16)
                .map(char::from)
                .collect(),
            true,
        ),
    };
    let steps = Step::ALL
        .iter()
        .map(|step| StepRecord {
            id: state.next_id(),
            step: *step,
            messages: Vec::new(),
        })
        .collect();
    let config = &state.config;
    let mut job = Job {
        name: params.job_name.clone().unwrap_or_else(|| id.clone()),
        id: id.clone(),
        username: caller.username.clone(),
        application: format!("{} {}", config.app.name, config.app.version),
        application_id: config.app.id.clone(),
        state: job_state::WAITING,
        submitted_on: now,
        start_time: -1,
        end_time: -1,
        deleted_on: -1,
        steps,
        phase: Phase::Waiting(script.polls.waiting),
        script,
        params,
        panel,
        validation,
        password,
        password_mailed,
        output: None,
        polls: 0,
    };
    if job.panel.is_none() {
        // The app_list value names no installed app: the job cannot start.
        job.state = job_state::FAILED;
        job.end_time = now;
        job.phase = Phase::Finished;
    }
    tracing::debug!(job = %id, user = %caller.username, "emulated submit");
    state.jobs.push(job);
    (
        reply::ok(json!({
            "success": true,
            "message": "Your job was successfully added to the job queue.",
            "id": id,
        })),
        Some(id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_commons_lang() {
        assert_eq!(escape_html("a&b<c>\"d\""), "a&amp;b&lt;c&gt;&quot;d&quot;");
        assert_eq!(escape_html("é"), "&#233;");
        assert_eq!(escape_html("Abc123"), "Abc123");
    }

    #[test]
    fn panels_resolve_with_or_without_prefix_and_version() {
        let panels = vec![Panel::new("hapmap-2", "2.0.0", "HapMap", "hg19")];
        for value in [
            "apps@hapmap-2@2.0.0",
            "apps@hapmap-2",
            "hapmap-2@2.0.0",
            "hapmap-2",
        ] {
            assert!(resolve_panel(&panels, value).is_some(), "{value}");
        }
        for value in ["apps@hapmap-2@1.0.0", "hapmap", "", "apps@"] {
            assert!(resolve_panel(&panels, value).is_none(), "{value}");
        }
    }
}
