//! The pre-flight check of a user's input, before anything reaches an
//! external server: one streaming pass, memory bounded by the longest line
//! and the number of distinct chromosomes, never by the file size.

use std::{
    collections::HashMap,
    io::{self, Read},
    path::{Path, PathBuf},
};

use crate::{
    ChromosomeNaming, GenomeBuild, InputFormat,
    genome::{self, is_imputable, is_x, naming_of},
    header::{HeaderError, read_header},
    input::{self, Input, Line, ReadFailure, read_line},
    record::{self, Malformed},
    split::{ChromosomeFile, SplitError, SplitOptions, SplitSink},
    summary::{
        ChromosomeVariantCount, ChromosomeXSummary, InputIssue, InputIssueCode, InputSummary,
        MIN_SAMPLES, PhasingState, REPORTED_LINES,
    },
};

/// The longest data line read; longer ones count as malformed records.
pub const MAX_RECORD_LINE: usize = 64 * 1024 * 1024;
/// The most distinct chromosome names a file may hold.
pub const MAX_CHROMOSOMES: usize = 100_000;

/// Why the pre-flight check could not read a file as a VCF at all.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The content is not a VCF.
    #[error("not a vcf file: {0}")]
    NotVcf(String),
    /// The compressed stream ends early.
    #[error("the {} stream ends early: the file is truncated", compression_name(*.format))]
    Truncated {
        /// The format detected.
        format: InputFormat,
    },
    /// The compressed stream is not valid.
    #[error("the {} stream is corrupt: {detail}", compression_name(*.format))]
    Corrupt {
        /// The format detected.
        format: InputFormat,
        /// What the decompressor said.
        detail: String,
    },
    /// Too many distinct chromosome names to track.
    #[error("the file names more than {limit} distinct chromosomes")]
    TooManyChromosomes {
        /// [`MAX_CHROMOSOMES`].
        limit: usize,
    },
}

impl PreflightError {
    /// The issue code for the user (`NOT_VCF`), or `None` for a failure to
    /// read the file, which is the hub's problem, not the input's.
    pub fn issue_code(&self) -> Option<InputIssueCode> {
        match self {
            Self::Io { .. } => None,
            Self::NotVcf(_)
            | Self::Truncated { .. }
            | Self::Corrupt { .. }
            | Self::TooManyChromosomes { .. } => Some(InputIssueCode::NotVcf),
        }
    }
}

fn compression_name(format: InputFormat) -> &'static str {
    match format {
        InputFormat::VcfBgzf => "bgzf",
        InputFormat::VcfGzip => "gzip",
        InputFormat::Vcf => "vcf",
    }
}

/// Checks a VCF file (plain, gzip or BGZF, recognised by content) for the
/// chosen build and summarises it. Blocking I/O: run it on a blocking
/// thread.
pub fn preflight(path: &Path, build: GenomeBuild) -> Result<InputSummary, PreflightError> {
    let input = input::open_path(path).map_err(|failure| {
        to_error(
            failure,
            path,
            // The only stream failure at open time is a missing BGZF EOF block.
            InputFormat::VcfBgzf,
        )
    })?;
    run(input, build, path)
}

/// Checks a VCF read from any stream, as [`preflight`] does a file; a BGZF
/// stream cut exactly at a block boundary goes unnoticed here.
pub fn preflight_reader<R: Read>(
    reader: R,
    build: GenomeBuild,
) -> Result<InputSummary, PreflightError> {
    let path = Path::new("<stream>");
    let input = input::open_reader(reader).map_err(|f| to_error(f, path, InputFormat::Vcf))?;
    run(input, build, path)
}

fn to_error(failure: ReadFailure, path: &Path, format: InputFormat) -> PreflightError {
    match failure {
        ReadFailure::Io(source) => PreflightError::Io {
            path: path.to_owned(),
            source,
        },
        ReadFailure::Truncated if format.is_compressed() => PreflightError::Truncated { format },
        ReadFailure::Truncated => {
            PreflightError::NotVcf("the file ends in the middle of a line".into())
        }
        ReadFailure::Corrupt(detail) if format.is_compressed() => {
            PreflightError::Corrupt { format, detail }
        }
        ReadFailure::Corrupt(detail) => PreflightError::NotVcf(detail),
    }
}

/// What [`preflight_and_split`] returns: the check's summary and the
/// split's outcome, from one read of the input.
#[derive(Debug)]
pub struct CheckedSplit {
    /// Exactly what [`preflight`] returns for the file.
    pub summary: InputSummary,
    /// Exactly what [`split_by_chromosome`](crate::split_by_chromosome)
    /// returns for the file (on an error nothing is left in the output
    /// directory).
    pub files: Result<Vec<ChromosomeFile>, SplitError>,
}

/// The pre-flight check and the per-chromosome split in one pass over the
/// input: each line is decompressed and read once, checked, and written to
/// its chromosome's output. For a worker that needs both, this halves the
/// reading of [`preflight`] then
/// [`split_by_chromosome`](crate::split_by_chromosome), with the same
/// results. When the check itself fails (not a VCF, truncated, unreadable)
/// the outputs are removed and its error returned. Blocking I/O: run it on
/// a blocking thread.
pub fn preflight_and_split(
    path: &Path,
    build: GenomeBuild,
    out_dir: &Path,
    options: &SplitOptions,
) -> Result<CheckedSplit, PreflightError> {
    let input = input::open_path(path).map_err(|f| to_error(f, path, InputFormat::VcfBgzf))?;
    let mut sink = SplitSink::new(out_dir, options);
    match run_with(input, build, path, &mut sink) {
        Ok(summary) => Ok(CheckedSplit {
            summary,
            files: sink.finish(path),
        }),
        Err(e) => {
            sink.discard();
            Err(e)
        }
    }
}

fn run(input: Input<'_>, build: GenomeBuild, path: &Path) -> Result<InputSummary, PreflightError> {
    run_with(input, build, path, &mut ())
}

/// Where the check hands each line it reads besides itself: nowhere for
/// the check alone (`()`), the split in [`preflight_and_split`]. A type
/// parameter rather than an `Option`, so that the check alone is compiled
/// without any of the split (whose file I/O the browser's WebAssembly
/// module cannot link).
trait LineSink {
    /// Whether the header's text is wanted (the split writes it out).
    const KEEPS_HEADER: bool;
    /// The input's header was read.
    fn start(&mut self, header: &[u8], sample_count: usize);
    /// One line of the input was read.
    fn line(&mut self, line_number: u64, outcome: Line, buf: &[u8]);
}

impl LineSink for () {
    const KEEPS_HEADER: bool = false;
    fn start(&mut self, _: &[u8], _: usize) {}
    fn line(&mut self, _: u64, _: Line, _: &[u8]) {}
}

impl LineSink for SplitSink<'_> {
    const KEEPS_HEADER: bool = true;
    fn start(&mut self, header: &[u8], sample_count: usize) {
        SplitSink::start(self, header, sample_count);
    }
    fn line(&mut self, line_number: u64, outcome: Line, buf: &[u8]) {
        SplitSink::line(self, line_number, outcome, buf);
    }
}

fn run_with<S: LineSink>(
    input: Input<'_>,
    build: GenomeBuild,
    path: &Path,
    sink: &mut S,
) -> Result<InputSummary, PreflightError> {
    let Input { format, mut reader } = input;
    let fail = |e: io::Error| to_error(ReadFailure::classify(e), path, format);
    let header = read_header(&mut reader, S::KEEPS_HEADER).map_err(|e| match e {
        HeaderError::Read(e) => fail(e),
        other => PreflightError::NotVcf(other.describe()),
    })?;
    sink.start(&header.text, header.samples.len());
    let mut scan = Scan::new(build, header.samples.len());
    let mut line_number = header.lines;
    let mut buf = Vec::new();
    loop {
        let outcome = read_line(&mut reader, &mut buf, MAX_RECORD_LINE).map_err(fail)?;
        line_number += 1;
        sink.line(line_number, outcome, &buf);
        match outcome {
            Line::End => break,
            Line::TooLong => scan.malformed(line_number, Malformed::TooLong(MAX_RECORD_LINE)),
            Line::Read if buf.is_empty() => {}
            Line::Read => scan.record(line_number, &buf)?,
        }
    }
    let summary = scan.finish(format, &header.samples, &header.duplicate_samples);
    tracing::debug!(
        path = %path.display(),
        format = ?summary.format,
        samples = summary.sample_count,
        variants = summary.variant_count,
        blocking = summary.blocking.len(),
        warnings = summary.warnings.len(),
        "pre-flight check done"
    );
    Ok(summary)
}

/// What is tracked per chromosome.
struct ChromosomeState {
    name: String,
    count: u64,
    last_position: u64,
    max_position: u64,
    /// (line, position, previous position) of the first out-of-order record.
    first_unsorted: Option<(u64, u64, u64)>,
    duplicates: u64,
    first_duplicate_line: u64,
    /// (line, position) of the first record beyond the chosen build's length.
    first_beyond_build: Option<(u64, u64)>,
    /// The servers' phasing autodetection: the first record's sample
    /// columns hold neither `/` nor `.`, so the file "should be phased".
    looks_phased: Option<bool>,
    /// The first later record holding a `/`.
    first_slash_line: Option<u64>,
}

/// Chromosome X bookkeeping: per sample, bit 1 haploid seen, bit 2
/// diploid seen (non-PAR only).
struct XState {
    summary: ChromosomeXSummary,
    ploidy_seen: Vec<u8>,
    /// (line, sample index) of the first sample seen with both ploidies.
    first_conflict: Option<(u64, usize)>,
}

struct Scan {
    build: GenomeBuild,
    sample_count: usize,
    chromosomes: Vec<ChromosomeState>,
    index: HashMap<String, usize>,
    current: Option<usize>,
    naming: ChromosomeNaming,
    phased: u64,
    unphased: u64,
    multiallelic: u64,
    malformed_count: u64,
    malformed: Vec<(u64, Malformed)>,
    x: Option<XState>,
    ploidy: Vec<u8>,
}

impl Scan {
    fn new(build: GenomeBuild, sample_count: usize) -> Self {
        Self {
            build,
            sample_count,
            chromosomes: Vec::new(),
            index: HashMap::new(),
            current: None,
            naming: ChromosomeNaming::Unspecified,
            phased: 0,
            unphased: 0,
            multiallelic: 0,
            malformed_count: 0,
            malformed: Vec::new(),
            x: None,
            ploidy: Vec::new(),
        }
    }

    fn malformed(&mut self, line: u64, why: Malformed) {
        self.malformed_count += 1;
        if self.malformed.len() < REPORTED_LINES {
            self.malformed.push((line, why));
        }
    }

    fn record(&mut self, line: u64, text: &[u8]) -> Result<(), PreflightError> {
        let record = match record::parse(text, self.sample_count) {
            Ok(record) => record,
            Err(why) => {
                self.malformed(line, why);
                return Ok(());
            }
        };
        let x_region = is_x(record.chromosome).then(|| self.x_region(record.position));
        let want_ploidy = x_region == Some(XRegion::NonPar);
        let counts = match record::scan_genotypes(
            record.samples,
            self.sample_count,
            record.alt_count,
            want_ploidy.then_some(&mut self.ploidy),
        ) {
            Ok(counts) => counts,
            Err(why) => {
                self.malformed(line, why);
                return Ok(());
            }
        };
        self.phased += counts.phased;
        self.unphased += counts.unphased;
        if record.alt_count > 1 {
            self.multiallelic += 1;
        }

        let index = self.chromosome_index(record.chromosome)?;
        let build = self.build;
        let state = &mut self.chromosomes[index];
        state.count += 1;
        if state.count > 1 {
            if record.position < state.last_position && state.first_unsorted.is_none() {
                state.first_unsorted = Some((line, record.position, state.last_position));
            } else if record.position == state.last_position {
                state.duplicates += 1;
                if state.first_duplicate_line == 0 {
                    state.first_duplicate_line = line;
                }
            }
        }
        state.last_position = record.position;
        state.max_position = state.max_position.max(record.position);
        if state.first_beyond_build.is_none()
            && build
                .chromosome_length(record.chromosome)
                .is_some_and(|len| record.position > len)
        {
            state.first_beyond_build = Some((line, record.position));
        }
        let odd = record.samples.iter().any(|&b| b == b'/' || b == b'.');
        match state.looks_phased {
            None => state.looks_phased = Some(self.sample_count > 0 && !odd),
            Some(true)
                if state.first_slash_line.is_none()
                    && memchr::memchr(b'/', record.samples).is_some() =>
            {
                state.first_slash_line = Some(line);
            }
            Some(_) => {}
        }

        if let Some(region) = x_region {
            self.count_x(line, record.chromosome, region);
        }
        Ok(())
    }

    fn chromosome_index(&mut self, name: &str) -> Result<usize, PreflightError> {
        if let Some(i) = self.current
            && self.chromosomes[i].name == name
        {
            return Ok(i);
        }
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                if self.chromosomes.len() >= MAX_CHROMOSOMES {
                    return Err(PreflightError::TooManyChromosomes {
                        limit: MAX_CHROMOSOMES,
                    });
                }
                self.naming = self.naming.merge(naming_of(name));
                self.chromosomes.push(ChromosomeState {
                    name: name.to_owned(),
                    count: 0,
                    last_position: 0,
                    max_position: 0,
                    first_unsorted: None,
                    duplicates: 0,
                    first_duplicate_line: 0,
                    first_beyond_build: None,
                    looks_phased: None,
                    first_slash_line: None,
                });
                self.index
                    .insert(name.to_owned(), self.chromosomes.len() - 1);
                self.chromosomes.len() - 1
            }
        };
        self.current = Some(i);
        Ok(i)
    }

    fn x_region(&self, position: u64) -> XRegion {
        let non_par = self.build.x_non_par();
        if position < *non_par.start() {
            XRegion::Par1
        } else if position <= *non_par.end() {
            XRegion::NonPar
        } else {
            XRegion::Par2
        }
    }

    fn count_x(&mut self, line: u64, chromosome: &str, region: XRegion) {
        let sample_count = self.sample_count;
        let x = self.x.get_or_insert_with(|| XState {
            summary: ChromosomeXSummary {
                chromosome: chromosome.to_owned(),
                ..ChromosomeXSummary::default()
            },
            ploidy_seen: vec![0; sample_count],
            first_conflict: None,
        });
        match region {
            XRegion::Par1 => x.summary.par1_count += 1,
            XRegion::Par2 => x.summary.par2_count += 1,
            XRegion::NonPar => {
                x.summary.non_par_count += 1;
                for (sample, &ploidy) in self.ploidy.iter().enumerate() {
                    let bit = match ploidy {
                        0 => continue,
                        1 => 1,
                        _ => 2,
                    };
                    let seen = &mut x.ploidy_seen[sample];
                    *seen |= bit;
                    if *seen == 3 && x.first_conflict.is_none() {
                        x.first_conflict = Some((line, sample));
                    }
                }
            }
        }
    }

    fn finish(
        self,
        format: InputFormat,
        samples: &[String],
        duplicate_samples: &[String],
    ) -> InputSummary {
        let mut blocking = Vec::new();
        let mut warnings = Vec::new();
        let build = self.build;

        if format == InputFormat::VcfGzip {
            warnings.push(InputIssue::new(
                InputIssueCode::NotBgzf,
                "the file is compressed with plain gzip, not bgzip (BGZF); the hub recompresses it",
            ));
        }
        let sample_count = u32::try_from(samples.len()).unwrap_or(u32::MAX);
        if sample_count < MIN_SAMPLES {
            blocking.push(InputIssue::new(
                InputIssueCode::TooFewSamples,
                format!("{sample_count} samples found; the servers need at least {MIN_SAMPLES}"),
            ));
        }
        if !duplicate_samples.is_empty() {
            blocking.push(InputIssue::new(
                InputIssueCode::DuplicateSamples,
                format!(
                    "sample names appear more than once: {}",
                    duplicate_samples.join(", ")
                ),
            ));
        }
        for (line, why) in &self.malformed {
            blocking.push(
                InputIssue::new(
                    InputIssueCode::MalformedRecord,
                    format!("line {line}: {why}"),
                )
                .at(*line),
            );
        }
        if self.malformed_count > self.malformed.len() as u64 {
            blocking.push(InputIssue::new(
                InputIssueCode::MalformedRecord,
                format!(
                    "{} malformed records in all; the first {} are listed",
                    self.malformed_count,
                    self.malformed.len()
                ),
            ));
        }

        let mut detected = [false, false];
        let mut variant_count = 0;
        let mut duplicate_sites = 0;
        let mut imputable_records = 0;
        for state in &self.chromosomes {
            variant_count += state.count;
            duplicate_sites += state.duplicates;
            let name = state.name.as_str();
            if !is_imputable(name) {
                warnings.push(
                    InputIssue::new(
                        InputIssueCode::UnsupportedChromosome,
                        format!(
                            "{} records on {name}, a chromosome the servers do not impute, are dropped",
                            state.count
                        ),
                    )
                    .on(name),
                );
                continue;
            }
            imputable_records += state.count;
            for (i, candidate) in [GenomeBuild::Hg19, GenomeBuild::Hg38]
                .into_iter()
                .enumerate()
            {
                let fits_this = fits(candidate, name, state.max_position);
                let fits_other = fits(candidate.other(), name, state.max_position);
                if fits_this && !fits_other {
                    detected[i] = true;
                }
            }
            if let Some((line, position, previous)) = state.first_unsorted {
                blocking.push(
                    InputIssue::new(
                        InputIssueCode::Unsorted,
                        format!(
                            "position {position} on {name} (line {line}) comes after position {previous}; sort the file by position (e.g. bcftools sort)"
                        ),
                    )
                    .on(name)
                    .at(line),
                );
            }
            if let Some((line, position)) = state.first_beyond_build {
                let length = build.chromosome_length(name).unwrap_or_default();
                blocking.push(
                    InputIssue::new(
                        InputIssueCode::BuildMismatch,
                        format!(
                            "position {position} on {name} (line {line}) is beyond the chromosome's length in {build} ({length}); is the file on another build?"
                        ),
                    )
                    .on(name)
                    .at(line),
                );
            }
            if state.duplicates > 0 {
                warnings.push(
                    InputIssue::new(
                        InputIssueCode::DuplicateSites,
                        format!(
                            "{} records on {name} share their position with the record before them (first at line {}); the servers drop them",
                            state.duplicates, state.first_duplicate_line
                        ),
                    )
                    .on(name)
                    .at(state.first_duplicate_line),
                );
            }
            if let (Some(true), Some(line)) = (state.looks_phased, state.first_slash_line) {
                blocking.push(
                    InputIssue::new(
                        InputIssueCode::UnphasedInput,
                        format!(
                            "{name} starts with phased genotypes but line {line} holds unphased ones; the servers refuse such mixed files: phase all genotypes or none"
                        ),
                    )
                    .on(name)
                    .at(line),
                );
            }
        }
        if imputable_records == 0 {
            blocking.push(InputIssue::new(
                InputIssueCode::NoVariants,
                "no variant on a chromosome the servers impute (1 to 22, X)",
            ));
        }
        if self.naming == ChromosomeNaming::Mixed {
            warnings.push(InputIssue::new(
                InputIssueCode::MixedChromosomeNaming,
                format!(
                    "chromosome names mix the `chr1` and `1` styles; the hub renames them to the {build} convention"
                ),
            ));
        }
        let detected_build = match detected {
            [true, false] => Some(GenomeBuild::Hg19),
            [false, true] => Some(GenomeBuild::Hg38),
            _ => None,
        };
        let naming_matches_build = self.naming == build.naming();
        let other_naming = build.other().naming();
        if detected_build.is_none() && self.naming == other_naming {
            let example = genome::rename("1", other_naming);
            warnings.push(InputIssue::new(
                InputIssueCode::BuildUncertain,
                format!(
                    "chromosome names follow the {} convention (`{example}`) but {build} was chosen; the hub renames them for the server, but check that the file is on {build}",
                    build.other()
                ),
            ));
        }

        let chromosome_x = self.x.map(|x| {
            let mut summary = x.summary;
            summary.haploid_sample_count = count_samples(&x.ploidy_seen, 1);
            summary.mixed_ploidy_sample_count = count_samples(&x.ploidy_seen, 3);
            if let Some((line, sample)) = x.first_conflict {
                blocking.push(
                    InputIssue::new(
                        InputIssueCode::MalformedRecord,
                        format!(
                            "{} samples have both haploid and diploid genotypes in the non-PAR region of {} (first: {} at line {line}); the servers refuse mixed ploidy on chromosome X",
                            summary.mixed_ploidy_sample_count, summary.chromosome, samples[sample]
                        ),
                    )
                    .on(summary.chromosome.clone())
                    .at(line),
                );
            }
            summary
        });

        let phasing = PhasingState::from_counts(self.phased, self.unphased);
        InputSummary {
            format,
            sample_count,
            variant_count,
            is_phased: phasing == PhasingState::Phased,
            chromosome_naming: self.naming,
            chromosomes: self
                .chromosomes
                .iter()
                .map(|c| ChromosomeVariantCount {
                    chromosome: c.name.clone(),
                    variant_count: c.count,
                })
                .collect(),
            detected_build,
            warnings,
            blocking,
            phasing,
            naming_matches_build,
            multiallelic_count: self.multiallelic,
            duplicate_site_count: duplicate_sites,
            malformed_count: self.malformed_count,
            malformed_lines: self.malformed.iter().map(|(line, _)| *line).collect(),
            chromosome_x,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum XRegion {
    Par1,
    NonPar,
    Par2,
}

fn fits(build: GenomeBuild, chromosome: &str, position: u64) -> bool {
    build
        .chromosome_length(chromosome)
        .is_some_and(|len| position <= len)
}

fn count_samples(seen: &[u8], value: u8) -> u32 {
    u32::try_from(seen.iter().filter(|&&s| s == value).count()).unwrap_or(u32::MAX)
}
