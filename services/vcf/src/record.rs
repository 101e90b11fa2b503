//! One VCF data line: its columns, checked the way the imputation servers
//! read them (htsjdk), without allocating per record.

use std::fmt;

/// The highest position htsjdk (and so the servers) can hold.
const MAX_POSITION: u64 = i32::MAX as u64;

/// The columns of a data line, borrowed from it.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    /// `CHROM`.
    pub chromosome: &'a str,
    /// `POS`, 1-based.
    pub position: u64,
    /// `REF`.
    pub reference: &'a [u8],
    /// The number of alternate alleles (0 when `ALT` is `.`).
    pub alt_count: usize,
    /// `INFO`.
    pub info: &'a [u8],
    /// The sample columns, still tab-separated (empty without samples).
    pub samples: &'a [u8],
}

impl Record<'_> {
    /// The last reference base the record covers: `END` from INFO when
    /// present, otherwise the end of `REF`.
    pub(crate) fn end(&self) -> u64 {
        info_value(self.info, b"END")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|end| *end >= self.position)
            .unwrap_or(self.position + self.reference.len() as u64 - 1)
    }
}

/// What is wrong with a data line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Too few or too many columns.
    Columns { expected: usize, found: usize },
    /// `CHROM` is empty or not utf-8.
    Chromosome,
    /// `POS` is not an integer from 1 to 2^31 - 1.
    Position(String),
    /// `REF` is not a run of `ACGTN`.
    Reference(String),
    /// `ALT` is empty or holds an empty allele.
    Alternate(String),
    /// `REF` and `ALT` are the same allele.
    SameAlleles(String),
    /// `FORMAT` does not start with `GT`.
    NoGenotype,
    /// A genotype cannot be read, or names an allele the record lacks.
    Genotype { sample: usize, value: String },
    /// A header line after the `#CHROM` line.
    HeaderLine,
    /// The line is longer than the limit.
    TooLong(usize),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Columns { expected, found } => {
                write!(
                    f,
                    "expected {expected} tab-separated columns, found {found}"
                )
            }
            Self::Chromosome => f.write_str("the chromosome is empty or not valid utf-8"),
            Self::Position(p) => write!(
                f,
                "position `{p}` is not an integer from 1 to {MAX_POSITION}"
            ),
            Self::Reference(r) => write!(
                f,
                "reference allele `{r}` is not a sequence of A, C, G, T, N"
            ),
            Self::Alternate(a) => write!(
                f,
                "alternate alleles `{a}` are empty or hold an empty allele"
            ),
            Self::SameAlleles(a) => {
                write!(f, "reference and alternate allele are the same (`{a}`)")
            }
            Self::NoGenotype => f.write_str("the FORMAT column does not start with GT"),
            Self::Genotype { sample, value } => {
                write!(f, "genotype `{value}` of sample {} is invalid", sample + 1)
            }
            Self::HeaderLine => f.write_str("a header line follows the #CHROM line"),
            Self::TooLong(limit) => write!(f, "the line is longer than {limit} bytes"),
        }
    }
}

/// Genotype counts of one record.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GenotypeCounts {
    /// Genotypes with two or more alleles, all joined by `|`.
    pub phased: u64,
    /// Genotypes with two or more alleles, some joined by `/`.
    pub unphased: u64,
}

/// Splits a data line into its fixed columns and checks them. With
/// `sample_count` samples the line must have `9 + sample_count` columns
/// (8 or 9 without samples); the sample columns are returned unparsed.
pub(crate) fn parse(line: &[u8], sample_count: usize) -> Result<Record<'_>, Malformed> {
    if line.first() == Some(&b'#') {
        return Err(Malformed::HeaderLine);
    }
    let mut columns = line.splitn(10, |&b| b == b'\t');
    let mut fixed = [&b""[..]; 8];
    for (i, slot) in fixed.iter_mut().enumerate() {
        *slot = columns.next().ok_or(Malformed::Columns {
            expected: expected_columns(sample_count),
            found: i,
        })?;
    }
    let format = columns.next();
    let samples = columns.next();
    let found_samples = samples.map_or(0, |s| s.iter().filter(|&&b| b == b'\t').count() + 1);
    if sample_count > 0 {
        let Some(format) = format else {
            return Err(Malformed::Columns {
                expected: expected_columns(sample_count),
                found: 8,
            });
        };
        if found_samples != sample_count {
            return Err(Malformed::Columns {
                expected: expected_columns(sample_count),
                found: 9 + found_samples,
            });
        }
        if format != b"GT" && !format.starts_with(b"GT:") {
            return Err(Malformed::NoGenotype);
        }
    } else if found_samples > 0 {
        return Err(Malformed::Columns {
            expected: 8,
            found: 9 + found_samples,
        });
    }
    let samples = samples.unwrap_or(b"");

    let [chrom, pos, _id, reference, alt, _qual, _filter, info] = fixed;
    let chromosome = std::str::from_utf8(chrom)
        .ok()
        .filter(|c| !c.is_empty() && !c.bytes().any(|b| b.is_ascii_whitespace()))
        .ok_or(Malformed::Chromosome)?;
    let position = parse_position(pos).ok_or_else(|| Malformed::Position(lossy(pos)))?;
    if reference.is_empty() || !reference.iter().all(|b| b"ACGTNacgtn".contains(b)) {
        return Err(Malformed::Reference(lossy(reference)));
    }
    let alt_count = if alt == b"." {
        0
    } else {
        if alt.is_empty()
            || alt
                .split(|&b| b == b',')
                .any(|a| a.is_empty() || a.iter().any(|b| b.is_ascii_whitespace()))
        {
            return Err(Malformed::Alternate(lossy(alt)));
        }
        if alt.eq_ignore_ascii_case(reference) {
            return Err(Malformed::SameAlleles(lossy(alt)));
        }
        alt.iter().filter(|&&b| b == b',').count() + 1
    };
    Ok(Record {
        chromosome,
        position,
        reference,
        alt_count,
        info,
        samples,
    })
}

fn expected_columns(sample_count: usize) -> usize {
    if sample_count == 0 {
        8
    } else {
        9 + sample_count
    }
}

fn parse_position(pos: &[u8]) -> Option<u64> {
    if pos.is_empty() || pos.len() > 10 || !pos.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = std::str::from_utf8(pos).ok()?.parse::<u64>().ok()?;
    (1..=MAX_POSITION).contains(&value).then_some(value)
}

fn lossy(bytes: &[u8]) -> String {
    const SHOWN: usize = 40;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]).into_owned();
    if bytes.len() > SHOWN {
        format!("{text}...")
    } else {
        text
    }
}

/// The value of `key` in an INFO column (`key=value`), or an empty slice
/// for a flag; `None` when absent.
pub(crate) fn info_value<'a>(info: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    if info == b"." {
        return None;
    }
    info.split(|&b| b == b';').find_map(|entry| {
        let (name, value) = match entry.iter().position(|&b| b == b'=') {
            Some(i) => (&entry[..i], &entry[i + 1..]),
            None => (entry, &b""[..]),
        };
        (name == key).then_some(value)
    })
}

/// Reads the genotype (the first FORMAT key, GT) of each of the
/// `sample_count` samples (the columns were counted by [`parse`]): checks
/// each allele exists, counts phased and unphased calls, and, when
/// `ploidy` is given, stores each sample's allele count there (0 when the
/// sample's genotype is absent).
pub(crate) fn scan_genotypes(
    samples: &[u8],
    sample_count: usize,
    alt_count: usize,
    mut ploidy: Option<&mut Vec<u8>>,
) -> Result<GenotypeCounts, Malformed> {
    let mut counts = GenotypeCounts::default();
    if sample_count == 0 {
        return Ok(counts);
    }
    if let Some(ploidy) = ploidy.as_deref_mut() {
        ploidy.clear();
    }
    let len = samples.len();
    let mut at = 0;
    for index in 0..sample_count {
        // The common call, one-digit alleles around one separator (`0|1`),
        // is read in place; anything else goes through `read_genotype`.
        if let Some(&[a, separator, b]) = samples.get(at..at + 3)
            && a.is_ascii_digit()
            && b.is_ascii_digit()
            && (separator == b'|' || separator == b'/')
            && usize::from(a - b'0') <= alt_count
            && usize::from(b - b'0') <= alt_count
        {
            match samples.get(at + 3) {
                None | Some(b'\t') => {
                    if separator == b'|' {
                        counts.phased += 1;
                    } else {
                        counts.unphased += 1;
                    }
                    if let Some(ploidy) = ploidy.as_deref_mut() {
                        ploidy.push(2);
                    }
                    at += 4;
                    continue;
                }
                Some(b':') => {
                    if separator == b'|' {
                        counts.phased += 1;
                    } else {
                        counts.unphased += 1;
                    }
                    if let Some(ploidy) = ploidy.as_deref_mut() {
                        ploidy.push(2);
                    }
                    at = memchr::memchr(b'\t', &samples[at + 3..]).map_or(len, |i| at + 3 + i + 1);
                    continue;
                }
                Some(_) => {}
            }
        }
        let rest = samples.get(at..).unwrap_or_default();
        let column_end = memchr::memchr(b'\t', rest).unwrap_or(rest.len());
        let column = &rest[..column_end];
        at += column_end + 1;
        let gt = match memchr::memchr(b':', column) {
            Some(i) => &column[..i],
            None => column,
        };
        let bad = || Malformed::Genotype {
            sample: index,
            value: lossy(gt),
        };
        let (alleles, phased, unphased) = read_genotype(gt, alt_count).ok_or_else(bad)?;
        if alleles >= 2 {
            if unphased > 0 {
                counts.unphased += 1;
            } else if phased > 0 {
                counts.phased += 1;
            }
        }
        if let Some(ploidy) = ploidy.as_deref_mut() {
            ploidy.push(alleles.min(u8::MAX as usize) as u8);
        }
    }
    Ok(counts)
}

/// Parses one GT value: returns (allele count, `|` separators, `/`
/// separators); `None` when invalid. A VCF 4.4 leading phase marker
/// (`|0`, `/1`) is accepted.
fn read_genotype(gt: &[u8], alt_count: usize) -> Option<(usize, usize, usize)> {
    let body = match gt.first() {
        Some(b'|' | b'/') => &gt[1..],
        _ => gt,
    };
    if body.is_empty() {
        return None;
    }
    let (mut alleles, mut phased, mut unphased) = (0, 0, 0);
    let mut start = 0;
    for i in 0..=body.len() {
        let at_end = i == body.len();
        if !at_end && body[i] != b'|' && body[i] != b'/' {
            continue;
        }
        let allele = &body[start..i];
        if allele != b"." {
            if allele.is_empty() || allele.len() > 9 || !allele.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let index: usize = std::str::from_utf8(allele).ok()?.parse().ok()?;
            if index > alt_count {
                return None;
            }
        }
        alleles += 1;
        if !at_end {
            if body[i] == b'|' {
                phased += 1;
            } else {
                unphased += 1;
            }
        }
        start = i + 1;
    }
    Some((alleles, phased, unphased))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_record() {
        let line = b"chr20\t100\trs1\tA\tC,G\t.\tPASS\tEND=105;X\tGT:DS\t0|1:0.5\t2/0:1";
        let record = parse(line, 2).unwrap();
        assert_eq!(record.chromosome, "chr20");
        assert_eq!(record.position, 100);
        assert_eq!(record.alt_count, 2);
        assert_eq!(record.end(), 105);
        assert_eq!(record.samples, b"0|1:0.5\t2/0:1");
        let counts = scan_genotypes(record.samples, 2, record.alt_count, None).unwrap();
        assert_eq!(
            counts,
            GenotypeCounts {
                phased: 1,
                unphased: 1
            }
        );
    }

    #[test]
    fn checks_columns() {
        let row = |s: &str| parse(s.as_bytes(), 2).map(|_| ()).unwrap_err();
        assert_eq!(
            row("20\t1\t.\tA\tC\t.\t.\t."),
            Malformed::Columns {
                expected: 11,
                found: 8
            }
        );
        assert_eq!(
            row("20\t1\t.\tA\tC\t.\t.\t.\tGT\t0|1"),
            Malformed::Columns {
                expected: 11,
                found: 10
            }
        );
        assert_eq!(
            row("20\t1\t.\tA\tC\t.\t.\t.\tGT\t0|1\t0|0\t1|1"),
            Malformed::Columns {
                expected: 11,
                found: 12
            }
        );
        let line = b"20\t1\t.\tA\tC\t.\t.\t.\tGT\t0|1\t";
        let record = parse(line, 2).unwrap();
        assert_eq!(
            scan_genotypes(record.samples, 2, 1, None),
            Err(Malformed::Genotype {
                sample: 1,
                value: String::new()
            })
        );
        let record = parse(b"20\t1\t.\tA\tC\t.\t.\t.\tGT\t", 1).unwrap();
        assert!(scan_genotypes(record.samples, 1, 1, None).is_err());
        assert_eq!(
            row("20\t1\t.\tA\tC"),
            Malformed::Columns {
                expected: 11,
                found: 5
            }
        );
        assert!(parse(b"20\t1\t.\tA\tC\t.\t.\t.", 0).is_ok());
        assert!(parse(b"20\t1\t.\tA\tC\t.\t.\t.\tGT", 0).is_ok());
        assert_eq!(
            parse(b"20\t1\t.\tA\tC\t.\t.\t.\tGT\t0|1", 0).unwrap_err(),
            Malformed::Columns {
                expected: 8,
                found: 10
            }
        );
    }

    #[test]
    fn checks_fixed_columns() {
        let row = |s: &str| parse(s.as_bytes(), 1).map(|_| ()).unwrap_err();
        assert!(matches!(
            row("20\tx\t.\tA\tC\t.\t.\t.\tGT\t0|1"),
            Malformed::Position(_)
        ));
        assert!(matches!(
            row("20\t0\t.\tA\tC\t.\t.\t.\tGT\t0|1"),
            Malformed::Position(_)
        ));
        assert!(matches!(
            row("20\t-5\t.\tA\tC\t.\t.\t.\tGT\t0|1"),
            Malformed::Position(_)
        ));
        assert!(matches!(
            row("20\t2147483648\t.\tA\tC\t.\t.\t.\tGT\t0|1"),
            Malformed::Position(_)
        ));
        assert!(matches!(
            row("20\t5\t.\tAX\tC\t.\t.\t.\tGT\t0|1"),
            Malformed::Reference(_)
        ));
        assert!(matches!(
            row("20\t5\t.\tA\tC,\t.\t.\t.\tGT\t0|1"),
            Malformed::Alternate(_)
        ));
        assert!(matches!(
            row("20\t5\t.\tA\ta\t.\t.\t.\tGT\t0|1"),
            Malformed::SameAlleles(_)
        ));
        assert!(matches!(
            row("\t5\t.\tA\tC\t.\t.\t.\tGT\t0|1"),
            Malformed::Chromosome
        ));
        assert!(matches!(
            row("20\t5\t.\tA\tC\t.\t.\t.\tDS:GT\t0|1"),
            Malformed::NoGenotype
        ));
        assert!(matches!(
            row("#20\t5\t.\tA\tC\t.\t.\t.\tGT\t0|1"),
            Malformed::HeaderLine
        ));
    }

    #[test]
    fn reads_genotypes() {
        assert_eq!(read_genotype(b"0|1", 1), Some((2, 1, 0)));
        assert_eq!(read_genotype(b"./.", 1), Some((2, 0, 1)));
        assert_eq!(read_genotype(b"1", 1), Some((1, 0, 0)));
        assert_eq!(read_genotype(b".", 0), Some((1, 0, 0)));
        assert_eq!(read_genotype(b"|0|1", 1), Some((2, 1, 0)));
        assert_eq!(read_genotype(b"0/1|2", 2), Some((3, 1, 1)));
        assert_eq!(read_genotype(b"0|2", 1), None);
        assert_eq!(read_genotype(b"0|", 1), None);
        assert_eq!(read_genotype(b"a|b", 1), None);
        assert_eq!(read_genotype(b"", 1), None);
    }

    #[test]
    fn haploid_calls_count_as_neither_phased_nor_unphased() {
        let mut ploidy = Vec::new();
        let counts = scan_genotypes(b"0\t1|0\t./.", 3, 1, Some(&mut ploidy)).unwrap();
        assert_eq!(
            counts,
            GenotypeCounts {
                phased: 1,
                unphased: 1
            }
        );
        assert_eq!(ploidy, [1, 2, 2]);
    }

    #[test]
    fn finds_info_values() {
        assert_eq!(
            info_value(b"AF=0.1;R2=0.93;TYPED", b"R2"),
            Some(&b"0.93"[..])
        );
        assert_eq!(
            info_value(b"AF=0.1;R2=0.93;TYPED", b"TYPED"),
            Some(&b""[..])
        );
        assert_eq!(info_value(b"AF=0.1;DR2=0.5", b"R2"), None);
        assert_eq!(info_value(b".", b"R2"), None);
    }
}
