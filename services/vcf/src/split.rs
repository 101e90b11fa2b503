//! Splitting a VCF into one BGZF file per chromosome, as the Michigan-type
//! servers require: one pass, outputs opened as chromosomes appear, at most
//! [`MAX_OPEN_OUTPUTS`] open at once (a chromosome that comes back after
//! another is appended to its file).

use std::{
    collections::HashMap,
    fs::{self, File, OpenOptions},
    io::{self, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use noodles::{
    bgzf::{self, VirtualPosition},
    core::Position,
    csi::binning_index::index::reference_sequence::bin::Chunk,
    tabix,
    vcf::{
        self,
        index::{Format, Indexer},
    },
};

use crate::{
    ChromosomeNaming, InputFormat,
    genome::{is_imputable, rename},
    header::{HeaderError, read_header},
    input::{self, BGZF_EOF, Input, Line, ReadFailure, read_line},
    preflight::{MAX_CHROMOSOMES, MAX_RECORD_LINE},
    record,
};

/// How many output files are open at once; others are finished and
/// reopened for appending when their chromosome comes back.
pub const MAX_OPEN_OUTPUTS: usize = 8;

/// What [`split_by_chromosome`] does besides splitting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SplitOptions {
    /// Renames standard chromosomes (records and `##contig` lines) to this
    /// style; `None` keeps the names. Only `Ucsc` and `Ensembl` are valid.
    pub rename: Option<ChromosomeNaming>,
    /// Writes a tabix index (`<file>.tbi`) beside each output; the input
    /// must then be sorted by position within each chromosome.
    pub tabix_index: bool,
    /// Drops records on chromosomes the servers do not impute (anything
    /// but 1 to 22 and X).
    pub imputable_only: bool,
}

impl SplitOptions {
    /// What a Michigan-type server needs for a build: its naming, an index,
    /// imputable chromosomes only.
    pub fn for_build(build: crate::GenomeBuild) -> Self {
        Self {
            rename: Some(build.naming()),
            tabix_index: true,
            imputable_only: true,
        }
    }
}

/// One output of [`split_by_chromosome`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChromosomeFile {
    /// The chromosome as named in the output (after renaming).
    pub chromosome: String,
    /// The BGZF-compressed VCF.
    pub path: PathBuf,
    /// The tabix index, when asked for.
    pub index_path: Option<PathBuf>,
    /// Number of records in it.
    pub variant_count: u64,
}

/// Why a split failed. Nothing is left behind: the files already written
/// are removed.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    /// The input could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The input.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// An output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// An output file exists already.
    #[error("{0} exists already")]
    OutputExists(PathBuf),
    /// The input is not a VCF.
    #[error("not a vcf file: {0}")]
    NotVcf(String),
    /// The compressed input ends early.
    #[error("the compressed input ends early: the file is truncated")]
    Truncated,
    /// The compressed input is not valid.
    #[error("the compressed input is corrupt: {0}")]
    Corrupt(String),
    /// A record cannot be read.
    #[error("line {line}: {reason}")]
    Malformed {
        /// The 1-based line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A record comes before the one above it on its chromosome (only an
    /// indexed split needs order).
    #[error("line {line}: {chromosome} is not sorted by position, which a tabix index needs")]
    Unsorted {
        /// The chromosome as named in the output.
        chromosome: String,
        /// The 1-based line.
        line: u64,
    },
    /// The rename target is not a naming style.
    #[error("cannot rename chromosomes to the {0:?} style; use ucsc or ensembl")]
    InvalidRename(ChromosomeNaming),
    /// Too many distinct chromosome names.
    #[error("the file names more than {0} distinct chromosomes")]
    TooManyChromosomes(usize),
}

/// Splits a VCF (plain, gzip or BGZF, recognised by content) into
/// `<out_dir>/<chromosome>.vcf.gz`, one BGZF file per chromosome with the
/// full header, records unchanged except for renaming. Returns the files
/// in order of first appearance. Blocking I/O: run it on a blocking thread.
pub fn split_by_chromosome(
    path: &Path,
    out_dir: &Path,
    options: &SplitOptions,
) -> Result<Vec<ChromosomeFile>, SplitError> {
    if let Some(naming @ (ChromosomeNaming::Unspecified | ChromosomeNaming::Mixed)) = options.rename
    {
        return Err(SplitError::InvalidRename(naming));
    }
    let input = input::open_path(path).map_err(|f| read_error(f, path))?;
    let mut outputs = Outputs::new(out_dir, options.tabix_index);
    match split(input, path, options, &mut outputs) {
        Ok(()) => outputs.finish(),
        Err(e) => {
            outputs.discard();
            Err(e)
        }
    }
    .inspect(|files| {
        tracing::debug!(
            path = %path.display(),
            out_dir = %out_dir.display(),
            files = files.len(),
            "split by chromosome"
        );
    })
}

fn read_error(failure: ReadFailure, path: &Path) -> SplitError {
    match failure {
        ReadFailure::Io(source) => SplitError::Read {
            path: path.to_owned(),
            source,
        },
        ReadFailure::Truncated => SplitError::Truncated,
        ReadFailure::Corrupt(detail) => SplitError::Corrupt(detail),
    }
}

fn split(
    input: Input<'_>,
    path: &Path,
    options: &SplitOptions,
    outputs: &mut Outputs,
) -> Result<(), SplitError> {
    let Input { format, mut reader } = input;
    let fail = |e: io::Error| match ReadFailure::classify(e) {
        ReadFailure::Truncated if format == InputFormat::Vcf => {
            SplitError::NotVcf("the file ends in the middle of a line".to_owned())
        }
        failure => read_error(failure, path),
    };
    let header = read_header(&mut reader, true).map_err(|e| match e {
        HeaderError::Read(e) => fail(e),
        other => SplitError::NotVcf(other.describe()),
    })?;
    outputs.header = match options.rename {
        Some(naming) => rename_contigs(&header.text, naming),
        None => header.text,
    };
    let sample_count = header.samples.len();
    let mut line_number = header.lines;
    let mut buf = Vec::new();
    let mut dropped = 0u64;
    loop {
        let outcome = read_line(&mut reader, &mut buf, MAX_RECORD_LINE).map_err(fail)?;
        line_number += 1;
        match outcome {
            Line::End => break,
            Line::TooLong => {
                return Err(SplitError::Malformed {
                    line: line_number,
                    reason: format!("the line is longer than {MAX_RECORD_LINE} bytes"),
                });
            }
            Line::Read if buf.is_empty() => continue,
            Line::Read => {}
        }
        let record = record::parse(&buf, sample_count).map_err(|why| SplitError::Malformed {
            line: line_number,
            reason: why.to_string(),
        })?;
        if options.imputable_only && !is_imputable(record.chromosome) {
            dropped += 1;
            continue;
        }
        let name = match options.rename {
            Some(naming) => rename(record.chromosome, naming),
            None => record.chromosome.to_owned(),
        };
        let span = (record.position, record.end());
        let rest = &buf[record.chromosome.len()..];
        outputs.write(&name, rest, span, line_number)?;
    }
    if dropped > 0 {
        tracing::debug!(path = %path.display(), dropped, "records on chromosomes the servers do not impute dropped");
    }
    Ok(())
}

/// Renames the IDs of `##contig` lines, dropping lines whose new ID
/// repeats an earlier one.
fn rename_contigs(text: &[u8], naming: ChromosomeNaming) -> Vec<u8> {
    const CONTIG: &[u8] = b"##contig=<ID=";
    let mut out = Vec::with_capacity(text.len());
    let mut seen = std::collections::HashSet::new();
    for line in text.split_inclusive(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(CONTIG) else {
            out.extend_from_slice(line);
            continue;
        };
        let end = rest
            .iter()
            .position(|&b| b == b',' || b == b'>')
            .unwrap_or(rest.len());
        let Ok(id) = std::str::from_utf8(&rest[..end]) else {
            out.extend_from_slice(line);
            continue;
        };
        let renamed = rename(id, naming);
        if !seen.insert(renamed.clone()) {
            continue;
        }
        out.extend_from_slice(CONTIG);
        out.extend_from_slice(renamed.as_bytes());
        out.extend_from_slice(&rest[end..]);
    }
    out
}

/// One output file.
struct Output {
    chromosome: String,
    path: PathBuf,
    index_path: Option<PathBuf>,
    writer: Option<bgzf::io::Writer<File>>,
    /// The compressed offset at which the current writer started.
    base: u64,
    indexer: Option<Indexer>,
    count: u64,
    last_used: u64,
}

/// The outputs of one split.
struct Outputs {
    dir: PathBuf,
    tabix_index: bool,
    header: Vec<u8>,
    files: Vec<Output>,
    by_name: HashMap<String, usize>,
    file_names: std::collections::HashSet<String>,
    current: Option<usize>,
    open: usize,
    clock: u64,
}

impl Outputs {
    fn new(dir: &Path, tabix_index: bool) -> Self {
        Self {
            dir: dir.to_owned(),
            tabix_index,
            header: Vec::new(),
            files: Vec::new(),
            by_name: HashMap::new(),
            file_names: std::collections::HashSet::new(),
            current: None,
            open: 0,
            clock: 0,
        }
    }

    /// Writes one record: `name` then `rest` (the line from the first tab).
    fn write(
        &mut self,
        name: &str,
        rest: &[u8],
        (start, end): (u64, u64),
        line: u64,
    ) -> Result<(), SplitError> {
        let i = self.output(name)?;
        self.clock += 1;
        let output = &mut self.files[i];
        output.last_used = self.clock;
        let path = output.path.clone();
        let write_error = |source| SplitError::Write {
            path: path.clone(),
            source,
        };
        let base = output.base;
        let writer = output.writer.as_mut().expect("output is open");
        let chunk_start = shift(base, writer.virtual_position());
        writer.write_all(name.as_bytes()).map_err(write_error)?;
        writer.write_all(rest).map_err(write_error)?;
        writer.write_all(b"\n").map_err(write_error)?;
        let chunk_end = shift(base, writer.virtual_position());
        output.count += 1;
        if let Some(indexer) = output.indexer.as_mut() {
            let to_position = |n: u64| usize::try_from(n).ok().and_then(Position::new);
            let (Some(start), Some(end)) = (to_position(start), to_position(end)) else {
                return Err(SplitError::Malformed {
                    line,
                    reason: "the position cannot be indexed".to_owned(),
                });
            };
            indexer
                .add_record(name, start, end, Chunk::new(chunk_start, chunk_end))
                .map_err(|_| SplitError::Unsorted {
                    chromosome: name.to_owned(),
                    line,
                })?;
        }
        Ok(())
    }

    /// The index of the output for `name`, open for writing.
    fn output(&mut self, name: &str) -> Result<usize, SplitError> {
        if let Some(i) = self.current
            && self.files[i].chromosome == name
            && self.files[i].writer.is_some()
        {
            return Ok(i);
        }
        let i = match self.by_name.get(name) {
            Some(&i) => i,
            None => self.create(name)?,
        };
        if self.files[i].writer.is_none() {
            self.make_room()?;
            self.reopen(i)?;
        }
        self.current = Some(i);
        Ok(i)
    }

    fn create(&mut self, name: &str) -> Result<usize, SplitError> {
        if self.files.len() >= MAX_CHROMOSOMES {
            return Err(SplitError::TooManyChromosomes(MAX_CHROMOSOMES));
        }
        let file_name = self.file_name(name);
        let path = self.dir.join(&file_name);
        let index_path = self
            .tabix_index
            .then(|| self.dir.join(format!("{file_name}.tbi")));
        if let Some(index_path) = &index_path
            && index_path.exists()
        {
            return Err(SplitError::OutputExists(index_path.clone()));
        }
        self.make_room()?;
        let file = match File::create_new(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(SplitError::OutputExists(path));
            }
            Err(source) => return Err(SplitError::Write { path, source }),
        };
        let mut writer = bgzf::io::Writer::new(file);
        let indexer = if self.tabix_index {
            Some(
                Indexer::builder()
                    .set_format(Format::Tabix)
                    .build()
                    .expect("tabix without a position hint is always valid"),
            )
        } else {
            None
        };
        let header_result = writer.write_all(&self.header);
        let i = self.push(name, path.clone(), index_path, writer);
        self.files[i].indexer = indexer;
        header_result.map_err(|source| SplitError::Write { path, source })?;
        Ok(i)
    }

    fn push(
        &mut self,
        name: &str,
        path: PathBuf,
        index_path: Option<PathBuf>,
        writer: bgzf::io::Writer<File>,
    ) -> usize {
        self.open += 1;
        self.files.push(Output {
            chromosome: name.to_owned(),
            path,
            index_path,
            writer: Some(writer),
            base: 0,
            indexer: None,
            count: 0,
            last_used: self.clock,
        });
        let i = self.files.len() - 1;
        self.by_name.insert(name.to_owned(), i);
        i
    }

    /// A file name for the chromosome: its characters outside
    /// `[A-Za-z0-9._-]` replaced, made unique.
    fn file_name(&mut self, name: &str) -> String {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let safe = if safe.starts_with('.') {
            format!("_{safe}")
        } else {
            safe
        };
        let mut candidate = format!("{safe}.vcf.gz");
        let mut n = 2;
        while !self.file_names.insert(candidate.clone()) {
            candidate = format!("{safe}-{n}.vcf.gz");
            n += 1;
        }
        candidate
    }

    /// Finishes the least recently used output when too many are open.
    fn make_room(&mut self) -> Result<(), SplitError> {
        if self.open < MAX_OPEN_OUTPUTS {
            return Ok(());
        }
        let lru = self
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| f.writer.is_some())
            .min_by_key(|(_, f)| f.last_used)
            .map(|(i, _)| i)
            .expect("an output is open");
        let output = &mut self.files[lru];
        let writer = output.writer.take().expect("output is open");
        self.open -= 1;
        writer.finish().map_err(|source| SplitError::Write {
            path: output.path.clone(),
            source,
        })?;
        Ok(())
    }

    /// Reopens a finished output for appending: its end-of-file block is
    /// cut off and new blocks follow.
    fn reopen(&mut self, i: usize) -> Result<(), SplitError> {
        let output = &mut self.files[i];
        let path = output.path.clone();
        let write_error = |source| SplitError::Write {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(write_error)?;
        let len = file.metadata().map_err(write_error)?.len();
        let marker = BGZF_EOF.len() as u64;
        let mut tail = [0u8; 28];
        file.seek(SeekFrom::Start(len.saturating_sub(marker)))
            .map_err(write_error)?;
        io::Read::read_exact(&mut file, &mut tail).map_err(write_error)?;
        if tail != BGZF_EOF {
            return Err(write_error(io::Error::new(
                io::ErrorKind::InvalidData,
                "the output lost its end-of-file block",
            )));
        }
        let base = len - marker;
        file.set_len(base).map_err(write_error)?;
        file.seek(SeekFrom::Start(base)).map_err(write_error)?;
        output.base = base;
        output.writer = Some(bgzf::io::Writer::new(file));
        self.open += 1;
        Ok(())
    }

    /// Finishes every output and writes the indexes.
    fn finish(mut self) -> Result<Vec<ChromosomeFile>, SplitError> {
        match self.finish_all() {
            Ok(files) => Ok(files),
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    fn finish_all(&mut self) -> Result<Vec<ChromosomeFile>, SplitError> {
        let mut result = Vec::with_capacity(self.files.len());
        for output in &mut self.files {
            let write_error = |path: &Path, source| SplitError::Write {
                path: path.to_owned(),
                source,
            };
            if let Some(writer) = output.writer.take() {
                writer
                    .finish()
                    .map_err(|source| write_error(&output.path, source))?;
            }
            if let (Some(indexer), Some(index_path)) =
                (output.indexer.take(), output.index_path.as_ref())
            {
                let vcf::Index::Tabix(index) = indexer.build() else {
                    unreachable!("the indexer was built for tabix");
                };
                tabix::fs::write(index_path, &index)
                    .map_err(|source| write_error(index_path, source))?;
            }
            result.push(ChromosomeFile {
                chromosome: output.chromosome.clone(),
                path: output.path.clone(),
                index_path: output.index_path.clone(),
                variant_count: output.count,
            });
        }
        Ok(result)
    }

    /// Removes everything written so far.
    fn discard(&mut self) {
        for output in self.files.drain(..) {
            drop(output.writer);
            for path in std::iter::once(&output.path).chain(output.index_path.as_ref()) {
                if let Err(e) = fs::remove_file(path)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a partial output");
                }
            }
        }
    }
}

/// A writer's virtual position moved by the compressed offset at which the
/// writer started.
fn shift(base: u64, position: VirtualPosition) -> VirtualPosition {
    VirtualPosition::new(base + position.compressed(), position.uncompressed())
        .expect("outputs stay below 256 TiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_contig_lines_and_drops_repeats() {
        let header = b"##fileformat=VCFv4.2\n##contig=<ID=20,length=64444167>\n##contig=<ID=chr20>\n##contig=<ID=GL000220.1>\n##contig=<ID=X>\n#CHROM\tPOS\n";
        let renamed = rename_contigs(header, ChromosomeNaming::Ucsc);
        assert_eq!(
            String::from_utf8(renamed).unwrap(),
            "##fileformat=VCFv4.2\n##contig=<ID=chr20,length=64444167>\n##contig=<ID=GL000220.1>\n##contig=<ID=chrX>\n#CHROM\tPOS\n"
        );
    }

    #[test]
    fn file_names_are_safe_and_unique() {
        let mut outputs = Outputs::new(Path::new("/tmp"), false);
        assert_eq!(outputs.file_name("chr20"), "chr20.vcf.gz");
        assert_eq!(outputs.file_name("HLA-A*01:01"), "HLA-A_01_01.vcf.gz");
        assert_eq!(outputs.file_name("HLA-A?01:01"), "HLA-A_01_01-2.vcf.gz");
        assert_eq!(outputs.file_name("../x"), "_.._x.vcf.gz");
    }
}
