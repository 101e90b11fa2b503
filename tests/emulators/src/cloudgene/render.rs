//! The Job JSON of Cloudgene 3 (`JobResponse`, `StepResponse`,
//! `MessageResponse`, `ParameterOutputResponse`, `DownloadResponse`,
//! `JobResultsTreeUtil`).

use serde_json::{Map, Value, json};

use super::state::{Download, Job, Phase, State, job_state};

/// `positionInQueue`: the rank while waiting, 0 while running, -1 after.
fn position(state: &State, job: &Job) -> i64 {
    match job.phase {
        Phase::Waiting(_) => state.position_in_queue(&job.id),
        Phase::Running { .. } | Phase::Exporting(_) => 0,
        Phase::Finished => -1,
    }
}

/// A job as `GET /api/v2/jobs/{id}` shows it. `detailed` is false for
/// finished jobs in lists, which Cloudgene loads from its database without
/// steps or outputs.
pub(crate) fn job(state: &State, job: &Job, admin: bool, detailed: bool, now: i64) -> Value {
    let steps: Vec<Value> = if detailed {
        job.steps
            .iter()
            .map(|step| {
                json!({
                    "id": step.id,
                    "name": step.step.name(),
                    "logMessages": step.messages.iter().map(|message| json!({
                        "success": true,
                        "message": message.text,
                        "type": message.kind,
                        "time": message.time,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let outputs: Vec<Value> = match &job.output {
        Some(output)
            if detailed && matches!(job.state, job_state::SUCCESS | job_state::RETIRED) =>
        {
            let files: Vec<Value> = output
                .files
                .iter()
                .map(|file| {
                    json!({
                        "name": file.name,
                        "path": file.path,
                        "hash": file.hash,
                        "count": file.count,
                        "size": super::results::display_size(file.bytes.len()),
                        "parameterId": output.id,
                        "user": job.username,
                    })
                })
                .collect();
            vec![json!({
                "id": output.id,
                "description": "Downloads",
                "value": format!("{}/output", job.id),
                "download": true,
                "name": "output",
                "tree": tree(&output.files),
                "jobId": job.id,
                "autoExport": false,
                "hash": output.hash,
                "files": files,
            })]
        }
        _ => Vec::new(),
    };
    json!({
        "application": job.application,
        "applicationId": job.application_id,
        "deletedOn": job.deleted_on,
        "endTime": job.end_time,
        "id": job.id,
        "name": job.name,
        "logs": if admin { format!("logs/{}", job.id) } else { String::new() },
        "state": job.state,
        "positionInQueue": position(state, job),
        "userAgent": "Web.Interface",
        "startTime": job.start_time,
        "submittedOn": job.submitted_on,
        "username": job.username,
        "currentTime": now,
        "steps": steps,
        "outputParams": outputs,
    })
}

/// `JobResultsTreeUtil.createTree`: folders first, then names, case-insensitive.
fn tree(files: &[Download]) -> Vec<Value> {
    #[derive(Default)]
    struct Folder {
        folders: Vec<(String, Folder)>,
        files: Vec<Value>,
    }
    fn render(folder: Folder) -> Vec<Value> {
        let mut folders = folder.folders;
        folders.sort_by_key(|(name, _)| name.to_lowercase());
        let mut items: Vec<Value> = folders
            .into_iter()
            .map(|(name, folder)| {
                json!({"name": name, "path": "", "hash": "", "size": null, "folder": true,
                       "childs": render(folder)})
            })
            .collect();
        let mut files = folder.files;
        files.sort_by_key(|file| file["name"].as_str().unwrap_or_default().to_lowercase());
        items.extend(files);
        items
    }
    let mut root = Folder::default();
    for file in files {
        let parts: Vec<&str> = file.name.split('/').collect();
        let (leaf, folders) = parts.split_last().expect("split yields one part");
        let mut folder = &mut root;
        for name in folders {
            let index = match folder.folders.iter().position(|(known, _)| known == name) {
                Some(index) => index,
                None => {
                    folder.folders.push(((*name).to_owned(), Folder::default()));
                    folder.folders.len() - 1
                }
            };
            folder = &mut folder.folders[index].1;
        }
        folder.files.push(json!({
            "name": leaf,
            "path": file.path,
            "hash": file.hash,
            "size": super::results::display_size(file.bytes.len()),
            "folder": false,
            "childs": [],
        }));
    }
    render(root)
}

/// `PageResponse.build`.
pub(crate) fn page(page: usize, page_size: usize, count: usize, data: Vec<Value>) -> Value {
    let mut object = Map::new();
    object.insert("count".into(), json!(count));
    object.insert("pageSize".into(), json!(page_size));
    if count == 0 {
        object.insert("page".into(), json!(0));
        object.insert("pages".into(), json!([]));
    } else {
        object.insert("page".into(), json!(page));
        let pages = count.div_ceil(page_size.max(1));
        if page > 1 {
            object.insert("prev".into(), json!(page - 1));
        }
        if page < pages {
            object.insert("next".into(), json!(page + 1));
        }
        let mut listed: Vec<usize> = (1..=3)
            .rev()
            .filter(|i| page > *i)
            .map(|i| page - i)
            .collect();
        listed.push(page);
        listed.extend((1..=3).map(|i| page + i).filter(|p| *p <= pages));
        object.insert("pages".into(), json!(listed));
    }
    object.insert("data".into(), Value::Array(data));
    Value::Object(object)
}
