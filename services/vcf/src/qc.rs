//! Imputation quality from a server's per-variant info file, recognised by
//! content: a VCF with `R2` in INFO (Minimac4, current Michigan / TOPMed /
//! H3Africa `chrN.info.gz`), a VCF with `DR2` in INFO (Beagle 5), or the
//! older tab-separated table with an `Rsq` column. Plain, gzip or BGZF.

use std::{
    collections::HashMap,
    io::{self, BufRead, Read},
};

use crate::{
    input::{self, Line, ReadFailure, read_line},
    preflight::{MAX_CHROMOSOMES, MAX_RECORD_LINE},
    record::info_value,
};

/// The r2 threshold of "usable" imputed variants.
pub const R2_USABLE: f64 = 0.3;
/// The r2 threshold of "well imputed" variants.
pub const R2_GOOD: f64 = 0.8;

/// Which kind of info file was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoFormat {
    /// A VCF with `R2` in INFO; `TYPED`/`TYPED_ONLY` flag genotyped sites.
    MinimacVcf,
    /// A VCF with `DR2` in INFO; the `IMP` flag marks imputed sites.
    BeagleVcf,
    /// A tab-separated table with `SNP` and `Rsq` columns (older servers);
    /// `Genotyped` says `Genotyped`, `Typed_Only` or `Imputed`.
    RsqTable,
}

/// Imputation quality of one chromosome (`fip.jobs.v1.ChromosomeQc`, plus
/// the details marked below).
#[derive(Clone, Debug, PartialEq)]
pub struct ChromosomeQc {
    /// The chromosome as the info file names it.
    pub chromosome: String,
    /// Number of variants in the file.
    pub variant_count: u64,
    /// Of those, how many were genotyped in the input; 0 when the file
    /// does not say.
    pub typed_variant_count: u64,
    /// Mean r2 over the variants with a numeric r2; 0 when none has one.
    pub mean_r2: f64,
    /// Variants with r2 >= 0.3.
    pub count_r2_ge_0_3: u64,
    /// Variants with r2 >= 0.8.
    pub count_r2_ge_0_8: u64,

    // Details beyond the contract.
    /// Variants whose r2 is missing or not a finite number (skipped).
    pub missing_r2_count: u64,
    /// What was read.
    pub format: InfoFormat,
}

impl ChromosomeQc {
    /// Variants that have a numeric r2 (those the mean covers).
    pub fn r2_value_count(&self) -> u64 {
        self.variant_count - self.missing_r2_count
    }
}

/// Imputation quality of a whole job (`fip.jobs.v1.QcSummary`).
#[derive(Clone, Debug, PartialEq)]
pub struct QcSummary {
    /// One entry per chromosome, in chromosome order (1 to 22, X, then the
    /// others by name).
    pub chromosomes: Vec<ChromosomeQc>,
    /// Total number of variants.
    pub variant_count: u64,
    /// Mean r2 over every variant with a numeric r2.
    pub mean_r2: f64,
    /// Total number of variants with r2 >= 0.3.
    pub count_r2_ge_0_3: u64,
    /// Total number of variants with r2 >= 0.8.
    pub count_r2_ge_0_8: u64,
}

impl QcSummary {
    /// Adds up per-chromosome results.
    pub fn from_chromosomes(mut chromosomes: Vec<ChromosomeQc>) -> Self {
        chromosomes.sort_by_key(|c| chromosome_order(&c.chromosome));
        let with_value: u64 = chromosomes.iter().map(ChromosomeQc::r2_value_count).sum();
        let weighted: f64 = chromosomes
            .iter()
            .map(|c| c.mean_r2 * c.r2_value_count() as f64)
            .sum();
        Self {
            variant_count: chromosomes.iter().map(|c| c.variant_count).sum(),
            mean_r2: if with_value == 0 {
                0.0
            } else {
                weighted / with_value as f64
            },
            count_r2_ge_0_3: chromosomes.iter().map(|c| c.count_r2_ge_0_3).sum(),
            count_r2_ge_0_8: chromosomes.iter().map(|c| c.count_r2_ge_0_8).sum(),
            chromosomes,
        }
    }
}

/// Sort key: 1..22 by number, then X, Y, M/MT, then other names.
fn chromosome_order(name: &str) -> (u8, u32, String) {
    let core = name.strip_prefix("chr").unwrap_or(name);
    match core {
        "X" => (1, 0, String::new()),
        "Y" => (2, 0, String::new()),
        "M" | "MT" => (3, 0, String::new()),
        _ => match core.parse::<u32>() {
            Ok(n) => (0, n, String::new()),
            Err(_) => (4, 0, name.to_owned()),
        },
    }
}

/// Why an info file could not be summarised.
#[derive(Debug, thiserror::Error)]
pub enum QcError {
    /// Reading failed.
    #[error("cannot read the info file: {0}")]
    Read(#[source] io::Error),
    /// The compressed stream ends early.
    #[error("the info file is truncated")]
    Truncated,
    /// The compressed stream is not valid.
    #[error("the info file's compression is corrupt: {0}")]
    Corrupt(String),
    /// Neither a VCF with `R2`/`DR2` nor an `Rsq` table.
    #[error("not an info file: {0}")]
    UnknownFormat(String),
    /// A line cannot be read.
    #[error("line {line} of the info file: {reason}")]
    Malformed {
        /// The 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file lists no variant.
    #[error("the info file lists no variant")]
    Empty,
    /// [`qc_from_info`] found more than one chromosome.
    #[error("the info file covers {} chromosomes ({}), expected one", .0.len(), .0.join(", "))]
    SeveralChromosomes(Vec<String>),
    /// Too many distinct chromosome names.
    #[error("the info file names more than {0} distinct chromosomes")]
    TooManyChromosomes(usize),
}

/// Summarises the info file of one chromosome.
pub fn qc_from_info<R: Read>(reader: R) -> Result<ChromosomeQc, QcError> {
    let mut all = qc_by_chromosome(reader)?;
    match all.len() {
        0 => Err(QcError::Empty),
        1 => Ok(all.remove(0)),
        _ => Err(QcError::SeveralChromosomes(
            all.into_iter().map(|c| c.chromosome).collect(),
        )),
    }
}

/// Summarises an info file per chromosome, in order of first appearance
/// (Beagle may write all chromosomes to one file).
pub fn qc_by_chromosome<R: Read>(reader: R) -> Result<Vec<ChromosomeQc>, QcError> {
    let input = input::open_reader(reader).map_err(to_error)?;
    let mut reader = input.reader;
    let mut buf = Vec::new();
    let mut line = 1u64;
    match read_line(&mut reader, &mut buf, MAX_RECORD_LINE).map_err(classify)? {
        Line::End => return Err(QcError::Empty),
        Line::TooLong => {
            return Err(QcError::UnknownFormat(
                "the first line is too long".to_owned(),
            ));
        }
        Line::Read => {}
    }
    let mut acc = Accumulator::default();
    if buf.starts_with(b"##fileformat=VCF") {
        read_vcf(&mut reader, &mut buf, &mut line, &mut acc)?;
    } else if buf.starts_with(b"SNP\t") {
        read_table(&mut reader, &mut buf, &mut line, &mut acc)?;
    } else {
        return Err(QcError::UnknownFormat(
            "expected a vcf with R2 or DR2 in INFO, or a tab-separated table with SNP and Rsq columns"
                .to_owned(),
        ));
    }
    Ok(acc.finish())
}

fn to_error(failure: ReadFailure) -> QcError {
    match failure {
        ReadFailure::Io(e) => QcError::Read(e),
        ReadFailure::Truncated => QcError::Truncated,
        ReadFailure::Corrupt(detail) => QcError::Corrupt(detail),
    }
}

fn classify(e: io::Error) -> QcError {
    to_error(ReadFailure::classify(e))
}

fn next_line<R: BufRead + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    line: &mut u64,
) -> Result<bool, QcError> {
    loop {
        *line += 1;
        match read_line(reader, buf, MAX_RECORD_LINE).map_err(classify)? {
            Line::End => return Ok(false),
            Line::TooLong => {
                return Err(QcError::Malformed {
                    line: *line,
                    reason: format!("longer than {MAX_RECORD_LINE} bytes"),
                });
            }
            Line::Read if buf.is_empty() => continue,
            Line::Read => return Ok(true),
        }
    }
}

fn read_vcf<R: BufRead + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    line: &mut u64,
    acc: &mut Accumulator,
) -> Result<(), QcError> {
    let (mut has_r2, mut has_dr2, mut has_typed, mut has_imp) = (false, false, false, false);
    loop {
        if !next_line(reader, buf, line)? {
            return Err(QcError::UnknownFormat(
                "the vcf header has no #CHROM line".to_owned(),
            ));
        }
        if let Some(def) = buf.strip_prefix(b"##INFO=<ID=") {
            let id = def.split(|&b| b == b',').next().unwrap_or_default();
            match id {
                b"R2" => has_r2 = true,
                b"DR2" => has_dr2 = true,
                b"TYPED" | b"TYPED_ONLY" => has_typed = true,
                b"IMP" => has_imp = true,
                _ => {}
            }
        } else if buf.starts_with(b"#CHROM") {
            break;
        } else if !buf.starts_with(b"##") {
            return Err(QcError::UnknownFormat(
                "the vcf header has no #CHROM line".to_owned(),
            ));
        }
    }
    let (format, key): (InfoFormat, &[u8]) = if has_r2 {
        (InfoFormat::MinimacVcf, b"R2")
    } else if has_dr2 {
        (InfoFormat::BeagleVcf, b"DR2")
    } else {
        return Err(QcError::UnknownFormat(
            "the vcf header defines neither R2 nor DR2 in INFO".to_owned(),
        ));
    };
    acc.format = Some(format);
    while next_line(reader, buf, line)? {
        let mut columns = buf.splitn(9, |&b| b == b'\t');
        let chromosome = columns.next().unwrap_or_default();
        let Some(info) = columns.nth(6) else {
            return Err(QcError::Malformed {
                line: *line,
                reason: "expected at least 8 tab-separated columns".to_owned(),
            });
        };
        let typed = match format {
            InfoFormat::MinimacVcf => {
                has_typed
                    && (info_value(info, b"TYPED").is_some()
                        || info_value(info, b"TYPED_ONLY").is_some())
            }
            _ => has_imp && info_value(info, b"IMP").is_none(),
        };
        let r2 = info_value(info, key).and_then(parse_r2);
        acc.add(*line, chromosome, r2, typed)?;
    }
    Ok(())
}

fn read_table<R: BufRead + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    line: &mut u64,
    acc: &mut Accumulator,
) -> Result<(), QcError> {
    let columns: Vec<&[u8]> = buf.split(|&b| b == b'\t').collect();
    let Some(rsq) = columns.iter().position(|c| *c == b"Rsq") else {
        return Err(QcError::UnknownFormat(
            "the table has no Rsq column".to_owned(),
        ));
    };
    let genotyped = columns.iter().position(|c| *c == b"Genotyped");
    acc.format = Some(InfoFormat::RsqTable);
    while next_line(reader, buf, line)? {
        let columns: Vec<&[u8]> = buf.split(|&b| b == b'\t').collect();
        let Some(value) = columns.get(rsq) else {
            return Err(QcError::Malformed {
                line: *line,
                reason: format!("expected at least {} tab-separated columns", rsq + 1),
            });
        };
        let snp = columns[0];
        let chromosome = snp.split(|&b| b == b':').next().unwrap_or_default();
        let typed = genotyped
            .and_then(|i| columns.get(i))
            .is_some_and(|v| *v == b"Genotyped" || *v == b"Typed_Only");
        acc.add(*line, chromosome, parse_r2(value), typed)?;
    }
    Ok(())
}

/// A finite number, or `None` for `.`, `-`, `NA`, `nan`, `inf` and text.
fn parse_r2(value: &[u8]) -> Option<f64> {
    std::str::from_utf8(value)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

#[derive(Default)]
struct Accumulator {
    format: Option<InfoFormat>,
    chromosomes: Vec<Counts>,
    index: HashMap<String, usize>,
    current: Option<usize>,
}

struct Counts {
    chromosome: String,
    variants: u64,
    typed: u64,
    sum: f64,
    with_value: u64,
    ge_0_3: u64,
    ge_0_8: u64,
}

impl Accumulator {
    fn add(
        &mut self,
        line: u64,
        chromosome: &[u8],
        r2: Option<f64>,
        typed: bool,
    ) -> Result<(), QcError> {
        let i = self.chromosome(line, chromosome)?;
        let counts = &mut self.chromosomes[i];
        counts.variants += 1;
        counts.typed += u64::from(typed);
        if let Some(r2) = r2 {
            counts.sum += r2;
            counts.with_value += 1;
            counts.ge_0_3 += u64::from(r2 >= R2_USABLE);
            counts.ge_0_8 += u64::from(r2 >= R2_GOOD);
        }
        Ok(())
    }

    fn chromosome(&mut self, line: u64, name: &[u8]) -> Result<usize, QcError> {
        if let Some(i) = self.current
            && self.chromosomes[i].chromosome.as_bytes() == name
        {
            return Ok(i);
        }
        let name = std::str::from_utf8(name)
            .ok()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| QcError::Malformed {
                line,
                reason: "the chromosome is empty or not valid utf-8".to_owned(),
            })?;
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                if self.chromosomes.len() >= MAX_CHROMOSOMES {
                    return Err(QcError::TooManyChromosomes(MAX_CHROMOSOMES));
                }
                self.chromosomes.push(Counts {
                    chromosome: name.to_owned(),
                    variants: 0,
                    typed: 0,
                    sum: 0.0,
                    with_value: 0,
                    ge_0_3: 0,
                    ge_0_8: 0,
                });
                self.index
                    .insert(name.to_owned(), self.chromosomes.len() - 1);
                self.chromosomes.len() - 1
            }
        };
        self.current = Some(i);
        Ok(i)
    }

    fn finish(self) -> Vec<ChromosomeQc> {
        let format = self.format.unwrap_or(InfoFormat::MinimacVcf);
        self.chromosomes
            .into_iter()
            .map(|c| ChromosomeQc {
                mean_r2: if c.with_value == 0 {
                    0.0
                } else {
                    c.sum / c.with_value as f64
                },
                chromosome: c.chromosome,
                variant_count: c.variants,
                typed_variant_count: c.typed,
                count_r2_ge_0_3: c.ge_0_3,
                count_r2_ge_0_8: c.ge_0_8,
                missing_r2_count: c.variants - c.with_value,
                format,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_r2_values() {
        assert_eq!(parse_r2(b"0.5"), Some(0.5));
        assert_eq!(parse_r2(b"1"), Some(1.0));
        assert_eq!(parse_r2(b"."), None);
        assert_eq!(parse_r2(b"-"), None);
        assert_eq!(parse_r2(b"NA"), None);
        assert_eq!(parse_r2(b"nan"), None);
        assert_eq!(parse_r2(b"inf"), None);
    }

    #[test]
    fn orders_chromosomes_naturally() {
        let mut names = vec!["chrX", "chr10", "chr2", "GL1", "chrM", "chr1"];
        names.sort_by_key(|n| chromosome_order(n));
        assert_eq!(names, ["chr1", "chr2", "chr10", "chrX", "chrM", "GL1"]);
    }

    #[test]
    fn summary_weights_means_by_values() {
        let qc = |name: &str, n, missing, mean| ChromosomeQc {
            chromosome: name.to_owned(),
            variant_count: n,
            typed_variant_count: 0,
            mean_r2: mean,
            count_r2_ge_0_3: 1,
            count_r2_ge_0_8: 1,
            missing_r2_count: missing,
            format: InfoFormat::MinimacVcf,
        };
        let summary = QcSummary::from_chromosomes(vec![qc("21", 4, 1, 0.5), qc("20", 2, 0, 1.0)]);
        assert_eq!(summary.chromosomes[0].chromosome, "20");
        assert_eq!(summary.variant_count, 6);
        assert_eq!(summary.mean_r2, (0.5 * 3.0 + 2.0) / 5.0);
        assert_eq!(summary.count_r2_ge_0_3, 2);
    }
}
