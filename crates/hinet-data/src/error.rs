//! Typed errors of the data layer.
//!
//! Every error that comes from input data names where it happened: the file, the 1-based line
//! (the header is line 1) and, when one is at fault, the column. That is what a user needs to
//! fix a 10 GB CSV without bisecting it.

use std::fmt;
use std::path::PathBuf;

/// Why a data row was rejected. Used for the per-reason counts of skip mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BadRowKind {
    /// The row has more or fewer fields than the header.
    FieldCount,
    /// A dense value is not a finite number (or is outside its normalisation's domain).
    BadNumber,
    /// A sparse integer id is not a non-negative integer.
    BadId,
    /// A sparse integer id is not below the field's vocabulary size (or, for `vocab = "auto"`,
    /// would need a table beyond [`crate::MAX_AUTO_VOCAB`] or 32 bits).
    IdOutOfVocab,
    /// The scenario value is not in the schema's `scenarios` list.
    UnknownScenario,
    /// A label is missing or not 0/1.
    BadLabel,
    /// A record the CSV layer could not read. The readers of this crate no longer produce it
    /// (broken structure is a [`DataError::Structure`], which is never skipped); it remains the
    /// class of a skipped error that is not a row error.
    Malformed,
}

impl fmt::Display for BadRowKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            BadRowKind::FieldCount => "wrong field count",
            BadRowKind::BadNumber => "bad number",
            BadRowKind::BadId => "bad id",
            BadRowKind::IdOutOfVocab => "id outside vocabulary",
            BadRowKind::UnknownScenario => "unknown scenario",
            BadRowKind::BadLabel => "bad label",
            BadRowKind::Malformed => "malformed record",
        };
        f.write_str(s)
    }
}

/// Errors of the data layer.
///
/// Every message is complete on its own: a variant that wraps another error (an I/O or TOML
/// error) prints it in its message and does not also return it from
/// [`std::error::Error::source`], so a chain printed cause by cause (anyhow's `{:#}`, the `hinet`
/// command's error output) shows each cause exactly once. The wrapped error stays available in
/// the variant's field.
#[derive(Debug)]
pub enum DataError {
    /// A data row is bad. Display: `data/x.csv:17: column "price": "abc" is not a number`.
    Row {
        /// The file, as given.
        file: String,
        /// 1-based line number where the record starts (the header is line 1).
        line: u64,
        /// The column at fault; `None` for a wrong field count.
        column: Option<String>,
        /// The reason class, for skip-mode statistics.
        kind: BadRowKind,
        /// What is wrong, in words.
        why: String,
    },
    /// The file's CSV structure is broken so that the next record cannot be found: a quote
    /// never closed, a record spanning more lines than [`crate::ReadOptions::max_record_lines`],
    /// a record or field beyond [`crate::ReadOptions::max_record_bytes`] /
    /// [`crate::ReadOptions::max_field_bytes`]. Never skipped, even with `skip_bad_rows`.
    /// Display: `data/x.csv:9: column "note": the quote opened on line 9 is never closed: ...`.
    Structure {
        /// The file, as given.
        file: String,
        /// 1-based line: where the unclosed quote opened, or where the record started.
        line: u64,
        /// What is wrong (naming the column where one is at fault), in words.
        why: String,
    },
    /// The header does not fit the schema (a missing or duplicated column).
    Header {
        /// The file.
        file: String,
        /// What is wrong.
        why: String,
    },
    /// The file has no header or no data rows.
    EmptyFile {
        /// The file.
        file: String,
        /// "is empty" or "has a header but no data rows".
        why: String,
    },
    /// Opening or reading a file failed. Display: `data/x.csv: No such file or directory (os
    /// error 2)`; the I/O error is part of the message, not a separate `source()`.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (printed in the message).
        source: std::io::Error,
    },
    /// A schema TOML file does not parse. The parser's message (it names line and column of the
    /// TOML) is part of the message, not a separate `source()`.
    SchemaToml {
        /// The file.
        path: PathBuf,
        /// The parser's error (printed in the message).
        source: Box<toml::de::Error>,
    },
    /// A schema, split or generator configuration is inconsistent.
    Config(String),
    /// The reader thread stopped unexpectedly (it panicked); never expected.
    ReaderGone,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Row {
                file,
                line,
                column,
                why,
                ..
            } => f.write_str(&row_message(file, *line, column.as_deref(), why)),
            DataError::Structure { file, line, why } => write!(f, "{file}:{line}: {why}"),
            DataError::Header { file, why } => write!(f, "{file}:1: {why}"),
            DataError::EmptyFile { file, why } => write!(f, "{file}: {why}"),
            DataError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            // The TOML error's own text ends with a line break after its source excerpt.
            DataError::SchemaToml { path, source } => {
                write!(f, "{}: {}", path.display(), source.to_string().trim_end())
            }
            DataError::Config(m) => write!(f, "invalid configuration: {m}"),
            DataError::ReaderGone => f.write_str("the reader thread stopped unexpectedly"),
        }
    }
}

/// No variant has a `source()`: each message already includes its cause (see [`DataError`]).
impl std::error::Error for DataError {}

fn row_message(file: &str, line: u64, column: Option<&str>, why: &str) -> String {
    match column {
        Some(c) => format!("{file}:{line}: column \"{c}\": {why}"),
        None => format!("{file}:{line}: {why}"),
    }
}

impl DataError {
    /// The reason class if this is a bad-row error.
    pub fn row_kind(&self) -> Option<BadRowKind> {
        match self {
            DataError::Row { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    pub(crate) fn config(msg: impl Into<String>) -> Self {
        DataError::Config(msg.into())
    }
}
