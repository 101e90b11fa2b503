//! Splitting a VCF into one BGZF file per chromosome, as the Michigan-type
//! servers require: one pass, outputs opened as chromosomes appear, at most
//! [`MAX_OPEN_OUTPUTS`] open at once (a chromosome that comes back after
//! another is appended to its file).

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    fs::{self, File, OpenOptions},
    io::{self, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use noodles::{
    bgzf::VirtualPosition,
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
    blocks::{BLOCK_DATA, Compressor, Done},
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
    outputs.header = Splitter::output_header(options, &header.text);
    let mut splitter = Splitter::new(options, header.samples.len());
    let mut line_number = header.lines;
    let mut buf = Vec::new();
    loop {
        let outcome = read_line(&mut reader, &mut buf, MAX_RECORD_LINE).map_err(fail)?;
        line_number += 1;
        if !splitter.line(outputs, line_number, outcome, &buf)? {
            break;
        }
    }
    splitter.done(path);
    Ok(())
}

/// The per-line work of a split, shared by [`split_by_chromosome`] and
/// [`crate::preflight_and_split`].
pub(crate) struct Splitter<'o> {
    options: &'o SplitOptions,
    sample_count: usize,
    dropped: u64,
}

impl<'o> Splitter<'o> {
    /// Starts a split of records with `sample_count` samples.
    pub(crate) fn new(options: &'o SplitOptions, sample_count: usize) -> Self {
        Self {
            options,
            sample_count,
            dropped: 0,
        }
    }

    /// The header text the outputs start with.
    pub(crate) fn output_header(options: &SplitOptions, header: &[u8]) -> Vec<u8> {
        match options.rename {
            Some(naming) => rename_contigs(header, naming),
            None => header.to_vec(),
        }
    }

    /// Handles one line read from the input; false at the end of input.
    pub(crate) fn line(
        &mut self,
        outputs: &mut Outputs,
        line_number: u64,
        outcome: Line,
        buf: &[u8],
    ) -> Result<bool, SplitError> {
        match outcome {
            Line::End => return Ok(false),
            Line::TooLong => {
                return Err(SplitError::Malformed {
                    line: line_number,
                    reason: format!("the line is longer than {MAX_RECORD_LINE} bytes"),
                });
            }
            Line::Read if buf.is_empty() => return Ok(true),
            Line::Read => {}
        }
        let record =
            record::parse(buf, self.sample_count).map_err(|why| SplitError::Malformed {
                line: line_number,
                reason: why.to_string(),
            })?;
        if self.options.imputable_only && !is_imputable(record.chromosome) {
            self.dropped += 1;
            return Ok(true);
        }
        let span = (record.position, record.end());
        let rest = &buf[record.chromosome.len()..];
        match self.options.rename {
            Some(naming) => {
                let name = rename(record.chromosome, naming);
                outputs.write(&name, rest, span, line_number)?;
            }
            None => outputs.write(record.chromosome, rest, span, line_number)?,
        }
        Ok(true)
    }

    /// Logs what was left out.
    pub(crate) fn done(&self, path: &Path) {
        if self.dropped > 0 {
            tracing::debug!(path = %path.display(), dropped = self.dropped, "records on chromosomes the servers do not impute dropped");
        }
    }
}

/// The split half of [`crate::preflight_and_split`]: fed the lines the
/// pre-flight check reads, it writes what [`split_by_chromosome`] would.
/// The first error of the split removes its outputs and is kept for the
/// end, while the check reads on.
pub(crate) struct SplitSink<'o> {
    options: &'o SplitOptions,
    outputs: Option<Outputs>,
    splitter: Option<Splitter<'o>>,
    error: Option<SplitError>,
}

impl<'o> SplitSink<'o> {
    pub(crate) fn new(out_dir: &Path, options: &'o SplitOptions) -> Self {
        let error = match options.rename {
            Some(naming @ (ChromosomeNaming::Unspecified | ChromosomeNaming::Mixed)) => {
                Some(SplitError::InvalidRename(naming))
            }
            _ => None,
        };
        Self {
            options,
            outputs: error
                .is_none()
                .then(|| Outputs::new(out_dir, options.tabix_index)),
            splitter: None,
            error,
        }
    }

    /// The input's header was read.
    pub(crate) fn start(&mut self, header: &[u8], sample_count: usize) {
        if let Some(outputs) = self.outputs.as_mut() {
            outputs.header = Splitter::output_header(self.options, header);
            self.splitter = Some(Splitter::new(self.options, sample_count));
        }
    }

    /// One line of the input was read.
    pub(crate) fn line(&mut self, line_number: u64, outcome: Line, buf: &[u8]) {
        let (Some(outputs), Some(splitter)) = (self.outputs.as_mut(), self.splitter.as_mut())
        else {
            return;
        };
        if let Err(e) = splitter.line(outputs, line_number, outcome, buf) {
            outputs.discard();
            self.outputs = None;
            self.error = Some(e);
        }
    }

    /// The whole input was read: the split's outcome.
    pub(crate) fn finish(mut self, path: &Path) -> Result<Vec<ChromosomeFile>, SplitError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(splitter) = &self.splitter {
            splitter.done(path);
        }
        match self.outputs.take() {
            Some(outputs) => outputs.finish(),
            None => Err(SplitError::NotVcf("the input has no header".to_owned())),
        }
    }

    /// The check failed: removes the outputs.
    pub(crate) fn discard(mut self) {
        if let Some(mut outputs) = self.outputs.take() {
            outputs.discard();
        }
    }
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

/// A place in an output not yet written: (block number, offset in the
/// block's uncompressed bytes).
type Place = (u64, u16);

/// A record whose index entry waits for the compressed offsets of its
/// blocks.
struct Pending {
    start: Position,
    end: Position,
    from: Place,
    to: Place,
    from_offset: Option<u64>,
    to_offset: Option<u64>,
    line: u64,
}

/// One output file.
struct Output {
    chromosome: String,
    path: PathBuf,
    index_path: Option<PathBuf>,
    /// The open file; `None` while closed to stay within
    /// [`MAX_OPEN_OUTPUTS`].
    file: Option<File>,
    /// Compressed bytes written, without the end-of-file block.
    offset: u64,
    /// The uncompressed bytes of the block being filled.
    block: Vec<u8>,
    /// The number of the block being filled.
    next_seq: u64,
    /// The number of the next block to write to the file.
    written_seq: u64,
    /// Compressed blocks that came back ahead of their turn.
    ready: BTreeMap<u64, Vec<u8>>,
    /// Blocks handed to the compressor and not written yet.
    in_flight: usize,
    pending: VecDeque<Pending>,
    indexer: Option<Indexer>,
    last_start: u64,
    count: u64,
    last_used: u64,
}

impl Output {
    fn write_error(&self, source: io::Error) -> SplitError {
        SplitError::Write {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes the compressed blocks that are next in order and resolves
    /// the index entries they complete.
    fn drain_ready(&mut self) -> Result<(), SplitError> {
        while let Some(block) = self.ready.remove(&self.written_seq) {
            let seq = self.written_seq;
            self.resolve(seq, self.offset)?;
            let Some(file) = self.file.as_mut() else {
                unreachable!("an output is closed only once its blocks are written");
            };
            if let Err(e) = file.write_all(&block) {
                return Err(self.write_error(e));
            }
            self.offset += block.len() as u64;
            self.written_seq += 1;
            self.in_flight -= 1;
        }
        Ok(())
    }

    /// Block `seq` starts at compressed `offset`: completes the entries
    /// that start or end in it.
    fn resolve(&mut self, seq: u64, offset: u64) -> Result<(), SplitError> {
        for pending in self.pending.iter_mut() {
            if pending.from.0 > seq {
                break;
            }
            if pending.from.0 == seq {
                pending.from_offset = Some(offset);
            }
            if pending.to.0 == seq {
                pending.to_offset = Some(offset);
            }
        }
        let Some(indexer) = self.indexer.as_mut() else {
            self.pending.clear();
            return Ok(());
        };
        while let Some(pending) = self.pending.front() {
            let (Some(from), Some(to)) = (pending.from_offset, pending.to_offset) else {
                break;
            };
            let pending = self.pending.pop_front().expect("checked above");
            let virtual_position = |offset: u64, (_, within): Place| {
                VirtualPosition::try_from((offset, within)).expect("outputs stay below 256 TiB")
            };
            let chunk = Chunk::new(
                virtual_position(from, pending.from),
                virtual_position(to, pending.to),
            );
            indexer
                .add_record(&self.chromosome, pending.start, pending.end, chunk)
                .map_err(|_| SplitError::Unsorted {
                    chromosome: self.chromosome.clone(),
                    line: pending.line,
                })?;
        }
        Ok(())
    }
}

/// The outputs of one split.
pub(crate) struct Outputs {
    dir: PathBuf,
    tabix_index: bool,
    pub(crate) header: Vec<u8>,
    files: Vec<Output>,
    by_name: HashMap<String, usize>,
    file_names: std::collections::HashSet<String>,
    current: Option<usize>,
    open: usize,
    clock: u64,
    compressor: Compressor,
}

impl Outputs {
    pub(crate) fn new(dir: &Path, tabix_index: bool) -> Self {
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
            compressor: Compressor::new(input::worker_count().get()),
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
        let tabix_index = self.tabix_index;
        let output = &mut self.files[i];
        output.last_used = self.clock;
        let positions = if tabix_index {
            let to_position = |n: u64| usize::try_from(n).ok().and_then(Position::new);
            let (Some(start_position), Some(end_position)) = (to_position(start), to_position(end))
            else {
                return Err(SplitError::Malformed {
                    line,
                    reason: "the position cannot be indexed".to_owned(),
                });
            };
            if output.count > 0 && start < output.last_start {
                return Err(SplitError::Unsorted {
                    chromosome: name.to_owned(),
                    line,
                });
            }
            output.last_start = start;
            Some((start_position, end_position))
        } else {
            None
        };
        output.count += 1;
        // Queued before its bytes: the block it starts in may be written
        // while they are appended. Its end is set once they are.
        if let Some((start, end)) = positions {
            output.pending.push_back(Pending {
                start,
                end,
                from: (output.next_seq, output.block.len() as u16),
                to: (u64::MAX, 0),
                from_offset: None,
                to_offset: None,
                line,
            });
        }
        self.append(i, name.as_bytes())?;
        self.append(i, rest)?;
        self.append(i, b"\n")?;
        let output = &mut self.files[i];
        let to = (output.next_seq, output.block.len() as u16);
        if let Some(pending) = output.pending.back_mut()
            && positions.is_some()
        {
            pending.to = to;
        }
        Ok(())
    }

    /// Appends bytes to output `i`, handing each full block to the
    /// compressor.
    fn append(&mut self, i: usize, mut bytes: &[u8]) -> Result<(), SplitError> {
        while !bytes.is_empty() {
            let output = &mut self.files[i];
            let room = BLOCK_DATA - output.block.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            output.block.extend_from_slice(now);
            bytes = later;
            if output.block.len() == BLOCK_DATA {
                self.send_block(i)?;
            }
        }
        Ok(())
    }

    /// Hands output `i`'s current block to the compressor.
    fn send_block(&mut self, i: usize) -> Result<(), SplitError> {
        let output = &mut self.files[i];
        if output.block.is_empty() {
            return Ok(());
        }
        let data = std::mem::replace(&mut output.block, Vec::with_capacity(BLOCK_DATA));
        let seq = output.next_seq;
        output.next_seq += 1;
        output.in_flight += 1;
        let finished = self.compressor.submit(i, seq, data);
        for done in finished {
            self.accept(done)?;
        }
        Ok(())
    }

    /// Takes a compressed block back and writes what is in order.
    fn accept(&mut self, done: Done) -> Result<(), SplitError> {
        let output = &mut self.files[done.output];
        match done.block {
            Ok(block) => {
                output.ready.insert(done.seq, block);
                output.drain_ready()
            }
            Err(e) => Err(output.write_error(e)),
        }
    }

    /// Sends output `i`'s partial block and waits until all its blocks are
    /// written.
    fn flush_output(&mut self, i: usize) -> Result<(), SplitError> {
        self.send_block(i)?;
        while self.files[i].in_flight > 0 {
            let Some(done) = self.compressor.wait() else {
                let output = &self.files[i];
                return Err(output.write_error(io::Error::other("the compressor stopped")));
            };
            self.accept(done)?;
        }
        Ok(())
    }

    /// Finishes output `i`'s file: its blocks, then the end-of-file block.
    fn close(&mut self, i: usize) -> Result<(), SplitError> {
        self.flush_output(i)?;
        let output = &mut self.files[i];
        if let Some(mut file) = output.file.take() {
            self.open -= 1;
            if let Err(e) = file.write_all(&BGZF_EOF) {
                return Err(output.write_error(e));
            }
        }
        Ok(())
    }

    /// The index of the output for `name`, open for writing.
    fn output(&mut self, name: &str) -> Result<usize, SplitError> {
        if let Some(i) = self.current
            && self.files[i].chromosome == name
            && self.files[i].file.is_some()
        {
            return Ok(i);
        }
        let i = match self.by_name.get(name) {
            Some(&i) => i,
            None => self.create(name)?,
        };
        if self.files[i].file.is_none() {
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
        self.open += 1;
        self.files.push(Output {
            chromosome: name.to_owned(),
            path,
            index_path,
            file: Some(file),
            offset: 0,
            block: Vec::with_capacity(BLOCK_DATA),
            next_seq: 0,
            written_seq: 0,
            ready: BTreeMap::new(),
            in_flight: 0,
            pending: VecDeque::new(),
            indexer,
            last_start: 0,
            count: 0,
            last_used: self.clock,
        });
        let i = self.files.len() - 1;
        self.by_name.insert(name.to_owned(), i);
        let header = std::mem::take(&mut self.header);
        let written = self.append(i, &header);
        self.header = header;
        written?;
        Ok(i)
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
            .filter(|(_, f)| f.file.is_some())
            .min_by_key(|(_, f)| f.last_used)
            .map(|(i, _)| i)
            .expect("an output is open");
        self.close(lru)
    }

    /// Reopens a finished output for appending: its end-of-file block is
    /// cut off and new blocks follow.
    fn reopen(&mut self, i: usize) -> Result<(), SplitError> {
        let output = &mut self.files[i];
        let reopened = (|| {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&output.path)?;
            let len = file.metadata()?.len();
            let mut tail = [0u8; 28];
            file.seek(SeekFrom::Start(len.saturating_sub(BGZF_EOF.len() as u64)))?;
            io::Read::read_exact(&mut file, &mut tail)?;
            if tail != BGZF_EOF || len != output.offset + BGZF_EOF.len() as u64 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the output lost its end-of-file block",
                ));
            }
            file.set_len(output.offset)?;
            file.seek(SeekFrom::Start(output.offset))?;
            Ok(file)
        })();
        match reopened {
            Ok(file) => {
                output.file = Some(file);
                self.open += 1;
                Ok(())
            }
            Err(e) => Err(output.write_error(e)),
        }
    }

    /// Finishes every output and writes the indexes.
    pub(crate) fn finish(mut self) -> Result<Vec<ChromosomeFile>, SplitError> {
        match self.finish_all() {
            Ok(files) => Ok(files),
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }

    fn finish_all(&mut self) -> Result<Vec<ChromosomeFile>, SplitError> {
        for i in 0..self.files.len() {
            self.send_block(i)?;
        }
        for i in 0..self.files.len() {
            self.close(i)?;
            let output = &mut self.files[i];
            // Entries ending at the very end point at the end-of-file block.
            let (seq, offset) = (output.next_seq, output.offset);
            output.resolve(seq, offset)?;
        }
        let mut result = Vec::with_capacity(self.files.len());
        for output in &mut self.files {
            if let (Some(indexer), Some(index_path)) =
                (output.indexer.take(), output.index_path.as_ref())
            {
                let vcf::Index::Tabix(index) = indexer.build() else {
                    unreachable!("the indexer was built for tabix");
                };
                tabix::fs::write(index_path, &index).map_err(|source| SplitError::Write {
                    path: index_path.clone(),
                    source,
                })?;
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
    pub(crate) fn discard(&mut self) {
        // Let the blocks in flight come back before their files go.
        while self.compressor.wait().is_some() {}
        for output in self.files.drain(..) {
            drop(output.file);
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
