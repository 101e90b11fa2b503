//! Domain ⇄ wire conversions of the jobs service.

use fip_kit::db::timestamp;
use fip_proto::common::v1::{ErrorReason, GenomeBuild as WireBuild, Phasing as WirePhasing};
use fip_proto::jobs::v1 as pb;
use prost::Message;

use crate::model::{
    ApiType, ChromosomeQc, ErrorAction, FailureReason, GenomeBuild, Job, LogEntry, LogSource,
    LogType, Mode, Phasing, ResultFile, Status, StatusUpdate,
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

/// An enum number the contract does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownValue;

/// The genome build; None for UNSPECIFIED.
pub fn build_from_wire(value: i32) -> Result<Option<GenomeBuild>, UnknownValue> {
    match WireBuild::try_from(value).map_err(|_| UnknownValue)? {
        WireBuild::Unspecified => Ok(None),
        WireBuild::Hg19 => Ok(Some(GenomeBuild::Hg19)),
        WireBuild::Hg38 => Ok(Some(GenomeBuild::Hg38)),
    }
}

pub fn build_to_wire(build: Option<GenomeBuild>) -> WireBuild {
    match build {
        None => WireBuild::Unspecified,
        Some(GenomeBuild::Hg19) => WireBuild::Hg19,
        Some(GenomeBuild::Hg38) => WireBuild::Hg38,
    }
}

/// The phasing method; None for UNSPECIFIED (the server's default).
pub fn phasing_from_wire(value: i32) -> Result<Option<Phasing>, UnknownValue> {
    match WirePhasing::try_from(value).map_err(|_| UnknownValue)? {
        WirePhasing::Unspecified => Ok(None),
        WirePhasing::Eagle => Ok(Some(Phasing::Eagle)),
        WirePhasing::Beagle => Ok(Some(Phasing::Beagle)),
        WirePhasing::NoPhasing => Ok(Some(Phasing::NoPhasing)),
    }
}

fn phasing_to_wire(phasing: Option<Phasing>) -> WirePhasing {
    match phasing {
        None => WirePhasing::Unspecified,
        Some(Phasing::Eagle) => WirePhasing::Eagle,
        Some(Phasing::Beagle) => WirePhasing::Beagle,
        Some(Phasing::NoPhasing) => WirePhasing::NoPhasing,
    }
}

/// The mode; UNSPECIFIED is imputation.
pub fn mode_from_wire(value: i32) -> Result<Mode, UnknownValue> {
    match pb::JobMode::try_from(value).map_err(|_| UnknownValue)? {
        pb::JobMode::Unspecified | pb::JobMode::Imputation => Ok(Mode::Imputation),
        pb::JobMode::QcOnly => Ok(Mode::QcOnly),
    }
}

fn mode_to_wire(mode: Mode) -> pb::JobMode {
    match mode {
        Mode::Imputation => pb::JobMode::Imputation,
        Mode::QcOnly => pb::JobMode::QcOnly,
    }
}

pub fn reason_to_wire(reason: Option<FailureReason>) -> ErrorReason {
    match reason {
        None => ErrorReason::Unspecified,
        Some(FailureReason::CredentialsMissing) => ErrorReason::CredentialsMissing,
        Some(FailureReason::CredentialsRejected) => ErrorReason::CredentialsRejected,
        Some(FailureReason::ServiceUnavailable) => ErrorReason::ServiceUnavailable,
        Some(FailureReason::InputInvalid) => ErrorReason::InputInvalid,
        Some(FailureReason::ResultsExpired) => ErrorReason::ResultsExpired,
        Some(FailureReason::UpstreamFailed) => ErrorReason::UpstreamFailed,
        Some(FailureReason::Internal) => ErrorReason::Internal,
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
        state: Some(match job.api_type {
            Some(ApiType::Ga4ghWes) => pb::remote_state::State::Wes(pb::WesRemoteState {
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
    pb::Job {
        id: job.id,
        user_id: job.user_id,
        parent_job_id: job.parent_job_id.unwrap_or_default(),
        name: job.name,
        service_id: job.service_id,
        reference_panel_id: job.reference_panel_id,
        build: build_to_wire(job.build) as i32,
        phasing: phasing_to_wire(job.phasing) as i32,
        population: job.population,
        mode: mode_to_wire(job.mode) as i32,
        r2_filter: job.r2_filter.unwrap_or_default(),
        status: status_to_wire(job.status) as i32,
        progress_percentage: job.progress as i32,
        external_job_id: job.external_job_id,
        remote_state,
        error_message: job.error_message,
        error_reason: reason_to_wire(job.error_reason) as i32,
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
