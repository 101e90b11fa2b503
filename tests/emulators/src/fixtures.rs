//! Synthetic genotype data for tests: VCF files generated deterministically
//! from a seed, as plain text, BGZF (what imputation servers require) or plain
//! gzip (what they refuse).
//!
//! ```no_run
//! use fip_emulators::fixtures::VcfSpec;
//!
//! // 25 phased samples, 40 variants on each of chromosomes 20 and 21.
//! let vcf = VcfSpec::new(25, 40).chromosomes(["20", "21"]).seed(7).build();
//! let whole = vcf.bgzf(); // one BGZF file holding both chromosomes
//! for (chromosome, part) in vcf.split_by_chromosome() {
//!     let bytes = part.bgzf(); // one file per chromosome, as servers want
//!     # let _ = (chromosome, bytes);
//! }
//! let positions = vcf.positions("20");
//! # let _ = (whole, positions);
//! ```
//!
//! The same spec and seed always give the same bytes, so a test can compute
//! what a server will answer (for example the emulator's per-variant R2, see
//! [`crate::cloudgene::r2`]).

use std::io::{Read, Write};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to generate; see [`VcfSpec::new`] for the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct VcfSpec {
    /// Number of samples (columns after FORMAT).
    pub samples: usize,
    /// Number of variants on each chromosome.
    pub variants_per_chromosome: usize,
    /// Chromosome names as written in the CHROM column (`20`, or `chr20` for hg38).
    pub chromosomes: Vec<String>,
    /// `0|1` genotypes when true, `0/1` otherwise.
    pub phased: bool,
    /// Share of genotypes written as missing (`.|.` or `./.`), 0 to 1.
    pub missing_rate: f64,
    /// Position of the first variant of each chromosome; the next ones follow
    /// at random gaps of 1 to 1000 bases.
    pub first_position: u64,
    /// Seed of every random choice.
    pub seed: u64,
}

impl VcfSpec {
    /// `samples` phased samples and `variants` variants on chromosome `20`,
    /// no missing genotypes, first position 60 000, seed 1.
    pub fn new(samples: usize, variants: usize) -> Self {
        Self {
            samples,
            variants_per_chromosome: variants,
            chromosomes: vec!["20".to_owned()],
            phased: true,
            missing_rate: 0.0,
            first_position: 60_000,
            seed: 1,
        }
    }

    /// Puts the variants on these chromosomes, in this order.
    pub fn chromosomes<I, S>(mut self, chromosomes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.chromosomes = chromosomes.into_iter().map(Into::into).collect();
        self
    }

    /// Phased (`|`) or unphased (`/`) genotypes.
    pub fn phased(mut self, phased: bool) -> Self {
        self.phased = phased;
        self
    }

    /// Writes this share of genotypes as missing.
    pub fn missing_rate(mut self, rate: f64) -> Self {
        self.missing_rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Starts each chromosome at this position.
    pub fn first_position(mut self, position: u64) -> Self {
        self.first_position = position.max(1);
        self
    }

    /// Seeds the generator.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Generates the data.
    pub fn build(&self) -> SyntheticVcf {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let sample_names = (1..=self.samples)
            .map(|index| format!("SAMPLE{index:04}"))
            .collect();
        let mut records = Vec::with_capacity(self.chromosomes.len() * self.variants_per_chromosome);
        for chromosome in &self.chromosomes {
            let mut position = self.first_position;
            for _ in 0..self.variants_per_chromosome {
                let reference = BASES[rng.gen_range(0..4)];
                let alternate = loop {
                    let base = BASES[rng.gen_range(0..4)];
                    if base != reference {
                        break base;
                    }
                };
                let frequency: f64 = rng.gen_range(0.05..0.5);
                let genotypes = (0..self.samples)
                    .map(|_| {
                        if rng.gen_bool(self.missing_rate) {
                            None
                        } else {
                            Some((
                                u8::from(rng.gen_bool(frequency)),
                                u8::from(rng.gen_bool(frequency)),
                            ))
                        }
                    })
                    .collect();
                records.push(Record {
                    chromosome: chromosome.clone(),
                    position,
                    id: format!("rs{}", 100_000 + records.len()),
                    reference: reference.to_string(),
                    alternate: alternate.to_string(),
                    genotypes,
                });
                position += rng.gen_range(1..=1000);
            }
        }
        SyntheticVcf {
            sample_names,
            records,
            phased: self.phased,
        }
    }
}

const BASES: [char; 4] = ['A', 'C', 'G', 'T'];

/// One variant of a [`SyntheticVcf`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// CHROM as written.
    pub chromosome: String,
    /// POS (1-based).
    pub position: u64,
    /// ID.
    pub id: String,
    /// REF.
    pub reference: String,
    /// ALT (one allele).
    pub alternate: String,
    /// One genotype per sample: the two allele indexes, or `None` when missing.
    pub genotypes: Vec<Option<(u8, u8)>>,
}

/// Generated genotypes, ready to be written in any of the encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticVcf {
    /// Sample names, in column order.
    pub sample_names: Vec<String>,
    /// Variants in file order (by chromosome as given, then position).
    pub records: Vec<Record>,
    /// Whether genotypes are written phased.
    pub phased: bool,
}

impl SyntheticVcf {
    /// The VCF 4.2 text.
    pub fn text(&self) -> String {
        let separator = if self.phased { '|' } else { '/' };
        let mut text = String::new();
        text.push_str("##fileformat=VCFv4.2\n");
        text.push_str("##source=fip-emulators synthetic genotypes\n");
        for chromosome in self.chromosomes() {
            text.push_str(&format!("##contig=<ID={chromosome}>\n"));
        }
        text.push_str("##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n");
        text.push_str("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT");
        for sample in &self.sample_names {
            text.push('\t');
            text.push_str(sample);
        }
        text.push('\n');
        for record in &self.records {
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\t.\tPASS\t.\tGT",
                record.chromosome, record.position, record.id, record.reference, record.alternate
            ));
            for genotype in &record.genotypes {
                match genotype {
                    Some((a, b)) => text.push_str(&format!("\t{a}{separator}{b}")),
                    None => text.push_str(&format!("\t.{separator}.")),
                }
            }
            text.push('\n');
        }
        text
    }

    /// The text compressed as BGZF (block gzip, what `bgzip` writes).
    pub fn bgzf(&self) -> Vec<u8> {
        bgzf_compress(self.text().as_bytes())
    }

    /// The text compressed as one plain gzip member (not BGZF).
    pub fn gzip(&self) -> Vec<u8> {
        gzip_compress(self.text().as_bytes())
    }

    /// The chromosomes, in file order, each once.
    pub fn chromosomes(&self) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for record in &self.records {
            if !seen.contains(&record.chromosome) {
                seen.push(record.chromosome.clone());
            }
        }
        seen
    }

    /// The variants of one chromosome, same samples.
    pub fn only(&self, chromosome: &str) -> SyntheticVcf {
        SyntheticVcf {
            sample_names: self.sample_names.clone(),
            records: self
                .records
                .iter()
                .filter(|record| record.chromosome == chromosome)
                .cloned()
                .collect(),
            phased: self.phased,
        }
    }

    /// One file per chromosome, in file order.
    pub fn split_by_chromosome(&self) -> Vec<(String, SyntheticVcf)> {
        self.chromosomes()
            .into_iter()
            .map(|chromosome| {
                let part = self.only(&chromosome);
                (chromosome, part)
            })
            .collect()
    }

    /// The positions of one chromosome's variants, in order.
    pub fn positions(&self, chromosome: &str) -> Vec<u64> {
        self.records
            .iter()
            .filter(|record| record.chromosome == chromosome)
            .map(|record| record.position)
            .collect()
    }
}

/// Compresses `data` as BGZF, with the end-of-file marker block.
pub fn bgzf_compress(data: &[u8]) -> Vec<u8> {
    let mut writer = noodles::bgzf::io::Writer::new(Vec::new());
    writer.write_all(data).expect("writing to memory");
    writer.finish().expect("writing to memory")
}

/// Compresses `data` as one plain gzip member.
pub fn gzip_compress(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// Whether `data` starts with a BGZF block: a gzip member whose extra field
/// holds the `BC` subfield with the block size (SAM/BAM specification §4.1).
pub fn is_bgzf(data: &[u8]) -> bool {
    // ID1 ID2 CM FLG(FEXTRA) MTIME(4) XFL OS XLEN(2) SI1 SI2 SLEN(2) BSIZE(2)
    data.len() >= 18
        && data[0] == 0x1f
        && data[1] == 0x8b
        && data[2] == 8
        && data[3] & 4 != 0
        && u16::from_le_bytes([data[10], data[11]]) >= 6
        && data[12] == b'B'
        && data[13] == b'C'
        && u16::from_le_bytes([data[14], data[15]]) == 2
}

/// Decompresses gzip data of one or many members (plain gzip and BGZF alike).
pub fn gunzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        let spec = VcfSpec::new(21, 30).chromosomes(["1", "2"]).seed(42);
        assert_eq!(spec.build().text(), spec.build().text());
        assert_ne!(spec.build().text(), spec.clone().seed(43).build().text());
    }

    #[test]
    fn text_has_the_requested_shape() {
        let vcf = VcfSpec::new(3, 5)
            .chromosomes(["chr20", "chr21"])
            .phased(false)
            .build();
        let text = vcf.text();
        let header = text
            .lines()
            .find(|line| line.starts_with("#CHROM"))
            .unwrap();
        assert_eq!(header.split('\t').count(), 9 + 3);
        let data: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
        assert_eq!(data.len(), 10);
        assert!(data[0].starts_with("chr20\t60000\t"));
        assert!(data[5].starts_with("chr21\t60000\t"));
        assert!(data.iter().all(|line| line.split('\t').count() == 12));
        assert!(data.iter().all(|line| !line.contains('|')));
        for chromosome in ["chr20", "chr21"] {
            let positions = vcf.positions(chromosome);
            assert_eq!(positions.len(), 5);
            assert!(positions.windows(2).all(|pair| pair[0] < pair[1]));
        }
        for record in &vcf.records {
            assert_ne!(record.reference, record.alternate);
        }
    }

    #[test]
    fn missing_genotypes_follow_the_rate() {
        let none = VcfSpec::new(10, 10).build();
        assert!(
            none.records
                .iter()
                .all(|r| r.genotypes.iter().all(Option::is_some))
        );
        let all = VcfSpec::new(10, 10).missing_rate(1.0).build();
        assert!(all.text().contains(".|."));
        assert!(
            all.records
                .iter()
                .all(|r| r.genotypes.iter().all(Option::is_none))
        );
    }

    #[test]
    fn bgzf_is_recognised_and_plain_gzip_is_not() {
        let vcf = VcfSpec::new(20, 50).build();
        let bgzf = vcf.bgzf();
        let gzip = vcf.gzip();
        assert!(is_bgzf(&bgzf));
        assert!(!is_bgzf(&gzip));
        assert!(!is_bgzf(vcf.text().as_bytes()));
        assert_eq!(gunzip(&bgzf).unwrap(), vcf.text().into_bytes());
        assert_eq!(gunzip(&gzip).unwrap(), vcf.text().into_bytes());
        // noodles reads every block back.
        let mut reader = noodles::bgzf::io::Reader::new(&bgzf[..]);
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, vcf.text());
    }

    #[test]
    fn split_keeps_samples_and_order() {
        let vcf = VcfSpec::new(4, 3).chromosomes(["2", "1"]).build();
        let parts = vcf.split_by_chromosome();
        assert_eq!(
            parts.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
            ["2", "1"]
        );
        for (chromosome, part) in parts {
            assert_eq!(part.sample_names, vcf.sample_names);
            assert_eq!(part.chromosomes(), [chromosome]);
            assert_eq!(part.records.len(), 3);
        }
    }
}
