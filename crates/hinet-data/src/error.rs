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
    /// The CSV layer itself could not read the record (e.g. an I/O error mid-file).
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
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A data row is bad. Display: `data/x.csv:17: column "price": "abc" is not a number`.
    #[error("{}", row_message(file, *line, column.as_deref(), why))]
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
    /// The header does not fit the schema (a missing or duplicated column).
    #[error("{file}:1: {why}")]
    Header {
        /// The file.
        file: String,
        /// What is wrong.
        why: String,
    },
    /// The file has no header or no data rows.
    #[error("{file}: {why}")]
    EmptyFile {
        /// The file.
        file: String,
        /// "is empty" or "has a header but no data rows".
        why: String,
    },
    /// Opening or reading a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A schema TOML file does not parse.
    #[error("{}: {source}", path.display())]
    SchemaToml {
        /// The file.
        path: PathBuf,
        /// The parser's message (it names line and column of the TOML).
        #[source]
        source: Box<toml::de::Error>,
    },
    /// A schema, split or generator configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The reader thread stopped unexpectedly (it panicked); never expected.
    #[error("the reader thread stopped unexpectedly")]
    ReaderGone,
}

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
