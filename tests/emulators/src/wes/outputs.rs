//! What a finished run produces from its input VCFs: per chromosome an
//! imputed VCF (Beagle 5 style, BGZF, with its tabix index) and a sites-only
//! info file.
//!
//! Imputation is imitated: the output has exactly the input's sites and
//! samples, genotypes phased from the input's (missing alleles filled with
//! REF), `AF` counted from them, and a `DR2` per variant given by [`dr2`]
//! from its position alone.

use noodles::csi::binning_index::index::reference_sequence::bin::Chunk;
use noodles::vcf::variant::Record as _;

use crate::fixtures::{bgzf_compress, gunzip};

/// The DR2 the emulator reports for a variant at `position`: a number in
/// [0, 1] with two decimals (as Beagle prints it), a function of the
/// position only. Tests use it to compute what a run's outputs must show.
pub fn dr2(position: u64) -> f64 {
    (splitmix64(position ^ 0x5745_535f_4452_3200) % 101) as f64 / 100.0
}

/// SplitMix64: a well-mixed 64-bit hash.
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The results for one chromosome.
pub(crate) struct Imputed {
    /// The chromosome without `chr` (`20`).
    pub chromosome: String,
    /// `chr20.imputed.vcf.gz` (BGZF).
    pub vcf: Vec<u8>,
    /// Its tabix index.
    pub tbi: Vec<u8>,
    /// `chr20.info.gz` (BGZF sites-only VCF).
    pub info: Vec<u8>,
}

struct Site {
    chromosome: String,
    position: u64,
    id: String,
    reference: String,
    alternate: String,
    /// Phased genotypes as written (`0|1`).
    genotypes: Vec<String>,
    af: f64,
}

/// Imputes one input file; `Err` holds the stderr line of the failure.
pub(crate) fn impute(name: &str, bytes: &[u8]) -> Result<Vec<Imputed>, String> {
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(bytes).map_err(|error| format!("ERROR {name}: not a valid gzip file: {error}"))?
    } else {
        bytes.to_vec()
    };
    let text = String::from_utf8(text).map_err(|_| format!("ERROR {name}: not a text VCF"))?;
    let mut samples: Option<Vec<String>> = None;
    let mut chromosomes: Vec<(String, Vec<Site>)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.starts_with("##") || line.is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix('#') {
            let columns: Vec<&str> = header.split('\t').collect();
            if columns.first() != Some(&"CHROM") {
                return Err(format!("ERROR {name}: bad header line {}", number + 1));
            }
            samples = Some(columns.iter().skip(9).map(|s| (*s).to_owned()).collect());
            continue;
        }
        let Some(samples) = &samples else {
            return Err(format!("ERROR {name}: no #CHROM header line"));
        };
        let site = parse_site(line, samples.len())
            .map_err(|problem| format!("ERROR {name}: line {}: {problem}", number + 1))?;
        match chromosomes.iter_mut().find(|(c, _)| *c == site.chromosome) {
            Some((_, sites)) => sites.push(site),
            None => chromosomes.push((site.chromosome.clone(), vec![site])),
        }
    }
    let samples = samples.ok_or_else(|| format!("ERROR {name}: no #CHROM header line"))?;
    if chromosomes.is_empty() {
        return Err(format!("ERROR {name}: no variants"));
    }
    Ok(chromosomes
        .into_iter()
        .map(|(chromosome, sites)| {
            let vcf = bgzf_compress(imputed_text(&chromosome, &samples, &sites).as_bytes());
            let info = bgzf_compress(info_text(&chromosome, &sites).as_bytes());
            let tbi = tabix(&vcf);
            Imputed {
                chromosome: chromosome
                    .strip_prefix("chr")
                    .unwrap_or(&chromosome)
                    .to_owned(),
                vcf,
                tbi,
                info,
            }
        })
        .collect())
}

fn parse_site(line: &str, samples: usize) -> Result<Site, String> {
    let columns: Vec<&str> = line.split('\t').collect();
    if columns.len() < 8 {
        return Err(format!("{} columns, 8 at least", columns.len()));
    }
    let position = columns[1]
        .parse::<u64>()
        .map_err(|_| format!("bad POS '{}'", columns[1]))?;
    if columns.len() != 9 + samples && !(samples == 0 && columns.len() == 8) {
        return Err(format!("{} columns for {samples} samples", columns.len()));
    }
    let gt_index = columns
        .get(8)
        .and_then(|format| format.split(':').position(|key| key == "GT"));
    let mut genotypes = Vec::with_capacity(samples);
    let (mut alternates, mut alleles) = (0u64, 0u64);
    for value in columns.iter().skip(9) {
        let gt = gt_index
            .and_then(|index| value.split(':').nth(index))
            .unwrap_or(".");
        let phased: Vec<&str> = gt
            .split(['|', '/'])
            .map(|allele| if allele == "." { "0" } else { allele })
            .collect();
        for allele in &phased {
            alleles += 1;
            if *allele != "0" {
                alternates += 1;
            }
        }
        genotypes.push(phased.join("|"));
    }
    Ok(Site {
        chromosome: columns[0].to_owned(),
        position,
        id: columns[2].to_owned(),
        reference: columns[3].to_owned(),
        alternate: columns[4].to_owned(),
        genotypes,
        af: if alleles == 0 {
            0.0
        } else {
            alternates as f64 / alleles as f64
        },
    })
}

const INFO_HEADER: &str = "##INFO=<ID=AF,Number=A,Type=Float,Description=\"Estimated ALT Allele Frequencies\">\n\
##INFO=<ID=DR2,Number=A,Type=Float,Description=\"Dosage R-Squared: estimated squared correlation between estimated REF dose [P(RA) + 2*P(RR)] and true REF dose\">\n\
##INFO=<ID=IMP,Number=0,Type=Flag,Description=\"Imputed marker\">\n";

fn info_field(site: &Site) -> String {
    format!("AF={:.4};DR2={:.2};IMP", site.af, dr2(site.position))
}

fn imputed_text(chromosome: &str, samples: &[String], sites: &[Site]) -> String {
    let mut text = String::from(
        "##fileformat=VCFv4.2\n##filedate=20260101\n##source=beagle.27Feb25.75f.jar\n",
    );
    text.push_str(&format!("##contig=<ID={chromosome}>\n"));
    text.push_str(INFO_HEADER);
    text.push_str("##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n");
    text.push_str("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT");
    for sample in samples {
        text.push('\t');
        text.push_str(sample);
    }
    text.push('\n');
    for site in sites {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t.\tPASS\t{}\tGT",
            site.chromosome,
            site.position,
            site.id,
            site.reference,
            site.alternate,
            info_field(site)
        ));
        for genotype in &site.genotypes {
            text.push('\t');
            text.push_str(genotype);
        }
        text.push('\n');
    }
    text
}

fn info_text(chromosome: &str, sites: &[Site]) -> String {
    let mut text = String::from("##fileformat=VCFv4.2\n");
    text.push_str(&format!("##contig=<ID={chromosome}>\n"));
    text.push_str(INFO_HEADER);
    text.push_str("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n");
    for site in sites {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t.\tPASS\t{}\n",
            site.chromosome,
            site.position,
            site.id,
            site.reference,
            site.alternate,
            info_field(site)
        ));
    }
    text
}

/// A tabix index of a BGZF VCF, as `tabix -p vcf` writes it; should noodles
/// refuse the file, a small placeholder with the TBI magic.
fn tabix(bgzf: &[u8]) -> Vec<u8> {
    build_tabix(bgzf).unwrap_or_else(|error| {
        tracing::debug!(%error, "tabix placeholder");
        bgzf_compress(b"TBI\x01")
    })
}

fn build_tabix(bgzf: &[u8]) -> std::io::Result<Vec<u8>> {
    let invalid = |error: String| std::io::Error::new(std::io::ErrorKind::InvalidData, error);
    let mut reader = noodles::vcf::io::Reader::new(noodles::bgzf::io::Reader::new(bgzf));
    let header = reader.read_header()?;
    let mut indexer = noodles::vcf::index::Indexer::builder()
        .build()
        .map_err(|error| invalid(error.to_string()))?;
    let mut record = noodles::vcf::Record::default();
    let mut start = reader.get_ref().virtual_position();
    while reader.read_record(&mut record)? != 0 {
        let end = reader.get_ref().virtual_position();
        let first = record
            .variant_start()
            .transpose()?
            .ok_or_else(|| invalid("missing position".to_owned()))?;
        let last = record.variant_end(&header)?;
        indexer
            .add_record(
                record.reference_sequence_name(),
                first,
                last,
                Chunk::new(start, end),
            )
            .map_err(|error| invalid(error.to_string()))?;
        start = end;
    }
    let noodles::vcf::index::Index::Tabix(index) = indexer.build() else {
        return Err(invalid("not a tabix index".to_owned()));
    };
    let mut writer = noodles::tabix::io::Writer::new(Vec::new());
    writer.write_index(&index)?;
    writer.into_inner().finish()
}
