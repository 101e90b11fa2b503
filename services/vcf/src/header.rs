//! The VCF header: `##` meta lines, then the `#CHROM` line naming the
//! columns and the samples.

use std::{
    collections::HashSet,
    io::{self, BufRead, Read},
};

use crate::input::{Line, read_line};

/// The longest header line kept; longer ones make the header invalid.
pub(crate) const MAX_HEADER_LINE: usize = 16 * 1024 * 1024;
/// The most header bytes kept when the meta lines are retained (the split
/// copies them into every output).
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024 * 1024;

const FILEFORMAT: &[u8] = b"##fileformat=VCF";
const FIXED_COLUMNS: [&str; 8] = [
    "#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO",
];

/// A parsed header.
#[derive(Debug, Default)]
pub(crate) struct Header {
    /// The header as text, every line ending in `\n` (the `#CHROM` line
    /// last); empty unless asked for.
    pub text: Vec<u8>,
    /// The sample names, in column order.
    pub samples: Vec<String>,
    /// Sample names that appear more than once, each once, in order.
    pub duplicate_samples: Vec<String>,
    /// True when the `#CHROM` line has a `FORMAT` column.
    pub has_format: bool,
    /// The number of lines the header spans.
    pub lines: u64,
}

/// Why a header is not a VCF header.
#[derive(Debug)]
pub(crate) enum HeaderError {
    /// Reading failed.
    Read(io::Error),
    /// The stream is empty.
    Empty,
    /// The first line is not `##fileformat=VCF...`.
    NoFileFormat,
    /// The records start (or the stream ends) before any `#CHROM` line.
    NoColumnLine,
    /// The `#CHROM` line does not name the fixed columns.
    BadColumnLine(String),
    /// A header line is longer than [`MAX_HEADER_LINE`].
    LineTooLong { line: u64 },
    /// The header is longer than [`MAX_HEADER_BYTES`].
    TooLarge,
}

impl HeaderError {
    /// A lowercase sentence for the user.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Read(e) => format!("cannot read the header: {e}"),
            Self::Empty => "the file is empty".to_owned(),
            Self::NoFileFormat => {
                "the first line is not a `##fileformat=VCF` header line".to_owned()
            }
            Self::NoColumnLine => "the header has no `#CHROM` column line".to_owned(),
            Self::BadColumnLine(why) => format!("the `#CHROM` column line is invalid: {why}"),
            Self::LineTooLong { line } => {
                format!("header line {line} is longer than {MAX_HEADER_LINE} bytes")
            }
            Self::TooLarge => format!("the header is larger than {MAX_HEADER_BYTES} bytes"),
        }
    }
}

/// Reads the header up to and including the `#CHROM` line. The records
/// follow in `reader`. With `keep_text`, the header lines are kept in
/// [`Header::text`].
pub(crate) fn read_header<R: BufRead + ?Sized>(
    reader: &mut R,
    keep_text: bool,
) -> Result<Header, HeaderError> {
    let mut header = Header::default();

    // Check the magic before reading a whole "line": binary junk may have
    // no line break for gigabytes.
    let mut magic = [0u8; FILEFORMAT.len()];
    let n = read_up_to(reader, &mut magic).map_err(HeaderError::Read)?;
    if n == 0 {
        return Err(HeaderError::Empty);
    }
    if magic[..n] != *FILEFORMAT {
        return Err(HeaderError::NoFileFormat);
    }

    let mut buf = Vec::new();
    match read_line(reader, &mut buf, MAX_HEADER_LINE).map_err(HeaderError::Read)? {
        Line::Read | Line::End => {}
        Line::TooLong => return Err(HeaderError::LineTooLong { line: 1 }),
    }
    header.lines = 1;
    if keep_text {
        header.text.extend_from_slice(FILEFORMAT);
        header.text.extend_from_slice(&buf);
        header.text.push(b'\n');
    }

    loop {
        let line_number = header.lines + 1;
        match read_line(reader, &mut buf, MAX_HEADER_LINE).map_err(HeaderError::Read)? {
            Line::End => return Err(HeaderError::NoColumnLine),
            Line::TooLong => return Err(HeaderError::LineTooLong { line: line_number }),
            Line::Read => {}
        }
        header.lines = line_number;
        if buf.is_empty() {
            continue;
        }
        if !buf.starts_with(b"#") {
            return Err(HeaderError::NoColumnLine);
        }
        if keep_text {
            if header.text.len() + buf.len() + 1 > MAX_HEADER_BYTES {
                return Err(HeaderError::TooLarge);
            }
            header.text.extend_from_slice(&buf);
            header.text.push(b'\n');
        }
        if buf.starts_with(b"##") {
            continue;
        }
        parse_column_line(&buf, &mut header)?;
        return Ok(header);
    }
}

fn parse_column_line(line: &[u8], header: &mut Header) -> Result<(), HeaderError> {
    let line = std::str::from_utf8(line)
        .map_err(|_| HeaderError::BadColumnLine("it is not valid utf-8".to_owned()))?;
    let columns: Vec<&str> = line.split('\t').collect();
    if columns.len() < FIXED_COLUMNS.len() {
        return Err(HeaderError::BadColumnLine(format!(
            "expected at least {} tab-separated columns, found {}",
            FIXED_COLUMNS.len(),
            columns.len()
        )));
    }
    for (found, expected) in columns.iter().zip(FIXED_COLUMNS) {
        if *found != expected {
            return Err(HeaderError::BadColumnLine(format!(
                "expected column `{expected}`, found `{found}`"
            )));
        }
    }
    match columns.get(8) {
        None => {}
        Some(&"FORMAT") => header.has_format = true,
        Some(other) => {
            return Err(HeaderError::BadColumnLine(format!(
                "expected column `FORMAT`, found `{other}`"
            )));
        }
    }
    let mut seen = HashSet::new();
    let mut reported = HashSet::new();
    for name in columns.iter().skip(9) {
        if name.is_empty() {
            return Err(HeaderError::BadColumnLine(
                "a sample name is empty".to_owned(),
            ));
        }
        if !seen.insert(*name) && reported.insert(*name) {
            header.duplicate_samples.push((*name).to_owned());
        }
        header.samples.push((*name).to_owned());
    }
    Ok(())
}

fn read_up_to<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Header, HeaderError> {
        read_header(&mut io::Cursor::new(text.as_bytes().to_vec()), true)
    }

    #[test]
    fn reads_samples_and_keeps_text() {
        let text = "##fileformat=VCFv4.2\n##contig=<ID=20>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\n20\t1\t.\tA\tC\t.\t.\t.\tGT\t0|1\t1|1\n";
        let header = parse(text).unwrap();
        assert_eq!(header.samples, ["A", "B"]);
        assert!(header.has_format);
        assert_eq!(header.lines, 3);
        assert!(header.duplicate_samples.is_empty());
        assert_eq!(
            header.text,
            text.as_bytes()[..text.find("20\t1").unwrap()].to_vec()
        );
    }

    #[test]
    fn reports_duplicate_samples_once() {
        let text = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tA\tA\n";
        assert_eq!(parse(text).unwrap().duplicate_samples, ["A"]);
    }

    #[test]
    fn refuses_what_is_not_a_header() {
        assert!(matches!(parse(""), Err(HeaderError::Empty)));
        assert!(matches!(parse("hello\n"), Err(HeaderError::NoFileFormat)));
        assert!(matches!(
            parse("##fileformat=VCFv4.2\n20\t1\n"),
            Err(HeaderError::NoColumnLine)
        ));
        assert!(matches!(
            parse("##fileformat=VCFv4.2\n##x=y\n"),
            Err(HeaderError::NoColumnLine)
        ));
        assert!(matches!(
            parse("##fileformat=VCFv4.2\n#CHROM POS ID REF ALT QUAL FILTER INFO\n"),
            Err(HeaderError::BadColumnLine(_))
        ));
        assert!(matches!(
            parse("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tGT\tA\n"),
            Err(HeaderError::BadColumnLine(_))
        ));
    }
}
