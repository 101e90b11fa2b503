//! The per-chromosome split: valid BGZF, one chromosome per file, records
//! as in the input, renaming, tabix indexes, and errors that leave nothing.

use std::{fs::File, io::Read, path::Path};

use fip_vcf::{
    ChromosomeFile, ChromosomeNaming, GenomeBuild, SplitError, SplitOptions, preflight,
    split_by_chromosome,
    testdata::{Compression, Genotypes, VcfSpec},
};
use noodles::{bgzf, core::Region, vcf};

use crate::{Workdir, list_dir};

const BGZF_EOF_LEN: usize = 28;

/// Decompresses a split output with noodles' BGZF reader, after checking
/// its last block is the BGZF end-of-file marker.
fn read_bgzf(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    let eof = [
        0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02,
        0x00, 0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    assert!(raw.len() > BGZF_EOF_LEN);
    assert_eq!(
        raw[raw.len() - BGZF_EOF_LEN..],
        eof,
        "{} ends with the eof block",
        path.display()
    );
    // Only the last block is empty: a reopened output has no eof block left inside.
    assert_eq!(
        raw.windows(BGZF_EOF_LEN).filter(|w| *w == eof).count(),
        1,
        "{} holds one eof block",
        path.display()
    );
    let mut text = String::new();
    bgzf::io::Reader::new(File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// Reads an output with noodles' VCF reader: its samples and, per record,
/// the chromosome and position.
fn read_vcf(path: &Path) -> (Vec<String>, Vec<(String, usize)>) {
    let mut reader = vcf::io::Reader::new(bgzf::io::Reader::new(File::open(path).unwrap()));
    let header = reader.read_header().unwrap();
    let samples = header.sample_names().iter().cloned().collect();
    let records = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let position = r.variant_start().unwrap().unwrap().get();
            (r.reference_sequence_name().to_owned(), position)
        })
        .collect();
    (samples, records)
}

/// The records of `chromosome` in the input text, in order.
fn input_records<'a>(text: &'a str, chromosome: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.split('\t').next() == Some(chromosome))
        .collect()
}

fn summary(files: &[ChromosomeFile]) -> Vec<(String, u64)> {
    files
        .iter()
        .map(|f| (f.chromosome.clone(), f.variant_count))
        .collect()
}

#[test]
fn writes_one_valid_bgzf_file_per_chromosome() {
    for compression in [Compression::Bgzf, Compression::Gzip, Compression::Plain] {
        let work = Workdir::new();
        let spec = VcfSpec::new(25, &[("chr20", 120), ("chr21", 90), ("chr22", 150)])
            .genotypes(Genotypes::Unphased);
        let input = work.vcf("input.vcf.gz", &spec, compression);
        let out = work.subdir("out");

        let files = split_by_chromosome(&input, &out, &SplitOptions::default()).unwrap();

        assert_eq!(summary(&files), spec.counts());
        assert_eq!(
            list_dir(&out),
            ["chr20.vcf.gz", "chr21.vcf.gz", "chr22.vcf.gz"]
        );
        let text = spec.text();
        for file in &files {
            assert_eq!(file.path, out.join(format!("{}.vcf.gz", file.chromosome)));
            assert_eq!(file.index_path, None);
            let content = read_bgzf(&file.path);
            let (header, body) = content.split_at(spec.header().len());
            assert_eq!(header, spec.header(), "the full header");
            let records: Vec<&str> = body.lines().collect();
            assert_eq!(records, input_records(&text, &file.chromosome));
            let (samples, parsed) = read_vcf(&file.path);
            assert_eq!(samples.len(), 25);
            assert_eq!(parsed.len() as u64, file.variant_count);
            assert!(parsed.iter().all(|(c, _)| *c == file.chromosome));
            // Each output passes the pre-flight check as a one-chromosome BGZF file.
            let checked = preflight(&file.path, GenomeBuild::Hg38).unwrap();
            assert_eq!(checked.format, fip_vcf::InputFormat::VcfBgzf);
            assert_eq!(checked.chromosomes.len(), 1);
            assert!(checked.blocking.is_empty(), "{:?}", checked.blocking);
        }
    }
}

#[test]
fn a_chromosome_that_comes_back_goes_to_the_same_file() {
    let work = Workdir::new();
    let spec = VcfSpec::new(
        25,
        &[("chr21", 40), ("chr20", 30), ("chr21", 25), ("chr20", 5)],
    );
    let input = work.vcf("input.vcf.gz", &spec, Compression::Bgzf);
    let out = work.subdir("out");
    let options = SplitOptions {
        tabix_index: true,
        ..SplitOptions::default()
    };

    let files = split_by_chromosome(&input, &out, &options).unwrap();

    assert_eq!(
        summary(&files),
        [("chr21".to_owned(), 65), ("chr20".to_owned(), 35)]
    );
    let text = spec.text();
    for file in &files {
        let content = read_bgzf(&file.path);
        let records: Vec<&str> = content.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(records, input_records(&text, &file.chromosome));
        assert_eq!(
            query_count(&file.path, &file.chromosome),
            file.variant_count
        );
    }
}

/// Counts the records a tabix query over the whole chromosome returns.
fn query_count(path: &Path, chromosome: &str) -> u64 {
    let mut reader = vcf::io::indexed_reader::Builder::default()
        .build_from_path(path)
        .unwrap();
    let header = reader.read_header().unwrap();
    let region: Region = chromosome.parse().unwrap();
    let mut n = 0;
    for record in reader.query(&header, &region).unwrap().records() {
        let record = record.unwrap();
        assert_eq!(record.reference_sequence_name(), chromosome);
        n += 1;
    }
    n
}

#[test]
fn many_interleaved_chromosomes_reopen_their_files_and_stay_indexable() {
    let work = Workdir::new();
    let names: Vec<String> = (1..=12).map(|n| format!("chr{n}")).collect();
    let mut blocks = Vec::new();
    for round in 0..3 {
        for name in &names {
            blocks.push((name.as_str(), 20 + round));
        }
    }
    assert!(names.len() > fip_vcf::MAX_OPEN_OUTPUTS);
    let spec = VcfSpec::new(20, &blocks);
    let input = work.vcf("input.vcf.gz", &spec, Compression::Bgzf);
    let out = work.subdir("out");
    let options = SplitOptions {
        tabix_index: true,
        ..SplitOptions::default()
    };

    let files = split_by_chromosome(&input, &out, &options).unwrap();

    assert_eq!(summary(&files), spec.counts());
    let text = spec.text();
    for file in &files {
        let index = file.index_path.as_ref().expect("index");
        assert_eq!(index, &out.join(format!("{}.vcf.gz.tbi", file.chromosome)));
        noodles::tabix::fs::read(index).unwrap();
        let content = read_bgzf(&file.path);
        let records: Vec<&str> = content.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(records, input_records(&text, &file.chromosome));
        assert_eq!(
            query_count(&file.path, &file.chromosome),
            file.variant_count
        );
    }
    // A query of a region returns exactly the records inside it.
    let chr5 = &files[4];
    let inside: Vec<u64> = input_records(&text, "chr5")
        .iter()
        .map(|l| l.split('\t').nth(1).unwrap().parse().unwrap())
        .filter(|p| (120_000..=150_000).contains(p))
        .collect();
    let mut reader = vcf::io::indexed_reader::Builder::default()
        .build_from_path(&chr5.path)
        .unwrap();
    let header = reader.read_header().unwrap();
    let region: Region = "chr5:120000-150000".parse().unwrap();
    let found: Vec<u64> = reader
        .query(&header, &region)
        .unwrap()
        .records()
        .map(|r| r.unwrap().variant_start().unwrap().unwrap().get() as u64)
        .collect();
    assert!(!inside.is_empty());
    assert_eq!(found, inside);
}

#[test]
fn renames_chromosomes_to_the_build_convention() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("20", 50), ("21", 40), ("X", 10)]);
    let input = work.vcf("input.vcf", &spec, Compression::Plain);
    let out = work.subdir("out");

    let files =
        split_by_chromosome(&input, &out, &SplitOptions::for_build(GenomeBuild::Hg38)).unwrap();

    assert_eq!(
        summary(&files),
        [
            ("chr20".to_owned(), 50),
            ("chr21".to_owned(), 40),
            ("chrX".to_owned(), 10)
        ]
    );
    let text = spec.text();
    for (file, original) in files.iter().zip(["20", "21", "X"]) {
        let content = read_bgzf(&file.path);
        assert!(content.contains("##contig=<ID=chr20>\n##contig=<ID=chr21>\n##contig=<ID=chrX>\n"));
        assert!(!content.contains("##contig=<ID=20>"));
        let renamed: Vec<String> = input_records(&text, original)
            .iter()
            .map(|l| format!("chr{l}"))
            .collect();
        let records: Vec<&str> = content.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(records, renamed);
        assert_eq!(
            query_count(&file.path, &file.chromosome),
            file.variant_count
        );
        let checked = preflight(&file.path, GenomeBuild::Hg38).unwrap();
        assert_eq!(checked.chromosome_naming, ChromosomeNaming::Ucsc);
        assert!(checked.naming_matches_build);
    }

    // And back: chr names to the hg19 convention.
    let back = work.subdir("back");
    let again = split_by_chromosome(
        &files[0].path,
        &back,
        &SplitOptions {
            rename: Some(ChromosomeNaming::Ensembl),
            ..SplitOptions::default()
        },
    )
    .unwrap();
    assert_eq!(summary(&again), [("20".to_owned(), 50)]);
    let content = read_bgzf(&again[0].path);
    let records: Vec<&str> = content.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(records, input_records(&text, "20"));
}

#[test]
fn mixed_names_merge_into_one_file_per_renamed_chromosome() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("20", 30), ("chr21", 20)]);
    let input = work.vcf("input.vcf", &spec, Compression::Plain);
    let out = work.subdir("out");

    let files =
        split_by_chromosome(&input, &out, &SplitOptions::for_build(GenomeBuild::Hg19)).unwrap();

    assert_eq!(
        summary(&files),
        [("20".to_owned(), 30), ("21".to_owned(), 20)]
    );
    assert_eq!(
        list_dir(&out),
        ["20.vcf.gz", "20.vcf.gz.tbi", "21.vcf.gz", "21.vcf.gz.tbi"]
    );
}

#[test]
fn imputable_only_drops_other_chromosomes() {
    let work = Workdir::new();
    let spec = VcfSpec::new(
        25,
        &[("chr20", 30), ("chrY", 10), ("chrM", 2), ("chr22", 15)],
    );
    let input = work.vcf("input.vcf", &spec, Compression::Plain);
    let out = work.subdir("out");

    let kept = split_by_chromosome(
        &input,
        &out,
        &SplitOptions {
            imputable_only: true,
            ..SplitOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        summary(&kept),
        [("chr20".to_owned(), 30), ("chr22".to_owned(), 15)]
    );

    let all = work.subdir("all");
    let every = split_by_chromosome(&input, &all, &SplitOptions::default()).unwrap();
    assert_eq!(summary(&every), spec.counts());
}

#[test]
fn an_existing_output_is_refused_and_left_alone() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chr20", 30), ("chr21", 20)]);
    let input = work.vcf("input.vcf", &spec, Compression::Plain);
    let out = work.subdir("out");
    std::fs::write(out.join("chr21.vcf.gz"), b"keep me").unwrap();

    let err = split_by_chromosome(&input, &out, &SplitOptions::default()).unwrap_err();

    assert!(matches!(&err, SplitError::OutputExists(p) if *p == out.join("chr21.vcf.gz")));
    assert_eq!(
        list_dir(&out),
        ["chr21.vcf.gz"],
        "chr20 written before was removed"
    );
    assert_eq!(std::fs::read(out.join("chr21.vcf.gz")).unwrap(), b"keep me");
}

#[test]
fn a_malformed_record_fails_the_split_and_leaves_nothing() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chr20", 30), ("chr21", 20)]);
    let mut text = spec.text();
    text.push_str("chr21\tnot-a-position\t.\tA\tC\t.\t.\t.\tGT\n");
    let input = work.text("input.vcf", &text, Compression::Plain);
    let out = work.subdir("out");
    let options = SplitOptions {
        tabix_index: true,
        ..SplitOptions::default()
    };

    let err = split_by_chromosome(&input, &out, &options).unwrap_err();

    let line = text.lines().count() as u64;
    assert!(
        matches!(&err, SplitError::Malformed { line: l, .. } if *l == line),
        "{err:?}"
    );
    assert!(err.to_string().starts_with(&format!("line {line}: ")));
    assert!(list_dir(&out).is_empty());
}

#[test]
fn an_indexed_split_needs_sorted_input() {
    let work = Workdir::new();
    let spec = VcfSpec::new(25, &[("chr20", 30)]);
    let mut lines: Vec<String> = spec.text().lines().map(str::to_owned).collect();
    let n = lines.len();
    lines.swap(n - 1, n - 5);
    let input = work.text("input.vcf", &(lines.join("\n") + "\n"), Compression::Plain);
    let out = work.subdir("out");

    let indexed = SplitOptions {
        tabix_index: true,
        ..SplitOptions::default()
    };
    let err = split_by_chromosome(&input, &out, &indexed).unwrap_err();
    assert!(
        matches!(&err, SplitError::Unsorted { chromosome, line } if chromosome == "chr20" && *line == n as u64 - 3),
        "{err:?}"
    );
    assert!(list_dir(&out).is_empty());

    // Without an index the records are copied as they are.
    let files = split_by_chromosome(&input, &out, &SplitOptions::default()).unwrap();
    assert_eq!(files[0].variant_count, 30);
}

#[test]
fn refuses_a_rename_target_that_is_not_a_style() {
    let work = Workdir::new();
    let input = work.vcf(
        "input.vcf",
        &VcfSpec::new(25, &[("20", 3)]),
        Compression::Plain,
    );
    let out = work.subdir("out");
    for naming in [ChromosomeNaming::Mixed, ChromosomeNaming::Unspecified] {
        let options = SplitOptions {
            rename: Some(naming),
            ..SplitOptions::default()
        };
        let err = split_by_chromosome(&input, &out, &options).unwrap_err();
        assert!(matches!(err, SplitError::InvalidRename(n) if n == naming));
    }
    assert!(list_dir(&out).is_empty());
}

#[test]
fn input_that_is_not_a_vcf_is_refused() {
    let work = Workdir::new();
    let out = work.subdir("out");
    let notes = work.text("notes.vcf.gz", "hello\n", Compression::Gzip);
    let err = split_by_chromosome(&notes, &out, &SplitOptions::default()).unwrap_err();
    assert!(matches!(err, SplitError::NotVcf(_)), "{err:?}");

    let whole = fip_vcf::testdata::compress(
        VcfSpec::new(25, &[("chr20", 500)]).text().as_bytes(),
        Compression::Gzip,
    );
    let cut = work.path("cut.vcf.gz");
    std::fs::write(&cut, &whole[..whole.len() - 100]).unwrap();
    let err = split_by_chromosome(&cut, &out, &SplitOptions::default()).unwrap_err();
    assert!(matches!(err, SplitError::Truncated), "{err:?}");
    assert!(list_dir(&out).is_empty());
}
