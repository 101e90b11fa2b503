//! Deterministic generators of VCF inputs and imputation info files for
//! tests (feature `testdata`). Every generator is seeded: the same spec
//! gives the same bytes on every machine.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
};

use flate2::{Compression as GzLevel, write::GzEncoder};
use noodles::bgzf;

/// A small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// How a generated file is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain text.
    Plain,
    /// One gzip member (not BGZF).
    Gzip,
    /// BGZF blocks with the end-of-file block, as bgzip writes.
    Bgzf,
}

/// Compresses bytes.
pub fn compress(bytes: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::Plain => bytes.to_vec(),
        Compression::Gzip => {
            let mut encoder = GzEncoder::new(Vec::new(), GzLevel::default());
            encoder.write_all(bytes).expect("writing to memory");
            encoder.finish().expect("writing to memory")
        }
        Compression::Bgzf => {
            let mut writer = bgzf::io::Writer::new(Vec::new());
            writer.write_all(bytes).expect("writing to memory");
            writer.finish().expect("writing to memory")
        }
    }
}

/// Writes bytes to a file, compressed.
pub fn write_file(path: &Path, bytes: &[u8], compression: Compression) -> io::Result<()> {
    std::fs::write(path, compress(bytes, compression))
}

/// How genotypes are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Genotypes {
    /// `0|1`.
    Phased,
    /// `0/1`.
    Unphased,
    /// Phased, except every record whose index (from 0) is a positive
    /// multiple of `n`, which is unphased.
    UnphasedEvery(usize),
}

/// What [`VcfSpec::records`] generates.
#[derive(Clone, Debug)]
pub struct VcfSpec {
    /// Number of samples (`S1`, `S2`, ...).
    pub samples: usize,
    /// The chromosomes in file order with their record counts; a name may
    /// come back (its positions then continue after its last block).
    pub blocks: Vec<(String, usize)>,
    /// How genotypes are written.
    pub genotypes: Genotypes,
    /// The position of the first record of each chromosome.
    pub first_position: u64,
    /// The mean distance between records.
    pub spacing: u64,
    /// Every `n`th record (index from 0, positive multiples) has two
    /// alternate alleles.
    pub multiallelic_every: Option<usize>,
    /// Adds `##contig` lines for every chromosome.
    pub contig_lines: bool,
    /// The seed.
    pub seed: u64,
}

impl VcfSpec {
    /// A spec of `samples` samples over `blocks` (chromosome, records),
    /// phased, positions from 100,000 about 1,000 apart, biallelic.
    pub fn new(samples: usize, blocks: &[(&str, usize)]) -> Self {
        Self {
            samples,
            blocks: blocks.iter().map(|(c, n)| ((*c).to_owned(), *n)).collect(),
            genotypes: Genotypes::Phased,
            first_position: 100_000,
            spacing: 1_000,
            multiallelic_every: None,
            contig_lines: true,
            seed: 7,
        }
    }

    /// Sets how genotypes are written.
    pub fn genotypes(mut self, genotypes: Genotypes) -> Self {
        self.genotypes = genotypes;
        self
    }

    /// Makes every `n`th record multi-allelic.
    pub fn multiallelic_every(mut self, n: usize) -> Self {
        self.multiallelic_every = Some(n);
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The header, every line ending in `\n`.
    pub fn header(&self) -> String {
        let mut header = String::from("##fileformat=VCFv4.2\n##source=fip-vcf-testdata\n");
        if self.contig_lines {
            let mut seen = Vec::new();
            for (name, _) in &self.blocks {
                if !seen.contains(name) {
                    header.push_str(&format!("##contig=<ID={name}>\n"));
                    seen.push(name.clone());
                }
            }
        }
        header.push_str("##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n");
        header.push_str("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO");
        if self.samples > 0 {
            header.push_str("\tFORMAT");
            for i in 1..=self.samples {
                header.push_str(&format!("\tS{i}"));
            }
        }
        header.push('\n');
        header
    }

    /// The records, one line each without `\n`, generated lazily.
    pub fn records(&self) -> Records<'_> {
        Records {
            spec: self,
            rng: Rng::new(self.seed),
            block: 0,
            in_block: 0,
            positions: Vec::new(),
            index: 0,
        }
    }

    fn record(&self, rng: &mut Rng, chromosome: &str, position: u64, index: usize) -> String {
        const BASES: [char; 4] = ['A', 'C', 'G', 'T'];
        let r = rng.below(4) as usize;
        let a = (r + 1 + rng.below(3) as usize) % 4;
        let multiallelic = self
            .multiallelic_every
            .is_some_and(|n| index > 0 && index.is_multiple_of(n));
        let alt = if multiallelic {
            let b = (0..4).find(|&b| b != r && b != a).expect("four bases");
            format!("{},{}", BASES[a], BASES[b])
        } else {
            BASES[a].to_string()
        };
        let alleles = if multiallelic { 3 } else { 2 };
        let mut line = format!(
            "{chromosome}\t{position}\trs{index}\t{}\t{alt}\t.\tPASS\t.",
            BASES[r]
        );
        if self.samples > 0 {
            line.push_str("\tGT");
            let unphased = match self.genotypes {
                Genotypes::Phased => false,
                Genotypes::Unphased => true,
                Genotypes::UnphasedEvery(n) => index > 0 && index.is_multiple_of(n),
            };
            let separator = if unphased { '/' } else { '|' };
            for _ in 0..self.samples {
                let bits = rng.next_u64();
                line.push('\t');
                line.push_str(&((bits % alleles) as u8).to_string());
                line.push(separator);
                line.push_str(&(((bits >> 8) % alleles) as u8).to_string());
            }
        }
        line
    }

    /// The whole file as text.
    pub fn text(&self) -> String {
        let mut text = self.header();
        for record in self.records() {
            text.push_str(&record);
            text.push('\n');
        }
        text
    }

    /// The records of each chromosome, in order of first appearance.
    pub fn counts(&self) -> Vec<(String, u64)> {
        let mut counts: Vec<(String, u64)> = Vec::new();
        for (name, n) in &self.blocks {
            match counts.iter_mut().find(|(c, _)| c == name) {
                Some((_, total)) => *total += *n as u64,
                None => counts.push((name.clone(), *n as u64)),
            }
        }
        counts
    }

    /// The number of multi-allelic records.
    pub fn multiallelic_count(&self) -> u64 {
        let total: usize = self.blocks.iter().map(|(_, n)| n).sum();
        match self.multiallelic_every {
            Some(n) if total > 0 => ((total - 1) / n) as u64,
            _ => 0,
        }
    }

    /// Writes the file, streaming (memory does not grow with its size);
    /// returns the number of uncompressed bytes.
    pub fn write(&self, path: &Path, compression: Compression) -> io::Result<u64> {
        let file = BufWriter::new(File::create(path)?);
        match compression {
            Compression::Plain => self.write_to(file).map(|(n, _)| n),
            Compression::Gzip => {
                let (n, encoder) = self.write_to(GzEncoder::new(file, GzLevel::default()))?;
                encoder.finish()?.flush()?;
                Ok(n)
            }
            Compression::Bgzf => {
                let (n, writer) = self.write_to(bgzf::io::Writer::new(file))?;
                writer.finish()?.flush()?;
                Ok(n)
            }
        }
    }

    fn write_to<W: Write>(&self, mut out: W) -> io::Result<(u64, W)> {
        let header = self.header();
        out.write_all(header.as_bytes())?;
        let mut written = header.len() as u64;
        for record in self.records() {
            out.write_all(record.as_bytes())?;
            out.write_all(b"\n")?;
            written += record.len() as u64 + 1;
        }
        out.flush()?;
        Ok((written, out))
    }
}

/// The records of a [`VcfSpec`], one at a time.
pub struct Records<'a> {
    spec: &'a VcfSpec,
    rng: Rng,
    block: usize,
    in_block: usize,
    /// The last position of each chromosome seen.
    positions: Vec<(String, u64)>,
    index: usize,
}

impl Iterator for Records<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let spec = self.spec;
        while self.block < spec.blocks.len() && self.in_block == spec.blocks[self.block].1 {
            self.block += 1;
            self.in_block = 0;
        }
        let (name, _) = spec.blocks.get(self.block)?;
        let slot = match self.positions.iter().position(|(c, _)| c == name) {
            Some(i) => i,
            None => {
                self.positions.push((name.clone(), spec.first_position));
                self.positions.len() - 1
            }
        };
        let position = self.positions[slot].1 + 1 + self.rng.below(spec.spacing * 2 - 1);
        self.positions[slot].1 = position;
        let line = spec.record(&mut self.rng, name, position, self.index);
        self.in_block += 1;
        self.index += 1;
        Some(line)
    }
}

/// One variant of a generated info file.
#[derive(Clone, Debug, PartialEq)]
pub struct InfoVariant {
    /// Its r2 as written (five decimals), or `None` when written as a
    /// missing or non-numeric value.
    pub r2: Option<f64>,
    /// True when the file marks it as genotyped in the input.
    pub typed: bool,
}

/// A generated info file: its text and what it holds.
#[derive(Clone, Debug)]
pub struct GeneratedInfo {
    /// The uncompressed file.
    pub text: String,
    /// Its variants, in order.
    pub variants: Vec<InfoVariant>,
}

/// The kinds of info files the servers write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoKind {
    /// Minimac4 sites VCF with `R2`, `TYPED`/`IMPUTED` flags.
    MinimacVcf,
    /// Beagle 5 VCF with `DR2`, the `IMP` flag on imputed sites, and
    /// genotypes of `samples` samples.
    BeagleVcf {
        /// Number of samples.
        samples: usize,
    },
    /// The older tab-separated table with an `Rsq` column.
    RsqTable,
}

/// Generates an info file of `count` variants on `chromosome`. Every 17th
/// r2 is missing (`.`, `NA` or an absent key), every 10th variant typed;
/// values include exactly 0.3 and 0.8.
pub fn info_file(kind: InfoKind, chromosome: &str, count: usize, seed: u64) -> GeneratedInfo {
    let mut rng = Rng::new(seed);
    let mut text = String::new();
    match kind {
        InfoKind::MinimacVcf => text.push_str(
            "##fileformat=VCFv4.2\n##source=Minimac4\n\
             ##INFO=<ID=AF,Number=1,Type=Float,Description=\"Estimated Alternate Allele Frequency\">\n\
             ##INFO=<ID=MAF,Number=1,Type=Float,Description=\"Estimated Minor Allele Frequency\">\n\
             ##INFO=<ID=R2,Number=1,Type=Float,Description=\"Estimated Imputation Accuracy (R-square)\">\n\
             ##INFO=<ID=IMPUTED,Number=0,Type=Flag,Description=\"Marker was imputed\">\n\
             ##INFO=<ID=TYPED,Number=0,Type=Flag,Description=\"Marker was genotyped\">\n\
             #CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n",
        ),
        InfoKind::BeagleVcf { samples } => {
            text.push_str(
                "##fileformat=VCFv4.2\n##source=beagle.22Jul22.46e.jar\n\
                 ##INFO=<ID=AF,Number=A,Type=Float,Description=\"Estimated ALT Allele Frequencies\">\n\
                 ##INFO=<ID=DR2,Number=A,Type=Float,Description=\"Dosage R-Squared\">\n\
                 ##INFO=<ID=IMP,Number=0,Type=Flag,Description=\"Imputed marker\">\n\
                 ##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n\
                 #CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT",
            );
            for i in 1..=samples {
                text.push_str(&format!("\tS{i}"));
            }
            text.push('\n');
        }
        InfoKind::RsqTable => text.push_str(
            "SNP\tREF(0)\tALT(1)\tALT_Frq\tMAF\tAvgCall\tRsq\tGenotyped\tLooRsq\tEmpR\tEmpRsq\tDose0\tDose1\n",
        ),
    }
    let mut variants = Vec::with_capacity(count);
    let mut position = 60_000u64;
    for i in 0..count {
        position += 1 + rng.below(500);
        let r2 = match i % 17 {
            16 => None,
            5 => Some(0.3),
            11 => Some(0.8),
            _ => Some(rng.below(100_001) as f64 / 100_000.0),
        };
        let typed = i % 10 == 3;
        let shown = r2.map(|v| format!("{v:.5}"));
        let missing_token = [".", "NA", ""][(i / 17) % 3];
        let af = format!("{:.5}", rng.below(100_001) as f64 / 100_000.0);
        match kind {
            InfoKind::MinimacVcf => {
                let flag = if typed { "TYPED" } else { "IMPUTED" };
                let r2_field = match (&shown, missing_token) {
                    (Some(v), _) => format!(";R2={v}"),
                    (None, "") => String::new(),
                    (None, token) => format!(";R2={token}"),
                };
                text.push_str(&format!(
                    "{chromosome}\t{position}\t{chromosome}:{position}:A:G\tA\tG\t.\tPASS\tAF={af};MAF={af}{r2_field};{flag}\n"
                ));
            }
            InfoKind::BeagleVcf { samples } => {
                let r2_field = match (&shown, missing_token) {
                    (Some(v), _) => format!(";DR2={v}"),
                    (None, "") => String::new(),
                    (None, token) => format!(";DR2={token}"),
                };
                let imp = if typed { "" } else { ";IMP" };
                text.push_str(&format!(
                    "{chromosome}\t{position}\t.\tC\tT\t.\tPASS\tAF={af}{r2_field}{imp}\tGT"
                ));
                for _ in 0..samples {
                    let bits = rng.next_u64();
                    text.push_str(&format!("\t{}|{}", bits & 1, (bits >> 1) & 1));
                }
                text.push('\n');
            }
            InfoKind::RsqTable => {
                let value = shown.clone().unwrap_or_else(|| {
                    if missing_token.is_empty() {
                        "-".to_owned()
                    } else {
                        missing_token.to_owned()
                    }
                });
                let genotyped = if typed { "Genotyped" } else { "Imputed" };
                text.push_str(&format!(
                    "{chromosome}:{position}\tA\tG\t{af}\t{af}\t0.99\t{value}\t{genotyped}\t-\t-\t-\t-\t-\n"
                ));
            }
        }
        variants.push(InfoVariant { r2, typed });
    }
    GeneratedInfo { text, variants }
}
