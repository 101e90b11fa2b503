//! The jobs worker's own pre-flight check ([`fip_vcf::preflight_reader`]),
//! exported to JavaScript with a plain C ABI so that the web UI runs the
//! same rules on a chosen file before a byte is uploaded.
//!
//! The module imports one function, `fip.read(ptr, len) -> i32`: it fills
//! up to `len` bytes at `ptr` with the next slice of the file and returns
//! how many it wrote (0 at the end, a negative number when reading failed).
//! The host calls `fip_preflight(build)` (1 hg19, 2 hg38, the
//! `fip.common.v1.GenomeBuild` numbers), which returns a pointer to a JSON
//! document whose length `fip_result_len()` tells; `fip_free_result()`
//! releases it. Memory stays bounded by the longest line and the number of
//! chromosomes, as in the worker: the file is never held whole.
//!
//! Built for `wasm32-wasip1` rather than `wasm32-unknown-unknown`: the
//! check stamps its summary with `SystemTime::now()`, which traps on
//! `wasm32-unknown-unknown`; on WASI it is one `clock_time_get` import the
//! page provides, with the handful of other WASI imports std links.

use std::io::{BufReader, Read};

use fip_vcf::{GenomeBuild, InputIssue, InputSummary, PreflightError};
use serde_json::{Value, json};

/// Bytes asked of the host per read: large slices keep the calls across the
/// boundary few (a 1 GiB file is 256 of them).
pub const SLICE_BYTES: usize = 4 * 1024 * 1024;

#[cfg(target_family = "wasm")]
#[link(wasm_import_module = "fip")]
unsafe extern "C" {
    /// Fills up to `len` bytes at `ptr`; returns the count, 0 at the end,
    /// negative on failure.
    fn read(ptr: *mut u8, len: usize) -> i32;
}

/// The host's file, read through the `fip.read` import.
#[cfg(target_family = "wasm")]
struct HostFile;

#[cfg(target_family = "wasm")]
impl Read for HostFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // SAFETY: the host writes at most `buf.len()` bytes into `buf`.
        let n = unsafe { read(buf.as_mut_ptr(), buf.len()) };
        usize::try_from(n).map_err(|_| std::io::Error::other("the browser could not read the file"))
    }
}

/// Runs the check on `reader` for `build` (the GenomeBuild number) and
/// renders the outcome as JSON.
pub fn check<R: Read>(reader: R, build: u32) -> String {
    let Some(build) = build_of(build) else {
        return json!({"error": {"kind": "bad_build", "message": "choose a genome build (hg19 or hg38)"}})
            .to_string();
    };
    let reader = BufReader::with_capacity(SLICE_BYTES, reader);
    match fip_vcf::preflight_reader(reader, build) {
        Ok(summary) => json!({ "summary": summary_json(&summary) }).to_string(),
        Err(error) => error_json(&error).to_string(),
    }
}

fn build_of(n: u32) -> Option<GenomeBuild> {
    match n {
        1 => Some(GenomeBuild::Hg19),
        2 => Some(GenomeBuild::Hg38),
        _ => None,
    }
}

fn build_name(build: Option<GenomeBuild>) -> Value {
    build.map_or(Value::Null, |b| Value::from(b.as_str()))
}

fn issue_json(issue: &InputIssue) -> Value {
    json!({
        "code": issue.code.as_str(),
        "message": issue.message,
        "chromosome": issue.chromosome,
        "line": issue.line,
        "blocking": issue.code.is_blocking(),
    })
}

/// The summary with the field names of `fip.jobs.v1.InputSummary` in
/// proto JSON (snake_case), plus the blocking findings the worker turns into
/// `INPUT_INVALID` violations.
fn summary_json(s: &InputSummary) -> Value {
    json!({
        "format": format!("{:?}", s.format),
        "sample_count": s.sample_count,
        "variant_count": s.variant_count,
        "is_phased": s.is_phased,
        "phasing": format!("{:?}", s.phasing),
        "chromosome_naming": format!("{:?}", s.chromosome_naming),
        "naming_matches_build": s.naming_matches_build,
        "chromosomes": s.chromosomes.iter().map(|c| json!({
            "chromosome": c.chromosome,
            "variant_count": c.variant_count,
        })).collect::<Vec<_>>(),
        "detected_build": build_name(s.detected_build),
        "warnings": s.warnings.iter().map(issue_json).collect::<Vec<_>>(),
        "blocking": s.blocking.iter().map(issue_json).collect::<Vec<_>>(),
        "multiallelic_count": s.multiallelic_count,
        "duplicate_site_count": s.duplicate_site_count,
        "malformed_count": s.malformed_count,
        "malformed_lines": s.malformed_lines,
        "acceptable": s.is_acceptable(),
    })
}

fn error_json(error: &PreflightError) -> Value {
    let kind = match error {
        PreflightError::Io { .. } => "read_failed",
        _ => "not_vcf",
    };
    json!({"error": {
        "kind": kind,
        "code": error.issue_code().map(|c| c.as_str()),
        "message": error.to_string(),
    }})
}

#[cfg(target_family = "wasm")]
mod exports {
    use std::cell::RefCell;

    thread_local! {
        static RESULT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    /// Runs the check over the host's file; returns a pointer to the JSON.
    #[unsafe(no_mangle)]
    pub extern "C" fn fip_preflight(build: u32) -> *const u8 {
        let out = super::check(super::HostFile, build).into_bytes();
        RESULT.with(|r| {
            *r.borrow_mut() = out;
            r.borrow().as_ptr()
        })
    }

    /// The length of the last result.
    #[unsafe(no_mangle)]
    pub extern "C" fn fip_result_len() -> usize {
        RESULT.with(|r| r.borrow().len())
    }

    /// Releases the last result.
    #[unsafe(no_mangle)]
    pub extern "C" fn fip_free_result() {
        RESULT.with(|r| *r.borrow_mut() = Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vcf(samples: usize, chrom: &str) -> Vec<u8> {
        let mut text = String::from(
            "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT",
        );
        for i in 0..samples {
            text.push_str(&format!("\ts{i}"));
        }
        text.push('\n');
        for pos in [100_000u64, 200_000, 300_000] {
            text.push_str(&format!("{chrom}\t{pos}\t.\tA\tG\t.\tPASS\t.\tGT"));
            for _ in 0..samples {
                text.push_str("\t0|1");
            }
            text.push('\n');
        }
        text.into_bytes()
    }

    #[test]
    fn too_few_samples_block_the_job() {
        let out: Value = serde_json::from_str(&check(&vcf(5, "20")[..], 1)).unwrap();
        let blocking = out["summary"]["blocking"].as_array().unwrap();
        assert!(
            blocking.iter().any(|i| i["code"] == "TOO_FEW_SAMPLES"),
            "{out}"
        );
        assert_eq!(out["summary"]["acceptable"], false);
    }

    #[test]
    fn a_good_file_passes() {
        let out: Value = serde_json::from_str(&check(&vcf(25, "20")[..], 1)).unwrap();
        assert_eq!(out["summary"]["acceptable"], true, "{out}");
        assert_eq!(out["summary"]["sample_count"], 25);
        assert_eq!(out["summary"]["chromosomes"][0]["variant_count"], 3);
    }

    #[test]
    fn not_a_vcf_is_an_error() {
        let out: Value = serde_json::from_str(&check(&b"hello\nworld\n"[..], 2)).unwrap();
        assert_eq!(out["error"]["code"], "NOT_VCF", "{out}");
    }

    #[test]
    fn a_missing_build_is_refused() {
        let out: Value = serde_json::from_str(&check(&vcf(25, "20")[..], 0)).unwrap();
        assert_eq!(out["error"]["kind"], "bad_build");
    }
}
