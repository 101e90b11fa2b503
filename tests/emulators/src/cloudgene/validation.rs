//! Input validation as imputationserver2 runs it (imputationserver-utils
//! `InputValidationCommand` and `VcfFileUtil.load`): the same checks, in the
//! same order, with the same messages.

use std::io::Read;

use super::config::Panel;
use super::state::{Params, Upload};
use crate::fixtures::{gunzip, is_bgzf};

/// One valid input file.
#[derive(Clone, Debug)]
pub(crate) struct InputFile {
    /// The chromosome without a `chr` prefix (`20`, `X`).
    pub chromosome: String,
    /// Samples, in column order.
    pub samples: Vec<String>,
    /// Variants, in file order.
    pub sites: Vec<Site>,
}

#[derive(Clone, Debug)]
pub(crate) struct Site {
    /// CHROM as written.
    pub chromosome: String,
    pub position: u64,
    pub id: String,
    pub reference: String,
    pub alternate: String,
    /// Allele indexes per sample (`None` when missing).
    pub genotypes: Vec<Option<(u8, u8)>>,
}

/// Files that passed validation and the step's summary message.
#[derive(Clone, Debug)]
pub(crate) struct Validated {
    pub files: Vec<InputFile>,
    pub summary: String,
}

/// Chromosomes the server accepts (`VcfFileUtil.validChromosomes`).
fn valid_chromosome(chromosome: &str) -> bool {
    let bare = chromosome.strip_prefix("chr").unwrap_or(chromosome);
    matches!(bare, "X" | "MT" | "23") || bare.parse::<u8>().is_ok_and(|n| (1..=22).contains(&n))
}

/// Runs the checks; the error is the step's ERROR message.
pub(crate) fn validate(
    params: &Params,
    panel: &Panel,
    uploads: &[Upload],
    min_samples: usize,
) -> Result<Validated, String> {
    let population = params.population.as_deref().unwrap_or("");
    let supported = population.is_empty()
        || population == "off"
        || panel.populations.iter().any(|(id, _)| id == population);
    if !supported {
        let mut lines = vec![format!(
            "Population '{population}' is not supported by reference panel '{}'.",
            panel.id
        )];
        if !panel.populations.is_empty() {
            lines.push("Available populations:".to_owned());
            for (id, _) in &panel.populations {
                lines.push(format!(" - {id}"));
            }
        }
        return Err(lines.join("\n"));
    }

    // Nextflow picks `${files}/*.vcf.gz`; the command sorts the file names.
    let mut candidates: Vec<&Upload> = uploads
        .iter()
        .filter(|upload| upload.file_name.ends_with(".vcf.gz"))
        .collect();
    candidates.sort_by(|a, b| a.file_name.cmp(&b.file_name));

    let mut files = Vec::new();
    let mut phased = true;
    let mut samples_seen = 0usize;
    let mut snps = 0usize;
    for upload in candidates {
        let loaded = load(upload)?;
        if !valid_chromosome(&loaded.file.chromosome) {
            return Err("No valid chromosomes found!".to_owned());
        }
        let samples = loaded.file.samples.len();
        if samples_seen != 0 && samples_seen != samples {
            return Err(format!(
                "Please double check, if all uploaded VCF files include the same amount of samples ({samples} vs {samples_seen})"
            ));
        }
        samples_seen = samples;
        snps += loaded.file.sites.len();
        phased = phased && loaded.phased;
        if loaded.phased_autodetect && !loaded.phased {
            return Err("File should be phased, but also includes unphased and/or missing genotypes! Please double-check!".to_owned());
        }
        if samples < min_samples && min_samples != 0 {
            return Err(format!("At least {min_samples} samples must be uploaded."));
        }
        let raw = &loaded.raw_chromosome;
        if params.build == "hg19" && loaded.chr_prefix {
            return Err(format!(
                "Your upload data contains chromosome '{raw}'. This is not a valid hg19 encoding. Please ensure that your input data is build hg19 and chromosome is encoded as '{}'.",
                loaded.file.chromosome
            ));
        }
        if params.build == "hg38" && !loaded.chr_prefix {
            return Err(format!(
                "Your upload data contains chromosome '{raw}'. This is not a valid hg38 encoding. Please ensure that your input data is build hg38 and chromosome is encoded as 'chr{}'.",
                loaded.file.chromosome
            ));
        }
        files.push(loaded.file);
    }
    if files.is_empty() {
        return Err("The provided files are not VCF files (see <a href=\"/start.html#!pages/help\">Help</a>).".to_owned());
    }
    if !phased && (params.phasing.is_empty() || params.phasing == "no_phasing") {
        return Err(
            "Your input data is unphased. Please select an algorithm for phasing.".to_owned(),
        );
    }

    let chromosomes: Vec<&str> = files.iter().map(|f| f.chromosome.as_str()).collect();
    let mut summary = vec![
        format!("{} valid VCF file(s) found.", files.len()),
        String::new(),
        format!("Samples: {samples_seen}"),
        format!("Chromosomes: {}", chromosomes.join(" ")),
        format!("SNPs: {snps}"),
        format!("Chunks: {}", files.len()),
        format!("Datatype: {}", if phased { "phased" } else { "unphased" }),
        format!("Build: {}", params.build),
        format!("Reference Panel: {} ({})", panel.id, panel.build),
        format!("Population: {population}"),
        format!("Phasing: {}", params.phasing),
        format!("Mode: {}", params.mode),
    ];
    if !params.r2_filter.is_empty() && params.r2_filter != "0" {
        summary.push(format!("Rsq filter: {}", params.r2_filter));
    }
    Ok(Validated {
        files,
        summary: summary.join("\n"),
    })
}

struct Loaded {
    file: InputFile,
    raw_chromosome: String,
    chr_prefix: bool,
    phased: bool,
    phased_autodetect: bool,
}

/// `VcfFileUtil.load`: reads the text, then builds the tabix index, which
/// only a BGZF file allows.
fn load(upload: &Upload) -> Result<Loaded, String> {
    let bytes = &upload.bytes;
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(bytes).map_err(|e| format!("The provided VCF file is malformed: {e}"))?
    } else {
        bytes.clone()
    };
    let text = String::from_utf8_lossy(&text);
    let loaded = parse(&text)?;
    if !is_bgzf(bytes) {
        return Err(format!(
            "The provided VCF file is malformed. Error during index creation: {} is not a valid BGZF file (bgzip it, gzip is not enough)",
            upload.file_name
        ));
    }
    let mut reader = noodles::bgzf::io::Reader::new(&bytes[..]);
    let mut sink = Vec::new();
    reader.read_to_end(&mut sink).map_err(|e| {
        format!("The provided VCF file is malformed. Error during index creation: {e}")
    })?;
    Ok(loaded)
}

fn parse(text: &str) -> Result<Loaded, String> {
    let mut samples: Option<Vec<String>> = None;
    let mut sites = Vec::new();
    let mut chromosome: Option<String> = None;
    let mut raw_chromosomes: Vec<String> = Vec::new();
    let mut phased = true;
    let mut phased_autodetect = true;
    let mut first = true;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix('#') {
            if header.starts_with("CHROM") {
                let columns: Vec<&str> = line.split('\t').collect();
                let mut seen = std::collections::HashSet::new();
                for column in &columns {
                    if !seen.insert(*column) {
                        return Err(format!(
                            "Two individuals or more have the following ID: {column}"
                        ));
                    }
                }
                samples = Some(columns.iter().skip(9).map(|s| (*s).to_owned()).collect());
            }
            continue;
        }
        let Some(sample_names) = &samples else {
            return Err("Your input file has a malformed header: We never saw the required CHROM header line (starting with one #) for the input VCF file".to_owned());
        };
        let tiles: Vec<&str> = line.splitn(10, '\t').collect();
        if tiles.len() < 3 {
            return Err("The provided VCF file is not tab-delimited".to_owned());
        }
        let raw = tiles[0];
        if !raw_chromosomes.iter().any(|known| known == raw) {
            raw_chromosomes.push(raw.to_owned());
        }
        let bare = raw.replace("chr", "");
        let position: u64 = tiles[1]
            .parse()
            .map_err(|_| format!("For input string: \"{}\"", tiles[1]))?;
        let genotype_columns = tiles.get(9).copied().unwrap_or("");
        if phased && genotype_columns.contains('/') {
            phased = false;
        }
        if first {
            phased_autodetect = !(genotype_columns.contains('/') || genotype_columns.contains('.'));
            first = false;
        }
        match &chromosome {
            None => chromosome = Some(bare.clone()),
            Some(known) if *known != bare => {
                return Err("The provided VCF file contains more than one chromosome. Please split your input VCF file by chromosome".to_owned());
            }
            Some(_) => {}
        }
        if tiles.len() < 5 {
            return Err("The provided VCF file is not tab-delimited".to_owned());
        }
        let (reference, alternate) = (tiles[3], tiles[4]);
        if reference == alternate {
            return Err(format!(
                "The provided VCF file is malformed at variation {}: reference allele ({reference}) and alternate allele  ({alternate}) are the same.",
                tiles[2]
            ));
        }
        let genotypes = genotype_columns
            .split('\t')
            .filter(|column| !column.is_empty())
            .map(genotype)
            .collect::<Vec<_>>();
        let mut genotypes = genotypes;
        genotypes.resize(sample_names.len(), None);
        sites.push(Site {
            chromosome: raw.to_owned(),
            position,
            id: tiles[2].to_owned(),
            reference: reference.to_owned(),
            alternate: alternate.to_owned(),
            genotypes,
        });
    }
    let Some(samples) = samples else {
        return Err("Your input file has a malformed header: We never saw the required CHROM header line (starting with one #) for the input VCF file".to_owned());
    };
    let chr_prefix = raw_chromosomes.iter().any(|raw| raw.starts_with("chr"));
    Ok(Loaded {
        file: InputFile {
            chromosome: chromosome.unwrap_or_default(),
            samples,
            sites,
        },
        raw_chromosome: raw_chromosomes.first().cloned().unwrap_or_default(),
        chr_prefix,
        phased,
        phased_autodetect,
    })
}

/// The GT of a sample column (`0|1`, `1/1`, `.`, haploid `1`).
fn genotype(column: &str) -> Option<(u8, u8)> {
    let gt = column.split(':').next().unwrap_or("");
    let mut alleles = gt
        .split(['|', '/'])
        .map(|allele| allele.parse::<u32>().ok().map(|index| u8::from(index > 0)));
    let first = alleles.next().flatten()?;
    match alleles.next() {
        None => Some((first, first)),
        Some(second) => Some((first, second?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::VcfSpec;

    fn params() -> Params {
        Params {
            build: "hg19".into(),
            phasing: "eagle".into(),
            mode: "imputation".into(),
            r2_filter: "0".into(),
            ..Params::default()
        }
    }

    fn panel() -> Panel {
        Panel::new("hapmap-2", "2.0.0", "HapMap 2", "hg19").populations(&[("eur", "EUR")])
    }

    fn upload(name: &str, bytes: Vec<u8>) -> Upload {
        Upload {
            file_name: name.into(),
            bytes,
        }
    }

    #[test]
    fn accepts_one_bgzf_file_per_chromosome() {
        let vcf = VcfSpec::new(20, 10).chromosomes(["20", "21"]).build();
        let uploads: Vec<Upload> = vcf
            .split_by_chromosome()
            .into_iter()
            .map(|(c, part)| upload(&format!("chr{c}.vcf.gz"), part.bgzf()))
            .collect();
        let validated = validate(&params(), &panel(), &uploads, 20).unwrap();
        assert_eq!(validated.files.len(), 2);
        assert!(validated.summary.contains("Samples: 20"));
        assert!(validated.summary.contains("Chromosomes: 20 21"));
        assert!(validated.summary.contains("SNPs: 20"));
        assert_eq!(validated.files[0].sites[0].genotypes.len(), 20);
    }

    #[test]
    fn refuses_what_the_server_refuses() {
        let good = VcfSpec::new(20, 5).build();
        let cases: Vec<(Vec<Upload>, Params, &str)> = vec![
            (
                vec![upload("a.vcf.gz", good.gzip())],
                params(),
                "not a valid BGZF file",
            ),
            (
                vec![upload("a.vcf.gz", good.text().into_bytes())],
                params(),
                "Error during index creation",
            ),
            (
                vec![upload(
                    "a.vcf.gz",
                    VcfSpec::new(20, 5).chromosomes(["1", "2"]).build().bgzf(),
                )],
                params(),
                "more than one chromosome",
            ),
            (
                vec![upload("a.vcf.gz", VcfSpec::new(19, 5).build().bgzf())],
                params(),
                "At least 20 samples",
            ),
            (
                vec![upload("a.vcf", good.text().into_bytes())],
                params(),
                "are not VCF files",
            ),
            (vec![], params(), "are not VCF files"),
            (
                vec![upload(
                    "a.vcf.gz",
                    VcfSpec::new(20, 5).chromosomes(["chr20"]).build().bgzf(),
                )],
                params(),
                "not a valid hg19 encoding",
            ),
            (
                vec![upload("a.vcf.gz", good.bgzf())],
                Params {
                    build: "hg38".into(),
                    ..params()
                },
                "not a valid hg38 encoding",
            ),
            (
                vec![upload(
                    "a.vcf.gz",
                    VcfSpec::new(20, 5).phased(false).build().bgzf(),
                )],
                Params {
                    phasing: "no_phasing".into(),
                    ..params()
                },
                "Your input data is unphased",
            ),
            (
                vec![upload("a.vcf.gz", good.bgzf())],
                Params {
                    population: Some("afr".into()),
                    ..params()
                },
                "Population 'afr' is not supported by reference panel 'hapmap-2'.",
            ),
            (
                vec![
                    upload("a.vcf.gz", VcfSpec::new(20, 5).build().bgzf()),
                    upload(
                        "b.vcf.gz",
                        VcfSpec::new(21, 5).chromosomes(["21"]).build().bgzf(),
                    ),
                ],
                params(),
                "same amount of samples (21 vs 20)",
            ),
        ];
        for (uploads, params, expected) in cases {
            let error = validate(&params, &panel(), &uploads, 20).unwrap_err();
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        }
    }

    #[test]
    fn reads_genotypes() {
        assert_eq!(genotype("0|1"), Some((0, 1)));
        assert_eq!(genotype("1/1:35"), Some((1, 1)));
        assert_eq!(genotype("2|0"), Some((1, 0)));
        assert_eq!(genotype("1"), Some((1, 1)));
        assert_eq!(genotype(".|."), None);
        assert_eq!(genotype("."), None);
    }
}
