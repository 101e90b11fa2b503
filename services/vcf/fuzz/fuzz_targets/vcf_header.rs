//! The VCF header reader on any bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fip_vcf::fuzzing::header(data);
});
