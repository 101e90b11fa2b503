//! QC of info files: numbers equal to those computed here from the
//! generated values.

use std::io::Cursor;

use fip_vcf::{
    ChromosomeQc, InfoFormat, QcError, QcSummary, qc_by_chromosome, qc_from_info,
    testdata::{Compression, GeneratedInfo, InfoKind, compress, info_file},
};

/// What the QC must be, computed from the generator's values.
fn expected(
    chromosome: &str,
    info: &GeneratedInfo,
    format: InfoFormat,
    says_typed: bool,
) -> ChromosomeQc {
    let values: Vec<f64> = info.variants.iter().filter_map(|v| v.r2).collect();
    let mut sum = 0.0;
    for v in &values {
        sum += v;
    }
    ChromosomeQc {
        chromosome: chromosome.to_owned(),
        variant_count: info.variants.len() as u64,
        typed_variant_count: if says_typed {
            info.variants.iter().filter(|v| v.typed).count() as u64
        } else {
            0
        },
        mean_r2: sum / values.len() as f64,
        count_r2_ge_0_3: values.iter().filter(|v| **v >= 0.3).count() as u64,
        count_r2_ge_0_8: values.iter().filter(|v| **v >= 0.8).count() as u64,
        missing_r2_count: (info.variants.len() - values.len()) as u64,
        format,
    }
}

fn run(info: &GeneratedInfo, compression: Compression) -> Result<ChromosomeQc, QcError> {
    qc_from_info(Cursor::new(compress(info.text.as_bytes(), compression)))
}

const COMPRESSIONS: [Compression; 3] = [Compression::Plain, Compression::Gzip, Compression::Bgzf];

#[test]
fn reads_minimac_info_vcfs_with_r2() {
    let info = info_file(InfoKind::MinimacVcf, "chr20", 500, 1);
    let want = expected("chr20", &info, InfoFormat::MinimacVcf, true);
    assert!(want.missing_r2_count > 0 && want.count_r2_ge_0_3 > 0 && want.count_r2_ge_0_8 > 0);
    assert!(want.typed_variant_count > 0);
    for compression in COMPRESSIONS {
        assert_eq!(run(&info, compression).unwrap(), want, "{compression:?}");
    }
}

#[test]
fn reads_beagle_vcfs_with_dr2() {
    let info = info_file(InfoKind::BeagleVcf { samples: 25 }, "21", 400, 2);
    let want = expected("21", &info, InfoFormat::BeagleVcf, true);
    for compression in COMPRESSIONS {
        assert_eq!(run(&info, compression).unwrap(), want, "{compression:?}");
    }
}

#[test]
fn reads_older_rsq_tables() {
    let info = info_file(InfoKind::RsqTable, "22", 450, 3);
    let want = expected("22", &info, InfoFormat::RsqTable, true);
    for compression in COMPRESSIONS {
        assert_eq!(run(&info, compression).unwrap(), want, "{compression:?}");
    }
}

#[test]
fn thresholds_include_their_bounds() {
    let info = info_file(InfoKind::MinimacVcf, "chr20", 40, 4);
    let exact_03 = info.variants.iter().filter(|v| v.r2 == Some(0.3)).count();
    let exact_08 = info.variants.iter().filter(|v| v.r2 == Some(0.8)).count();
    assert!(exact_03 > 0 && exact_08 > 0);
    let qc = run(&info, Compression::Plain).unwrap();
    let above_03 = info
        .variants
        .iter()
        .filter(|v| v.r2.is_some_and(|r| r > 0.3))
        .count();
    assert_eq!(qc.count_r2_ge_0_3, (above_03 + exact_03) as u64);
}

#[test]
fn a_file_without_typed_flags_reports_no_typed_variants() {
    let info = info_file(InfoKind::MinimacVcf, "chr20", 100, 5);
    let text = info
        .text
        .replace(
            "##INFO=<ID=TYPED,Number=0,Type=Flag,Description=\"Marker was genotyped\">\n",
            "",
        )
        .replace(";TYPED", "");
    let qc = qc_from_info(Cursor::new(text.into_bytes())).unwrap();
    assert_eq!(qc.typed_variant_count, 0);
    assert_eq!(qc.variant_count, 100);
}

#[test]
fn several_chromosomes_are_summarised_separately() {
    let a = info_file(InfoKind::BeagleVcf { samples: 3 }, "chr20", 100, 6);
    let b = info_file(InfoKind::BeagleVcf { samples: 3 }, "chr21", 80, 7);
    let body_b: String = b
        .text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let text = format!("{}{}", a.text, body_b);

    let all = qc_by_chromosome(Cursor::new(text.clone().into_bytes())).unwrap();
    assert_eq!(
        all,
        [
            expected("chr20", &a, InfoFormat::BeagleVcf, true),
            expected("chr21", &b, InfoFormat::BeagleVcf, true)
        ]
    );

    let err = qc_from_info(Cursor::new(text.into_bytes())).unwrap_err();
    assert!(matches!(&err, QcError::SeveralChromosomes(c) if c == &["chr20", "chr21"]));
    assert_eq!(
        err.to_string(),
        "the info file covers 2 chromosomes (chr20, chr21), expected one"
    );

    let summary = QcSummary::from_chromosomes(all.into_iter().rev().collect());
    assert_eq!(summary.chromosomes[0].chromosome, "chr20");
    assert_eq!(summary.variant_count, 180);
    let values: Vec<f64> = a
        .variants
        .iter()
        .chain(&b.variants)
        .filter_map(|v| v.r2)
        .collect();
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    assert!((summary.mean_r2 - mean).abs() < 1e-12);
}

#[test]
fn what_is_not_an_info_file_is_a_clear_error() {
    let unknown = qc_from_info(Cursor::new(b"hello\tworld\n".to_vec())).unwrap_err();
    assert!(matches!(unknown, QcError::UnknownFormat(_)), "{unknown:?}");

    let no_r2 = "##fileformat=VCFv4.2\n##INFO=<ID=AF,Number=1,Type=Float,Description=\"x\">\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n20\t1\t.\tA\tC\t.\t.\tAF=0.1\n";
    let err = qc_from_info(Cursor::new(no_r2.as_bytes().to_vec())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not an info file: the vcf header defines neither R2 nor DR2 in INFO"
    );

    let no_rsq = "SNP\tREF(0)\tALT(1)\tMAF\n20:1\tA\tC\t0.1\n";
    let err = qc_from_info(Cursor::new(no_rsq.as_bytes().to_vec())).unwrap_err();
    assert!(matches!(err, QcError::UnknownFormat(_)), "{err:?}");

    let empty = qc_from_info(Cursor::new(Vec::new())).unwrap_err();
    assert!(matches!(empty, QcError::Empty), "{empty:?}");

    let info = info_file(InfoKind::MinimacVcf, "chr20", 10, 8);
    let header_only: String = info
        .text
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let err = qc_from_info(Cursor::new(header_only.into_bytes())).unwrap_err();
    assert!(matches!(err, QcError::Empty), "{err:?}");

    let short = format!("{}20\t5\t.\tA\n", info.text);
    let last = short.lines().count() as u64;
    let err = qc_from_info(Cursor::new(short.into_bytes())).unwrap_err();
    assert!(
        matches!(err, QcError::Malformed { line, .. } if line == last),
        "{err:?}"
    );

    let big = info_file(InfoKind::MinimacVcf, "chr20", 2000, 9);
    let whole = compress(big.text.as_bytes(), Compression::Gzip);
    let err = qc_from_info(Cursor::new(whole[..whole.len() / 2].to_vec())).unwrap_err();
    assert!(matches!(err, QcError::Truncated), "{err:?}");
}
