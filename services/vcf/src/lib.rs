//! VCF handling for the jobs worker.
//!
//! - [`preflight`]: checks a user's input (plain, gzip or BGZF VCF,
//!   recognised by content) before anything reaches an external server and
//!   summarises it as an [`InputSummary`] shaped after
//!   `fip.jobs.v1.InputSummary`.
//! - [`split_by_chromosome`]: writes one BGZF VCF (optionally tabix-indexed,
//!   optionally renamed to the build's naming) per chromosome, as the
//!   Michigan-type servers require.
//! - [`preflight_and_split`]: both of the above in one pass over the input,
//!   with the same results, for a worker that needs both.
//! - [`qc_from_info`]: summarises an imputation result's per-variant info
//!   file (`R2`, `DR2` or `Rsq`) as a [`ChromosomeQc`].
//!
//! Every function streams its input once; memory is bounded by the longest
//! line and the number of distinct chromosomes, never by the file size. All
//! of them block: run them with `tokio::task::spawn_blocking`.

mod blocks;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod genome;
mod header;
mod input;
mod preflight;
mod qc;
mod record;
mod split;
mod summary;
#[cfg(feature = "testdata")]
pub mod testdata;

pub use genome::{ChromosomeNaming, GenomeBuild, is_imputable, naming_of, rename};
pub use input::InputFormat;
pub use preflight::{
    CheckedSplit, MAX_CHROMOSOMES, MAX_RECORD_LINE, PreflightError, preflight, preflight_and_split,
    preflight_reader,
};
pub use qc::{ChromosomeQc, InfoFormat, QcError, QcSummary, qc_by_chromosome, qc_from_info};
pub use split::{ChromosomeFile, MAX_OPEN_OUTPUTS, SplitError, SplitOptions, split_by_chromosome};
pub use summary::{
    ChromosomeVariantCount, ChromosomeXSummary, InputIssue, InputIssueCode, InputSummary,
    MIN_SAMPLES, PhasingState, REPORTED_LINES,
};
