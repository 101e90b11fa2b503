//! Bounded memory: the pre-flight check's peak resident memory does not
//! grow with the file. Each check runs in a fresh child process (this test
//! binary, running only [`probe`]), whose peak (`VmHWM`) is then its own.

use std::process::Command;

use fip_vcf::{
    GenomeBuild, preflight,
    testdata::{Compression, VcfSpec},
};

use crate::Workdir;

const PROBE_FILE: &str = "FIP_VCF_MEMORY_PROBE_FILE";

/// A value of /proc/self/status, in KiB.
fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/self/status"))
}

/// The child's part: preflights the file named by the environment and
/// prints its variant count and peak memory. Does nothing when run alone.
#[test]
#[ignore = "run by preflight_peak_memory_does_not_grow_with_the_file in a child process"]
fn probe() {
    let Ok(path) = std::env::var(PROBE_FILE) else {
        return;
    };
    let started = std::time::Instant::now();
    let summary = preflight(path.as_ref(), GenomeBuild::Hg38).expect("preflight");
    println!(
        "probe variants={} hwm_kib={} elapsed_ms={}",
        summary.variant_count,
        status_kib("VmHWM:"),
        started.elapsed().as_millis()
    );
}

/// Runs [`probe`] on a file in a child process: (variants, peak KiB,
/// milliseconds).
fn peak_of(path: &std::path::Path) -> (u64, u64, u64) {
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "memory::probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_FILE, path)
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "probe failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The harness may print its own text on the same line.
    let line = stdout
        .lines()
        .find_map(|l| l.find("probe variants=").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("probe output: {stdout}"));
    let value = |key: &str| -> u64 {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} in {line}"))
    };
    (value("variants="), value("hwm_kib="), value("elapsed_ms="))
}

fn spec(samples: usize, variants: usize) -> VcfSpec {
    let third = variants / 3;
    VcfSpec::new(
        samples,
        &[
            ("chr20", third),
            ("chr21", third),
            ("chr22", variants - 2 * third),
        ],
    )
}

#[test]
fn preflight_peak_memory_does_not_grow_with_the_file() {
    let work = Workdir::new();
    let small = spec(100, 2_000);
    let large = spec(100, 60_000);
    let small_path = work.vcf("small.vcf.gz", &small, Compression::Bgzf);
    let large_path = work.path("large.vcf.gz");
    let large_bytes = large
        .write(&large_path, Compression::Bgzf)
        .expect("write vcf");

    let (small_variants, small_peak, _) = peak_of(&small_path);
    let (large_variants, large_peak, _) = peak_of(&large_path);

    assert_eq!(small_variants, 2_000);
    assert_eq!(large_variants, 60_000);
    let growth_kib = large_peak.saturating_sub(small_peak);
    eprintln!(
        "peak rss: {small_peak} KiB for 2,000 variants, {large_peak} KiB for 60,000 ({} MiB uncompressed)",
        large_bytes >> 20
    );
    // The large file is ~25 MiB uncompressed: holding it would show.
    assert!(large_bytes > 20 << 20);
    assert!(growth_kib < 4 * 1024, "peak grew by {growth_kib} KiB");
}

/// The same check at a realistic size, with the throughput: run it with
/// `cargo test -p fip-vcf --release --test vcf -- --ignored --nocapture memory::large_file`.
#[test]
#[ignore = "a benchmark of a 1.5 million variant file; run it in release"]
fn large_file() {
    let work = Workdir::new();
    let small = spec(25, 10_000);
    let large = spec(25, 1_500_000);
    let small_path = work.vcf("small.vcf.gz", &small, Compression::Bgzf);
    let large_path = work.path("large.vcf.gz");
    let large_bytes = large
        .write(&large_path, Compression::Bgzf)
        .expect("write vcf");
    let compressed = std::fs::metadata(&large_path).expect("metadata").len();

    let (_, small_peak, _) = peak_of(&small_path);
    let (variants, large_peak, elapsed_ms) = peak_of(&large_path);

    assert_eq!(variants, 1_500_000);
    eprintln!(
        "1,500,000 variants x 25 samples: {} MiB uncompressed, {} MiB bgzf; preflight {elapsed_ms} ms ({:.0} MiB/s); peak rss {large_peak} KiB (10,000 variants: {small_peak} KiB)",
        large_bytes >> 20,
        compressed >> 20,
        (large_bytes as f64 / (1 << 20) as f64) / (elapsed_ms.max(1) as f64 / 1000.0),
    );
    assert!(large_peak.saturating_sub(small_peak) < 4 * 1024);

    let out = work.subdir("out");
    let started = std::time::Instant::now();
    let files = fip_vcf::split_by_chromosome(
        &large_path,
        &out,
        &fip_vcf::SplitOptions::for_build(GenomeBuild::Hg19),
    )
    .expect("split");
    eprintln!(
        "split into {} indexed, renamed files in {} ms",
        files.len(),
        started.elapsed().as_millis()
    );
    assert_eq!(
        files.iter().map(|f| f.variant_count).sum::<u64>(),
        1_500_000
    );
}
