//! `cargo bench -p fip-vcf`: fip-vcf's pre-flight check, per-chromosome
//! split (with tabix indexes), the two in one pass, and QC of an info file,
//! timed against htslib's tools on the same generated files in the same
//! run: `bcftools view -Ou`, `bgzip -@N` at the same level and threads,
//! `bcftools query -f '%INFO/R2\n'`. Tools that are not installed are
//! skipped (scripts/install-test-tools installs bcftools and tabix).
//!
//! Inputs, generated in a temporary directory that is removed afterwards:
//! - narrow: bgzipped, 500 samples, 180,000 variants on chr20-22;
//! - wide: bgzipped, 5,000 samples, 18,000 variants on chr20-22;
//! - info: a Minimac4 info file of 1,000,000 variants, bgzipped.
//!
//! `--smoke` (or `FIP_VCF_BENCH_SMOKE=1`) runs the same steps on tiny
//! inputs, once, so CI can check the bench in seconds. `FIP_VCF_BENCH_RUNS`
//! sets the runs per step (default 3; the best is reported).

use std::{
    fs::{self, File},
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use fip_vcf::{
    GenomeBuild, SplitOptions,
    testdata::{Compression, InfoKind, VcfSpec, info_file, write_file},
};

/// The level bgzip uses by default, and fip-vcf's.
const LEVEL: &str = "6";

struct Sizes {
    narrow: (usize, usize),
    wide: (usize, usize),
    info: usize,
    runs: usize,
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke")
        || std::env::var("FIP_VCF_BENCH_SMOKE").is_ok_and(|v| v == "1");
    let runs = std::env::var("FIP_VCF_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 1 } else { 3 });
    let sizes = if smoke {
        Sizes {
            narrow: (50, 1_500),
            wide: (500, 150),
            info: 2_000,
            runs,
        }
    } else {
        Sizes {
            narrow: (500, 180_000),
            wide: (5_000, 18_000),
            info: 1_000_000,
            runs,
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tools = Tools::find();
    println!(
        "fip-vcf bench{}: {threads} threads, best of {} run(s); bcftools {}, bgzip {}",
        if smoke { " (smoke)" } else { "" },
        sizes.runs,
        if tools.bcftools { "found" } else { "missing" },
        if tools.bgzip { "found" } else { "missing" },
    );

    for (name, (samples, variants)) in [("narrow", sizes.narrow), ("wide", sizes.wide)] {
        let path = dir.path().join(format!("{name}.vcf.gz"));
        let per_chromosome = variants / 3;
        let mut spec = VcfSpec::new(
            samples,
            &[
                ("chr20", per_chromosome),
                ("chr21", per_chromosome),
                ("chr22", per_chromosome),
            ],
        );
        // Within the shortest of the three (chr21, 46.7 Mb in hg38).
        spec.spacing = 200;
        let started = Instant::now();
        let plain_size = spec.write(&path, Compression::Bgzf).expect("write input");
        let size = fs::metadata(&path).expect("input").len();
        println!(
            "\n{name}: {samples} samples, {variants} variants, {:.1} MB bgzipped ({:.1} MB of text), generated in {:.1} s",
            size as f64 / 1e6,
            plain_size as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        vcf_steps(dir.path(), &path, &sizes, threads, &tools);
    }

    let info = dir.path().join("chr20.info.gz");
    let generated = info_file(InfoKind::MinimacVcf, "chr20", sizes.info, 11);
    write_file(&info, generated.text.as_bytes(), Compression::Bgzf).expect("write info");
    drop(generated);
    println!(
        "\ninfo: {} variants, {:.1} MB bgzipped",
        sizes.info,
        fs::metadata(&info).expect("info").len() as f64 / 1e6
    );
    let fip = best(sizes.runs, || {
        let qc = fip_vcf::qc_from_info(File::open(&info).expect("info")).expect("qc");
        assert_eq!(qc.variant_count, sizes.info as u64);
    });
    row("qc (R2)", fip, None);
    if tools.bcftools {
        let anchor = best(sizes.runs, || {
            run(
                Command::new("bcftools")
                    .args(["query", "-f", "%INFO/R2\\n"])
                    .arg(&info),
                Stdio::null(),
            )
        });
        row("  bcftools query -f '%INFO/R2\\n'", anchor, None);
        ratio("qc / bcftools query", fip, anchor, 1.25);
    }
}

fn vcf_steps(dir: &Path, path: &Path, sizes: &Sizes, threads: usize, tools: &Tools) {
    let options = SplitOptions {
        rename: None,
        tabix_index: true,
        imputable_only: true,
    };
    let out = |tag: &str| -> PathBuf {
        let out = dir.join(tag);
        let _ = fs::remove_dir_all(&out);
        fs::create_dir(&out).expect("output directory");
        out
    };

    let preflight = best(sizes.runs, || {
        let summary = fip_vcf::preflight(path, GenomeBuild::Hg38).expect("pre-flight");
        assert!(summary.blocking.is_empty(), "{:?}", summary.blocking);
    });
    row("pre-flight", preflight, None);
    let view = tools.bcftools.then(|| {
        best(sizes.runs, || {
            run(
                Command::new("bcftools").args(["view", "-Ou"]).arg(path),
                Stdio::null(),
            )
        })
    });
    if let Some(view) = view {
        row("  bcftools view -Ou", view, None);
        ratio("pre-flight / bcftools view -Ou", preflight, view, 0.6);
    }

    let split = best(sizes.runs, || {
        let files = fip_vcf::split_by_chromosome(path, &out("split"), &options).expect("split");
        assert_eq!(files.len(), 3);
    });
    row("split + tabix index", split, None);
    let bgzip = tools.bgzip.then(|| {
        let plain = dir.join("plain.vcf");
        let mut text = Vec::new();
        noodles::bgzf::io::Reader::new(File::open(path).expect("input"))
            .read_to_end(&mut text)
            .expect("decompress");
        fs::write(&plain, text).expect("write plain copy");
        let compressed = dir.join("bgzip.vcf.gz");
        let anchor = best(sizes.runs, || {
            run(
                Command::new("bgzip")
                    .args(["-c", "-l", LEVEL, "-@"])
                    .arg(threads.to_string())
                    .arg(&plain),
                File::create(&compressed).expect("bgzip output"),
            );
        });
        let size = fs::metadata(&compressed).expect("bgzip output").len();
        fs::remove_file(&plain).expect("remove plain copy");
        fs::remove_file(&compressed).expect("remove bgzip output");
        (anchor, size)
    });
    if let Some((bgzip, bgzip_size)) = bgzip {
        row(
            &format!("  bgzip -@{threads} -l {LEVEL} (whole file)"),
            bgzip,
            None,
        );
        ratio("split / bgzip", split, bgzip, 1.0);
        let split_size: u64 = fs::read_dir(dir.join("split"))
            .expect("split outputs")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "gz"))
            .map(|p| fs::metadata(p).expect("output").len())
            .sum();
        println!(
            "  {:<40} {:>8.1} MB (bgzip {:.1} MB)",
            "  split outputs, compressed",
            split_size as f64 / 1e6,
            bgzip_size as f64 / 1e6
        );
    }
    let bgzip = bgzip.map(|(time, _)| time);

    let both = best(sizes.runs, || {
        let checked = fip_vcf::preflight_and_split(path, GenomeBuild::Hg38, &out("both"), &options)
            .expect("pre-flight and split");
        assert!(checked.summary.blocking.is_empty());
        assert_eq!(checked.files.expect("split").len(), 3);
    });
    row(
        "pre-flight + split, one pass",
        both,
        Some(preflight + split),
    );
    if let Some(bgzip) = bgzip {
        ratio("one pass / bgzip", both, bgzip, 1.0);
    }
    if tools.tabix {
        // The anchor of the issue: bcftools view -r per chromosome + tabix.
        let anchor = best(sizes.runs, || {
            run(
                Command::new("bcftools").args(["index", "-f"]).arg(path),
                Stdio::null(),
            );
            let target = out("bcftools");
            for chromosome in ["chr20", "chr21", "chr22"] {
                let file = target.join(format!("{chromosome}.vcf.gz"));
                run(
                    Command::new("bcftools")
                        .args(["view", "-Oz", "-r", chromosome, "-o"])
                        .arg(&file)
                        .arg(path),
                    Stdio::null(),
                );
                run(
                    Command::new("tabix").args(["-p", "vcf"]).arg(&file),
                    Stdio::null(),
                );
            }
        });
        row("  bcftools index + view -r + tabix", anchor, None);
    }
}

/// Which of the anchor tools are installed.
struct Tools {
    bcftools: bool,
    bgzip: bool,
    tabix: bool,
}

impl Tools {
    fn find() -> Self {
        let found = |tool: &str| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let bcftools = found("bcftools");
        Self {
            bcftools,
            bgzip: found("bgzip"),
            tabix: bcftools && found("tabix"),
        }
    }
}

/// Runs a tool with its standard output sent to `stdout`; panics when it
/// fails.
fn run(command: &mut Command, stdout: impl Into<Stdio>) {
    let status = command
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .status()
        .expect("start the tool");
    assert!(status.success(), "{command:?} failed: {status}");
}

/// The shortest of `runs` timings.
fn best(runs: usize, mut step: impl FnMut()) -> Duration {
    (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            step();
            started.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn row(name: &str, time: Duration, separate: Option<Duration>) {
    match separate {
        Some(separate) => println!(
            "  {name:<40} {:>8.3} s   (separately {:.3} s: {:.2}x)",
            time.as_secs_f64(),
            separate.as_secs_f64(),
            time.as_secs_f64() / separate.as_secs_f64()
        ),
        None => println!("  {name:<40} {:>8.3} s", time.as_secs_f64()),
    }
}

fn ratio(name: &str, time: Duration, anchor: Duration, goal: f64) {
    let value = time.as_secs_f64() / anchor.as_secs_f64();
    println!(
        "  {name:<40} {value:>8.2}x  (goal <= {goal}x: {})",
        if value <= goal { "met" } else { "not met" }
    );
}
