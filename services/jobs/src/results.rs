//! Inputs and outputs of a job on disk: the pre-flight check and the
//! per-chromosome split before submitting; downloading, decrypting,
//! storing and summarising the results after.

use std::io::Read;
use std::path::{Path, PathBuf};

use fip_backends::{ApiType, MessageKind};
use fip_kit::db::now_millis;
use fip_proto::common::v1 as common;
use fip_proto::jobs::v1 as pb;
use prost::Message;

use crate::model::{ChromosomeQc, Job, LogType, Phasing, ResultFile};
use crate::peers::{JobFile, Mesh};
use crate::service::Jobs;
use crate::store::Store;

const INPUT: &str = "input.vcf";
const CHROMOSOMES: &str = "chromosomes";

/// The job's API family; a job without one (a parent) has no server.
pub fn api_type(job: &Job) -> anyhow::Result<ApiType> {
    job.api_type
        .ok_or_else(|| anyhow::anyhow!("job {} has no target server", job.id))
}

pub fn log_type(kind: MessageKind) -> LogType {
    match kind {
        MessageKind::Ok => LogType::Ok,
        MessageKind::Error => LogType::Error,
        MessageKind::Warning => LogType::Warning,
        MessageKind::Running => LogType::Running,
        MessageKind::Info => LogType::Info,
    }
}

/// A server-given file name made safe as one local file name.
pub fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match cleaned.trim_start_matches('.') {
        "" => "output".to_string(),
        rest => rest.to_string(),
    }
}

/// A checked and split input.
pub struct Prepared {
    /// The encoded `fip.jobs.v1.InputSummary`.
    pub summary: Vec<u8>,
    pub warnings: Vec<String>,
}

pub enum InputError {
    /// The user's file cannot be imputed; the message says why.
    Invalid {
        message: String,
        summary: Option<Vec<u8>>,
    },
    Other(anyhow::Error),
}

impl From<anyhow::Error> for InputError {
    fn from(e: anyhow::Error) -> Self {
        InputError::Other(e)
    }
}

fn upper_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

fn issue_to_wire(issue: &fip_vcf::InputIssue) -> pb::InputIssue {
    let code = pb::InputIssueCode::from_str_name(&format!(
        "INPUT_ISSUE_CODE_{}",
        upper_snake(&format!("{:?}", issue.code))
    ))
    .unwrap_or(pb::InputIssueCode::Unspecified);
    pb::InputIssue {
        code: code as i32,
        message: issue.message.clone(),
        chromosome: issue.chromosome.clone(),
        line: issue.line as i64,
    }
}

/// The pre-flight summary in contract form.
pub fn summary_to_wire(s: &fip_vcf::InputSummary) -> pb::InputSummary {
    pb::InputSummary {
        format: match s.format {
            fip_vcf::InputFormat::Vcf => common::InputFormat::Vcf,
            fip_vcf::InputFormat::VcfBgzf => common::InputFormat::VcfBgzf,
            fip_vcf::InputFormat::VcfGzip => common::InputFormat::VcfGzip,
        } as i32,
        sample_count: s.sample_count as i32,
        variant_count: s.variant_count as i64,
        is_phased: s.is_phased,
        chromosome_naming: match s.chromosome_naming {
            fip_vcf::ChromosomeNaming::Unspecified => pb::ChromosomeNaming::Unspecified,
            fip_vcf::ChromosomeNaming::Ucsc => pb::ChromosomeNaming::Ucsc,
            fip_vcf::ChromosomeNaming::Ensembl => pb::ChromosomeNaming::Ensembl,
            fip_vcf::ChromosomeNaming::Mixed => pb::ChromosomeNaming::Mixed,
        } as i32,
        chromosomes: s
            .chromosomes
            .iter()
            .map(|c| pb::ChromosomeVariantCount {
                chromosome: c.chromosome.clone(),
                variant_count: c.variant_count as i64,
            })
            .collect(),
        detected_build: match s.detected_build {
            Some(fip_vcf::GenomeBuild::Hg19) => common::GenomeBuild::Hg19,
            Some(fip_vcf::GenomeBuild::Hg38) => common::GenomeBuild::Hg38,
            None => common::GenomeBuild::Unspecified,
        } as i32,
        warnings: s
            .warnings
            .iter()
            .chain(&s.blocking)
            .map(issue_to_wire)
            .collect(),
        checked_at: Some(fip_kit::db::timestamp(now_millis())),
    }
}

fn vcf_build(job: &Job) -> anyhow::Result<fip_vcf::GenomeBuild> {
    job.build
        .ok_or_else(|| anyhow::anyhow!("job {} has no genome build", job.id))
}

/// Fetches the input into `dir`, checks it and splits it into one BGZF file
/// per chromosome (named as the build expects) under `dir/chromosomes`.
pub async fn prepare_input(mesh: &Mesh, job: &Job, dir: &Path) -> Result<Prepared, InputError> {
    if dir.exists() {
        tokio::fs::remove_dir_all(dir)
            .await
            .map_err(anyhow::Error::from)?;
    }
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(anyhow::Error::from)?;
    let input = dir.join(INPUT);
    mesh.read_file(&job.input_file_id, &input)
        .await
        .map_err(|s| anyhow::anyhow!("cannot read the input file: {}", s.message()))?;
    let build = vcf_build(job)?;
    let checked = {
        let input = input.clone();
        tokio::task::spawn_blocking(move || fip_vcf::preflight(&input, build))
            .await
            .map_err(anyhow::Error::from)?
    };
    let summary = match checked {
        Ok(summary) => summary,
        Err(e) => {
            return Err(InputError::Invalid {
                message: format!("the input is not a usable VCF: {e}"),
                summary: None,
            });
        }
    };
    let encoded = summary_to_wire(&summary).encode_to_vec();
    if !summary.is_acceptable() {
        let reasons: Vec<String> = summary.blocking.iter().map(|i| i.message.clone()).collect();
        return Err(InputError::Invalid {
            message: format!("the input cannot be imputed: {}", reasons.join("; ")),
            summary: Some(encoded),
        });
    }
    let mut warnings: Vec<String> = summary.warnings.iter().map(|i| i.message.clone()).collect();
    if !summary.is_phased && job.phasing == Some(Phasing::NoPhasing) {
        warnings.push("the input is not phased but phasing was turned off".into());
    }
    let out = dir.join(CHROMOSOMES);
    tokio::fs::create_dir_all(&out)
        .await
        .map_err(anyhow::Error::from)?;
    let split = {
        let input = input.clone();
        let out = out.clone();
        tokio::task::spawn_blocking(move || {
            fip_vcf::split_by_chromosome(&input, &out, &fip_vcf::SplitOptions::for_build(build))
        })
        .await
        .map_err(anyhow::Error::from)?
    };
    match split {
        Ok(files) if files.is_empty() => Err(InputError::Invalid {
            message: "the input has no variants on chromosomes the servers impute (1-22, X)".into(),
            summary: Some(encoded),
        }),
        Ok(_) => {
            let _ = tokio::fs::remove_file(&input).await;
            Ok(Prepared {
                summary: encoded,
                warnings,
            })
        }
        Err(e) => Err(InputError::Invalid {
            message: format!("the input could not be split by chromosome: {e}"),
            summary: Some(encoded),
        }),
    }
}

/// The per-chromosome files of a prepared job, in chromosome order; None
/// when they are not there (a fresh worker).
pub async fn chromosome_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut entries = tokio::fs::read_dir(dir.join(CHROMOSOMES)).await.ok()?;
    let mut files = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        if path.to_string_lossy().ends_with(".vcf.gz") {
            files.push(path);
        }
    }
    files.sort_by_key(|p| {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        crate::store::sql::chromosome_order(name.trim_end_matches(".vcf.gz"))
    });
    (!files.is_empty()).then_some(files)
}

/// What a result file is, from its name.
fn kind_of(name: &str) -> (&'static str, &'static str) {
    let lower = name.to_lowercase();
    if lower.ends_with(".dose.vcf.gz") || lower.ends_with(".vcf.gz") && !lower.contains("info") {
        ("imputed_genotypes", "application/gzip")
    } else if lower.contains(".info") {
        ("variant_info", "application/gzip")
    } else if lower.ends_with(".tbi") || lower.ends_with(".csi") {
        ("index", "application/octet-stream")
    } else if lower.ends_with(".zip") {
        ("archive", "application/zip")
    } else if lower.contains("qc_report") || lower.ends_with(".html") {
        (
            "qc_report",
            if lower.ends_with(".html") {
                "text/html"
            } else {
                "text/plain"
            },
        )
    } else if lower.contains("statistic") {
        ("statistics", "text/plain")
    } else if lower.ends_with(".log") {
        ("log", "text/plain")
    } else {
        ("other", "application/octet-stream")
    }
}

/// `chr20` from `chr_20.zip`, `chr20.dose.vcf.gz`, `chr20.info.gz`.
fn chromosome_of(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = base
        .split('.')
        .next()
        .unwrap_or(base)
        .replace("chr_", "chr");
    if let Some(rest) = stem.strip_prefix("chr")
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return format!("chr{rest}");
    }
    String::new()
}

/// Stores one result file under `key` (what it is: its remote output, and
/// the archive entry it came from), so that storing it again — a retry, or
/// a worker resuming after a crash between storing and recording — finds
/// the file stored before; then records it.
async fn store_file(
    jobs: &Jobs,
    job: &Job,
    key: &str,
    name: &str,
    path: &Path,
) -> Result<(), OutputError> {
    let (kind, content_type) = kind_of(name);
    let file = jobs
        .mesh
        .store_job_file(
            job.user_id,
            &job.id,
            JobFile {
                name,
                content_type,
                kind: fip_proto::files::v1::FileKind::Output,
                path,
                idempotency_key: key,
            },
        )
        .await
        .map_err(|s| OutputError::Storing {
            message: format!("storing {name}: {}", s.message()),
            transient: matches!(
                s.code(),
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Aborted
            ),
        })?;
    jobs.store
        .put_result(
            &job.id,
            &ResultFile {
                file_id: file.id,
                name: name.to_string(),
                kind: kind.to_string(),
                size_bytes: file.size_bytes,
                sha256: file.sha256,
                chromosome: chromosome_of(name),
                content_type: content_type.to_string(),
                created_at: now_millis(),
            },
        )
        .await
        .map_err(|e| OutputError::Other(e.into()))?;
    Ok(())
}

/// Why an output could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The files service refused or could not be reached.
    #[error("{message}")]
    Storing { message: String, transient: bool },
    /// The output itself is unusable (an archive that does not open, an
    /// info file that does not parse), or the job's own store failed.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl OutputError {
    /// Worth trying again (the files service briefly unreachable).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            OutputError::Storing {
                transient: true,
                ..
            }
        )
    }
}

/// Stores one downloaded output, the remote file `name`. A per-chromosome
/// archive is opened with the job's password, its files stored one by one
/// and its info file summarised. Storing the same output again stores
/// nothing twice.
pub async fn store_output(
    jobs: &Jobs,
    job: &Job,
    name: &str,
    path: &Path,
    password: Option<&str>,
) -> Result<(), OutputError> {
    if !name.to_lowercase().ends_with(".zip") {
        // A file as the server gave it (WES outputs): an info file of
        // per-variant R²/DR² is summarised as an archive's would be.
        store_file(jobs, job, &format!("output/{name}"), name, path).await?;
        if kind_of(name).0 == "variant_info" {
            summarise_info(jobs, job, path).await?;
        }
        return Ok(());
    }
    let password =
        password.ok_or_else(|| anyhow::anyhow!("no password was set for the archives"))?;
    let dir = path.with_extension("unzipped");
    let extracted = {
        let path = path.to_path_buf();
        let dir = dir.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || unzip(&path, &dir, &password))
            .await
            .map_err(anyhow::Error::from)??
    };
    for (entry, local) in extracted {
        store_file(jobs, job, &format!("output/{name}/{entry}"), &entry, &local).await?;
        if kind_of(&entry).0 == "variant_info" {
            summarise_info(jobs, job, &local).await?;
        }
    }
    Ok(())
}

/// Reads a chromosome's per-variant R² (`R2`, Beagle's `DR2`, or an `Rsq`
/// table) into the job's QC summary.
async fn summarise_info(jobs: &Jobs, job: &Job, path: &Path) -> anyhow::Result<()> {
    let local = path.to_path_buf();
    let qc = tokio::task::spawn_blocking(move || -> anyhow::Result<fip_vcf::ChromosomeQc> {
        Ok(fip_vcf::qc_from_info(std::fs::File::open(&local)?)?)
    })
    .await??;
    jobs.store
        .put_qc(
            &job.id,
            &ChromosomeQc {
                chromosome: qc.chromosome,
                variant_count: qc.variant_count as i64,
                typed_count: qc.typed_variant_count as i64,
                mean_r2: qc.mean_r2,
                count_r2_ge_03: qc.count_r2_ge_0_3 as i64,
                count_r2_ge_08: qc.count_r2_ge_0_8 as i64,
            },
        )
        .await?;
    Ok(())
}

/// Extracts a password-protected archive (ZipCrypto or AES) into `dir`;
/// returns (entry name, local path) of each file.
fn unzip(path: &Path, dir: &Path, password: &str) -> anyhow::Result<Vec<(String, PathBuf)>> {
    std::fs::create_dir_all(dir)?;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path)?)?;
    let mut out = Vec::new();
    for i in 0..archive.len() {
        let mut entry = match archive.by_index_decrypt(i, password.as_bytes()) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::InvalidPassword) => {
                anyhow::bail!("the archive does not open with the job's password")
            }
            Err(e) => return Err(e.into()),
        };
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().to_string();
        let local = dir.join(safe_name(&name));
        let mut file = std::fs::File::create(&local)?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = entry.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            std::io::Write::write_all(&mut file, &buffer[..n])?;
        }
        out.push((name, local));
    }
    Ok(out)
}

/// What the completion notice says of the results: one sentence, and the
/// QC summary when the results carry one.
pub async fn completion_summary(
    store: &dyn Store,
    job_id: &str,
) -> (String, Option<fip_proto::jobs::v1::QcSummary>) {
    match store.results(job_id).await {
        Ok((files, qc)) if !qc.is_empty() => {
            let variants: i64 = qc.iter().map(|c| c.variant_count).sum();
            let good: i64 = qc.iter().map(|c| c.count_r2_ge_08).sum();
            let sentence = format!(
                "{} result files over {} chromosomes; {variants} imputed variants, {good} with R² ≥ 0.8",
                files.len(),
                qc.len()
            );
            (sentence, crate::convert::qc_to_wire(qc))
        }
        Ok((files, _)) => (format!("{} result files are ready", files.len()), None),
        Err(_) => ("the results are ready".into(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kinds() {
        assert_eq!(
            safe_name("statistics/snps excluded.txt"),
            "statistics_snps_excluded.txt"
        );
        assert_eq!(safe_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(chromosome_of("chr_20.zip"), "chr20");
        assert_eq!(chromosome_of("chr20.dose.vcf.gz"), "chr20");
        assert_eq!(chromosome_of("qc_report.txt"), "");
        assert_eq!(kind_of("chr20.dose.vcf.gz").0, "imputed_genotypes");
        assert_eq!(kind_of("chr20.info.gz").0, "variant_info");
        assert_eq!(kind_of("chr20.imputed.vcf.gz").0, "imputed_genotypes");
        assert_eq!(kind_of("chr20.imputed.vcf.gz.tbi").0, "index");
        assert_eq!(chromosome_of("chr20.imputed.vcf.gz.tbi"), "chr20");
        assert_eq!(kind_of("quality-control.html").0, "qc_report");
        assert_eq!(upper_snake("TooFewSamples"), "TOO_FEW_SAMPLES");
    }
}
