//! `fip submit FILE --target SERVICE:PANEL ...`.

use std::path::PathBuf;

use clap::Args;
use fip_proto::jobs::v1 as jobs;
use jobs::job_service_client::JobServiceClient;
use rand::RngCore;
use serde_json::json;

use super::catalog::{all_panels, all_services, find_panel, find_service};
use super::{Global, jobs as job_commands, names, transfer};
use crate::hub::session::authed;
use crate::hub::{CliError, Hub};

/// `fip submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The VCF to impute.
    pub file: PathBuf,
    /// SERVICE:PANEL, each by id or slug; repeat for several targets.
    #[arg(long = "target", required = true)]
    pub targets: Vec<String>,
    /// The input's genome build, hg19 or hg38 (default: each panel's).
    #[arg(long)]
    pub build: Option<String>,
    /// The population (e.g. afr); default: the panel's.
    #[arg(long)]
    pub population: Option<String>,
    /// Phasing: eagle, beagle or none.
    #[arg(long)]
    pub phasing: Option<String>,
    /// imputation or qc.
    #[arg(long, default_value = "imputation")]
    pub mode: String,
    /// Drop imputed variants whose r2 is below this.
    #[arg(long)]
    pub r2_filter: Option<f64>,
    /// The job's name (default: the file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Wait until the job ends (exit 3 if it fails or is cancelled).
    #[arg(long)]
    pub wait: bool,
    /// Once complete, download every result into this directory (implies --wait).
    #[arg(long)]
    pub download: Option<PathBuf>,
}

/// Uploads, submits, and with `--wait`/`--download` follows and fetches.
pub async fn submit(args: SubmitArgs, global: &Global) -> Result<(), CliError> {
    let out = global.out;
    let build = args.build.as_deref().map(names::parse_build).transpose()?;
    let phasing = args
        .phasing
        .as_deref()
        .map(names::parse_phasing)
        .transpose()?;
    let mode = names::parse_mode(&args.mode)?;
    let mut parsed = Vec::new();
    for target in &args.targets {
        let Some((service, panel)) = target.split_once(':') else {
            return Err(CliError::usage(format!(
                "--target {target}: write SERVICE:PANEL, e.g. --target h3africa:1"
            )));
        };
        parsed.push((service.to_owned(), panel.to_owned()));
    }
    if !args.file.is_file() {
        return Err(CliError::usage(format!(
            "{} is not a file: give the VCF to submit",
            args.file.display()
        )));
    }
    let mut hub = Hub::open(global.profile.as_deref())?;
    let services = all_services(&mut hub).await?;
    let mut targets = Vec::new();
    for (service_key, panel_key) in &parsed {
        let service = find_service(&services, service_key)?;
        let panels = all_panels(&mut hub, service.id).await?;
        let panel = find_panel(&panels, service, panel_key)?;
        targets.push(jobs::JobTarget {
            service_id: service.id,
            reference_panel_id: panel.id,
            build: build.map(|b| b as i32).unwrap_or(panel.build),
            phasing: phasing.map(|p| p as i32).unwrap_or_default(),
            population: args
                .population
                .clone()
                .unwrap_or_else(|| panel.default_population.clone()),
        });
    }
    let file = transfer::upload(&mut hub, &args.file, out).await?;
    let name = args.name.clone().unwrap_or_else(|| file.name.clone());
    let mut request_id = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut request_id);
    let request_id = hex::encode(request_id);
    let job = if targets.len() == 1 {
        let target = targets[0].clone();
        let request = jobs::SubmitJobRequest {
            name,
            service_id: target.service_id,
            reference_panel_id: target.reference_panel_id,
            build: target.build,
            phasing: target.phasing,
            population: target.population,
            input_file_id: file.id.clone(),
            r2_filter: args.r2_filter,
            mode: mode as i32,
            validate_only: false,
            request_id,
        };
        hub.call(|channel, token| {
            let request = request.clone();
            async move {
                JobServiceClient::new(channel)
                    .submit_job(authed(request, &token))
                    .await
            }
        })
        .await?
        .into_inner()
        .job
    } else {
        let request = jobs::SubmitMultiServiceJobRequest {
            name,
            input_file_id: file.id.clone(),
            targets,
            mode: mode as i32,
            r2_filter: args.r2_filter,
            validate_only: false,
            request_id,
        };
        hub.call(|channel, token| {
            let request = request.clone();
            async move {
                JobServiceClient::new(channel)
                    .submit_multi_service_job(authed(request, &token))
                    .await
            }
        })
        .await?
        .into_inner()
        .parent_job
    }
    .ok_or_else(|| CliError::error("the hub answered the submission without a job"))?;
    if !args.wait && args.download.is_none() {
        if out.json {
            out.print_json(&job_command_json(&job, None));
        } else {
            println!(
                "submitted job {} ({}); follow it with `fip watch {}`",
                job.id,
                names::status(job.status),
                job.id
            );
        }
        return Ok(());
    }
    if !out.json {
        println!("submitted job {}", job.id);
    }
    let done = job_commands::watch(&mut hub, &job.id, out).await?;
    if let Err(failed) = job_commands::outcome(&done) {
        if out.json {
            out.print_json(&job_command_json(&done, None));
        }
        return Err(failed);
    }
    let downloaded = match &args.download {
        Some(dir) => Some(transfer::download_job(&mut hub, &done, dir, out).await?),
        None => None,
    };
    if out.json {
        out.print_json(&job_command_json(&done, downloaded.as_deref()));
    } else {
        println!("job {} {}", done.id, names::status(done.status));
        if let Some(files) = &downloaded {
            transfer::report(out, files);
        }
    }
    Ok(())
}

fn job_command_json(job: &jobs::Job, files: Option<&[transfer::Downloaded]>) -> serde_json::Value {
    let mut value = json!({ "job": job_commands::job_json(job) });
    if let Some(files) = files {
        value["downloaded"] = json!(files
            .iter()
            .map(|f| json!({"job_id": f.job_id, "path": f.path.display().to_string(), "sha256": f.sha256, "size_bytes": f.size}))
            .collect::<Vec<_>>());
    }
    value
}
