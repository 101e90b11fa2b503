//! What the pre-flight check found, shaped after `fip.jobs.v1.InputSummary`
//! so the jobs service converts it field by field.

use crate::{ChromosomeNaming, GenomeBuild, InputFormat};

/// What the pre-flight check found in an input file
/// (`fip.jobs.v1.InputSummary`, plus details the contract does not carry
/// yet, marked below).
#[derive(Clone, Debug, PartialEq)]
pub struct InputSummary {
    /// The format as detected from the content.
    pub format: InputFormat,
    /// Number of samples (VCF sample columns).
    pub sample_count: u32,
    /// Number of well-formed variant records over all chromosomes.
    pub variant_count: u64,
    /// True when every genotype is phased (`|`); false if any is unphased
    /// or there is none. Haploid calls count as neither.
    pub is_phased: bool,
    /// How chromosomes are named (only the standard chromosomes count;
    /// contigs such as `GL000220.1` say nothing).
    pub chromosome_naming: ChromosomeNaming,
    /// Variant counts per chromosome, in order of first appearance.
    pub chromosomes: Vec<ChromosomeVariantCount>,
    /// The build the positions suggest, when some position fits only one
    /// build's chromosome length.
    pub detected_build: Option<GenomeBuild>,
    /// Problems that do not stop the job (`InputSummary.warnings`).
    pub warnings: Vec<InputIssue>,
    /// Problems that stop the job: the jobs service fails the submission
    /// with `INPUT_INVALID`, one `BadRequest` violation per entry (not in
    /// `InputSummary`).
    pub blocking: Vec<InputIssue>,

    // Details beyond the contract.
    /// Phased, unphased or both, over every genotype of every record.
    pub phasing: PhasingState,
    /// True when the naming is the one the servers require for the build
    /// chosen (`1` for hg19, `chr1` for hg38); otherwise the split renames.
    pub naming_matches_build: bool,
    /// Records with more than one alternate allele (the servers exclude
    /// them).
    pub multiallelic_count: u64,
    /// Records at the same position as the record before them on the same
    /// chromosome (the servers exclude them).
    pub duplicate_site_count: u64,
    /// Records skipped as malformed (not counted in `variant_count`).
    pub malformed_count: u64,
    /// The 1-based line numbers of the first malformed records, at most
    /// [`REPORTED_LINES`].
    pub malformed_lines: Vec<u64>,
    /// How chromosome X looks, when the file has it.
    pub chromosome_x: Option<ChromosomeXSummary>,
}

/// How many line numbers of one kind the summary lists.
pub const REPORTED_LINES: usize = 10;

/// The minimum number of samples the servers accept.
pub const MIN_SAMPLES: u32 = 20;

impl InputSummary {
    /// True when nothing blocks the job.
    pub fn is_acceptable(&self) -> bool {
        self.blocking.is_empty()
    }

    /// The variant count of one chromosome, as named in the file.
    pub fn variant_count_of(&self, chromosome: &str) -> Option<u64> {
        self.chromosomes
            .iter()
            .find(|c| c.chromosome == chromosome)
            .map(|c| c.variant_count)
    }

    /// The blocking issue for a `no_phasing` submission of unphased input,
    /// `None` when the input is phased.
    pub fn unphased_issue(&self) -> Option<InputIssue> {
        (!self.is_phased).then(|| {
            InputIssue::new(
                InputIssueCode::UnphasedInput,
                "the genotypes are not all phased; choose a phasing method (eagle or beagle)",
            )
        })
    }
}

/// The number of variant records on one chromosome
/// (`fip.jobs.v1.ChromosomeVariantCount`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChromosomeVariantCount {
    /// The chromosome as named in the file, e.g. `chr20` or `20`.
    pub chromosome: String,
    /// Number of well-formed records on it.
    pub variant_count: u64,
}

/// Phasing over all genotypes with two or more alleles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhasingState {
    /// No diploid genotype (no samples, or haploid calls only).
    Unknown,
    /// Every diploid genotype is phased (`0|1`).
    Phased,
    /// Every diploid genotype is unphased (`0/1`, `./.`).
    Unphased,
    /// Some phased, some unphased.
    Mixed,
}

impl PhasingState {
    pub(crate) fn from_counts(phased: u64, unphased: u64) -> Self {
        match (phased > 0, unphased > 0) {
            (false, false) => Self::Unknown,
            (true, false) => Self::Phased,
            (false, true) => Self::Unphased,
            (true, true) => Self::Mixed,
        }
    }
}

/// Chromosome X as the servers impute it: split into PAR1, non-PAR and
/// PAR2 by the chosen build's coordinates; in non-PAR, each sample must be
/// either haploid or diploid throughout.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChromosomeXSummary {
    /// The name in the file (`X` or `chrX`).
    pub chromosome: String,
    /// Records before the non-PAR region (PAR1).
    pub par1_count: u64,
    /// Records in the non-PAR region.
    pub non_par_count: u64,
    /// Records after it (PAR2).
    pub par2_count: u64,
    /// Samples with only haploid calls in the non-PAR region (males coded
    /// haploid).
    pub haploid_sample_count: u32,
    /// Samples with both haploid and diploid calls in the non-PAR region
    /// (the servers fail the job on them).
    pub mixed_ploidy_sample_count: u32,
}

/// One finding (`fip.jobs.v1.InputIssue`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputIssue {
    /// What kind of finding it is.
    pub code: InputIssueCode,
    /// A sentence for the user.
    pub message: String,
    /// The chromosome concerned; empty when none.
    pub chromosome: String,
    /// The 1-based line number concerned; 0 when none.
    pub line: u64,
}

impl InputIssue {
    /// A finding about the whole file.
    pub fn new(code: InputIssueCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            chromosome: String::new(),
            line: 0,
        }
    }

    /// Sets the chromosome concerned.
    pub fn on(mut self, chromosome: impl Into<String>) -> Self {
        self.chromosome = chromosome.into();
        self
    }

    /// Sets the line concerned.
    pub fn at(mut self, line: u64) -> Self {
        self.line = line;
        self
    }
}

/// The kinds of findings (`fip.jobs.v1.InputIssueCode`, same names and
/// order). [`crate::preflight`] emits all but `NotVcf` (a
/// [`crate::PreflightError`] instead), `TooLarge` (the service's size limit
/// is the caller's) and `UnphasedInput` for a `no_phasing` choice (see
/// [`InputSummary::unphased_issue`]); it emits `UnphasedInput` itself for
/// files the servers refuse whatever the choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputIssueCode {
    /// Blocking: not a VCF.
    NotVcf,
    /// Blocking: a record is malformed (wrong column count, bad position,
    /// bad genotype, mixed ploidy on chromosome X).
    MalformedRecord,
    /// Blocking: fewer than 20 samples.
    TooFewSamples,
    /// Blocking: no variant on a chromosome the servers impute.
    NoVariants,
    /// Blocking: records are not sorted by position within a chromosome.
    Unsorted,
    /// Blocking: the same sample name appears twice.
    DuplicateSamples,
    /// Blocking: genotypes are unphased where phased ones are required.
    UnphasedInput,
    /// Blocking: positions do not fit the chosen build.
    BuildMismatch,
    /// Blocking: the file exceeds the service's size limit.
    TooLarge,
    /// Warning: records on chromosomes the servers do not impute.
    UnsupportedChromosome,
    /// Warning: plain gzip, not BGZF; the hub recompresses it.
    NotBgzf,
    /// Warning: `chr1` and `1` styles mixed; the hub renames.
    MixedChromosomeNaming,
    /// Warning: some sites appear more than once.
    DuplicateSites,
    /// Warning: the build chosen may not be the file's.
    BuildUncertain,
}

impl InputIssueCode {
    /// The upper-case name without prefix, as in `BadRequest` violations
    /// (`TOO_FEW_SAMPLES`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotVcf => "NOT_VCF",
            Self::MalformedRecord => "MALFORMED_RECORD",
            Self::TooFewSamples => "TOO_FEW_SAMPLES",
            Self::NoVariants => "NO_VARIANTS",
            Self::Unsorted => "UNSORTED",
            Self::DuplicateSamples => "DUPLICATE_SAMPLES",
            Self::UnphasedInput => "UNPHASED_INPUT",
            Self::BuildMismatch => "BUILD_MISMATCH",
            Self::TooLarge => "TOO_LARGE",
            Self::UnsupportedChromosome => "UNSUPPORTED_CHROMOSOME",
            Self::NotBgzf => "NOT_BGZF",
            Self::MixedChromosomeNaming => "MIXED_CHROMOSOME_NAMING",
            Self::DuplicateSites => "DUPLICATE_SITES",
            Self::BuildUncertain => "BUILD_UNCERTAIN",
        }
    }

    /// True for the codes that stop a job.
    pub fn is_blocking(self) -> bool {
        matches!(
            self,
            Self::NotVcf
                | Self::MalformedRecord
                | Self::TooFewSamples
                | Self::NoVariants
                | Self::Unsorted
                | Self::DuplicateSamples
                | Self::UnphasedInput
                | Self::BuildMismatch
                | Self::TooLarge
        )
    }
}
