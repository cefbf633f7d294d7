//! One CSV/TSV file (optionally gzip-compressed), parsed row by row against a schema.
//!
//! Rows are read as raw bytes by the bounded [`RecordReader`]: hashed string fields are hashed
//! from the bytes as they are, numbers are parsed from ASCII, and no UTF-8 validation of whole
//! rows is paid for. Every rejection carries the file, the 1-based line and the column.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::dataset::Dataset;
use crate::error::{BadRowKind, DataError};
use crate::hash::{fnv1a64_extend, fnv1a64_start, hash_bucket, mix64};
use crate::normalize::Normalize;
use crate::reader::ReadOptions;
use crate::record::{Limits, RecordReader};
use crate::schema::{InputFile, LabelRule, MAX_AUTO_VOCAB, Part, Schema, Vocab};

/// How a sparse column's value becomes an id.
#[derive(Clone, Copy)]
enum SparseKind {
    Id {
        vocab: u64,
    },
    /// An integer id whose vocabulary is discovered: any id below [`MAX_AUTO_VOCAB`].
    AutoId,
    Hash {
        buckets: usize,
    },
}

/// The largest id a u32 id column can carry with a table size that still fits in a u32.
const MAX_ID: u64 = u32::MAX as u64 - 1;

/// The schema's columns resolved to positions in one file's header.
pub(crate) struct CsvSource {
    reader: RecordReader,
    /// The path as the user wrote it, for messages.
    pub(crate) name: String,
    fields: usize,
    header: Vec<String>,
    scenario_col: Option<usize>,
    scenario_fixed: Option<u32>,
    scenario_values: Vec<Vec<u8>>,
    /// Label column of each task; `None` when the file has none (scoring data).
    tasks: Vec<Option<usize>>,
    label_rule: LabelRule,
    sparse: Vec<(usize, SparseKind)>,
    dense: Vec<(usize, Normalize)>,
    /// Oracle columns; empty when the schema has none or (scoring) the file lacks them.
    oracle: Vec<usize>,
    /// Whether this file's rows carry oracle values.
    pub(crate) has_oracle: bool,
    /// Split-key columns; empty: the row's address (file, record) is the key.
    key: Vec<usize>,
    part: Option<Part>,
    /// Per sparse column: the largest id of an accepted row, for `vocab = "auto"` columns.
    pub(crate) auto_max: Vec<Option<u32>>,
    /// Indices (into `sparse`) of the `vocab = "auto"` columns.
    auto_cols: Vec<usize>,
    /// Per dense column: the smallest and largest accepted value, each with the line of its
    /// first occurrence.
    pub(crate) dense_min: Vec<Option<(f32, u64)>>,
    pub(crate) dense_max: Vec<Option<(f32, u64)>>,
    // Scratch for one row, so a bad row leaves the chunk untouched (taken out while a row is
    // parsed and put back after; a bad row just drops it).
    row_sparse: Vec<u32>,
    row_dense: Vec<f32>,
    row_labels: Vec<f32>,
    row_oracle: Vec<f32>,
}

/// Tab for `.tsv`/`.tab` (also gzipped), comma otherwise.
fn default_delimiter(path: &Path) -> u8 {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    if name.ends_with(".tsv") || name.ends_with(".tab") {
        b'\t'
    } else {
        b','
    }
}

/// Opens a data file. A directory is refused up front (reading one fails only at the first
/// read, with a less helpful message). FIFOs and character devices (`/dev/stdin`, a shell's
/// `<(zcat x.gz)`) are read as streams: the record bounds keep an endless one (`/dev/zero`)
/// from growing memory, and a FIFO waits for its writer as `cat` would.
fn open_reader(path: &Path) -> Result<Box<dyn BufRead + Send>, DataError> {
    let io_err = |e: std::io::Error| DataError::Io {
        path: path.into(),
        source: e,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if meta.is_dir() {
        return Err(io_err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory, not a data file",
        )));
    }
    let is_gz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    Ok(if is_gz {
        // MultiGzDecoder: files made by concatenating gzip members (`cat a.gz b.gz`) are valid gzip.
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(BufReader::new(file)),
        ))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, file))
    })
}

/// Shows a bad value in a message: quoted, escaped, and cut to a readable length.
fn show(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    if s.chars().count() > 40 {
        format!("{:?}...", s.chars().take(40).collect::<String>())
    } else {
        format!("{s:?}")
    }
}

fn parse_f64(v: &[u8]) -> Option<f64> {
    std::str::from_utf8(v).ok()?.parse::<f64>().ok()
}

/// Non-negative decimal integer; `None` for anything else (signs, decimals, overflow, empty).
fn parse_id(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut x: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        x = x.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(x)
}

impl CsvSource {
    /// Opens `file`, reads its header and resolves the schema's columns.
    pub(crate) fn open(schema: &Schema, file: &InputFile, opt: &ReadOptions) -> Result<CsvSource, DataError> {
        let name = file.path.display().to_string();
        let delimiter = match schema.delimiter {
            Some(c) => c as u8,
            None => default_delimiter(&file.path),
        };
        let limits = Limits {
            record_bytes: opt.max_record_bytes,
            field_bytes: opt.max_field_bytes,
            record_lines: opt.max_record_lines,
        };
        let mut reader = RecordReader::new(open_reader(&file.path)?, name.clone(), delimiter, limits);
        if !reader.next_record()? {
            return Err(DataError::EmptyFile {
                file: name,
                why: "is empty (no header line)".into(),
            });
        }
        if reader.len() > reader.stored() {
            return Err(DataError::Header {
                file: name,
                why: format!(
                    "the header has {} columns, more than the {} the reader accepts",
                    reader.len(),
                    crate::record::MAX_COLUMNS
                ),
            });
        }
        let header: Vec<String> = (0..reader.len())
            .map(|i| {
                let h = String::from_utf8_lossy(reader.get(i)).into_owned();
                // A byte-order mark the reader could not strip (a first read of under 3 bytes)
                // would otherwise hide the first column.
                if i == 0 {
                    h.trim_start_matches('\u{feff}').trim().to_string()
                } else {
                    h
                }
            })
            .collect();
        reader.set_header(header.clone());
        let labels_optional = opt.labels_optional;
        let find = |col: &str, role: &str| -> Result<usize, DataError> {
            let mut hits = header
                .iter()
                .enumerate()
                .filter(|(_, h)| h.as_str() == col)
                .map(|(i, _)| i);
            match (hits.next(), hits.next()) {
                (Some(i), None) => Ok(i),
                (None, _) => Err(DataError::Header {
                    file: name.clone(),
                    why: format!("column \"{col}\" ({role} in the schema) is not in the header"),
                }),
                (Some(_), Some(_)) => Err(DataError::Header {
                    file: name.clone(),
                    why: format!("column \"{col}\" ({role} in the schema) appears more than once in the header"),
                }),
            }
        };
        let scenario_col = match &schema.scenario_column {
            Some(c) => Some(find(c, "scenario")?),
            None => None,
        };
        let scenario_fixed = match (&schema.scenario_column, &file.scenario) {
            (None, Some(s)) => match schema.scenarios.iter().position(|x| x == s) {
                Some(m) => Some(m as u32),
                None => {
                    return Err(DataError::config(format!(
                        "{name}: scenario {s:?} is not in the schema"
                    )));
                }
            },
            (None, None) => {
                return Err(DataError::config(format!(
                    "{name}: the schema has no scenario_column and the file names no scenario"
                )));
            }
            _ => None,
        };
        let tasks = schema
            .tasks
            .iter()
            .map(|t| match find(t.column(), "label") {
                Ok(i) => Ok(Some(i)),
                Err(DataError::Header { why, .. }) if labels_optional && why.contains("is not in the header") => {
                    Ok(None)
                }
                Err(e) => Err(e),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sparse = schema
            .sparse
            .iter()
            .map(|s| {
                let kind = match (s.vocab, s.hash_buckets) {
                    (Some(Vocab::Fixed(v)), _) => SparseKind::Id { vocab: v as u64 },
                    (Some(Vocab::Auto), _) => SparseKind::AutoId,
                    (None, Some(b)) => SparseKind::Hash { buckets: b },
                    (None, None) => return Err(DataError::config(format!("sparse column {:?} has no size", s.column))),
                };
                Ok((find(&s.column, "sparse")?, kind))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dense = schema
            .dense
            .iter()
            .map(|d| Ok((find(&d.column, "dense")?, d.normalize)))
            .collect::<Result<Vec<_>, _>>()?;
        // Columns no command needs are never required. Oracle probabilities only add a
        // diagnostic AUC, so a file with none of the oracle columns simply has no oracle values
        // (one with some but not all is a mistake in the file or the schema: an error). Reading
        // data to score (labels optional), a file without all the split-key columns gets
        // row-address keys. A column that is present is still checked.
        let optional = |cols: &[String], role: &str, when_all_absent: bool| -> Result<Vec<usize>, DataError> {
            if when_all_absent && cols.iter().all(|c| !header.iter().any(|h| h == c)) {
                return Ok(Vec::new());
            }
            if labels_optional && cols.iter().any(|c| !header.iter().any(|h| h == c)) {
                return Ok(Vec::new());
            }
            cols.iter().map(|c| find(c, role)).collect()
        };
        let oracle = optional(&schema.oracle_columns, "oracle", true)?;
        let key = optional(&schema.split_key, "split key", false)?;
        let auto_cols: Vec<usize> = sparse
            .iter()
            .enumerate()
            .filter(|(_, (_, k))| matches!(k, SparseKind::AutoId))
            .map(|(i, _)| i)
            .collect();
        Ok(CsvSource {
            has_oracle: !oracle.is_empty(),
            dense_min: vec![None; dense.len()],
            dense_max: vec![None; dense.len()],
            auto_max: vec![None; sparse.len()],
            auto_cols,
            reader,
            name,
            fields: header.len(),
            header,
            scenario_col,
            scenario_fixed,
            scenario_values: schema.scenarios.iter().map(|s| s.as_bytes().to_vec()).collect(),
            tasks,
            label_rule: schema.labels,
            sparse,
            dense,
            oracle,
            key,
            part: file.part,
            row_sparse: Vec::new(),
            row_dense: Vec::new(),
            row_labels: Vec::new(),
            row_oracle: Vec::new(),
        })
    }

    /// Reads the next record; `Ok(false)` at the end of the file.
    /// Structural errors ([`DataError::Structure`]) and I/O errors end the file.
    pub(crate) fn next_record(&mut self) -> Result<bool, DataError> {
        self.reader.next_record()
    }

    pub(crate) fn line(&self) -> u64 {
        self.reader.start_line()
    }

    fn bad(&self, col: Option<usize>, kind: BadRowKind, why: String) -> DataError {
        DataError::Row {
            file: self.name.clone(),
            line: self.line(),
            column: col.map(|c| self.header[c].clone()),
            kind,
            why,
        }
    }

    fn not_an_id(&self, col: usize, v: &[u8]) -> DataError {
        self.bad(
            Some(col),
            BadRowKind::BadId,
            format!("{} is not a non-negative integer id", show(v)),
        )
    }

    fn field(&self, col: usize) -> &[u8] {
        self.reader.get(col)
    }

    /// Parses the current record and appends it to `out`; on error `out` is unchanged.
    /// `address` is the row's [`crate::row_address`] (the default split key).
    pub(crate) fn parse_into(&mut self, address: u64, out: &mut Dataset) -> Result<(), DataError> {
        if self.reader.len() != self.fields {
            let (first, last) = (self.reader.start_line(), self.reader.end_line());
            // A record over several lines is legal (quoted line breaks) but, with a wrong field
            // count, most likely a stray quote: say which lines it took.
            let span = if last > first {
                format!(" (the record spans lines {first}-{last}: a quoted field holds line breaks; a stray quote?)")
            } else {
                String::new()
            };
            return Err(self.bad(
                None,
                BadRowKind::FieldCount,
                format!(
                    "expected {} fields (as in the header), found {}{span}",
                    self.fields,
                    self.reader.len()
                ),
            ));
        }
        let scenario = match (self.scenario_fixed, self.scenario_col) {
            (Some(m), _) => m,
            (None, Some(c)) => {
                let v = self.field(c);
                match self.scenario_values.iter().position(|s| s.as_slice() == v) {
                    Some(m) => m as u32,
                    None => {
                        let known: Vec<String> = self.scenario_values.iter().map(|s| show(s)).collect();
                        return Err(self.bad(
                            Some(c),
                            BadRowKind::UnknownScenario,
                            format!(
                                "scenario {} is not one of the schema's scenarios [{}]",
                                show(v),
                                known.join(", ")
                            ),
                        ));
                    }
                }
            }
            (None, None) => 0,
        };
        let mut labels = std::mem::take(&mut self.row_labels);
        labels.clear();
        for &task in &self.tasks {
            let Some(c) = task else {
                labels.push(0.0);
                continue;
            };
            let v = self.field(c);
            let y = match (v, self.label_rule) {
                (b"0", _) => 0.0,
                (b"1", _) => 1.0,
                (b"", _) => {
                    return Err(self.bad(Some(c), BadRowKind::BadLabel, "label is missing".into()));
                }
                (_, rule) => match (parse_f64(v), rule) {
                    (Some(x), LabelRule::Binary) if x == 0.0 || x == 1.0 => x as f32,
                    (Some(x), LabelRule::Positive) if x.is_finite() => f32::from(u8::from(x > 0.0)),
                    _ => {
                        let want = match rule {
                            LabelRule::Binary => "0 or 1",
                            LabelRule::Positive => "a number",
                        };
                        return Err(self.bad(
                            Some(c),
                            BadRowKind::BadLabel,
                            format!("label {} is not {want}", show(v)),
                        ));
                    }
                },
            };
            labels.push(y);
        }
        self.row_labels = labels;

        let mut sparse = std::mem::take(&mut self.row_sparse);
        sparse.clear();
        for &(c, kind) in &self.sparse {
            let v = self.field(c);
            let id = match kind {
                SparseKind::Hash { buckets } => hash_bucket(v, buckets),
                SparseKind::Id { vocab } => match parse_id(v) {
                    Some(id) if id < vocab => id as u32,
                    Some(id) => {
                        return Err(self.bad(
                            Some(c),
                            BadRowKind::IdOutOfVocab,
                            format!(
                                "id {id} is outside the vocabulary (vocab = {vocab}, ids 0..={})",
                                vocab - 1
                            ),
                        ));
                    }
                    None => return Err(self.not_an_id(c, v)),
                },
                SparseKind::AutoId => match parse_id(v) {
                    Some(id) if id < MAX_AUTO_VOCAB as u64 => id as u32,
                    Some(id) if id > MAX_ID => {
                        return Err(self.bad(
                            Some(c),
                            BadRowKind::IdOutOfVocab,
                            format!("id {id} does not fit in 32 bits (ids go up to {MAX_ID})"),
                        ));
                    }
                    Some(id) => {
                        return Err(self.bad(
                            Some(c),
                            BadRowKind::IdOutOfVocab,
                            format!(
                                "id {id} would need an embedding table of {} rows; vocab = \"auto\" stops at {MAX_AUTO_VOCAB} \
                                 (ids 0..={}): give the column an explicit `vocab` if the table is meant to be that \
                                 large, or `hash_buckets` for sparse raw ids",
                                id + 1,
                                MAX_AUTO_VOCAB - 1
                            ),
                        ));
                    }
                    None => return Err(self.not_an_id(c, v)),
                },
            };
            sparse.push(id);
        }
        self.row_sparse = sparse;

        let mut dense = std::mem::take(&mut self.row_dense);
        dense.clear();
        for &(c, norm) in &self.dense {
            let v = self.field(c);
            let why = match parse_f64(v) {
                None => Some(format!("{} is not a number", show(v))),
                Some(x) if !x.is_finite() => Some(format!("{} is not a finite number", show(v))),
                Some(x) if x.abs() > f64::from(f32::MAX) => Some(format!("{} does not fit in an f32", show(v))),
                // Checked on the f32 that is stored: -0.999999999 rounds to -1 in f32, whose
                // log1p is -inf.
                Some(x) if norm.takes_log1p() && (x as f32) <= -1.0 => {
                    Some(format!("{} is <= -1, where log1p is undefined", show(v)))
                }
                Some(x) => {
                    dense.push(x as f32);
                    None
                }
            };
            if let Some(why) = why {
                return Err(self.bad(Some(c), BadRowKind::BadNumber, why));
            }
        }
        self.row_dense = dense;

        let mut oracle = std::mem::take(&mut self.row_oracle);
        oracle.clear();
        for &c in &self.oracle {
            let v = self.field(c);
            match parse_f64(v) {
                Some(p) if (0.0..=1.0).contains(&p) => oracle.push(p as f32),
                _ => {
                    return Err(self.bad(
                        Some(c),
                        BadRowKind::BadNumber,
                        format!("{} is not a probability in [0, 1]", show(v)),
                    ));
                }
            }
        }
        self.row_oracle = oracle;

        let key = if self.key.is_empty() {
            address
        } else {
            let mut h = fnv1a64_start();
            for &c in &self.key {
                // The unit separator keeps ("ab", "c") and ("a", "bc") apart.
                h = fnv1a64_extend(fnv1a64_extend(h, self.field(c)), &[0x1f]);
            }
            mix64(h)
        };

        // Everything parsed: commit the row (and only now let its ids grow an auto vocabulary,
        // so a skipped bad row never does).
        for &k in &self.auto_cols {
            let id = self.row_sparse[k];
            self.auto_max[k] = Some(self.auto_max[k].map_or(id, |m| m.max(id)));
        }
        let line = self.line();
        for (c, &x) in self.row_dense.iter().enumerate() {
            if self.dense_min[c].is_none_or(|(m, _)| x < m) {
                self.dense_min[c] = Some((x, line));
            }
            if self.dense_max[c].is_none_or(|(m, _)| x > m) {
                self.dense_max[c] = Some((x, line));
            }
        }
        out.scenario.push(scenario);
        out.sparse.extend_from_slice(&self.row_sparse);
        out.dense.extend_from_slice(&self.row_dense);
        out.labels.extend_from_slice(&self.row_labels);
        if let Some(o) = &mut out.oracle {
            o.extend_from_slice(&self.row_oracle);
        }
        out.row_key.push(key);
        out.file_part.push(self.part);
        Ok(())
    }
}
