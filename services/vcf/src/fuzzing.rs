//! Entry points for the fuzz targets (`services/vcf/fuzz`) into the
//! crate's own parsers, which are not public otherwise. Each takes any
//! bytes and must neither panic nor loop, whatever it is given.

/// Reads a header from `data` (with its text kept), then, when it reads,
/// describes what it found; a failure is described as the user would see it.
pub fn header(data: &[u8]) -> usize {
    let mut reader = std::io::BufReader::new(data);
    match crate::header::read_header(&mut reader, true) {
        Ok(header) => {
            assert!(header.lines >= 1);
            assert!(header.text.ends_with(b"\n"));
            header.samples.len() + header.duplicate_samples.len()
        }
        Err(e) => e.describe().len(),
    }
}

/// Parses `data` as one data line: the first byte gives the number of
/// samples the header announced, the rest is the line. A line that parses
/// has its end position, INFO keys and genotypes read as preflight does.
pub fn record(data: &[u8]) -> usize {
    let Some((&samples, line)) = data.split_first() else {
        return 0;
    };
    let sample_count = usize::from(samples % 64);
    match crate::record::parse(line, sample_count) {
        Ok(record) => {
            let _ = record.end();
            let _ = crate::record::info_value(record.info, b"AF");
            let mut ploidy = Vec::new();
            match crate::record::scan_genotypes(
                record.samples,
                sample_count,
                record.alt_count,
                Some(&mut ploidy),
            ) {
                Ok(_) => assert_eq!(ploidy.len(), sample_count),
                Err(e) => {
                    let _ = e.to_string();
                }
            }
            record.chromosome.len()
        }
        Err(e) => e.to_string().len(),
    }
}
