//! Pre-flight summaries: exact counts, formats by content, every finding.

use fip_vcf::{
    ChromosomeNaming, ChromosomeVariantCount, GenomeBuild, InputFormat, InputIssueCode,
    InputSummary, PhasingState, PreflightError, preflight, preflight_reader,
    testdata::{Compression, Genotypes, Rng, VcfSpec},
};

use crate::Workdir;

fn counts(summary: &InputSummary) -> Vec<(String, u64)> {
    summary
        .chromosomes
        .iter()
        .map(
            |ChromosomeVariantCount {
                 chromosome,
                 variant_count,
             }| { (chromosome.clone(), *variant_count) },
        )
        .collect()
}

fn codes(issues: &[fip_vcf::InputIssue]) -> Vec<InputIssueCode> {
    issues.iter().map(|i| i.code).collect()
}

/// A spec over chr20-22 style names with 25 samples.
fn three_chromosomes(prefix: &str) -> VcfSpec {
    let names = ["20", "21", "22"].map(|n| format!("{prefix}{n}"));
    VcfSpec::new(25, &[(&names[0], 120), (&names[1], 90), (&names[2], 150)])
}

#[test]
fn summarises_a_phased_bgzf_file_with_ucsc_names() {
    let work = Workdir::new();
    let spec = three_chromosomes("chr").multiallelic_every(7);
    let path = work.vcf("input.vcf.gz", &spec, Compression::Bgzf);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(summary.format, InputFormat::VcfBgzf);
    assert_eq!(summary.sample_count, 25);
    assert_eq!(summary.variant_count, 360);
    assert_eq!(counts(&summary), spec.counts());
    assert_eq!(
        counts(&summary),
        [
            ("chr20".to_owned(), 120),
            ("chr21".to_owned(), 90),
            ("chr22".to_owned(), 150)
        ]
    );
    assert!(summary.is_phased);
    assert_eq!(summary.phasing, PhasingState::Phased);
    assert_eq!(summary.chromosome_naming, ChromosomeNaming::Ucsc);
    assert!(summary.naming_matches_build);
    assert_eq!(summary.multiallelic_count, spec.multiallelic_count());
    assert_eq!(summary.multiallelic_count, 359 / 7);
    assert_eq!(summary.detected_build, None);
    assert_eq!(summary.duplicate_site_count, 0);
    assert_eq!(summary.malformed_count, 0);
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    assert!(summary.blocking.is_empty(), "{:?}", summary.blocking);
    assert!(summary.is_acceptable());
    assert_eq!(summary.chromosome_x, None);
    assert_eq!(summary.unphased_issue(), None);
}

#[test]
fn summarises_an_unphased_gzip_file_with_bare_names() {
    let work = Workdir::new();
    let spec = three_chromosomes("").genotypes(Genotypes::Unphased);
    let path = work.vcf("input.vcf.gz", &spec, Compression::Gzip);

    let summary = preflight(&path, GenomeBuild::Hg19).unwrap();

    assert_eq!(summary.format, InputFormat::VcfGzip);
    assert_eq!(counts(&summary), spec.counts());
    assert_eq!(summary.variant_count, 360);
    assert!(!summary.is_phased);
    assert_eq!(summary.phasing, PhasingState::Unphased);
    assert_eq!(summary.chromosome_naming, ChromosomeNaming::Ensembl);
    assert!(summary.naming_matches_build);
    assert_eq!(codes(&summary.warnings), [InputIssueCode::NotBgzf]);
    assert!(summary.blocking.is_empty(), "{:?}", summary.blocking);
    let issue = summary.unphased_issue().expect("unphased input");
    assert_eq!(issue.code, InputIssueCode::UnphasedInput);
}

#[test]
fn detects_the_format_by_content_not_by_name() {
    let work = Workdir::new();
    let spec = three_chromosomes("chr");
    let plain_named_gz = work.vcf("plain.vcf.gz", &spec, Compression::Plain);
    let bgzf_named_vcf = work.vcf("bgzf.vcf", &spec, Compression::Bgzf);
    let gzip_named_txt = work.vcf("gzip.txt", &spec, Compression::Gzip);

    let plain = preflight(&plain_named_gz, GenomeBuild::Hg38).unwrap();
    let bgzf = preflight(&bgzf_named_vcf, GenomeBuild::Hg38).unwrap();
    let gzip = preflight(&gzip_named_txt, GenomeBuild::Hg38).unwrap();

    assert_eq!(plain.format, InputFormat::Vcf);
    assert_eq!(bgzf.format, InputFormat::VcfBgzf);
    assert_eq!(gzip.format, InputFormat::VcfGzip);
    for summary in [&plain, &bgzf, &gzip] {
        assert_eq!(counts(summary), spec.counts());
        assert_eq!(summary.sample_count, 25);
    }
}

#[test]
fn reads_a_stream_like_a_file() {
    let spec = three_chromosomes("chr");
    let bytes = fip_vcf::testdata::compress(spec.text().as_bytes(), Compression::Bgzf);
    let summary = preflight_reader(std::io::Cursor::new(bytes), GenomeBuild::Hg38).unwrap();
    assert_eq!(summary.format, InputFormat::VcfBgzf);
    assert_eq!(counts(&summary), spec.counts());
}

#[test]
fn names_that_do_not_match_the_build_are_noted() {
    let work = Workdir::new();
    let path = work.vcf("input.vcf", &three_chromosomes("chr"), Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg19).unwrap();

    assert_eq!(summary.chromosome_naming, ChromosomeNaming::Ucsc);
    assert!(!summary.naming_matches_build);
    assert_eq!(codes(&summary.warnings), [InputIssueCode::BuildUncertain]);
    assert!(
        summary.warnings[0]
            .message
            .contains("hg38 convention (`chr1`)")
    );
    assert!(summary.blocking.is_empty());
}

#[test]
fn mixed_naming_is_a_warning() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chr20", 30), ("21", 20), ("GL000220.1", 5)]);
    let path = work.vcf("input.vcf", &spec, Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(summary.chromosome_naming, ChromosomeNaming::Mixed);
    assert!(!summary.naming_matches_build);
    assert_eq!(
        codes(&summary.warnings),
        [
            InputIssueCode::UnsupportedChromosome,
            InputIssueCode::MixedChromosomeNaming
        ]
    );
    assert_eq!(summary.warnings[0].chromosome, "GL000220.1");
    assert_eq!(counts(&summary), spec.counts());
}

#[test]
fn too_few_samples_block_the_job() {
    let work = Workdir::new();
    let spec = VcfSpec::new(18, &[("chr20", 40)]);
    let path = work.vcf("input.vcf.gz", &spec, Compression::Bgzf);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(summary.sample_count, 18);
    assert_eq!(codes(&summary.blocking), [InputIssueCode::TooFewSamples]);
    assert_eq!(
        summary.blocking[0].message,
        "18 samples found; the servers need at least 20"
    );
    assert!(!summary.is_acceptable());
}

#[test]
fn a_sites_only_file_has_no_samples_and_no_phasing() {
    let work = Workdir::new();
    let spec = VcfSpec::new(0, &[("chr20", 40)]);
    let path = work.vcf("input.vcf", &spec, Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(summary.sample_count, 0);
    assert_eq!(summary.variant_count, 40);
    assert_eq!(summary.phasing, PhasingState::Unknown);
    assert!(!summary.is_phased);
    assert_eq!(codes(&summary.blocking), [InputIssueCode::TooFewSamples]);
}

#[test]
fn duplicate_samples_block_the_job() {
    let work = Workdir::new();
    let text = three_chromosomes("chr")
        .text()
        .replacen("\tS2\t", "\tS1\t", 1)
        .replacen("\tS3\t", "\tS1\t", 1);
    let path = work.text("input.vcf", &text, Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(codes(&summary.blocking), [InputIssueCode::DuplicateSamples]);
    assert_eq!(
        summary.blocking[0].message,
        "sample names appear more than once: S1"
    );
}

/// The text of a spec with its record lines editable; line numbers are
/// 1-based over the whole file.
struct Lines {
    lines: Vec<String>,
    header_lines: usize,
}

impl Lines {
    fn of(spec: &VcfSpec) -> Self {
        let header_lines = spec.header().lines().count();
        Self {
            lines: spec.text().lines().map(str::to_owned).collect(),
            header_lines,
        }
    }

    /// The 1-based line number of record `i` (0-based).
    fn line_of(&self, record: usize) -> u64 {
        (self.header_lines + record + 1) as u64
    }

    fn record_mut(&mut self, record: usize) -> &mut String {
        &mut self.lines[self.header_lines + record]
    }

    fn columns(&self, record: usize) -> Vec<String> {
        self.lines[self.header_lines + record]
            .split('\t')
            .map(str::to_owned)
            .collect()
    }

    fn set_column(&mut self, record: usize, column: usize, value: &str) {
        let mut columns = self.columns(record);
        columns[column] = value.to_owned();
        *self.record_mut(record) = columns.join("\t");
    }

    fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }
}

#[test]
fn malformed_records_are_skipped_counted_and_located() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chr20", 100), ("chr21", 100)]);
    let mut lines = Lines::of(&spec);
    // Too few columns, a bad position, an allele the record lacks, REF = ALT.
    let columns = lines.columns(10);
    *lines.record_mut(10) = columns[..12].join("\t");
    lines.set_column(40, 1, "12x");
    lines.set_column(120, 9, "0|2");
    let reference = lines.columns(150)[3].clone();
    lines.set_column(150, 4, &reference);
    let path = work.text("input.vcf.gz", &lines.text(), Compression::Bgzf);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(summary.malformed_count, 4);
    let expected_lines: Vec<u64> = [10, 40, 120, 150].map(|r| lines.line_of(r)).to_vec();
    assert_eq!(summary.malformed_lines, expected_lines);
    assert_eq!(
        counts(&summary),
        [("chr20".to_owned(), 98), ("chr21".to_owned(), 98)]
    );
    assert_eq!(summary.variant_count, 196);
    assert_eq!(
        codes(&summary.blocking),
        [InputIssueCode::MalformedRecord; 4]
    );
    let located: Vec<u64> = summary.blocking.iter().map(|i| i.line).collect();
    assert_eq!(located, expected_lines);
    assert_eq!(
        summary.blocking[0].message,
        format!(
            "line {}: expected 34 tab-separated columns, found 12",
            expected_lines[0]
        )
    );
    assert!(summary.blocking[1].message.contains("position `12x`"));
    assert!(
        summary.blocking[2]
            .message
            .contains("genotype `0|2` of sample 1")
    );
    assert!(summary.blocking[3].message.contains("are the same"));
}

#[test]
fn many_malformed_records_are_listed_up_to_a_limit() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chr20", 60)]);
    let mut lines = Lines::of(&spec);
    for record in 0..30 {
        lines.set_column(record * 2, 1, "0");
    }
    let path = work.text("input.vcf", &lines.text(), Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(summary.malformed_count, 30);
    assert_eq!(summary.malformed_lines.len(), fip_vcf::REPORTED_LINES);
    assert_eq!(summary.variant_count, 30);
    assert_eq!(summary.blocking.len(), fip_vcf::REPORTED_LINES + 1);
    assert_eq!(
        summary.blocking.last().unwrap().message,
        "30 malformed records in all; the first 10 are listed"
    );
}

#[test]
fn unsorted_positions_block_the_job_and_duplicates_warn() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chr20", 50), ("chr21", 50)]);
    let mut lines = Lines::of(&spec);
    // Record 20 goes before record 19; record 70 repeats record 69's position.
    let earlier = lines.columns(18)[1].clone();
    lines.set_column(20, 1, &earlier);
    let previous = lines.columns(69)[1].clone();
    lines.set_column(70, 1, &previous);
    let path = work.text("input.vcf", &lines.text(), Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(codes(&summary.blocking), [InputIssueCode::Unsorted]);
    let unsorted = &summary.blocking[0];
    assert_eq!(unsorted.chromosome, "chr20");
    assert_eq!(unsorted.line, lines.line_of(20));
    assert_eq!(codes(&summary.warnings), [InputIssueCode::DuplicateSites]);
    assert_eq!(summary.warnings[0].chromosome, "chr21");
    assert_eq!(summary.warnings[0].line, lines.line_of(70));
    assert_eq!(summary.duplicate_site_count, 1);
    assert_eq!(summary.variant_count, 100);
}

#[test]
fn a_chromosome_that_comes_back_is_counted_once_in_first_order() {
    let work = Workdir::new();
    let spec = VcfSpec::new(
        25,
        &[("chr21", 40), ("chr20", 30), ("chr21", 25), ("chr22", 10)],
    );
    let path = work.vcf("input.vcf.gz", &spec, Compression::Bgzf);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(
        counts(&summary),
        [
            ("chr21".to_owned(), 65),
            ("chr20".to_owned(), 30),
            ("chr22".to_owned(), 10)
        ]
    );
    assert!(summary.blocking.is_empty(), "{:?}", summary.blocking);
}

#[test]
fn chromosomes_the_servers_skip_are_warned_about() {
    let work = Workdir::new();
    let spec = VcfSpec::new(
        25,
        &[
            ("chr20", 30),
            ("chrY", 12),
            ("chrM", 3),
            ("chrUn_gl000220", 2),
        ],
    );
    let path = work.vcf("input.vcf", &spec, Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(counts(&summary), spec.counts());
    assert_eq!(summary.variant_count, 47);
    let skipped: Vec<(&str, &str)> = summary
        .warnings
        .iter()
        .map(|w| (w.chromosome.as_str(), w.message.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (
                "chrY",
                "12 records on chrY, a chromosome the servers do not impute, are dropped"
            ),
            (
                "chrM",
                "3 records on chrM, a chromosome the servers do not impute, are dropped"
            ),
            (
                "chrUn_gl000220",
                "2 records on chrUn_gl000220, a chromosome the servers do not impute, are dropped"
            ),
        ]
    );
    assert!(summary.blocking.is_empty());
}

#[test]
fn no_imputable_chromosome_blocks_the_job() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chrY", 12)]);
    let path = work.vcf("input.vcf", &spec, Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(codes(&summary.blocking), [InputIssueCode::NoVariants]);
}

#[test]
fn a_file_that_starts_phased_and_turns_unphased_is_refused_like_the_servers_do() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chr20", 100)]).genotypes(Genotypes::UnphasedEvery(30));
    let path = work.vcf("input.vcf", &spec, Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(summary.phasing, PhasingState::Mixed);
    assert!(!summary.is_phased);
    assert_eq!(codes(&summary.blocking), [InputIssueCode::UnphasedInput]);
    let header_lines = spec.header().lines().count() as u64;
    assert_eq!(summary.blocking[0].line, header_lines + 31);
}

#[test]
fn a_file_that_starts_unphased_is_simply_unphased_for_the_servers() {
    let work = Workdir::new();
    let mut lines = Lines::of(&VcfSpec::new(25, &[("chr20", 50)]));
    let first = lines.record_mut(0);
    *first = first.replace('|', "/");
    let path = work.text("input.vcf", &lines.text(), Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    assert_eq!(summary.phasing, PhasingState::Mixed);
    assert!(summary.blocking.is_empty(), "{:?}", summary.blocking);
}

#[test]
fn positions_beyond_the_build_are_a_mismatch_and_suggest_the_other_build() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("20", 20)]);
    let mut lines = Lines::of(&spec);
    // chr20 is 63,025,520 long in hg19 and 64,444,167 in hg38.
    lines.set_column(19, 1, "64000000");
    let path = work.text("input.vcf", &lines.text(), Compression::Plain);

    let hg19 = preflight(&path, GenomeBuild::Hg19).unwrap();
    assert_eq!(hg19.detected_build, Some(GenomeBuild::Hg38));
    assert_eq!(codes(&hg19.blocking), [InputIssueCode::BuildMismatch]);
    assert_eq!(hg19.blocking[0].line, lines.line_of(19));
    assert!(hg19.blocking[0].message.contains("in hg19 (63025520)"));

    let hg38 = preflight(&path, GenomeBuild::Hg38).unwrap();
    assert_eq!(hg38.detected_build, Some(GenomeBuild::Hg38));
    assert!(hg38.blocking.is_empty(), "{:?}", hg38.blocking);
    // Bare names on hg38 are renamed by the split; the positions settle the build.
    assert!(!hg38.naming_matches_build);
    assert!(hg38.warnings.is_empty(), "{:?}", hg38.warnings);
}

/// A chromosome X file: records in PAR1, non-PAR and PAR2 (hg38), the
/// first `males` samples haploid in non-PAR.
fn chromosome_x(males: usize, conflicting_sample: Option<usize>) -> (String, usize) {
    let samples = 25;
    let mut text = VcfSpec::new(samples, &[]).header();
    let mut rng = Rng::new(3);
    let positions: Vec<u64> = [(10_500u64, 4usize), (3_000_000, 30), (156_000_000, 3)]
        .iter()
        .flat_map(|&(start, n)| (0..n as u64).map(move |i| start + i * 1_000))
        .collect();
    let mut conflict_record = 0;
    for (r, position) in positions.iter().enumerate() {
        let non_par = (2_781_479..=155_701_383).contains(position);
        text.push_str(&format!("chrX\t{position}\t.\tA\tG\t.\tPASS\t.\tGT"));
        for s in 0..samples {
            let a = rng.below(2);
            let b = rng.below(2);
            let haploid = non_par && s < males && !(Some(s) == conflicting_sample && r == 20);
            if non_par && Some(s) == conflicting_sample && r == 20 {
                conflict_record = r;
            }
            if haploid {
                text.push_str(&format!("\t{a}"));
            } else {
                text.push_str(&format!("\t{a}|{b}"));
            }
        }
        text.push('\n');
    }
    (text, conflict_record)
}

#[test]
fn chromosome_x_is_split_into_its_regions_and_ploidy_is_checked() {
    let work = Workdir::new();
    let (text, _) = chromosome_x(10, None);
    let path = work.text("x.vcf", &text, Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    let x = summary.chromosome_x.clone().expect("chromosome x");
    assert_eq!(x.chromosome, "chrX");
    assert_eq!((x.par1_count, x.non_par_count, x.par2_count), (4, 30, 3));
    assert_eq!(x.haploid_sample_count, 10);
    assert_eq!(x.mixed_ploidy_sample_count, 0);
    assert!(summary.blocking.is_empty(), "{:?}", summary.blocking);
    assert!(
        summary.is_phased,
        "haploid calls do not make a file unphased"
    );
}

#[test]
fn mixed_ploidy_on_chromosome_x_blocks_the_job() {
    let work = Workdir::new();
    let (text, conflict_record) = chromosome_x(10, Some(3));
    let header_lines = VcfSpec::new(25, &[]).header().lines().count() as u64;
    let path = work.text("x.vcf", &text, Compression::Plain);

    let summary = preflight(&path, GenomeBuild::Hg38).unwrap();

    let x = summary.chromosome_x.clone().expect("chromosome x");
    assert_eq!(x.haploid_sample_count, 9);
    assert_eq!(x.mixed_ploidy_sample_count, 1);
    assert_eq!(codes(&summary.blocking), [InputIssueCode::MalformedRecord]);
    let issue = &summary.blocking[0];
    assert_eq!(issue.chromosome, "chrX");
    assert_eq!(issue.line, header_lines + conflict_record as u64 + 1);
    assert!(issue.message.contains("first: S4"), "{}", issue.message);
}

fn expect_not_vcf(result: Result<InputSummary, PreflightError>, needle: &str) {
    match result {
        Err(e @ PreflightError::NotVcf(_)) => {
            assert!(e.to_string().contains(needle), "{e}");
            assert_eq!(e.issue_code(), Some(InputIssueCode::NotVcf));
        }
        other => panic!("expected not a vcf, got {other:?}"),
    }
}

#[test]
fn what_is_not_a_vcf_is_a_clear_error() {
    let work = Workdir::new();
    let mut rng = Rng::new(11);
    let junk: Vec<u8> = (0..100_000).map(|_| rng.below(256) as u8).collect();
    let junk_path = work.path("junk.vcf");
    std::fs::write(&junk_path, &junk).unwrap();
    expect_not_vcf(preflight(&junk_path, GenomeBuild::Hg38), "##fileformat=VCF");

    let text = work.text("notes.vcf", "hello\nworld\n", Compression::Plain);
    expect_not_vcf(preflight(&text, GenomeBuild::Hg38), "##fileformat=VCF");

    let empty = work.text("empty.vcf", "", Compression::Plain);
    expect_not_vcf(preflight(&empty, GenomeBuild::Hg38), "empty");

    let gzipped_text = work.text("notes.vcf.gz", "just some text\n", Compression::Gzip);
    expect_not_vcf(
        preflight(&gzipped_text, GenomeBuild::Hg38),
        "##fileformat=VCF",
    );

    let spec = three_chromosomes("chr");
    let headless: String = spec
        .text()
        .lines()
        .filter(|l| !l.starts_with("#CHROM"))
        .map(|l| format!("{l}\n"))
        .collect();
    let headless = work.text("headless.vcf.gz", &headless, Compression::Bgzf);
    expect_not_vcf(preflight(&headless, GenomeBuild::Hg38), "#CHROM");

    let bad_columns = spec.text().replacen("#CHROM\tPOS", "#CHROM\tPOSITION", 1);
    let bad_columns = work.text("columns.vcf", &bad_columns, Compression::Plain);
    expect_not_vcf(
        preflight(&bad_columns, GenomeBuild::Hg38),
        "expected column `POS`",
    );
}

#[test]
fn a_truncated_gzip_file_is_a_clear_error() {
    let work = Workdir::new();
    let spec = three_chromosomes("chr");
    let whole = fip_vcf::testdata::compress(spec.text().as_bytes(), Compression::Gzip);
    let path = work.path("cut.vcf.gz");
    std::fs::write(&path, &whole[..whole.len() / 2]).unwrap();

    let err = preflight(&path, GenomeBuild::Hg38).unwrap_err();

    assert!(
        matches!(
            err,
            PreflightError::Truncated {
                format: InputFormat::VcfGzip
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the gzip stream ends early: the file is truncated"
    );
    assert_eq!(err.issue_code(), Some(InputIssueCode::NotVcf));
}

#[test]
fn a_truncated_bgzf_file_is_a_clear_error() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chr20", 3000)]);
    let whole = fip_vcf::testdata::compress(spec.text().as_bytes(), Compression::Bgzf);

    // Cut inside a block, and cut right before the end-of-file block.
    let mid = work.path("mid.vcf.gz");
    std::fs::write(&mid, &whole[..whole.len() / 2]).unwrap();
    let no_eof = work.path("no-eof.vcf.gz");
    std::fs::write(&no_eof, &whole[..whole.len() - 28]).unwrap();

    for path in [mid, no_eof] {
        let err = preflight(&path, GenomeBuild::Hg38).unwrap_err();
        assert!(
            matches!(
                err,
                PreflightError::Truncated {
                    format: InputFormat::VcfBgzf
                }
            ),
            "{}: {err:?}",
            path.display()
        );
    }
}

#[test]
fn corrupt_compressed_data_is_a_clear_error() {
    let work = Workdir::new();
    let spec = three_chromosomes("chr");
    let mut bytes = fip_vcf::testdata::compress(spec.text().as_bytes(), Compression::Gzip);
    for b in &mut bytes[20..200] {
        *b = 0xff;
    }
    let path = work.path("corrupt.vcf.gz");
    std::fs::write(&path, &bytes).unwrap();

    let err = preflight(&path, GenomeBuild::Hg38).unwrap_err();

    assert!(
        matches!(
            err,
            PreflightError::Corrupt {
                format: InputFormat::VcfGzip,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("the gzip stream is corrupt"));
}

#[test]
fn a_missing_file_is_an_io_error_not_an_input_problem() {
    let work = Workdir::new();
    let err = preflight(&work.path("absent.vcf"), GenomeBuild::Hg38).unwrap_err();
    assert!(matches!(err, PreflightError::Io { .. }), "{err:?}");
    assert_eq!(err.issue_code(), None);
}

#[test]
fn checks_are_the_same_whatever_the_compression() {
    let work = Workdir::new();
    let spec = VcfSpec::new(21, &[("20", 200), ("X", 40), ("Y", 5)])
        .genotypes(Genotypes::UnphasedEvery(50))
        .multiallelic_every(9)
        .seed(99);
    let mut summaries = Vec::new();
    for (name, compression) in [
        ("a.vcf", Compression::Plain),
        ("b.vcf.gz", Compression::Gzip),
        ("c.vcf.gz", Compression::Bgzf),
    ] {
        let path = work.vcf(name, &spec, compression);
        summaries.push(preflight(&path, GenomeBuild::Hg19).unwrap());
    }
    for summary in &mut summaries[1..] {
        summary
            .warnings
            .retain(|w| w.code != InputIssueCode::NotBgzf);
        summary.format = InputFormat::Vcf;
    }
    assert_eq!(summaries[0], summaries[1]);
    assert_eq!(summaries[0], summaries[2]);
    assert_eq!(counts(&summaries[0]), spec.counts());
}
