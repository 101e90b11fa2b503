//! `fip jobs`, `status`, `watch`, `logs`, `results`, `cancel`, `notifications`.

use clap::Args;
use fip_proto::jobs::v1 as jobs;
use fip_proto::notify::v1 as notify;
use jobs::job_service_client::JobServiceClient;
use serde_json::json;

use super::{Global, names};
use crate::hub::session::{authed, is_expired};
use crate::hub::{CliError, Exit, Hub};
use crate::output::{Out, human_bytes, time};

/// A command about one job.
#[derive(Debug, Args)]
pub struct JobArg {
    /// The job's id.
    pub job: String,
}

/// `fip jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Only jobs in this status (pending, queued, running, completed, failed, cancelled, expired).
    #[arg(long)]
    pub status: Option<String>,
    /// Every job, across all pages (default: the latest 20).
    #[arg(long)]
    pub all: bool,
}

/// Reads one job.
pub async fn get_job(hub: &mut Hub, id: &str) -> Result<jobs::Job, CliError> {
    let id = id.to_owned();
    hub.call(|channel, token| {
        let id = id.clone();
        async move {
            JobServiceClient::new(channel)
                .get_job(authed(jobs::GetJobRequest { id }, &token))
                .await
        }
    })
    .await?
    .into_inner()
    .job
    .ok_or_else(|| CliError::error("the hub answered without the job"))
}

/// A job as JSON.
pub fn job_json(job: &jobs::Job) -> serde_json::Value {
    json!({
        "id": job.id, "name": job.name, "status": names::status(job.status),
        "progress_percentage": job.progress_percentage,
        "service_id": job.service_id, "service": job.service_name,
        "reference_panel_id": job.reference_panel_id, "reference_panel": job.reference_panel_name,
        "build": names::build(job.build), "population": job.population,
        "mode": names::mode(job.mode),
        "parent_job_id": job.parent_job_id, "child_job_ids": job.child_job_ids,
        "error_message": job.error_message,
        "created_at": time(job.created_at.as_ref()),
        "completed_at": time(job.completed_at.as_ref()),
    })
}

fn job_row(job: &jobs::Job) -> Vec<String> {
    vec![
        job.id.clone(),
        job.name.clone(),
        names::status(job.status),
        format!("{}%", job.progress_percentage),
        if job.child_job_ids.is_empty() {
            format!("{} / {}", job.service_name, job.reference_panel_name)
        } else {
            format!("{} targets", job.child_job_ids.len())
        },
        time(job.created_at.as_ref()),
    ]
}

const JOB_HEADERS: [&str; 6] = ["ID", "NAME", "STATUS", "PROGRESS", "TARGET", "CREATED"];

/// Lists jobs.
pub async fn list(args: JobsArgs, global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let status = match &args.status {
        Some(s) => vec![names::parse_status(s)? as i32],
        None => Vec::new(),
    };
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = jobs::ListJobsRequest {
            page_size: if args.all { 100 } else { 20 },
            page_token: page_token.clone(),
            status: status.clone(),
            top_level_only: true,
            ..Default::default()
        };
        let page = hub
            .call(|channel, token| {
                let request = request.clone();
                async move {
                    JobServiceClient::new(channel)
                        .list_jobs(authed(request, &token))
                        .await
                }
            })
            .await?
            .into_inner();
        all.extend(page.jobs);
        if !args.all || page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if global.out.json {
        global
            .out
            .print_json(&json!({"jobs": all.iter().map(job_json).collect::<Vec<_>>()}));
    } else {
        let rows: Vec<_> = all.iter().map(job_row).collect();
        global.out.table(&JOB_HEADERS, &rows);
    }
    Ok(())
}

/// Shows one job (and its children).
pub async fn status(args: JobArg, global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let job = get_job(&mut hub, &args.job).await?;
    let mut children = Vec::new();
    for child in &job.child_job_ids {
        children.push(get_job(&mut hub, child).await?);
    }
    if global.out.json {
        let mut value = job_json(&job);
        value["children"] = json!(children.iter().map(job_json).collect::<Vec<_>>());
        global.out.print_json(&value);
    } else {
        let mut rows = vec![job_row(&job)];
        rows.extend(children.iter().map(job_row));
        global.out.table(&JOB_HEADERS, &rows);
        for failed in std::iter::once(&job).chain(&children) {
            if !failed.error_message.is_empty() {
                println!("{}: {}", failed.id, failed.error_message);
            }
        }
    }
    Ok(())
}

/// Follows `id` on the `WatchJob` stream until it is final, reopening the
/// stream when it breaks (after renewing the session when the token
/// expired). Steps are printed as they start; a bar shows progress.
pub async fn watch(hub: &mut Hub, id: &str, out: Out) -> Result<jobs::Job, CliError> {
    let bar = out.percent_bar(&id.chars().take(12).collect::<String>());
    let mut step = String::new();
    let mut attempts = 0u32;
    loop {
        let id_owned = id.to_owned();
        let mut stream = hub
            .call(|channel, token| {
                let id = id_owned.clone();
                async move {
                    JobServiceClient::new(channel)
                        .watch_job(authed(
                            jobs::WatchJobRequest {
                                id,
                                include_logs: true,
                            },
                            &token,
                        ))
                        .await
                }
            })
            .await?
            .into_inner();
        loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    attempts = 0;
                    if let Some(jobs::watch_job_response::Event::LogEntry(entry)) = &message.event
                        && !entry.step_name.is_empty()
                        && entry.step_name != step
                    {
                        step = entry.step_name.clone();
                        if !out.json {
                            bar.suspend(|| println!("step: {step}"));
                        }
                    }
                    if let Some(job) = message.job {
                        bar.set_position(job.progress_percentage.clamp(0, 100) as u64);
                        bar.set_message(names::status(job.status));
                        if names::is_final(job.status) {
                            bar.finish_and_clear();
                            return Ok(job);
                        }
                    }
                }
                Ok(None) => break,
                Err(status) if is_expired(&status) => {
                    hub.refresh().await?;
                    break;
                }
                Err(status) if status.code() == tonic::Code::Unavailable && attempts < 5 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200 << attempts)).await;
                    break;
                }
                Err(status) => return Err(hub.explain(&status).await),
            }
        }
    }
}

/// Exit 3 for a job that failed or was cancelled, with the reason.
pub fn outcome(job: &jobs::Job) -> Result<(), CliError> {
    match jobs::JobStatus::try_from(job.status) {
        Ok(jobs::JobStatus::Completed) => Ok(()),
        _ => {
            let action = match jobs::JobErrorAction::try_from(job.error_action) {
                Ok(jobs::JobErrorAction::UpdateCredentials) => {
                    "; update your credential (`fip credentials set SERVICE`)"
                }
                Ok(jobs::JobErrorAction::FixInput) => {
                    "; fix the input (`fip check FILE --build BUILD`) and submit again"
                }
                Ok(jobs::JobErrorAction::ChooseAnotherTarget) => {
                    "; choose another service or panel"
                }
                Ok(jobs::JobErrorAction::RetryLater) => "; submit again later",
                Ok(jobs::JobErrorAction::ContactSupport) => "; contact the service's support",
                _ => "",
            };
            let why = if job.error_message.is_empty() {
                String::new()
            } else {
                format!(": {}", job.error_message)
            };
            Err(CliError::new(
                Exit::JobFailed,
                format!(
                    "job {} {}{why}{action} (`fip logs {}` has the details)",
                    job.id,
                    names::status(job.status),
                    job.id
                ),
            ))
        }
    }
}

/// `fip watch JOB`.
pub async fn watch_command(args: JobArg, global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let job = watch(&mut hub, &args.job, global.out).await?;
    if global.out.json {
        global.out.print_json(&job_json(&job));
    } else {
        println!("job {} {}", job.id, names::status(job.status));
    }
    outcome(&job)
}

/// Prints a job's log.
pub async fn logs(args: JobArg, global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = jobs::ListJobLogsRequest {
            job_id: args.job.clone(),
            page_size: 500,
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = hub
            .call(|channel, token| {
                let request = request.clone();
                async move {
                    JobServiceClient::new(channel)
                        .list_job_logs(authed(request, &token))
                        .await
                }
            })
            .await?
            .into_inner();
        entries.extend(page.logs);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    if global.out.json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| json!({"time": time(e.time.as_ref()), "step": e.step_name, "message": e.message}))
            .collect();
        global.out.print_json(&json!({ "logs": list }));
    } else {
        for e in &entries {
            println!(
                "{}  {:<24}  {}",
                time(e.time.as_ref()),
                e.step_name,
                e.message
            );
        }
    }
    Ok(())
}

/// A job's results listing.
pub async fn list_results(
    hub: &mut Hub,
    id: &str,
) -> Result<jobs::ListJobResultsResponse, CliError> {
    let id = id.to_owned();
    Ok(hub
        .call(|channel, token| {
            let job_id = id.clone();
            async move {
                JobServiceClient::new(channel)
                    .list_job_results(authed(jobs::ListJobResultsRequest { job_id }, &token))
                    .await
            }
        })
        .await?
        .into_inner())
}

/// Lists a job's result files.
pub async fn results(args: JobArg, global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let listing = list_results(&mut hub, &args.job).await?;
    if global.out.json {
        let list: Vec<_> = listing
            .files
            .iter()
            .map(|f| json!({"file_id": f.file_id, "name": f.name, "kind": names::result_kind(f.kind), "size_bytes": f.size_bytes, "sha256": f.sha256, "chromosome": f.chromosome}))
            .collect();
        global
            .out
            .print_json(&json!({"files": list, "complete": listing.complete, "expires_at": time(listing.expires_at.as_ref())}));
    } else {
        let rows: Vec<_> = listing
            .files
            .iter()
            .map(|f| {
                vec![
                    f.name.clone(),
                    names::result_kind(f.kind),
                    human_bytes(f.size_bytes),
                    f.sha256.clone(),
                ]
            })
            .collect();
        global.out.table(&["NAME", "KIND", "SIZE", "SHA256"], &rows);
        if !listing.complete {
            println!("(the hub is still fetching results)");
        }
    }
    Ok(())
}

/// Cancels a job.
pub async fn cancel(args: JobArg, global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let id = args.job.clone();
    let job = hub
        .call(|channel, token| {
            let id = id.clone();
            async move {
                JobServiceClient::new(channel)
                    .cancel_job(authed(jobs::CancelJobRequest { id }, &token))
                    .await
            }
        })
        .await?
        .into_inner()
        .job
        .unwrap_or_default();
    if global.out.json {
        global.out.print_json(&job_json(&job));
    } else {
        println!("job {} {}", job.id, names::status(job.status));
    }
    Ok(())
}

/// Lists the latest notifications.
pub async fn notifications(global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let page = hub
        .call(|channel, token| async move {
            notify::notification_service_client::NotificationServiceClient::new(channel)
                .list_notifications(authed(
                    notify::ListNotificationsRequest {
                        page_size: 50,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
        })
        .await?
        .into_inner();
    if global.out.json {
        let list: Vec<_> = page
            .notifications
            .iter()
            .map(|n| json!({"id": n.id, "title": n.title, "message": n.message, "job_id": n.job_id, "is_read": n.is_read, "created_at": time(n.created_at.as_ref())}))
            .collect();
        global
            .out
            .print_json(&json!({"notifications": list, "unread_count": page.unread_count}));
    } else {
        let rows: Vec<_> = page
            .notifications
            .iter()
            .map(|n| {
                vec![
                    time(n.created_at.as_ref()),
                    if n.is_read { "" } else { "new" }.to_owned(),
                    n.title.clone(),
                    n.message.clone(),
                ]
            })
            .collect();
        global.out.table(&["TIME", "", "TITLE", "MESSAGE"], &rows);
    }
    Ok(())
}
