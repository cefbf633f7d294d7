//! Streaming reader: a background thread parses files in chunks while the consumer trains or
//! predicts on the previous chunk.
//!
//! The channel is bounded (`queue_chunks`), so a slow consumer stalls the parser instead of
//! letting parsed chunks pile up in memory; this is what lets `hinet predict` stream a file of
//! any size.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::csv_source::CsvSource;
use crate::dataset::Dataset;
use crate::dense_range::{DenseRange, DenseRangeWarning, SourceLine, range_warnings};
use crate::error::{BadRowKind, DataError};
use crate::normalize::DenseNormalizer;
use crate::schema::{InputFile, Schema};

/// Options of the readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Skip bad rows (counting them in a [`SkipReport`]) instead of stopping at the first one.
    /// File-level problems (missing file or column, empty file) and broken CSV structure
    /// ([`DataError::Structure`]: an unclosed quote, a record beyond the bounds below) always
    /// stop: past them the next record cannot be found.
    pub skip_bad_rows: bool,
    /// Rows per chunk handed over by the reader thread.
    pub chunk_rows: usize,
    /// Chunks the reader may run ahead of the consumer.
    pub queue_chunks: usize,
    /// How many bad rows the report keeps as examples.
    pub max_examples: usize,
    /// Read data to score: accept files without the label columns (their labels read as 0),
    /// without the `oracle_columns` (such a file's rows carry no oracle values) and without the
    /// `split_key` columns (its rows are keyed by their address). A column that is present is still
    /// checked. Scenario and feature columns are always required.
    pub labels_optional: bool,
    /// Largest record, in bytes (default 16 MiB): a longer one, such as a file without line
    /// ends (`/dev/zero`), is a [`DataError::Structure`] naming the line where it starts. The
    /// reader's record buffer never grows beyond this.
    pub max_record_bytes: usize,
    /// Largest field, in bytes (default 1 MiB): a longer one is a [`DataError::Structure`]
    /// naming file, line and column.
    pub max_field_bytes: usize,
    /// Most physical lines one record may span (default 64): quoted fields may hold line
    /// breaks, but a quote left open would otherwise swallow the rest of the file. A longer
    /// record is a [`DataError::Structure`] naming the line where it starts and where the quote
    /// opened.
    pub max_record_lines: usize,
}

/// Default [`ReadOptions::max_record_bytes`]: 16 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 << 20;
/// Default [`ReadOptions::max_field_bytes`]: 1 MiB.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 1 << 20;
/// Default [`ReadOptions::max_record_lines`]: 64.
pub const DEFAULT_MAX_RECORD_LINES: usize = 64;

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            skip_bad_rows: false,
            chunk_rows: 65_536,
            queue_chunks: 2,
            max_examples: 5,
            labels_optional: false,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_record_lines: DEFAULT_MAX_RECORD_LINES,
        }
    }
}

impl ReadOptions {
    /// Default options with skipping of bad rows on or off.
    pub fn skipping(skip_bad_rows: bool) -> Self {
        ReadOptions {
            skip_bad_rows,
            ..Default::default()
        }
    }

    /// Checks the bounds (each at least 1).
    pub fn validate(&self) -> Result<(), DataError> {
        for (name, v) in [
            ("max_record_bytes", self.max_record_bytes),
            ("max_field_bytes", self.max_field_bytes),
            ("max_record_lines", self.max_record_lines),
        ] {
            if v == 0 {
                return Err(DataError::config(format!("ReadOptions::{name} must be at least 1")));
            }
        }
        Ok(())
    }
}

/// What a read accepted and skipped.
#[derive(Debug, Default)]
pub struct SkipReport {
    /// Rows accepted.
    pub rows_read: u64,
    /// Rows skipped as bad (skip mode only).
    pub rows_skipped: u64,
    /// Skipped rows per reason.
    pub by_kind: BTreeMap<BadRowKind, u64>,
    /// The first few skipped rows' errors (file, line, column, why).
    pub examples: Vec<DataError>,
    /// Per dense column (schema order): the smallest and largest value of the accepted rows,
    /// as read (before normalisation), each with the file and line of its first occurrence;
    /// `None` for a column when no row was accepted. See [`SkipReport::dense_range_warnings`].
    pub dense_ranges: Vec<Option<DenseRange>>,
}

impl SkipReport {
    /// Dense columns whose values, as the model sees them, exceed `threshold` in absolute value
    /// (e.g. [`crate::DENSE_WARN_ABS`] = 1e6), over every accepted row: the values as read
    /// transformed by `normalizer` (the fitted one the model uses; `None`: the values as read),
    /// with the file and line of the first row reaching the largest |value|. Exact because
    /// every normalisation is monotone: the largest |value| after it comes from the smallest
    /// or the largest value read. A value that the normaliser turns into a non-finite number
    /// (see [`DenseNormalizer::apply`]) is reported as infinite.
    pub fn dense_range_warnings(&self, normalizer: Option<&DenseNormalizer>, threshold: f32) -> Vec<DenseRangeWarning> {
        range_warnings(&self.dense_ranges, normalizer, threshold)
    }

    /// Folds one file's dense extremes into the report (earlier files win ties).
    fn add_dense(&mut self, schema: &Schema, src: &CsvSource) {
        if self.dense_ranges.len() != schema.dense.len() {
            self.dense_ranges = vec![None; schema.dense.len()];
        }
        let at = |line: u64| SourceLine {
            file: src.name.clone(),
            line,
        };
        for (c, slot) in self.dense_ranges.iter_mut().enumerate() {
            let (Some((lo, lo_line)), Some((hi, hi_line))) = (src.dense_min[c], src.dense_max[c]) else {
                continue;
            };
            match slot {
                None => {
                    *slot = Some(DenseRange {
                        column: schema.dense[c].column.clone(),
                        min: lo,
                        min_at: at(lo_line),
                        max: hi,
                        max_at: at(hi_line),
                    });
                }
                Some(r) => {
                    if lo < r.min {
                        r.min = lo;
                        r.min_at = at(lo_line);
                    }
                    if hi > r.max {
                        r.max = hi;
                        r.max_at = at(hi_line);
                    }
                }
            }
        }
    }

    fn add(&mut self, e: DataError, max_examples: usize) {
        self.rows_skipped += 1;
        *self
            .by_kind
            .entry(e.row_kind().unwrap_or(BadRowKind::Malformed))
            .or_default() += 1;
        if self.examples.len() < max_examples {
            self.examples.push(e);
        }
    }
}

impl fmt::Display for SkipReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rows read, {} skipped", self.rows_read, self.rows_skipped)?;
        if !self.by_kind.is_empty() {
            let parts: Vec<String> = self.by_kind.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        for e in &self.examples {
            write!(f, "\n  e.g. {e}")?;
        }
        Ok(())
    }
}

enum Msg {
    Chunk(Box<Dataset>),
    Failed(DataError),
    /// The end: what was skipped, and per sparse column the largest id of an accepted row for
    /// `vocab = "auto"` columns.
    Done(SkipReport, Vec<Option<u32>>),
}

/// Iterator over the chunks of a streamed read; see [`stream`].
pub struct ChunkStream {
    rx: Option<Receiver<Msg>>,
    handle: Option<JoinHandle<()>>,
    early_error: Option<DataError>,
    report: Option<SkipReport>,
    auto_max: Option<Vec<Option<u32>>>,
    done: bool,
}

impl ChunkStream {
    /// The skip report, available once the iterator has returned `None`.
    pub fn report(&self) -> Option<&SkipReport> {
        self.report.as_ref()
    }

    /// Takes the skip report out (once the iterator has returned `None`).
    pub fn take_report(&mut self) -> Option<SkipReport> {
        self.report.take()
    }
}

impl Iterator for ChunkStream {
    type Item = Result<Dataset, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.early_error.take() {
            self.done = true;
            return Some(Err(e));
        }
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(Msg::Chunk(d)) => Some(Ok(*d)),
            Ok(Msg::Failed(e)) => {
                self.done = true;
                Some(Err(e))
            }
            Ok(Msg::Done(r, auto_max)) => {
                self.done = true;
                self.report = Some(r);
                self.auto_max = Some(auto_max);
                None
            }
            Err(_) => {
                self.done = true;
                Some(Err(DataError::ReaderGone))
            }
        }
    }
}

impl Drop for ChunkStream {
    fn drop(&mut self) {
        // Dropping the receiver makes the reader's next send fail, so it stops; then join it
        // so no thread outlives the stream.
        self.rx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Bits of a [`row_address`] that count the records of one file.
const RECORD_BITS: u32 = 40;

/// Most input files one read can address (2^24).
pub const MAX_FILES: usize = 1 << (64 - RECORD_BITS);

/// The address of data record `record` (0-based, bad records counted) of file `file` (its index
/// in the list of input files): `file * 2^40 + record`, the split key of a row without
/// `split_key` columns. It depends on the row alone, not on which other files a process reads
/// or in which order, so ranks that read their own files, or an epoch that reads the files in
/// a shuffled order, split the data exactly as one process reading every file in order does.
/// For the first file it is the record number. `None` beyond 2^40 records or 2^24 files.
pub fn row_address(file: usize, record: u64) -> Option<u64> {
    (file < MAX_FILES && record < (1u64 << RECORD_BITS)).then_some((file as u64) << RECORD_BITS | record)
}

/// Reads `files` with `schema` in a background thread, yielding datasets of up to
/// `options.chunk_rows` rows in file order. A configuration error is the first (and only) item;
/// a bad row (without skipping) ends the stream with that error.
///
/// A column with `vocab = "auto"` is a configuration error here: every chunk must carry the
/// final table sizes, which are only known at the end. Fix them first with
/// [`Schema::fix_auto_vocab`] (from the trained model) or read everything with [`load`].
pub fn stream(schema: &Schema, files: &[InputFile], options: &ReadOptions) -> ChunkStream {
    stream_files(schema, files, &all(files), options)
}

/// [`stream`] over some of `files`: those at the indices `which`, in that order (each at most
/// once). Rows keep the split keys that reading every file gives them ([`row_address`]): a
/// rank of a distributed run reads its own files, and a streamed epoch can visit the files in
/// a shuffled order, without moving a row between train, validation and test.
pub fn stream_files(schema: &Schema, files: &[InputFile], which: &[usize], options: &ReadOptions) -> ChunkStream {
    if let Some(c) = schema.sparse.iter().find(|c| c.is_auto()) {
        return ChunkStream::failed(DataError::config(format!(
            "sparse column {:?} has vocab = \"auto\", whose size is only known once all files are read: \
             load them with `load`, or fix the sizes to a trained model's with Schema::fix_auto_vocab before streaming",
            c.column
        )));
    }
    stream_any(schema, files, which, options)
}

fn all(files: &[InputFile]) -> Vec<usize> {
    (0..files.len()).collect()
}

/// Checks that `which` names distinct files of `files`, and at least one.
fn check_selection(files: &[InputFile], which: &[usize]) -> Result<(), DataError> {
    if files.len() > MAX_FILES {
        return Err(DataError::config(format!(
            "{} input files: at most {MAX_FILES} can be read together",
            files.len()
        )));
    }
    if which.is_empty() {
        return Err(DataError::config("no input files given"));
    }
    let mut seen = vec![false; files.len()];
    for &i in which {
        match seen.get_mut(i) {
            None => {
                return Err(DataError::config(format!(
                    "file index {i} given, but there are {} input files",
                    files.len()
                )));
            }
            Some(true) => {
                return Err(DataError::config(format!(
                    "file {} selected twice",
                    files[i].path.display()
                )));
            }
            Some(s) => *s = true,
        }
    }
    Ok(())
}

impl ChunkStream {
    fn failed(e: DataError) -> ChunkStream {
        ChunkStream {
            rx: None,
            handle: None,
            early_error: Some(e),
            report: None,
            auto_max: None,
            done: false,
        }
    }
}

/// [`stream`] without the check against automatic vocabularies (for [`load`], which sets the
/// sizes at the end).
fn stream_any(schema: &Schema, files: &[InputFile], which: &[usize], options: &ReadOptions) -> ChunkStream {
    let mut s = ChunkStream {
        rx: None,
        handle: None,
        early_error: None,
        report: None,
        auto_max: None,
        done: false,
    };
    let checked = options
        .validate()
        .and_then(|()| schema.validate())
        .and_then(|()| schema.validate_files(files))
        .and_then(|()| check_selection(files, which));
    if let Err(e) = checked {
        s.early_error = Some(e);
        return s;
    }
    let (tx, rx) = sync_channel(options.queue_chunks.max(1));
    let (schema, files, which, options) = (schema.clone(), files.to_vec(), which.to_vec(), options.clone());
    let spawned = std::thread::Builder::new()
        .name("hinet-data-reader".into())
        .spawn(move || read_all(&schema, &files, &which, &options, &tx));
    match spawned {
        Ok(h) => {
            s.rx = Some(rx);
            s.handle = Some(h);
        }
        Err(e) => {
            s.early_error = Some(DataError::Io {
                path: "<reader thread>".into(),
                source: e,
            })
        }
    }
    s
}

/// An empty chunk for `schema`, with oracle values or without.
pub(crate) fn empty_for(schema: &Schema, oracle: bool) -> Dataset {
    let mut d = Dataset::empty(schema.feature_spec());
    d.dense_normalize = schema.dense_normalize();
    if oracle {
        d.oracle = Some(Vec::new());
    }
    d
}

/// The reader thread's body. On an error, the rows parsed before it are still delivered (so a
/// streaming consumer gets everything up to the bad row), then the error.
fn read_all(schema: &Schema, files: &[InputFile], which: &[usize], opt: &ReadOptions, tx: &SyncSender<Msg>) {
    let mut chunk = empty_for(schema, !schema.oracle_columns.is_empty());
    let mut report = SkipReport {
        dense_ranges: vec![None; schema.dense.len()],
        ..SkipReport::default()
    };
    let mut auto_max = vec![None; schema.sparse.len()];
    let result = read_files(schema, files, which, opt, tx, &mut chunk, &mut report, &mut auto_max);
    // A failed send means the consumer went away: nothing left to do.
    if !chunk.is_empty() && tx.send(Msg::Chunk(Box::new(chunk))).is_err() {
        return;
    }
    let _ = match result {
        Ok(()) => tx.send(Msg::Done(report, auto_max)),
        Err(e) => tx.send(Msg::Failed(e)),
    };
}

/// Parses the files `which` (indices into `files`, in that order) into chunks; returns early
/// (Ok) if the consumer went away.
#[allow(clippy::too_many_arguments)]
fn read_files(
    schema: &Schema,
    files: &[InputFile],
    which: &[usize],
    opt: &ReadOptions,
    tx: &SyncSender<Msg>,
    chunk: &mut Dataset,
    report: &mut SkipReport,
    auto_max: &mut [Option<u32>],
) -> Result<(), DataError> {
    let chunk_rows = opt.chunk_rows.max(1);
    for &index in which {
        let file = &files[index];
        let mut src = CsvSource::open(schema, file, opt)?;
        let mut record: u64 = 0;
        // A chunk's rows all have oracle values or none: when this file differs from the
        // previous one (scoring data without the oracle columns), start a new chunk.
        if chunk.oracle.is_some() != src.has_oracle {
            let done = std::mem::replace(chunk, empty_for(schema, src.has_oracle));
            if !done.is_empty() && tx.send(Msg::Chunk(Box::new(done))).is_err() {
                return Ok(());
            }
        }
        let mut any_row = false;
        // Structural and I/O errors from next_record always stop (`?`): they are not rows.
        while src.next_record()? {
            any_row = true;
            let address = row_address(index, record).ok_or_else(|| DataError::Structure {
                file: src.name.clone(),
                line: src.line(),
                why: format!("more than {} data records in one file", 1u64 << RECORD_BITS),
            })?;
            record += 1;
            match src.parse_into(address, chunk) {
                Ok(()) => report.rows_read += 1,
                Err(e) if opt.skip_bad_rows => report.add(e, opt.max_examples),
                Err(e) => return Err(e),
            }
            if chunk.len() >= chunk_rows {
                let full = std::mem::replace(chunk, empty_for(schema, src.has_oracle));
                if tx.send(Msg::Chunk(Box::new(full))).is_err() {
                    return Ok(());
                }
            }
        }
        if !any_row {
            return Err(DataError::EmptyFile {
                file: src.name.clone(),
                why: "has a header but no data rows".into(),
            });
        }
        for (all, file) in auto_max.iter_mut().zip(&src.auto_max) {
            *all = (*all).max(*file);
        }
        report.add_dense(schema, &src);
    }
    Ok(())
}

/// A fully loaded dataset and what was skipped.
#[derive(Debug)]
pub struct Loaded {
    /// All accepted rows, in file order.
    pub data: Dataset,
    /// Accepted and skipped rows.
    pub report: SkipReport,
}

/// Reads `files` completely into memory (through the same chunked reader as [`stream`]).
///
/// A column with `vocab = "auto"` gets the largest id of the accepted rows of all `files`, plus
/// one, as its vocabulary in the result's spec (1 when no row was accepted).
///
/// The result has oracle values only if every file had the oracle columns (they can be absent
/// only with [`ReadOptions::labels_optional`]).
pub fn load(schema: &Schema, files: &[InputFile], options: &ReadOptions) -> Result<Loaded, DataError> {
    load_files(schema, files, &all(files), options)
}

/// [`load`] of the files at the indices `which`, in that order (see [`stream_files`]).
/// Automatic vocabularies are sized by these files' rows alone.
pub fn load_files(
    schema: &Schema,
    files: &[InputFile],
    which: &[usize],
    options: &ReadOptions,
) -> Result<Loaded, DataError> {
    let mut data = empty_for(schema, !schema.oracle_columns.is_empty());
    let mut first = true;
    let mut chunks = stream_any(schema, files, which, options);
    for chunk in chunks.by_ref() {
        let mut chunk = chunk?;
        if first {
            data = chunk;
            first = false;
            continue;
        }
        if data.oracle.is_some() != chunk.oracle.is_some() {
            data.oracle = None;
            chunk.oracle = None;
        }
        data.append(&chunk)?;
    }
    data.shrink_to_fit();
    let report = chunks.take_report().ok_or(DataError::ReaderGone)?;
    let auto_max = chunks.auto_max.take().ok_or(DataError::ReaderGone)?;
    for ((column, field), max) in schema.sparse.iter().zip(&mut data.spec.sparse).zip(auto_max) {
        if column.is_auto() {
            // The reader keeps auto ids below MAX_AUTO_VOCAB, so max + 1 fits.
            field.vocab = max.map_or(1, |m| m as usize + 1);
        }
    }
    Ok(Loaded { data, report })
}
