//! One VCF data line (its first byte: the number of samples) on any bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fip_vcf::fuzzing::record(data);
});
