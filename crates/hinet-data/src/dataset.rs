//! The in-memory, columnar dataset that readers and the generator produce.

use crate::error::DataError;
use crate::normalize::Normalize;
use crate::schema::Part;
use crate::spec::FeatureSpec;

/// An in-memory dataset in row-major columnar form.
///
/// Invariants (checked by [`Dataset::validate`], kept by every constructor of this crate):
/// all per-row vectors have `len()` rows, scenario indices are below M, sparse ids below their
/// field's vocabulary, labels are 0.0 or 1.0 and oracle probabilities are in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Scenario, task and feature names.
    pub spec: FeatureSpec,
    /// Scenario index per row, `0..M`.
    pub scenario: Vec<u32>,
    /// Sparse ids, row-major `[rows * fields]`.
    pub sparse: Vec<u32>,
    /// Dense values, row-major `[rows * dense]`.
    pub dense: Vec<f32>,
    /// Labels, row-major `[rows * tasks]`, each 0.0 or 1.0.
    pub labels: Vec<f32>,
    /// True probabilities, row-major `[rows * tasks]`: from the generator or a schema's
    /// `oracle_columns`, for the oracle AUC only (never features).
    pub oracle: Option<Vec<f32>>,
    /// Per-row key for hash splits: a hash of the schema's `split_key` columns, or the row's
    /// [`crate::row_address`] (its file and record number; for the generator: the row index).
    pub row_key: Vec<u64>,
    /// Per row: the split role of the file it came from, if any.
    pub file_part: Vec<Option<Part>>,
    /// Normalisation method of each dense column (what [`crate::DenseNormalizer::fit`] uses).
    pub dense_normalize: Vec<Normalize>,
    /// Whether `dense` has been normalised already (guards against applying it twice).
    pub dense_normalized: bool,
}

/// Appends `more` to `v`, growing it by an eighth (or what `more` needs) when it is full rather
/// than doubling it: a file read into memory chunk by chunk then holds at most an eighth more
/// than its rows, instead of up to twice as much (and the allocator grows large blocks in place,
/// so the smaller steps cost few copies).
fn append_growing<T: Clone>(v: &mut Vec<T>, more: &[T]) {
    if v.capacity() - v.len() < more.len() {
        v.reserve_exact(more.len().max(v.len() / 8));
    }
    v.extend_from_slice(more);
}

impl Dataset {
    /// Swaps rows `a` and `b` in every per-row vector (the shuffle buffer's draw).
    pub(crate) fn swap_rows(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (f, d, t) = (self.spec.sparse.len(), self.spec.dense.len(), self.spec.tasks.len());
        fn swap_blocks<T>(v: &mut [T], a: usize, b: usize, width: usize) {
            let (lo, hi) = (a.min(b), a.max(b));
            let (head, tail) = v.split_at_mut(hi * width);
            head[lo * width..(lo + 1) * width].swap_with_slice(&mut tail[..width]);
        }
        self.scenario.swap(a, b);
        swap_blocks(&mut self.sparse, a, b, f);
        swap_blocks(&mut self.dense, a, b, d);
        swap_blocks(&mut self.labels, a, b, t);
        if let Some(o) = &mut self.oracle {
            swap_blocks(o, a, b, t);
        }
        self.row_key.swap(a, b);
        self.file_part.swap(a, b);
    }

    /// Keeps only `rows` (ascending, each below [`Dataset::len`]), in place: the training split
    /// of a large dataset without a copy of it. Returns an error, leaving the data as it was, if
    /// `rows` is not strictly ascending or goes past the end.
    pub fn keep_rows(&mut self, rows: &[usize]) -> Result<(), DataError> {
        let n = self.len();
        if rows.windows(2).any(|w| w[0] >= w[1]) || rows.last().is_some_and(|&r| r >= n) {
            return Err(DataError::config(format!(
                "keep_rows: the rows must be strictly ascending and below {n}"
            )));
        }
        let (f, d, t) = (self.spec.sparse.len(), self.spec.dense.len(), self.spec.tasks.len());
        // Row `from` moves down to `to <= from`: copy_within never overwrites a row still to
        // be moved.
        fn compact<T: Copy>(v: &mut Vec<T>, rows: &[usize], width: usize) {
            for (to, &from) in rows.iter().enumerate() {
                if to != from {
                    v.copy_within(from * width..(from + 1) * width, to * width);
                }
            }
            v.truncate(rows.len() * width);
        }
        compact(&mut self.scenario, rows, 1);
        compact(&mut self.sparse, rows, f);
        compact(&mut self.dense, rows, d);
        compact(&mut self.labels, rows, t);
        if let Some(o) = &mut self.oracle {
            compact(o, rows, t);
        }
        compact(&mut self.row_key, rows, 1);
        compact(&mut self.file_part, rows, 1);
        Ok(())
    }

    /// Keeps the first `rows` rows (capacity stays, so refilling does not allocate).
    pub(crate) fn truncate(&mut self, rows: usize) {
        let (f, d, t) = (self.spec.sparse.len(), self.spec.dense.len(), self.spec.tasks.len());
        self.scenario.truncate(rows);
        self.sparse.truncate(rows * f);
        self.dense.truncate(rows * d);
        self.labels.truncate(rows * t);
        if let Some(o) = &mut self.oracle {
            o.truncate(rows * t);
        }
        self.row_key.truncate(rows);
        self.file_part.truncate(rows);
    }

    /// Bytes of row data held: what [`Dataset::len`] rows cost in memory (ids, values, labels,
    /// keys), without the vectors' spare capacity.
    pub fn row_bytes(&self) -> usize {
        use std::mem::size_of_val;
        size_of_val(self.scenario.as_slice())
            + size_of_val(self.sparse.as_slice())
            + size_of_val(self.dense.as_slice())
            + size_of_val(self.labels.as_slice())
            + self.oracle.as_ref().map_or(0, |o| size_of_val(o.as_slice()))
            + size_of_val(self.row_key.as_slice())
            + size_of_val(self.file_part.as_slice())
    }

    /// An empty dataset for `spec`, with no dense normalisation.
    pub fn empty(spec: FeatureSpec) -> Dataset {
        let d = spec.dense.len();
        Dataset {
            spec,
            scenario: Vec::new(),
            sparse: Vec::new(),
            dense: Vec::new(),
            labels: Vec::new(),
            oracle: None,
            row_key: Vec::new(),
            file_part: Vec::new(),
            dense_normalize: vec![Normalize::None; d],
            dense_normalized: false,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.scenario.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.scenario.is_empty()
    }

    /// Checks the invariants listed on the type.
    pub fn validate(&self) -> Result<(), DataError> {
        let n = self.len();
        let (f, d, t, m) = (
            self.spec.sparse.len(),
            self.spec.dense.len(),
            self.spec.tasks.len(),
            self.spec.scenarios.len(),
        );
        let check = |what: &str, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(DataError::config(format!(
                    "dataset: {what} has {got} values, expected {want}"
                )))
            }
        };
        check("sparse", self.sparse.len(), n * f)?;
        check("dense", self.dense.len(), n * d)?;
        check("labels", self.labels.len(), n * t)?;
        check("row_key", self.row_key.len(), n)?;
        check("file_part", self.file_part.len(), n)?;
        check("dense_normalize", self.dense_normalize.len(), d)?;
        if let Some(o) = &self.oracle {
            check("oracle", o.len(), n * t)?;
            if let Some(p) = o.iter().find(|p| !(0.0..=1.0).contains(*p)) {
                return Err(DataError::config(format!(
                    "dataset: oracle probability {p} outside [0, 1]"
                )));
            }
        }
        if let Some(s) = self.scenario.iter().find(|&&s| s as usize >= m) {
            return Err(DataError::config(format!("dataset: scenario {s} >= M = {m}")));
        }
        if f > 0 {
            for row in self.sparse.chunks_exact(f) {
                for (id, field) in row.iter().zip(&self.spec.sparse) {
                    if *id as usize >= field.vocab {
                        return Err(DataError::config(format!(
                            "dataset: id {id} of field {:?} >= vocab {}",
                            field.name, field.vocab
                        )));
                    }
                }
            }
        }
        if let Some(y) = self.labels.iter().find(|&&y| y != 0.0 && y != 1.0) {
            return Err(DataError::config(format!("dataset: label {y} is not 0 or 1")));
        }
        if let Some(x) = self.dense.iter().find(|x| !x.is_finite()) {
            return Err(DataError::config(format!("dataset: dense value {x} is not finite")));
        }
        Ok(())
    }

    /// Appends the rows of `other` (same spec) to `self`.
    pub fn append(&mut self, other: &Dataset) -> Result<(), DataError> {
        if other.spec != self.spec {
            return Err(DataError::config("cannot append datasets with different feature specs"));
        }
        if self.oracle.is_some() != other.oracle.is_some() && !(self.is_empty() && self.oracle.is_none()) {
            return Err(DataError::config(
                "cannot append a dataset with oracle probabilities to one without",
            ));
        }
        if self.is_empty() && self.oracle.is_none() && other.oracle.is_some() {
            self.oracle = Some(Vec::new());
        }
        append_growing(&mut self.scenario, &other.scenario);
        append_growing(&mut self.sparse, &other.sparse);
        append_growing(&mut self.dense, &other.dense);
        append_growing(&mut self.labels, &other.labels);
        if let (Some(a), Some(b)) = (&mut self.oracle, &other.oracle) {
            append_growing(a, b);
        }
        append_growing(&mut self.row_key, &other.row_key);
        append_growing(&mut self.file_part, &other.file_part);
        Ok(())
    }

    /// Returns the vectors' spare capacity to the allocator (after the last append).
    pub fn shrink_to_fit(&mut self) {
        self.scenario.shrink_to_fit();
        self.sparse.shrink_to_fit();
        self.dense.shrink_to_fit();
        self.labels.shrink_to_fit();
        if let Some(o) = &mut self.oracle {
            o.shrink_to_fit();
        }
        self.row_key.shrink_to_fit();
        self.file_part.shrink_to_fit();
    }

    /// A new dataset with the given rows, in the given order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        let (f, d, t) = (self.spec.sparse.len(), self.spec.dense.len(), self.spec.tasks.len());
        let gather = |src: &[f32], w: usize| -> Vec<f32> {
            let mut v = Vec::with_capacity(rows.len() * w);
            for &r in rows {
                v.extend_from_slice(&src[r * w..(r + 1) * w]);
            }
            v
        };
        let mut sparse = Vec::with_capacity(rows.len() * f);
        for &r in rows {
            sparse.extend_from_slice(&self.sparse[r * f..(r + 1) * f]);
        }
        Dataset {
            spec: self.spec.clone(),
            scenario: rows.iter().map(|&r| self.scenario[r]).collect(),
            sparse,
            dense: gather(&self.dense, d),
            labels: gather(&self.labels, t),
            oracle: self.oracle.as_ref().map(|o| gather(o, t)),
            row_key: rows.iter().map(|&r| self.row_key[r]).collect(),
            file_part: rows.iter().map(|&r| self.file_part[r]).collect(),
            dense_normalize: self.dense_normalize.clone(),
            dense_normalized: self.dense_normalized,
        }
    }

    /// Rows per scenario.
    pub fn scenario_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.spec.scenarios.len()];
        for &s in &self.scenario {
            if let Some(x) = c.get_mut(s as usize) {
                *x += 1;
            }
        }
        c
    }

    /// Positive rate of `task`, over all rows or those of one scenario; `None` without rows.
    pub fn label_rate(&self, task: usize, scenario: Option<usize>) -> Option<f64> {
        let t = self.spec.tasks.len();
        let (mut pos, mut n) = (0.0, 0usize);
        for (r, &s) in self.scenario.iter().enumerate() {
            if scenario.is_none_or(|m| m == s as usize) {
                pos += f64::from(self.labels[r * t + task]);
                n += 1;
            }
        }
        (n > 0).then(|| pos / n as f64)
    }
}
