//! The files of a finished job, as imputationserver2 writes them: per
//! chromosome an encrypted `chr_N.zip` with the dosages and the per-variant
//! info, plus the QC report and statistics.
//!
//! Imputation is imitated: the output has exactly the input's sites and
//! samples, genotypes phased from the input's, dosages near the allele
//! counts, and an R2 per variant given by [`r2`] from its position alone.

use std::io::Write;

use zip::AesMode;
use zip::unstable::write::FileOptionsExt;
use zip::write::SimpleFileOptions;

use super::config::InfoFormat;
use super::validation::{InputFile, Site, Validated};
use crate::fixtures::bgzf_compress;

/// The R2 the emulator reports for a variant at `position`: a pseudo-random
/// number in [0, 1] with five decimals, a function of the position only.
/// Tests use it to compute the mean R2 a job's results must show.
pub fn r2(position: u64) -> f64 {
    (splitmix64(position) % 100_001) as f64 / 100_000.0
}

/// SplitMix64: a well-mixed 64-bit hash.
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A result file before it gets a download hash.
pub(crate) struct ResultFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// How the results are made.
pub(crate) struct Recipe<'a> {
    pub job_id: &'a str,
    pub validated: &'a Validated,
    pub password: &'a str,
    pub aes: bool,
    pub r2_filter: f64,
    pub imputation: bool,
    /// `meta`: also the empirical dosages of the typed sites, for meta-imputation.
    pub meta: bool,
    pub info_format: InfoFormat,
    pub panel: &'a str,
}

/// Every result file, sorted by name as Cloudgene lists a folder.
pub(crate) fn build(recipe: &Recipe<'_>) -> Vec<ResultFile> {
    let mut files = Vec::new();
    if recipe.imputation {
        for input in &recipe.validated.files {
            let chromosome = &input.chromosome;
            let kept: Vec<&Site> = input
                .sites
                .iter()
                .filter(|site| r2(site.position) >= recipe.r2_filter)
                .collect();
            let dose = dose_vcf(input, &kept);
            let info = match recipe.info_format {
                InfoFormat::SitesVcf => info_vcf(input, &kept),
                InfoFormat::Tabular => info_table(input, &kept),
            };
            let mut entries = vec![
                (
                    format!("chr{chromosome}.dose.vcf.gz"),
                    bgzf_compress(dose.as_bytes()),
                ),
                (
                    format!("chr{chromosome}.info.gz"),
                    bgzf_compress(info.as_bytes()),
                ),
            ];
            if recipe.meta {
                entries.push((
                    format!("chr{chromosome}.empiricalDose.vcf.gz"),
                    bgzf_compress(dose.as_bytes()),
                ));
            }
            files.push(ResultFile {
                name: format!("chr_{chromosome}.zip"),
                bytes: encrypted_zip(&entries, recipe.password, recipe.aes),
            });
        }
    }
    let report = qc_report(recipe);
    files.push(ResultFile {
        name: "qc_report.txt".to_owned(),
        bytes: report.clone().into_bytes(),
    });
    files.push(ResultFile {
        name: "quality-control.html".to_owned(),
        bytes: format!(
            "<!DOCTYPE html>\n<html><head><title>Quality Control Report</title></head>\
             <body><h1>Quality Control Report</h1><p>Job {}</p><pre>{}</pre></body></html>\n",
            recipe.job_id, report
        )
        .into_bytes(),
    });
    let sites: usize = recipe
        .validated
        .files
        .iter()
        .map(|file| file.sites.len())
        .sum();
    files.push(ResultFile {
        name: "statistics/chunks-excluded.txt".to_owned(),
        bytes: b"#Chunk\tSNPs (#)\tReference Overlap (%)\tLow Sample Call Rates (#)\n".to_vec(),
    });
    files.push(ResultFile {
        name: "statistics/snps-excluded.txt".to_owned(),
        bytes: b"#Position\tFilterType\tInfo\n".to_vec(),
    });
    files.push(ResultFile {
        name: "statistics/typed-only.txt".to_owned(),
        bytes: format!("#Position\tReason\n# {sites} typed sites, none typed only\n").into_bytes(),
    });
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// The dosage of each sample at a site, deterministic and near the allele count.
fn dosages(site: &Site) -> Vec<(u8, u8, f64)> {
    site.genotypes
        .iter()
        .enumerate()
        .map(|(sample, genotype)| {
            let hash = splitmix64(site.position.wrapping_mul(1_000_003) ^ sample as u64);
            let (a, b) = genotype.unwrap_or(((hash & 1) as u8, ((hash >> 1) & 1) as u8));
            let count = f64::from(a + b);
            // Up to 0.08 towards the middle: imputed dosages are rarely exact.
            let shift = ((hash >> 8) % 81) as f64 / 1000.0;
            let dosage = if count >= 1.0 {
                count - shift
            } else {
                count + shift
            };
            (a, b, (dosage * 1000.0).round() / 1000.0)
        })
        .collect()
}

fn frequencies(site: &Site) -> (f64, f64) {
    let dosages = dosages(site);
    let sum: f64 = dosages.iter().map(|(_, _, ds)| ds).sum();
    let af = if dosages.is_empty() {
        0.0
    } else {
        sum / (2.0 * dosages.len() as f64)
    };
    (af, af.min(1.0 - af))
}

const DOSE_HEADER: &str = "##fileformat=VCFv4.1\n\
##source=Minimac4.v1.0.2\n\
##phasing=full\n\
##INFO=<ID=AF,Number=1,Type=Float,Description=\"Estimated Alternate Allele Frequency\">\n\
##INFO=<ID=MAF,Number=1,Type=Float,Description=\"Estimated Minor Allele Frequency\">\n\
##INFO=<ID=R2,Number=1,Type=Float,Description=\"Estimated Imputation Accuracy (R-square)\">\n\
##INFO=<ID=IMPUTED,Number=0,Type=Flag,Description=\"Marker was imputed but NOT genotyped\">\n\
##INFO=<ID=TYPED,Number=0,Type=Flag,Description=\"Marker was genotyped AND imputed\">\n";

fn dose_vcf(input: &InputFile, sites: &[&Site]) -> String {
    let mut text = String::from(DOSE_HEADER);
    text.push_str("##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n");
    text.push_str("##FORMAT=<ID=DS,Number=1,Type=Float,Description=\"Estimated Alternate Allele Dosage : [P(0/1)+2*P(1/1)]\">\n");
    text.push_str(&format!(
        "##contig=<ID={}>\n",
        sites
            .first()
            .map(|s| s.chromosome.as_str())
            .unwrap_or(&input.chromosome)
    ));
    text.push_str("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT");
    for sample in &input.samples {
        text.push('\t');
        text.push_str(sample);
    }
    text.push('\n');
    for site in sites {
        let (af, maf) = frequencies(site);
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t.\tPASS\tAF={af:.5};MAF={maf:.5};R2={:.5};IMPUTED\tGT:DS",
            site.chromosome,
            site.position,
            site.id,
            site.reference,
            site.alternate,
            r2(site.position)
        ));
        for (a, b, ds) in dosages(site) {
            text.push_str(&format!("\t{a}|{b}:{ds:.3}"));
        }
        text.push('\n');
    }
    text
}

fn info_vcf(input: &InputFile, sites: &[&Site]) -> String {
    let mut text = String::from(DOSE_HEADER);
    text.push_str(&format!(
        "##contig=<ID={}>\n",
        sites
            .first()
            .map(|s| s.chromosome.as_str())
            .unwrap_or(&input.chromosome)
    ));
    text.push_str("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n");
    for site in sites {
        let (af, maf) = frequencies(site);
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t.\tPASS\tAF={af:.5};MAF={maf:.5};R2={:.5};IMPUTED\n",
            site.chromosome,
            site.position,
            site.id,
            site.reference,
            site.alternate,
            r2(site.position)
        ));
    }
    text
}

fn info_table(input: &InputFile, sites: &[&Site]) -> String {
    let mut text = String::from(
        "SNP\tREF(0)\tALT(1)\tALT_Frq\tMAF\tAvgCall\tRsq\tGenotyped\tLooRsq\tEmpR\tEmpRsq\tDose0\tDose1\n",
    );
    for site in sites {
        let (af, maf) = frequencies(site);
        text.push_str(&format!(
            "{}:{}\t{}\t{}\t{af:.5}\t{maf:.5}\t{:.5}\t{:.5}\tImputed\t-\t-\t-\t-\t-\n",
            input.chromosome,
            site.position,
            site.reference,
            site.alternate,
            1.0 - maf / 10.0,
            r2(site.position)
        ));
    }
    text
}

fn qc_report(recipe: &Recipe<'_>) -> String {
    let validated = recipe.validated;
    let sites: usize = validated.files.iter().map(|f| f.sites.len()).sum();
    let samples = validated.files.first().map_or(0, |f| f.samples.len());
    format!(
        "Quality Control Report\n\nJob: {}\nReference Panel: {}\n\n{}\n\n\
         Statistics:\nSamples: {samples}\nAlternative allele frequency > 0.5 sites: 0\n\
         Reference Overlap: 100.00 %\nMatch: {sites}\nAllele switch: 0\nStrand flip: 0\n\
         Allele mismatch: 0\nExcluded sites in total: 0\nRemaining sites in total: {sites}\n",
        recipe.job_id, recipe.panel, validated.summary
    )
}

/// A zip whose entries are encrypted with `password`: ZipCrypto, or AES-256
/// when `aes` is set (imputationserver2's `aesEncryption`).
fn encrypted_zip(entries: &[(String, Vec<u8>)], password: &str, aes: bool) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let options = if aes {
            options.with_aes_encryption(AesMode::Aes256, password)
        } else {
            options.with_deprecated_encryption(password.as_bytes())
        };
        writer
            .start_file(name.as_str(), options)
            .expect("zip in memory");
        writer.write_all(bytes).expect("zip in memory");
    }
    writer.finish().expect("zip in memory").into_inner()
}

/// Commons IO `byteCountToDisplaySize`, as Cloudgene shows file sizes.
pub(crate) fn display_size(bytes: usize) -> String {
    const KB: usize = 1024;
    const MB: usize = KB * 1024;
    const GB: usize = MB * 1024;
    match bytes {
        b if b >= GB => format!("{} GB", b / GB),
        b if b >= MB => format!("{} MB", b / MB),
        b if b >= KB => format!("{} KB", b / KB),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r2_is_a_stable_function_of_the_position() {
        assert_eq!(r2(12345), r2(12345));
        let values: Vec<f64> = (0..1000).map(|p| r2(60_000 + p * 17)).collect();
        assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        assert!((0.4..0.6).contains(&mean), "{mean}");
        assert!(values.iter().any(|v| *v != values[0]));
        assert_eq!(format!("{:.5}", r2(7)).parse::<f64>().unwrap(), r2(7));
    }

    #[test]
    fn sizes_read_like_cloudgene() {
        assert_eq!(display_size(12), "12 bytes");
        assert_eq!(display_size(2048), "2 KB");
        assert_eq!(display_size(3 * 1024 * 1024 + 5), "3 MB");
    }
}
