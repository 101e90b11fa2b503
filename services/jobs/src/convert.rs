//! Domain ⇄ wire conversions of the jobs service.

use fip_kit::db::timestamp;
use fip_proto::common::v1::{ErrorReason, GenomeBuild, Phasing};
use fip_proto::jobs::v1 as pb;
use prost::Message;

use crate::model::{
    ChromosomeQc, ErrorAction, Job, LogEntry, LogSource, LogType, ResultFile, Status, StatusUpdate,
};

pub fn status_to_wire(status: Status) -> pb::JobStatus {
    match status {
        Status::Pending => pb::JobStatus::Pending,
        Status::Queued => pb::JobStatus::Queued,
        Status::Running => pb::JobStatus::Running,
        Status::Completed => pb::JobStatus::Completed,
        Status::Failed => pb::JobStatus::Failed,
        Status::Cancelled => pb::JobStatus::Cancelled,
        Status::Expired => pb::JobStatus::Expired,
    }
}

pub fn status_from_wire(value: i32) -> Option<Status> {
    Some(match pb::JobStatus::try_from(value).ok()? {
        pb::JobStatus::Pending => Status::Pending,
        pb::JobStatus::Queued => Status::Queued,
        pb::JobStatus::Running => Status::Running,
        pb::JobStatus::Completed => Status::Completed,
        pb::JobStatus::Failed => Status::Failed,
        pb::JobStatus::Cancelled => Status::Cancelled,
        pb::JobStatus::Expired => Status::Expired,
        pb::JobStatus::Unspecified => return None,
    })
}

pub fn build_from_wire(value: i32) -> Option<&'static str> {
    crate::peers::build_name(value)
}

fn build_to_wire(build: &str) -> GenomeBuild {
    match build {
        "hg19" => GenomeBuild::Hg19,
        "hg38" => GenomeBuild::Hg38,
        _ => GenomeBuild::Unspecified,
    }
}

/// Phasing as the Cloudgene servers name it; None for UNSPECIFIED.
/// An enum number the contract does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownValue;

pub fn phasing_from_wire(value: i32) -> Result<Option<&'static str>, UnknownValue> {
    match Phasing::try_from(value).map_err(|_| UnknownValue)? {
        Phasing::Unspecified => Ok(None),
        Phasing::Eagle => Ok(Some("eagle")),
        Phasing::Beagle => Ok(Some("beagle")),
        Phasing::NoPhasing => Ok(Some("no_phasing")),
    }
}

fn phasing_to_wire(phasing: &str) -> Phasing {
    match phasing {
        "eagle" => Phasing::Eagle,
        "beagle" => Phasing::Beagle,
        "no_phasing" => Phasing::NoPhasing,
        _ => Phasing::Unspecified,
    }
}

pub fn mode_from_wire(value: i32) -> Result<&'static str, UnknownValue> {
    match pb::JobMode::try_from(value).map_err(|_| UnknownValue)? {
        pb::JobMode::Unspecified | pb::JobMode::Imputation => Ok("imputation"),
        pb::JobMode::QcOnly => Ok("qc_only"),
    }
}

fn action_to_wire(action: ErrorAction) -> pb::JobErrorAction {
    match action {
        ErrorAction::None => pb::JobErrorAction::Unspecified,
        ErrorAction::UpdateCredentials => pb::JobErrorAction::UpdateCredentials,
        ErrorAction::FixInput => pb::JobErrorAction::FixInput,
        ErrorAction::ChooseAnotherTarget => pb::JobErrorAction::ChooseAnotherTarget,
        ErrorAction::RetryLater => pb::JobErrorAction::RetryLater,
        ErrorAction::ContactSupport => pb::JobErrorAction::ContactSupport,
    }
}

pub fn job_to_wire(job: Job, child_job_ids: Vec<String>) -> pb::Job {
    let remote_state = (!job.remote_state.is_empty()).then(|| pb::RemoteState {
        state: Some(match job.api_type.as_str() {
            "ga4gh_wes" => pb::remote_state::State::Wes(pb::WesRemoteState {
                state: job.remote_state.clone(),
                exit_code: None,
            }),
            _ => pb::remote_state::State::Michigan(pb::MichiganRemoteState {
                state: job.remote_code.unwrap_or_default() as i32,
                state_name: job.remote_state.clone(),
                position_in_queue: job.remote_position.unwrap_or_default() as i32,
                current_step: job.current_step.clone(),
            }),
        }),
        observed_at: job.remote_observed_at.map(timestamp),
    });
    let reason =
        fip_kit::error::parse_reason(&job.error_reason).unwrap_or(ErrorReason::Unspecified);
    pb::Job {
        id: job.id,
        user_id: job.user_id,
        parent_job_id: job.parent_job_id.unwrap_or_default(),
        name: job.name,
        service_id: job.service_id,
        reference_panel_id: job.reference_panel_id,
        build: build_to_wire(&job.build) as i32,
        phasing: phasing_to_wire(&job.phasing) as i32,
        population: job.population,
        mode: if job.mode == "qc_only" {
            pb::JobMode::QcOnly
        } else {
            pb::JobMode::Imputation
        } as i32,
        r2_filter: job.r2_filter.unwrap_or_default(),
        status: status_to_wire(job.status) as i32,
        progress_percentage: job.progress as i32,
        external_job_id: job.external_job_id,
        remote_state,
        error_message: job.error_message,
        error_reason: reason as i32,
        error_action: action_to_wire(job.error_action) as i32,
        error_action_url: job.error_action_url,
        input_file_id: job.input_file_id,
        input_summary: job
            .input_summary
            .as_deref()
            .and_then(|bytes| pb::InputSummary::decode(bytes).ok()),
        child_job_ids,
        created_at: Some(timestamp(job.created_at)),
        updated_at: Some(timestamp(job.updated_at)),
        started_at: job.started_at.map(timestamp),
        completed_at: job.completed_at.map(timestamp),
        service_name: job.service_name,
        reference_panel_name: job.panel_name,
        cancel_requested_at: job.cancel_requested_at.map(timestamp),
        results_expire_at: job.results_expire_at.map(timestamp),
    }
}

pub fn update_to_wire(update: StatusUpdate) -> pb::JobStatusUpdate {
    pb::JobStatusUpdate {
        id: update.id,
        job_id: update.job_id,
        status: status_to_wire(update.status) as i32,
        progress_percentage: update.progress as i32,
        message: update.message,
        created_at: Some(timestamp(update.created_at)),
    }
}

pub fn source_to_wire(source: LogSource) -> pb::JobLogSource {
    match source {
        LogSource::Remote => pb::JobLogSource::Remote,
        LogSource::Hub => pb::JobLogSource::Hub,
    }
}

pub fn type_to_wire(t: LogType) -> pb::JobLogType {
    match t {
        LogType::Ok => pb::JobLogType::Ok,
        LogType::Error => pb::JobLogType::Error,
        LogType::Warning => pb::JobLogType::Warning,
        LogType::Running => pb::JobLogType::Running,
        LogType::Info => pb::JobLogType::Info,
    }
}

pub fn type_from_wire(value: i32) -> Option<LogType> {
    Some(match pb::JobLogType::try_from(value).ok()? {
        pb::JobLogType::Ok => LogType::Ok,
        pb::JobLogType::Error => LogType::Error,
        pb::JobLogType::Warning => LogType::Warning,
        pb::JobLogType::Running => LogType::Running,
        pb::JobLogType::Info => LogType::Info,
        pb::JobLogType::Unspecified => return None,
    })
}

pub fn log_to_wire(entry: LogEntry) -> pb::JobLogEntry {
    pb::JobLogEntry {
        id: entry.id,
        job_id: entry.job_id,
        source: source_to_wire(entry.source) as i32,
        step_name: entry.step_name,
        r#type: type_to_wire(entry.log_type) as i32,
        message: entry.message,
        time: Some(timestamp(entry.time)),
    }
}

pub fn result_to_wire(file: ResultFile) -> pb::JobResultFile {
    let kind =
        pb::JobResultKind::from_str_name(&format!("JOB_RESULT_KIND_{}", file.kind.to_uppercase()))
            .unwrap_or(pb::JobResultKind::Other);
    pb::JobResultFile {
        file_id: file.file_id,
        name: file.name,
        kind: kind as i32,
        size_bytes: file.size_bytes,
        sha256: file.sha256,
        chromosome: file.chromosome,
        content_type: file.content_type,
        created_at: Some(timestamp(file.created_at)),
    }
}

/// The per-chromosome QC figures and their totals.
pub fn qc_to_wire(chromosomes: Vec<ChromosomeQc>) -> Option<pb::QcSummary> {
    if chromosomes.is_empty() {
        return None;
    }
    let variant_count: i64 = chromosomes.iter().map(|c| c.variant_count).sum();
    let weighted: f64 = chromosomes
        .iter()
        .map(|c| c.mean_r2 * c.variant_count as f64)
        .sum();
    Some(pb::QcSummary {
        variant_count,
        mean_r2: if variant_count > 0 {
            weighted / variant_count as f64
        } else {
            0.0
        },
        count_r2_ge_0_3: chromosomes.iter().map(|c| c.count_r2_ge_03).sum(),
        count_r2_ge_0_8: chromosomes.iter().map(|c| c.count_r2_ge_08).sum(),
        chromosomes: chromosomes
            .into_iter()
            .map(|c| pb::ChromosomeQc {
                chromosome: c.chromosome,
                variant_count: c.variant_count,
                typed_variant_count: c.typed_count,
                mean_r2: c.mean_r2,
                count_r2_ge_0_3: c.count_r2_ge_03,
                count_r2_ge_0_8: c.count_r2_ge_08,
            })
            .collect(),
    })
}

/// The registry's WES workflow in the backend's terms; the signed-URL
/// lifetime (seconds, 0: a day) comes apart.
pub fn wes_workflow(
    value: fip_proto::registry::v1::WesWorkflow,
) -> (fip_backends::wes::WesWorkflow, i64) {
    use fip_backends::wes::{InputDelivery, ParamNames, WesWorkflow};
    use fip_proto::registry::v1::WesInputDelivery;
    let names = value.param_names.unwrap_or_default();
    let workflow = WesWorkflow {
        workflow_type: value.workflow_type,
        workflow_type_version: value.workflow_type_version,
        workflow_url: value.workflow_url,
        workflow_engine: value.workflow_engine,
        workflow_engine_version: value.workflow_engine_version,
        input_delivery: match WesInputDelivery::try_from(value.input_delivery) {
            Ok(WesInputDelivery::SignedUrl) => InputDelivery::SignedUrl,
            _ => InputDelivery::Attachment,
        },
        param_names: ParamNames {
            input: names.input,
            reference_panel: names.reference_panel,
            build: names.build,
            population: names.population,
            phasing: names.phasing,
            r2_filter: names.r2_filter,
            mode: names.mode,
        },
        fixed_params: fip_kit::json::struct_in(value.fixed_params),
        engine_parameters: fip_kit::json::struct_in(value.engine_parameters),
        tags: value.tags.into_iter().collect(),
    };
    (workflow, value.signed_url_ttl_seconds)
}
