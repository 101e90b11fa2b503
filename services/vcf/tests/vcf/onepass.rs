//! `preflight_and_split`: the same summary as `preflight` and the same
//! files, byte for byte, as `split_by_chromosome`, from one pass; and the
//! split outputs as htslib's own tools read them back.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use fip_vcf::{
    GenomeBuild, PreflightError, SplitError, SplitOptions, preflight, preflight_and_split,
    split_by_chromosome,
    testdata::{Compression, Genotypes, VcfSpec},
};

use crate::{Workdir, list_dir};

/// Runs both APIs on `input` and checks they agree: summary, file list and
/// every output and index byte for byte.
fn assert_equivalent(work: &Workdir, tag: &str, input: &Path, options: &SplitOptions) {
    let separate_dir = work.subdir(&format!("{tag}-separate"));
    let one_pass_dir = work.subdir(&format!("{tag}-one-pass"));
    let summary = preflight(input, GenomeBuild::Hg38).unwrap();
    let files = split_by_chromosome(input, &separate_dir, options);

    let checked = preflight_and_split(input, GenomeBuild::Hg38, &one_pass_dir, options).unwrap();

    assert_eq!(checked.summary, summary, "{tag}: the summaries differ");
    match (files, checked.files) {
        (Ok(files), Ok(one_pass)) => {
            assert_eq!(one_pass.len(), files.len(), "{tag}");
            for (a, b) in files.iter().zip(&one_pass) {
                assert_eq!(a.chromosome, b.chromosome, "{tag}");
                assert_eq!(a.variant_count, b.variant_count, "{tag}");
                assert_eq!(b.path.parent(), Some(one_pass_dir.as_path()));
                assert_eq!(a.path.file_name(), b.path.file_name(), "{tag}");
                assert_eq!(
                    std::fs::read(&a.path).unwrap(),
                    std::fs::read(&b.path).unwrap(),
                    "{tag}: {} differs",
                    a.path.display()
                );
                match (&a.index_path, &b.index_path) {
                    (Some(x), Some(y)) => assert_eq!(
                        std::fs::read(x).unwrap(),
                        std::fs::read(y).unwrap(),
                        "{tag}: {} differs",
                        x.display()
                    ),
                    (None, None) => {}
                    other => panic!("{tag}: index paths differ: {other:?}"),
                }
            }
            assert_eq!(list_dir(&separate_dir), list_dir(&one_pass_dir));
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string(), "{tag}");
            assert!(list_dir(&one_pass_dir).is_empty(), "{tag}: outputs left");
        }
        (a, b) => panic!("{tag}: the split gave {a:?}, the one pass {b:?}"),
    }
}

#[test]
fn one_pass_gives_what_the_two_separate_calls_give() {
    let work = Workdir::new();
    let indexed = SplitOptions {
        tabix_index: true,
        ..SplitOptions::default()
    };
    // Outputs of several blocks each, compressed in parallel.
    let large = VcfSpec::new(200, &[("chr20", 1_500), ("chr21", 1_000), ("chr22", 800)])
        .genotypes(Genotypes::UnphasedEvery(97))
        .multiallelic_every(13);
    for compression in [Compression::Bgzf, Compression::Gzip, Compression::Plain] {
        let tag = format!("large-{compression:?}");
        let input = work.vcf(&format!("{tag}.vcf"), &large, compression);
        assert_equivalent(&work, &tag, &input, &indexed);
    }
    let input = work.vcf("large.vcf.gz", &large, Compression::Bgzf);
    assert_equivalent(&work, "no-index", &input, &SplitOptions::default());
    assert_equivalent(
        &work,
        "for-build",
        &input,
        &SplitOptions::for_build(GenomeBuild::Hg38),
    );

    // More chromosomes than open outputs, coming back: files are closed
    // and reopened.
    let names: Vec<String> = (1..=12).map(|n| format!("{n}")).collect();
    let mut blocks = Vec::new();
    for round in 0..3 {
        for name in &names {
            blocks.push((name.as_str(), 40 + round));
        }
    }
    let interleaved = VcfSpec::new(30, &blocks).genotypes(Genotypes::Unphased);
    let input = work.vcf("interleaved.vcf.gz", &interleaved, Compression::Bgzf);
    assert_equivalent(&work, "interleaved", &input, &indexed);
    assert_equivalent(
        &work,
        "interleaved-renamed",
        &input,
        &SplitOptions::for_build(GenomeBuild::Hg19),
    );
}

#[test]
fn one_pass_reports_what_each_call_reports_on_bad_records() {
    let work = Workdir::new();
    let indexed = SplitOptions {
        tabix_index: true,
        ..SplitOptions::default()
    };
    let spec = VcfSpec::new(25, &[("chr20", 30), ("chr21", 20)]);

    // A malformed record: the check lists it, the split fails on it.
    let mut text = spec.text();
    text.push_str("chr21\tnot-a-position\t.\tA\tC\t.\t.\t.\tGT\n");
    let input = work.text("malformed.vcf", &text, Compression::Plain);
    assert_equivalent(&work, "malformed", &input, &indexed);
    let out = work.subdir("malformed-out");
    let checked = preflight_and_split(&input, GenomeBuild::Hg38, &out, &indexed).unwrap();
    assert!(!checked.summary.blocking.is_empty());
    assert!(matches!(checked.files, Err(SplitError::Malformed { .. })));
    assert!(list_dir(&out).is_empty());

    // Unsorted records: a warning for the check, an error for an indexed split.
    let mut lines: Vec<String> = spec.text().lines().map(str::to_owned).collect();
    let n = lines.len();
    lines.swap(n - 1, n - 25);
    let input = work.text(
        "unsorted.vcf",
        &(lines.join("\n") + "\n"),
        Compression::Plain,
    );
    assert_equivalent(&work, "unsorted", &input, &indexed);
    assert_equivalent(&work, "unsorted-no-index", &input, &SplitOptions::default());

    // A rename target that is not a style.
    let input = work.vcf("valid.vcf.gz", &spec, Compression::Bgzf);
    let bad_rename = SplitOptions {
        rename: Some(fip_vcf::ChromosomeNaming::Mixed),
        ..SplitOptions::default()
    };
    assert_equivalent(&work, "bad-rename", &input, &bad_rename);
}

#[test]
fn when_the_check_fails_nothing_is_left() {
    let work = Workdir::new();
    let options = SplitOptions {
        tabix_index: true,
        ..SplitOptions::default()
    };
    let spec = VcfSpec::new(25, &[("chr20", 300), ("chr21", 200)]);
    let whole = fip_vcf::testdata::compress(spec.text().as_bytes(), Compression::Bgzf);
    // Cut inside the data: the check reads part of it, then fails.
    let truncated = work.path("truncated.vcf.gz");
    std::fs::write(&truncated, &whole[..whole.len() * 2 / 3]).unwrap();
    let out = work.subdir("out");

    let err = preflight_and_split(&truncated, GenomeBuild::Hg38, &out, &options).unwrap_err();

    assert!(matches!(err, PreflightError::Truncated { .. }), "{err:?}");
    assert!(list_dir(&out).is_empty());

    let not_vcf = work.text("notes.txt", "hello\n", Compression::Plain);
    let err = preflight_and_split(&not_vcf, GenomeBuild::Hg38, &out, &options).unwrap_err();
    assert!(matches!(err, PreflightError::NotVcf(_)), "{err:?}");
    assert!(list_dir(&out).is_empty());
}

/// The output of a tool, or `None` when it is not installed.
fn tool(program: &str, args: &[&str]) -> Option<String> {
    let installed = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("{program} is not installed (scripts/install-test-tools): skipped");
        return None;
    }
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

#[test]
fn bcftools_and_tabix_read_the_split_outputs() {
    let work = Workdir::new();
    let spec = VcfSpec::new(150, &[("chr20", 2_000), ("chr21", 1_200)]);
    let input = work.vcf("input.vcf.gz", &spec, Compression::Bgzf);
    let out = work.subdir("out");
    let options = SplitOptions {
        tabix_index: true,
        ..SplitOptions::default()
    };
    let checked = preflight_and_split(&input, GenomeBuild::Hg38, &out, &options).unwrap();
    let files = checked.files.unwrap();
    let text = spec.text();

    for file in &files {
        let expected: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && l.split('\t').next() == Some(&file.chromosome))
            .collect();
        assert_eq!(expected.len() as u64, file.variant_count);
        // bgzip checks every block and the end-of-file marker.
        let path = file.path.to_str().unwrap();
        if let Some(listing) = tool("bgzip", &["-t", path]) {
            assert!(listing.is_empty(), "{listing}");
        }
        // bcftools reads every record as htslib parses them.
        if let Some(records) = tool("bcftools", &["view", "-H", path]) {
            assert_eq!(records.lines().collect::<Vec<_>>(), expected);
        }
        // tabix's own index reader: the chromosome list, then a region that
        // spans many blocks.
        if let Some(names) = tool("tabix", &["-l", path]) {
            assert_eq!(names.trim(), file.chromosome);
        }
        let region = format!("{}:300000-900000", file.chromosome);
        if let Some(found) = tool("tabix", &[path, &region]) {
            let inside: Vec<&str> = expected
                .iter()
                .copied()
                .filter(|l| {
                    let position: u64 = l.split('\t').nth(1).unwrap().parse().unwrap();
                    (300_000..=900_000).contains(&position)
                })
                .collect();
            assert!(inside.len() > 100);
            assert_eq!(found.lines().collect::<Vec<_>>(), inside);
        }
    }
}
