//! Runs as WES shows them: the RunLog, its outputs in cwltool's shape.

use serde_json::{Map, Value, json};

use super::config::{OutputLocations, Script};
use super::sha1::sha1_hex;
use super::state::{OutputFile, Run, RunState, State};

/// Where a client finds an output file.
pub(crate) fn location(state: &State, run: &Run, file: &OutputFile) -> String {
    match &state.config.output_locations {
        OutputLocations::Http => format!("{}/files/{}/{}", state.base_url, run.id, file.name),
        OutputLocations::Drs => format!("drs://{}/{}", state.authority, file.object_id),
        OutputLocations::File(dir) => {
            let folder = run.written.clone().unwrap_or_else(|| dir.join(&run.id));
            format!("file://{}", folder.join(&file.name).display())
        }
    }
}

/// A CWL `File` object as cwltool prints it.
fn file_object(state: &State, run: &Run, file: &OutputFile, secondary: &[&OutputFile]) -> Value {
    let (nameroot, nameext) = match file.name.rfind('.') {
        Some(dot) if dot > 0 => (&file.name[..dot], &file.name[dot..]),
        _ => (file.name.as_str(), ""),
    };
    let mut object = json!({
        "class": "File",
        "location": location(state, run, file),
        "basename": file.name,
        "nameroot": nameroot,
        "nameext": nameext,
        "size": file.bytes.len(),
        "checksum": format!("sha1${}", sha1_hex(&file.bytes)),
    });
    if let OutputLocations::File(_) = state.config.output_locations
        && let Some(path) = object["location"]
            .as_str()
            .and_then(|l| l.strip_prefix("file://"))
            .map(str::to_owned)
    {
        object["path"] = Value::String(path);
    }
    if !secondary.is_empty() {
        object["secondaryFiles"] = Value::Array(
            secondary
                .iter()
                .map(|file| file_object(state, run, file, &[]))
                .collect(),
        );
    }
    object
}

/// The `outputs` of a COMPLETE run.
pub(crate) fn outputs(state: &State, run: &Run) -> Value {
    let imputed: Vec<Value> = run
        .products
        .imputed
        .iter()
        .map(|(vcf, tbi)| file_object(state, run, vcf, &[tbi]))
        .collect();
    let info: Vec<Value> = run
        .products
        .info
        .iter()
        .map(|file| file_object(state, run, file, &[]))
        .collect();
    json!({"imputed": imputed, "info": info})
}

fn basename(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// cwltool's log on stderr, up to the state shown.
fn cwltool_stderr(state: &State, run: &Run, shown: RunState) -> String {
    let (engine, version) = &state.config.engine;
    let url = &run.submission.workflow_url;
    let mut text = String::new();
    if shown == RunState::Queued {
        return text;
    }
    text.push_str(&format!("INFO /usr/local/bin/{engine} {version}\n"));
    text.push_str(&format!(
        "INFO Resolved '{url}' to 'file:///var/lib/wes/{}/{}'\n",
        run.id,
        basename(url)
    ));
    if shown == RunState::Initializing {
        return text;
    }
    text.push_str("INFO [workflow ] start\n");
    for task in &run.products.tasks {
        text.push_str(&format!("INFO [step {task}] start\n"));
    }
    match shown {
        RunState::Complete => {
            for task in &run.products.tasks {
                text.push_str(&format!("INFO [step {task}] completed success\n"));
            }
            text.push_str(
                "INFO [workflow ] completed success\nINFO Final process status is success\n",
            );
        }
        RunState::Canceling | RunState::Canceled => {
            text.push_str("WARNING Received signal 15, cancelling the workflow\n");
        }
        _ => {}
    }
    text
}

/// The task logs at the state shown; each task's `id` is its name.
pub(crate) fn task_logs(run: &Run, shown: RunState) -> Vec<Value> {
    let task = |name: &str, stderr: &str, exit_code: Value, ended: bool| {
        json!({
            "id": name,
            "name": name,
            "cmd": ["java", "-jar", "beagle.jar", format!("gt={name}.vcf.gz"), format!("out={name}.imputed")],
            "start_time": run.start_time,
            "end_time": if ended { json!(run.end_time) } else { Value::Null },
            "stdout": "",
            "stderr": stderr,
            "exit_code": exit_code,
        })
    };
    match (shown, &run.script) {
        (RunState::Queued | RunState::Initializing, _) => Vec::new(),
        (RunState::ExecutorError, Script::ExecutorError { stderr }) => {
            let name = run.products.tasks.first().map_or("impute", String::as_str);
            vec![task(name, stderr, json!(1), true)]
        }
        (RunState::SystemError, _) => {
            vec![task("impute", "node lost", Value::Null, true)]
        }
        (RunState::Complete, _) => run
            .products
            .tasks
            .iter()
            .map(|name| task(name, "", json!(0), true))
            .collect(),
        (RunState::Canceled, _) => run
            .products
            .tasks
            .iter()
            .map(|name| task(name, "", Value::Null, true))
            .collect(),
        _ => run
            .products
            .tasks
            .iter()
            .map(|name| task(name, "", Value::Null, false))
            .collect(),
    }
}

/// The RunLog as it stands at the state shown.
pub(crate) fn run_log(state: &State, run: &Run, shown: RunState) -> Value {
    let submission = &run.submission;
    let mut request = json!({
        "workflow_params": submission.workflow_params,
        "workflow_type": submission.workflow_type,
        "workflow_type_version": submission.workflow_type_version,
        "tags": Value::Object(submission.tags.clone()),
        "workflow_url": submission.workflow_url,
    });
    if let Some(parameters) = &submission.workflow_engine_parameters {
        request["workflow_engine_parameters"] = parameters.clone();
    }
    let outputs = if shown == RunState::Complete {
        outputs(state, run)
    } else {
        Value::Object(Map::new())
    };
    let (stdout, stderr, exit_code) = match (shown, &run.script) {
        (RunState::Complete, _) => (
            serde_json::to_string_pretty(&outputs).unwrap_or_default(),
            cwltool_stderr(state, run, shown),
            json!(0),
        ),
        (RunState::ExecutorError, Script::ExecutorError { stderr }) => {
            (String::new(), stderr.clone(), json!(1))
        }
        (RunState::SystemError, _) => (String::new(), "node lost".to_owned(), Value::Null),
        _ => (
            String::new(),
            cwltool_stderr(state, run, shown),
            Value::Null,
        ),
    };
    let (engine, _) = &state.config.engine;
    json!({
        "run_id": run.id,
        "request": request,
        "state": shown.as_str(),
        "run_log": {
            "name": basename(&submission.workflow_url),
            "cmd": [engine, "--outdir", format!("/var/lib/wes/{}/outdir", run.id), submission.workflow_url, "wes_workflow_params.json"],
            "start_time": run.start_time,
            "end_time": run.end_time,
            "stdout": stdout,
            "stderr": stderr,
            "exit_code": exit_code,
        },
        "task_logs": task_logs(run, shown),
        "outputs": outputs,
    })
}
