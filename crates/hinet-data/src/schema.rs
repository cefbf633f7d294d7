//! The dataset schema: how the columns of a CSV/TSV file become scenario, labels and features.
//!
//! Written by users in TOML (see `docs/data.md` for a complete example). Every column is named
//! by its header name, never by position, so a reordered file still reads correctly and a
//! misspelt name is caught against the header before any row is read.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::normalize::Normalize;
use crate::spec::{FeatureSpec, SparseField};

/// Which split a whole input file belongs to (for [`crate::SplitSpec::File`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Training data.
    Train,
    /// Validation data.
    #[serde(alias = "validation", alias = "val")]
    Valid,
    /// Test data.
    Test,
}

impl Part {
    /// The name used in schemas: `train`, `valid` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Valid => "valid",
            Part::Test => "test",
        }
    }
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputFile {
    /// Path; `.gz` is decompressed, `.tsv`/`.tab` (optionally `.gz`) is tab-separated.
    /// Relative paths in a schema file are relative to that file's folder.
    pub path: PathBuf,
    /// The split the whole file belongs to, if splitting by file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
    /// The scenario of every row of this file, when the schema has no `scenario_column`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
}

impl InputFile {
    /// A file with no split role and no scenario of its own.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        InputFile {
            path: path.into(),
            part: None,
            scenario: None,
        }
    }
    /// Sets the split role.
    pub fn with_part(mut self, part: Part) -> Self {
        self.part = Some(part);
        self
    }
    /// Sets the file's scenario.
    pub fn with_scenario(mut self, scenario: impl Into<String>) -> Self {
        self.scenario = Some(scenario.into());
        self
    }
}

/// A task: its name and the label column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskColumn {
    /// Task name (e.g. `ctr`).
    pub name: String,
    /// Label column; defaults to the task name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
}

impl TaskColumn {
    /// The label column's header name.
    pub fn column(&self) -> &str {
        self.column.as_deref().unwrap_or(&self.name)
    }
}

/// Largest table an automatic vocabulary (`vocab = "auto"`) may grow to: 2^26 = 67,108,864 ids.
///
/// Well above the id counts of the public datasets (MovieLens-25M has under 300,000 movie ids),
/// yet a table of this size already needs gigabytes once embedded and optimised. An id beyond it
/// is far more likely a raw id or a timestamp marked as a label-encoded id by mistake than a
/// real table, so it is a bad row; a deliberate larger table takes an explicit `vocab`
/// (up to 2^32 - 1), sparse raw ids take `hash_buckets`.
pub const MAX_AUTO_VOCAB: usize = 1 << 26;

/// Largest schema file [`Schema::from_toml_file`] reads: 16 MiB (a schema of thousands of
/// columns is a few hundred KiB). A larger file, or an endless one such as `/dev/zero`, is an
/// error instead of a read that grows until memory runs out.
pub const MAX_SCHEMA_BYTES: u64 = 16 << 20;

/// The vocabulary of an integer-id column: `vocab = 1000` or `vocab = "auto"` in TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vocab {
    /// Ids are `0..n`; any other value is a bad row.
    Fixed(usize),
    /// The table size is discovered while loading: the largest id over all files loaded together,
    /// plus one (at most [`MAX_AUTO_VOCAB`]). A trained model's sizes are put back with
    /// [`Schema::fix_auto_vocab`] before other files are read for it.
    Auto,
}

impl Serialize for Vocab {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Vocab::Fixed(n) => s.serialize_u64(*n as u64),
            Vocab::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for Vocab {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A hand-written visitor instead of `#[serde(untagged)]`: an untagged enum's error ("did
        // not match any variant") would not tell the user what `vocab` accepts.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Vocab;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a positive integer (the number of ids) or \"auto\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Vocab, E> {
                usize::try_from(v)
                    .map(Vocab::Fixed)
                    .map_err(|_| E::custom(format!("vocab {v} is too large")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Vocab, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vocab, E> {
                if v == "auto" {
                    Ok(Vocab::Auto)
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A sparse categorical column: integer ids with a vocabulary (fixed, or discovered from the
/// data), or any string hashed into buckets. Exactly one of `vocab` and `hash_buckets` must be set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseColumn {
    /// Header name.
    pub column: String,
    /// Values are non-negative integers below the vocabulary; anything else is a bad row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab: Option<Vocab>,
    /// Values are arbitrary strings, mapped to `0..hash_buckets` by a stable hash (FNV-1a).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_buckets: Option<usize>,
}

impl SparseColumn {
    /// An integer-id column with a fixed vocabulary (ids `0..vocab`).
    pub fn ids(column: impl Into<String>, vocab: usize) -> Self {
        SparseColumn {
            column: column.into(),
            vocab: Some(Vocab::Fixed(vocab)),
            hash_buckets: None,
        }
    }
    /// An integer-id column whose vocabulary is discovered while loading ([`Vocab::Auto`]).
    pub fn auto_ids(column: impl Into<String>) -> Self {
        SparseColumn {
            column: column.into(),
            vocab: Some(Vocab::Auto),
            hash_buckets: None,
        }
    }
    /// A hashed string column.
    pub fn hashed(column: impl Into<String>, buckets: usize) -> Self {
        SparseColumn {
            column: column.into(),
            vocab: None,
            hash_buckets: Some(buckets),
        }
    }
    /// Whether the vocabulary is discovered while loading.
    pub fn is_auto(&self) -> bool {
        self.vocab == Some(Vocab::Auto)
    }
    /// The embedding-table size of this column; 0 for an automatic vocabulary, which is only
    /// known once the data is loaded (the loaded [`crate::Dataset`]'s spec has it).
    pub fn table_size(&self) -> usize {
        match (self.vocab, self.hash_buckets) {
            (Some(Vocab::Fixed(v)), _) => v,
            (Some(Vocab::Auto), _) => 0,
            (None, b) => b.unwrap_or(0),
        }
    }
}

/// A dense numeric column and its normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseColumn {
    /// Header name.
    pub column: String,
    /// Normalisation, fitted on the training split (default: none).
    #[serde(default)]
    pub normalize: Normalize,
}

impl DenseColumn {
    /// A dense column with the given normalisation.
    pub fn new(column: impl Into<String>, normalize: Normalize) -> Self {
        DenseColumn {
            column: column.into(),
            normalize,
        }
    }
}

/// How label values are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelRule {
    /// Labels must be 0 or 1 (`0`, `1`, `0.0`, `1.0`); anything else is a bad row.
    #[default]
    Binary,
    /// Any number > 0 is a positive (1), any other number a negative (0). For label columns
    /// that hold counts; a non-number is still a bad row.
    Positive,
}

/// A dataset schema. See the crate docs and `docs/data.md` for the TOML form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// A name for messages and file names.
    #[serde(default)]
    pub name: String,
    /// Field delimiter, one ASCII character; default: tab for `.tsv`/`.tab` files, else comma.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// Scenario values in index order: the value `scenarios[m]` becomes scenario m. Any other
    /// value is an error (never a silent new scenario).
    pub scenarios: Vec<String>,
    /// Optional display names of the scenarios, one per value in `scenarios` and in the same
    /// order (e.g. `["age<25", "age25-34", "age35+"]` for values `["0", "1", "2"]`). The model,
    /// its checkpoint and the AUC tables see these names; the data still holds the values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenario_names: Vec<String>,
    /// The column holding the scenario value. Without it, each input file names its scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_column: Option<String>,
    /// Tasks (one label column each), in task-index order.
    pub tasks: Vec<TaskColumn>,
    /// How label values are read.
    #[serde(default)]
    pub labels: LabelRule,
    /// Sparse categorical columns, in field order.
    #[serde(default)]
    pub sparse: Vec<SparseColumn>,
    /// Dense numeric columns.
    #[serde(default)]
    pub dense: Vec<DenseColumn>,
    /// Columns whose values identify a row for hash splits (e.g. `["user_id"]` keeps each user in
    /// one split). Empty: the row's address, its file's index in the list and its record number
    /// in that file (see [`crate::row_address`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_key: Vec<String>,
    /// Optional columns with true probabilities, one per task in task order (the synthetic
    /// generator writes them). Used only to report the oracle AUC beside the model's; never
    /// features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oracle_columns: Vec<String>,
    /// Input files (optional here; they can also be given separately).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InputFile>,
}

impl Schema {
    /// Parses and validates a schema from TOML text. Relative file paths stay as written.
    pub fn from_toml_str(text: &str) -> Result<Schema, DataError> {
        let schema: Schema = toml::from_str(text).map_err(|e| DataError::SchemaToml {
            path: PathBuf::from("<schema>"),
            source: Box::new(e),
        })?;
        schema.validate()?;
        Ok(schema)
    }

    /// Reads a schema TOML file; relative `files` paths are resolved against its folder.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Schema, DataError> {
        use std::io::Read;
        let path = path.as_ref();
        let io_err = |e: std::io::Error| DataError::Io {
            path: path.into(),
            source: e,
        };
        let file = std::fs::File::open(path).map_err(io_err)?;
        if file.metadata().map_err(io_err)?.is_dir() {
            return Err(io_err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a directory, not a schema file",
            )));
        }
        let mut bytes = Vec::new();
        file.take(MAX_SCHEMA_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err)?;
        if bytes.len() as u64 > MAX_SCHEMA_BYTES {
            return Err(io_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("is larger than {MAX_SCHEMA_BYTES} bytes, too large for a schema (is it the data?)"),
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            io_err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            ))
        })?;
        let mut schema: Schema = toml::from_str(&text).map_err(|e| DataError::SchemaToml {
            path: path.into(),
            source: Box::new(e),
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        for f in &mut schema.files {
            if f.path.is_relative() {
                f.path = dir.join(&f.path);
            }
        }
        schema.validate()?;
        Ok(schema)
    }

    /// The schema as TOML text.
    pub fn to_toml_string(&self) -> Result<String, DataError> {
        toml::to_string(self).map_err(|e| DataError::config(format!("cannot write schema as TOML: {e}")))
    }

    /// Checks the schema on its own (the header check happens when a file is opened).
    pub fn validate(&self) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::Config(format!("schema {:?}: {m}", self.name)));
        if self.scenarios.is_empty() {
            return bad("`scenarios` is empty; list the scenario values, e.g. scenarios = [\"1\", \"2\"]".into());
        }
        if let Some(d) = find_duplicate(self.scenarios.iter().map(String::as_str)) {
            return bad(format!("scenario value {d:?} is listed twice"));
        }
        if self.scenarios.len() > u32::MAX as usize {
            return bad("too many scenarios".into());
        }
        if !self.scenario_names.is_empty() {
            if self.scenario_names.len() != self.scenarios.len() {
                return bad(format!(
                    "{} scenario_names for {} scenarios; give one name per scenario value, in the same order",
                    self.scenario_names.len(),
                    self.scenarios.len()
                ));
            }
            if self.scenario_names.iter().any(|n| n.trim().is_empty()) {
                return bad("a scenario name is empty".into());
            }
            if let Some(d) = find_duplicate(self.scenario_names.iter().map(String::as_str)) {
                return bad(format!("scenario name {d:?} is listed twice"));
            }
        }
        if self.tasks.is_empty() {
            return bad("no tasks; add at least one [[tasks]] entry".into());
        }
        if let Some(d) = find_duplicate(self.tasks.iter().map(|t| t.name.as_str())) {
            return bad(format!("task {d:?} is listed twice"));
        }
        for s in &self.sparse {
            match (s.vocab, s.hash_buckets) {
                (Some(Vocab::Auto), None) => {}
                (Some(Vocab::Fixed(v)), None) | (None, Some(v)) => {
                    if v == 0 || v > u32::MAX as usize {
                        return bad(format!("sparse column {:?}: size {v} must be in 1..=2^32-1", s.column));
                    }
                }
                _ => {
                    return bad(format!(
                        "sparse column {:?}: set exactly one of `vocab` and `hash_buckets`",
                        s.column
                    ));
                }
            }
        }
        if let Some(d) = find_duplicate(self.sparse.iter().map(|s| s.column.as_str())) {
            return bad(format!("sparse column {d:?} is listed twice"));
        }
        if let Some(d) = find_duplicate(self.dense.iter().map(|s| s.column.as_str())) {
            return bad(format!("dense column {d:?} is listed twice"));
        }
        if !self.oracle_columns.is_empty() && self.oracle_columns.len() != self.tasks.len() {
            return bad(format!(
                "{} oracle columns for {} tasks; give one per task or none",
                self.oracle_columns.len(),
                self.tasks.len()
            ));
        }
        if let Some(d) = self.delimiter {
            if !d.is_ascii() {
                return bad(format!("delimiter {d:?} is not an ASCII character"));
            }
            if matches!(d, '"' | '\n' | '\r') {
                return bad(format!("delimiter {d:?} cannot be the quote character or a line end"));
            }
        }
        self.validate_files(&self.files)
    }

    /// Checks that `files` fit the schema: each has a known scenario exactly when the schema
    /// has no scenario column.
    pub fn validate_files(&self, files: &[InputFile]) -> Result<(), DataError> {
        for f in files {
            match (&self.scenario_column, &f.scenario) {
                (Some(c), Some(_)) => {
                    return Err(DataError::Config(format!(
                        "file {}: names a scenario, but the schema reads it from column {c:?}",
                        f.path.display()
                    )));
                }
                (None, None) => {
                    return Err(DataError::Config(format!(
                        "file {}: the schema has no `scenario_column`, so the file must name its `scenario`",
                        f.path.display()
                    )));
                }
                (None, Some(s)) if !self.scenarios.contains(s) => {
                    return Err(DataError::Config(format!(
                        "file {}: scenario {s:?} is not one of the schema's scenarios {:?}",
                        f.path.display(),
                        self.scenarios
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The scenario names the model sees: `scenario_names` if given, else the values.
    pub fn scenario_display(&self) -> &[String] {
        if self.scenario_names.is_empty() {
            &self.scenarios
        } else {
            &self.scenario_names
        }
    }

    /// Whether some sparse column has `vocab = "auto"`.
    pub fn has_auto_vocab(&self) -> bool {
        self.sparse.iter().any(SparseColumn::is_auto)
    }

    /// Replaces every `vocab = "auto"` with the table size a trained model has for the
    /// same-named field (`trained`: `(name, vocab)` pairs, e.g. from its checkpoint).
    ///
    /// Evaluating or scoring other files must keep the trained tables: discovering the
    /// vocabulary again would give another size (a model mismatch) or, worse, ids the model
    /// never had a row for. With the sizes fixed, such an id is a bad row naming file, line and
    /// column. Fixed vocabularies and hashed columns are left as they are.
    pub fn fix_auto_vocab<'a>(&mut self, trained: impl IntoIterator<Item = (&'a str, usize)>) -> Result<(), DataError> {
        let trained: Vec<(&str, usize)> = trained.into_iter().collect();
        for s in self.sparse.iter_mut().filter(|s| s.is_auto()) {
            match trained.iter().find(|(name, _)| *name == s.column) {
                Some(&(_, v)) if v >= 1 && v <= u32::MAX as usize => s.vocab = Some(Vocab::Fixed(v)),
                Some(&(_, v)) => {
                    return Err(DataError::config(format!(
                        "sparse column {:?}: the trained vocabulary {v} is not in 1..=2^32-1",
                        s.column
                    )));
                }
                None => {
                    return Err(DataError::config(format!(
                        "sparse column {:?} has vocab = \"auto\", but the trained model has no field of that name",
                        s.column
                    )));
                }
            }
        }
        Ok(())
    }

    /// The model-facing description of the data this schema produces. A column with
    /// `vocab = "auto"` has vocab 0 here (unknown until loaded); the spec of the loaded
    /// [`crate::Dataset`] has the discovered size.
    pub fn feature_spec(&self) -> FeatureSpec {
        FeatureSpec {
            scenarios: self.scenario_display().to_vec(),
            tasks: self.tasks.iter().map(|t| t.name.clone()).collect(),
            sparse: self
                .sparse
                .iter()
                .map(|s| SparseField {
                    name: s.column.clone(),
                    vocab: s.table_size(),
                })
                .collect(),
            dense: self.dense.iter().map(|d| d.column.clone()).collect(),
        }
    }

    /// The normalisation of each dense column, in order.
    pub fn dense_normalize(&self) -> Vec<Normalize> {
        self.dense.iter().map(|d| d.normalize).collect()
    }
}

fn find_duplicate<'a>(items: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().find(|&s| !seen.insert(s))
}
