//! Opening a VCF whatever its compression, recognised by content (magic
//! bytes), never by file name; reading it line by line in bounded memory.

use std::{
    error, fmt,
    fs::File,
    io::{self, BufRead, BufReader, Read, Seek, SeekFrom},
    path::Path,
};

use flate2::bufread::MultiGzDecoder;
use noodles::bgzf;

/// The buffer size of the readers.
const BUFFER_SIZE: usize = 64 * 1024;

/// The BGZF end-of-file marker: an empty block that htslib and noodles write
/// last. A BGZF file without it was cut short.
pub(crate) const BGZF_EOF: [u8; 28] = [
    0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02, 0x00,
    0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// A genotype input file format (`fip.common.v1.InputFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// Uncompressed VCF.
    Vcf,
    /// BGZF-compressed VCF (written by bgzip/htslib).
    VcfBgzf,
    /// VCF compressed with plain gzip, not in BGZF blocks.
    VcfGzip,
}

impl InputFormat {
    /// Recognises the format from the first bytes of a file (at least 18 of
    /// them to tell BGZF from gzip; fewer only when the file is shorter).
    pub fn detect(head: &[u8]) -> Self {
        const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
        if !head.starts_with(&GZIP_MAGIC) {
            Self::Vcf
        } else if is_bgzf_header(head) {
            Self::VcfBgzf
        } else {
            Self::VcfGzip
        }
    }

    /// True for the two compressed formats.
    pub fn is_compressed(self) -> bool {
        !matches!(self, Self::Vcf)
    }
}

/// The BGZF block header: gzip with deflate, only FEXTRA set, one 6-byte
/// extra field holding the `BC` subfield (as htslib writes and noodles
/// reads it).
fn is_bgzf_header(head: &[u8]) -> bool {
    head.len() >= 18
        && head[2] == 0x08
        && head[3] == 0x04
        && head[10..12] == [0x06, 0x00]
        && head[12..14] == *b"BC"
        && head[14..16] == [0x02, 0x00]
}

/// An error of the underlying file, told apart from errors of the
/// decompressor wrapped around it.
#[derive(Debug)]
struct SourceError(io::Error);

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl error::Error for SourceError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A reader that marks its own errors as [`SourceError`].
struct SourceRead<R>(R);

impl<R: Read> Read for SourceRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), SourceError(e)))
    }
}

/// Why reading the content failed.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The file could not be read.
    Io(io::Error),
    /// The compressed stream ends early.
    Truncated,
    /// The compressed stream is not valid.
    Corrupt(String),
}

impl ReadFailure {
    /// Sorts an error of a reader made by [`open_path`] or [`open_reader`].
    pub(crate) fn classify(e: io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<SourceError>()) {
            let inner = e.into_inner().expect("checked above");
            let source = inner.downcast::<SourceError>().expect("checked above");
            return Self::Io(source.0);
        }
        match e.kind() {
            io::ErrorKind::UnexpectedEof => Self::Truncated,
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
                Self::Corrupt(e.to_string().to_lowercase())
            }
            _ => Self::Io(e),
        }
    }
}

/// A decompressed view of an input, line by line.
pub(crate) struct Input<'a> {
    /// The format as detected.
    pub format: InputFormat,
    /// The decompressed content.
    pub reader: Box<dyn BufRead + 'a>,
}

/// Opens a file, detects its format and, for BGZF, checks that the
/// end-of-file block is there (a missing one means the file was cut at a
/// block boundary, which decompression alone cannot notice).
pub(crate) fn open_path(path: &Path) -> Result<Input<'static>, ReadFailure> {
    let mut file = File::open(path).map_err(ReadFailure::Io)?;
    let mut head = [0u8; 18];
    let n = read_up_to(&mut file, &mut head).map_err(ReadFailure::Io)?;
    let format = InputFormat::detect(&head[..n]);
    if format == InputFormat::VcfBgzf && !has_bgzf_eof(&mut file).map_err(ReadFailure::Io)? {
        return Err(ReadFailure::Truncated);
    }
    file.seek(SeekFrom::Start(0)).map_err(ReadFailure::Io)?;
    Ok(Input {
        format,
        reader: wrap(format, file),
    })
}

/// Wraps any reader, detecting its format from its first bytes. Unlike
/// [`open_path`] it cannot check for the BGZF end-of-file block.
pub(crate) fn open_reader<'a, R: Read + 'a>(reader: R) -> Result<Input<'a>, ReadFailure> {
    let mut source = SourceRead(reader);
    let mut head = [0u8; 18];
    let n = read_up_to(&mut source, &mut head).map_err(ReadFailure::classify)?;
    let format = InputFormat::detect(&head[..n]);
    let whole = io::Cursor::new(head[..n].to_vec()).chain(source);
    let reader: Box<dyn BufRead + 'a> = match format {
        InputFormat::Vcf => Box::new(BufReader::with_capacity(BUFFER_SIZE, whole)),
        InputFormat::VcfBgzf => Box::new(bgzf::io::Reader::new(whole)),
        InputFormat::VcfGzip => Box::new(BufReader::with_capacity(
            BUFFER_SIZE,
            MultiGzDecoder::new(BufReader::with_capacity(BUFFER_SIZE, whole)),
        )),
    };
    Ok(Input { format, reader })
}

/// The number of threads that decompress a BGZF file: the blocks are
/// independent, so they inflate in parallel while the caller parses.
pub(crate) fn worker_count() -> std::num::NonZero<usize> {
    std::thread::available_parallelism()
        .unwrap_or(std::num::NonZero::<usize>::MIN)
        .min(std::num::NonZero::new(8).expect("8 is not zero"))
}

fn wrap(format: InputFormat, file: File) -> Box<dyn BufRead> {
    let source = SourceRead(file);
    match format {
        InputFormat::Vcf => Box::new(BufReader::with_capacity(BUFFER_SIZE, source)),
        #[cfg(not(target_arch = "wasm32"))]
        InputFormat::VcfBgzf => Box::new(bgzf::io::MultithreadedReader::with_worker_count(
            worker_count(),
            source,
        )),
        #[cfg(target_arch = "wasm32")]
        InputFormat::VcfBgzf => Box::new(bgzf::io::Reader::new(source)),
        InputFormat::VcfGzip => Box::new(BufReader::with_capacity(
            BUFFER_SIZE,
            MultiGzDecoder::new(BufReader::with_capacity(BUFFER_SIZE, source)),
        )),
    }
}

fn read_up_to<R: Read>(file: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn has_bgzf_eof(file: &mut File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    let marker_len = BGZF_EOF.len() as u64;
    if len < marker_len {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - marker_len))?;
    let mut tail = [0u8; 28];
    file.read_exact(&mut tail)?;
    Ok(tail == BGZF_EOF)
}

/// The outcome of [`read_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line is in the buffer, without its `\n` or `\r\n`.
    Read,
    /// The stream ended.
    End,
    /// The line is longer than the limit; it was skipped to its end.
    TooLong,
}

/// Reads one line into `buf` (cleared first), holding at most `limit`
/// bytes of it: a longer line is consumed but not stored, so memory stays
/// bounded whatever the input.
pub(crate) fn read_line<R: BufRead + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Line> {
    buf.clear();
    let mut seen_any = false;
    let mut too_long = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        seen_any = true;
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > limit {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let consumed = done.unwrap_or(available.len());
        reader.consume(consumed);
        if done.is_some() {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong);
    }
    if !seen_any {
        return Ok(Line::End);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Line::Read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_by_magic() {
        assert_eq!(
            InputFormat::detect(b"##fileformat=VCFv4.2"),
            InputFormat::Vcf
        );
        assert_eq!(InputFormat::detect(&BGZF_EOF), InputFormat::VcfBgzf);
        assert_eq!(
            InputFormat::detect(&[0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff]),
            InputFormat::VcfGzip
        );
        assert_eq!(InputFormat::detect(b""), InputFormat::Vcf);
    }

    #[test]
    fn reads_lines_within_a_limit() {
        let mut reader = io::Cursor::new(b"short\r\nthis one is long\nlast".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut reader, &mut buf, 8).unwrap(), Line::Read);
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut reader, &mut buf, 8).unwrap(), Line::TooLong);
        assert!(buf.is_empty());
        assert_eq!(read_line(&mut reader, &mut buf, 8).unwrap(), Line::Read);
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut reader, &mut buf, 8).unwrap(), Line::End);
    }

    #[test]
    fn an_empty_line_is_a_line() {
        let mut reader = io::Cursor::new(b"\n".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut reader, &mut buf, 8).unwrap(), Line::Read);
        assert!(buf.is_empty());
        assert_eq!(read_line(&mut reader, &mut buf, 8).unwrap(), Line::End);
    }
}
