//! `fip check FILE --build B`: the worker's own pre-flight check, locally.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::Global;
use crate::hub::CliError;

/// `fip check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The VCF (plain, gzip or BGZF).
    pub file: PathBuf,
    /// The genome build the positions are in: hg19 or hg38.
    #[arg(long)]
    pub build: String,
}

fn issue_code(code: fip_vcf::InputIssueCode) -> String {
    format!("{code:?}")
}

/// Checks the file and prints the findings; fails (exit 1) when any finding
/// would stop the job.
pub async fn check(args: CheckArgs, global: &Global) -> Result<(), CliError> {
    let build = match super::names::parse_build(&args.build)? {
        fip_proto::common::v1::GenomeBuild::Hg19 => fip_vcf::GenomeBuild::Hg19,
        _ => fip_vcf::GenomeBuild::Hg38,
    };
    let path = args.file.clone();
    let summary = tokio::task::spawn_blocking(move || fip_vcf::preflight(&path, build))
        .await
        .map_err(|e| CliError::error(format!("the check stopped: {e}")))?
        .map_err(|e| match e.issue_code() {
            None => CliError::error(format!("{e}: check the path and permissions")),
            Some(_) => CliError::error(format!(
                "{}: {e}; give a VCF (plain, gzip or bgzip-compressed)",
                args.file.display()
            )),
        })?;
    let detected = summary
        .detected_build
        .map(|b| format!("{b:?}").to_ascii_lowercase());
    if global.out.json {
        let issue = |i: &fip_vcf::InputIssue| json!({"code": issue_code(i.code), "message": i.message, "chromosome": i.chromosome, "line": i.line});
        global.out.print_json(&json!({
            "file": args.file.display().to_string(),
            "format": format!("{:?}", summary.format),
            "samples": summary.sample_count,
            "variants": summary.variant_count,
            "phased": summary.is_phased,
            "chromosomes": summary.chromosomes.iter().map(|c| json!({"chromosome": c.chromosome, "variants": c.variant_count})).collect::<Vec<_>>(),
            "detected_build": detected,
            "warnings": summary.warnings.iter().map(issue).collect::<Vec<_>>(),
            "blocking": summary.blocking.iter().map(issue).collect::<Vec<_>>(),
        }));
    } else {
        println!("file        {}", args.file.display());
        println!("format      {:?}", summary.format);
        println!("samples     {}", summary.sample_count);
        println!("variants    {}", summary.variant_count);
        println!(
            "phased      {}",
            if summary.is_phased { "yes" } else { "no" }
        );
        println!(
            "chromosomes {}",
            summary
                .chromosomes
                .iter()
                .map(|c| format!("{} ({})", c.chromosome, c.variant_count))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(detected) = &detected {
            println!("build       looks like {detected}");
        }
        for issue in &summary.warnings {
            println!("warning     {}: {}", issue_code(issue.code), issue.message);
        }
        for issue in &summary.blocking {
            println!("error       {}: {}", issue_code(issue.code), issue.message);
        }
    }
    if summary.blocking.is_empty() {
        if !global.out.json {
            println!("ok: the hub will accept this file for {}", args.build);
        }
        Ok(())
    } else {
        Err(CliError::error(format!(
            "{} finding(s) would stop the job: fix them and run `fip check` again",
            summary.blocking.len()
        )))
    }
}
