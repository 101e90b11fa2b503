//! Enum values as people and scripts write them (`hg38`, `completed`).

use fip_proto::common::v1::{GenomeBuild, Phasing};
use fip_proto::jobs::v1::{JobMode, JobResultKind, JobStatus};
use fip_proto::registry::v1::ApiType;

use crate::hub::CliError;

fn lower(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// `hg19`, `hg38`.
pub fn build(value: i32) -> String {
    GenomeBuild::try_from(value)
        .map(|b| lower(b.as_str_name(), "GENOME_BUILD_"))
        .unwrap_or_default()
}

/// Parses `hg19`/`hg38` (also `grch37`/`grch38`).
pub fn parse_build(text: &str) -> Result<GenomeBuild, CliError> {
    match text.to_ascii_lowercase().as_str() {
        "hg19" | "grch37" | "b37" => Ok(GenomeBuild::Hg19),
        "hg38" | "grch38" | "b38" => Ok(GenomeBuild::Hg38),
        _ => Err(CliError::usage(format!(
            "unknown build {text}: use hg19 or hg38"
        ))),
    }
}

/// Parses `eagle`, `beagle`, `none`.
pub fn parse_phasing(text: &str) -> Result<Phasing, CliError> {
    match text.to_ascii_lowercase().as_str() {
        "eagle" => Ok(Phasing::Eagle),
        "beagle" => Ok(Phasing::Beagle),
        "none" | "no" | "no-phasing" => Ok(Phasing::NoPhasing),
        _ => Err(CliError::usage(format!(
            "unknown phasing {text}: use eagle, beagle or none"
        ))),
    }
}

/// Parses `imputation`, `qc`.
pub fn parse_mode(text: &str) -> Result<JobMode, CliError> {
    match text.to_ascii_lowercase().as_str() {
        "imputation" => Ok(JobMode::Imputation),
        "qc" | "qc-only" | "qc_only" => Ok(JobMode::QcOnly),
        _ => Err(CliError::usage(format!(
            "unknown mode {text}: use imputation or qc"
        ))),
    }
}

/// `completed`, `running`, ...
pub fn status(value: i32) -> String {
    JobStatus::try_from(value)
        .map(|s| lower(s.as_str_name(), "JOB_STATUS_"))
        .unwrap_or_default()
}

/// Parses a status name.
pub fn parse_status(text: &str) -> Result<JobStatus, CliError> {
    JobStatus::from_str_name(&format!("JOB_STATUS_{}", text.to_ascii_uppercase()))
        .filter(|s| *s != JobStatus::Unspecified)
        .ok_or_else(|| {
            CliError::usage(format!(
                "unknown status {text}: use pending, queued, running, completed, failed, cancelled or expired"
            ))
        })
}

/// True for a status a job never leaves.
pub fn is_final(value: i32) -> bool {
    matches!(
        JobStatus::try_from(value),
        Ok(JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled | JobStatus::Expired)
    )
}

/// `michigan`, `ga4gh_wes`.
pub fn api_type(value: i32) -> String {
    ApiType::try_from(value)
        .map(|a| lower(a.as_str_name(), "API_TYPE_"))
        .unwrap_or_default()
}

/// `imputed_genotypes`, `qc_report`, ...
pub fn result_kind(value: i32) -> String {
    JobResultKind::try_from(value)
        .map(|k| lower(k.as_str_name(), "JOB_RESULT_KIND_"))
        .unwrap_or_default()
}

/// `imputation`, `qc_only`.
pub fn mode(value: i32) -> String {
    JobMode::try_from(value)
        .map(|m| lower(m.as_str_name(), "JOB_MODE_"))
        .unwrap_or_default()
}
