//! Genome builds and chromosome names: which chromosomes the servers impute,
//! how long they are in each build, and the `chr1` / `1` naming conventions.

use std::fmt;

/// A human reference genome build (`fip.common.v1.GenomeBuild`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GenomeBuild {
    /// GRCh37 / hg19.
    Hg19,
    /// GRCh38 / hg38.
    Hg38,
}

impl GenomeBuild {
    /// The chromosome naming the Michigan-type servers require for this
    /// build: `1` for hg19, `chr1` for hg38 (their input validation refuses
    /// the other style).
    pub fn naming(self) -> ChromosomeNaming {
        match self {
            Self::Hg19 => ChromosomeNaming::Ensembl,
            Self::Hg38 => ChromosomeNaming::Ucsc,
        }
    }

    /// The length of an imputable chromosome (`1`..`22`, `X`, either naming
    /// style) in this build; `None` for any other name.
    pub fn chromosome_length(self, chromosome: &str) -> Option<u64> {
        let index = imputable_index(chromosome)?;
        Some(match self {
            Self::Hg19 => HG19_LENGTHS[index],
            Self::Hg38 => HG38_LENGTHS[index],
        })
    }

    /// The non-pseudoautosomal region of chromosome X in this build, as the
    /// servers split it (positions inside are imputed as non-PAR).
    pub fn x_non_par(self) -> std::ops::RangeInclusive<u64> {
        match self {
            Self::Hg19 => 2_699_520..=154_931_044,
            Self::Hg38 => 2_781_479..=155_701_383,
        }
    }

    /// The name the Cloudgene `build` form field takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hg19 => "hg19",
            Self::Hg38 => "hg38",
        }
    }

    /// The other build.
    pub(crate) fn other(self) -> Self {
        match self {
            Self::Hg19 => Self::Hg38,
            Self::Hg38 => Self::Hg19,
        }
    }
}

impl fmt::Display for GenomeBuild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a VCF names its chromosomes (`fip.jobs.v1.ChromosomeNaming`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum ChromosomeNaming {
    /// Not determined (no records on a standard chromosome).
    #[default]
    Unspecified,
    /// With a `chr` prefix: `chr1` ... `chr22`, `chrX` (the hg38 convention).
    Ucsc,
    /// Without prefix: `1` ... `22`, `X` (the hg19 convention).
    Ensembl,
    /// Both styles in one file.
    Mixed,
}

impl ChromosomeNaming {
    /// Combines the style seen so far with the style of one more name.
    pub(crate) fn merge(self, other: Self) -> Self {
        match (self, other) {
            (a, Self::Unspecified) => a,
            (Self::Unspecified, b) => b,
            (a, b) if a == b => a,
            _ => Self::Mixed,
        }
    }
}

/// GRCh37 lengths of `1`..`22` then `X`.
const HG19_LENGTHS: [u64; 23] = [
    249_250_621,
    243_199_373,
    198_022_430,
    191_154_276,
    180_915_260,
    171_115_067,
    159_138_663,
    146_364_022,
    141_213_431,
    135_534_747,
    135_006_516,
    133_851_895,
    115_169_878,
    107_349_540,
    102_531_392,
    90_354_753,
    81_195_210,
    78_077_248,
    59_128_983,
    63_025_520,
    48_129_895,
    51_304_566,
    155_270_560,
];

/// GRCh38 lengths of `1`..`22` then `X`.
const HG38_LENGTHS: [u64; 23] = [
    248_956_422,
    242_193_529,
    198_295_559,
    190_214_555,
    181_538_259,
    170_805_979,
    159_345_973,
    145_138_636,
    138_394_717,
    133_797_422,
    135_086_622,
    133_275_309,
    114_364_328,
    107_043_718,
    101_991_189,
    90_338_345,
    83_257_441,
    80_373_285,
    58_617_616,
    64_444_167,
    46_709_983,
    50_818_468,
    156_040_895,
];

/// The name without its `chr` prefix, when it has one.
fn strip_chr(name: &str) -> (bool, &str) {
    match name.strip_prefix("chr") {
        Some(rest) if !rest.is_empty() => (true, rest),
        _ => (false, name),
    }
}

/// True for the core names of the standard human chromosomes.
fn is_standard_core(core: &str) -> bool {
    matches!(core, "X" | "Y" | "M" | "MT") || autosome_number(core).is_some()
}

/// `1`..=`22` as a number; `None` otherwise (also for `01`).
fn autosome_number(core: &str) -> Option<usize> {
    if core.starts_with('0') {
        return None;
    }
    core.parse::<usize>().ok().filter(|n| (1..=22).contains(n))
}

/// Index into the length tables: `1`..`22` → 0..21, `X` → 22.
fn imputable_index(name: &str) -> Option<usize> {
    let (_, core) = strip_chr(name);
    if core == "X" {
        return Some(22);
    }
    autosome_number(core).map(|n| n - 1)
}

/// The naming style of one chromosome name: UCSC or Ensembl for the
/// standard human chromosomes, unspecified for anything else (contigs,
/// decoys, `HLA-*`), which says nothing about the file's convention.
pub fn naming_of(name: &str) -> ChromosomeNaming {
    let (prefixed, core) = strip_chr(name);
    if !is_standard_core(core) {
        ChromosomeNaming::Unspecified
    } else if prefixed {
        ChromosomeNaming::Ucsc
    } else {
        ChromosomeNaming::Ensembl
    }
}

/// True for the chromosomes the Michigan-type servers impute: the
/// autosomes and X, in either naming style.
pub fn is_imputable(name: &str) -> bool {
    imputable_index(name).is_some()
}

/// True for chromosome X (`X` or `chrX`).
pub fn is_x(name: &str) -> bool {
    imputable_index(name) == Some(22)
}

/// The name in the given style. Standard chromosomes gain or lose the `chr`
/// prefix (the mitochondrion is `chrM` / `MT`); other names are kept as they
/// are. `Unspecified` and `Mixed` keep every name.
pub fn rename(name: &str, naming: ChromosomeNaming) -> String {
    let (prefixed, core) = strip_chr(name);
    if !is_standard_core(core) {
        return name.to_owned();
    }
    match naming {
        ChromosomeNaming::Ucsc => match core {
            "MT" | "M" => "chrM".to_owned(),
            _ if prefixed => name.to_owned(),
            _ => format!("chr{core}"),
        },
        ChromosomeNaming::Ensembl => match core {
            "MT" | "M" => "MT".to_owned(),
            _ => core.to_owned(),
        },
        ChromosomeNaming::Unspecified | ChromosomeNaming::Mixed => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_only_looks_at_standard_chromosomes() {
        assert_eq!(naming_of("chr20"), ChromosomeNaming::Ucsc);
        assert_eq!(naming_of("20"), ChromosomeNaming::Ensembl);
        assert_eq!(naming_of("chrX"), ChromosomeNaming::Ucsc);
        assert_eq!(naming_of("MT"), ChromosomeNaming::Ensembl);
        assert_eq!(naming_of("chrUn_gl000220"), ChromosomeNaming::Unspecified);
        assert_eq!(naming_of("GL000220.1"), ChromosomeNaming::Unspecified);
        assert_eq!(
            naming_of("HLA-A*01:01:01:01"),
            ChromosomeNaming::Unspecified
        );
        assert_eq!(naming_of("chr"), ChromosomeNaming::Unspecified);
        assert_eq!(naming_of("023"), ChromosomeNaming::Unspecified);
    }

    #[test]
    fn merge_detects_mixed_styles() {
        use ChromosomeNaming::*;
        assert_eq!(Unspecified.merge(Ucsc), Ucsc);
        assert_eq!(Ucsc.merge(Unspecified), Ucsc);
        assert_eq!(Ucsc.merge(Ucsc), Ucsc);
        assert_eq!(Ucsc.merge(Ensembl), Mixed);
        assert_eq!(Mixed.merge(Ensembl), Mixed);
    }

    #[test]
    fn imputable_chromosomes_are_autosomes_and_x() {
        for name in ["1", "chr1", "22", "chr22", "X", "chrX"] {
            assert!(is_imputable(name), "{name}");
        }
        for name in [
            "Y",
            "chrY",
            "MT",
            "chrM",
            "23",
            "0",
            "chr23",
            "GL000220.1",
            "chrX_alt",
        ] {
            assert!(!is_imputable(name), "{name}");
        }
        assert!(is_x("chrX") && is_x("X") && !is_x("chrY"));
    }

    #[test]
    fn lengths_differ_between_builds() {
        assert_eq!(
            GenomeBuild::Hg19.chromosome_length("chr1"),
            Some(249_250_621)
        );
        assert_eq!(GenomeBuild::Hg38.chromosome_length("1"), Some(248_956_422));
        assert_eq!(GenomeBuild::Hg19.chromosome_length("X"), Some(155_270_560));
        assert_eq!(
            GenomeBuild::Hg38.chromosome_length("chr20"),
            Some(64_444_167)
        );
        assert_eq!(GenomeBuild::Hg38.chromosome_length("Y"), None);
    }

    #[test]
    fn rename_switches_prefix_of_standard_names_only() {
        use ChromosomeNaming::*;
        assert_eq!(rename("20", Ucsc), "chr20");
        assert_eq!(rename("chr20", Ucsc), "chr20");
        assert_eq!(rename("chr20", Ensembl), "20");
        assert_eq!(rename("X", Ucsc), "chrX");
        assert_eq!(rename("MT", Ucsc), "chrM");
        assert_eq!(rename("chrM", Ensembl), "MT");
        assert_eq!(rename("GL000220.1", Ucsc), "GL000220.1");
        assert_eq!(rename("chrUn_gl000220", Ensembl), "chrUn_gl000220");
        assert_eq!(rename("20", Mixed), "20");
        assert_eq!(GenomeBuild::Hg19.naming(), Ensembl);
        assert_eq!(GenomeBuild::Hg38.naming(), Ucsc);
    }
}
