//! The whole pre-flight check (format detection, gzip/BGZF, header,
//! records) on any bytes, for both builds.
#![no_main]

use fip_vcf::GenomeBuild;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for build in [GenomeBuild::Hg19, GenomeBuild::Hg38] {
        if let Ok(summary) = fip_vcf::preflight_reader(data, build) {
            let counted: u64 = summary.chromosomes.iter().map(|c| c.variant_count).sum();
            assert!(counted <= summary.variant_count, "{summary:?}");
        }
    }
});
