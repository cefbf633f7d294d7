//! Fitting a [`DenseNormalizer`] on rows that arrive in chunks.
//!
//! A training set too large to hold is fitted in two passes over the same rows in the same
//! order: the first sums each standardised column for its mean, the second sums the squared
//! deviations from that mean (the two-pass variance, more accurate than `E[x^2] - mean^2`).
//! Both sums are one left fold over the rows in order, as `Iterator::sum` takes them, so a
//! streamed fit equals [`DenseNormalizer::fit`] on the whole set bit for bit; `fit` is this
//! fit with every row in one chunk.

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::normalize::{ColumnTransform, DenseNormalizer, Normalize};

/// Which pass the fit is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Means,
    Variances,
}

/// A [`DenseNormalizer`] being fitted: [`NormalizerFit::add`] every training row in order,
/// then, if [`NormalizerFit::needs_second_pass`], [`NormalizerFit::second_pass`] and every row
/// again in the same order, then [`NormalizerFit::finish`].
#[derive(Debug, Clone)]
pub struct NormalizerFit {
    names: Vec<String>,
    methods: Vec<Normalize>,
    pass: Pass,
    /// Rows seen in the current pass.
    rows: u64,
    /// Rows of the first pass (the `n` of the statistics).
    n: u64,
    /// Per column: the running sum of the first pass, then of the squared deviations.
    sums: Vec<f64>,
    means: Vec<f64>,
}

impl NormalizerFit {
    /// A fit for rows shaped like `template` (its dense columns and their methods, as the
    /// reader or the generator set them).
    pub fn new(template: &Dataset) -> Result<NormalizerFit, DataError> {
        let d = template.spec.dense.len();
        if template.dense_normalize.len() != d {
            return Err(DataError::config(format!(
                "{} normalisation methods for {d} dense columns",
                template.dense_normalize.len()
            )));
        }
        Ok(NormalizerFit {
            names: template.spec.dense.clone(),
            methods: template.dense_normalize.clone(),
            pass: Pass::Means,
            rows: 0,
            n: 0,
            // -0.0: the start of `Iterator::sum` for floats, so the folds agree exactly.
            sums: vec![-0.0; d],
            means: vec![0.0; d],
        })
    }

    /// Whether some column is standardised, so the rows must be added a second time.
    pub fn needs_second_pass(&self) -> bool {
        self.methods.iter().any(|m| m.standardizes())
    }

    /// The value standardisation sees: the f32 log1p for `log1p_standardize`, as
    /// [`DenseNormalizer::apply_row`] computes it.
    fn seen(method: Normalize, x: f32) -> f64 {
        if method.takes_log1p() {
            f64::from(x.ln_1p())
        } else {
            f64::from(x)
        }
    }

    /// Adds a chunk of raw (not yet normalised) training rows, in order.
    pub fn add(&mut self, chunk: &Dataset) -> Result<(), DataError> {
        if chunk.dense_normalized {
            return Err(DataError::config("the training set is already normalised"));
        }
        if chunk.spec.dense != self.names || chunk.dense_normalize != self.methods {
            return Err(DataError::config(
                "a chunk's dense columns or their normalisation differ from the first chunk's",
            ));
        }
        let d = self.names.len();
        for (c, &method) in self.methods.iter().enumerate() {
            if !method.standardizes() {
                continue;
            }
            let column = chunk.dense.iter().skip(c).step_by(d.max(1));
            match self.pass {
                Pass::Means => {
                    for (r, &x) in column.enumerate() {
                        if method.takes_log1p() && x <= -1.0 {
                            return Err(DataError::config(format!(
                                "row {}: column {:?}: value {x} <= -1 for log1p",
                                self.rows + r as u64,
                                self.names[c]
                            )));
                        }
                        self.sums[c] += Self::seen(method, x);
                    }
                }
                Pass::Variances => {
                    let mean = self.means[c];
                    for &x in column {
                        let dev = Self::seen(method, x) - mean;
                        self.sums[c] += dev * dev;
                    }
                }
            }
        }
        self.rows += chunk.len() as u64;
        Ok(())
    }

    /// This fit's part of a fit spread over several processes (ranks that each read their own
    /// files): the rows added in the current pass, then each column's running sum. Sum these
    /// vectors over the processes and give the total to [`NormalizerFit::set_sums`], at the end
    /// of each pass, on every process; the result equals one fit over all rows up to the order
    /// of the sums' additions.
    pub fn partial_sums(&self) -> Vec<f64> {
        std::iter::once(self.rows as f64)
            .chain(self.sums.iter().copied())
            .collect()
    }

    /// Replaces the rows and sums of the current pass by `totals`, the element-wise sum of every
    /// process's [`NormalizerFit::partial_sums`].
    pub fn set_sums(&mut self, totals: &[f64]) -> Result<(), DataError> {
        let rows = totals.first().copied().unwrap_or(-1.0);
        if totals.len() != self.sums.len() + 1 || !(rows >= 0.0 && rows.fract() == 0.0 && rows < 2f64.powi(53)) {
            return Err(DataError::config(format!(
                "summed normaliser statistics: expected a row count and {} sums, got {} numbers (rows {rows})",
                self.sums.len(),
                totals.len()
            )));
        }
        self.rows = rows as u64;
        self.sums.copy_from_slice(&totals[1..]);
        Ok(())
    }

    /// Ends the first pass (the means are known) and starts the second.
    pub fn second_pass(&mut self) {
        if self.pass == Pass::Means {
            self.n = self.rows;
            for (m, s) in self.means.iter_mut().zip(&self.sums) {
                *m = *s / self.n as f64;
            }
            self.sums.iter_mut().for_each(|s| *s = -0.0);
            self.pass = Pass::Variances;
            self.rows = 0;
        }
    }

    /// The fitted normaliser. Refuses a second pass that did not see the first pass's rows.
    pub fn finish(self) -> Result<DenseNormalizer, DataError> {
        let standardized = self.needs_second_pass();
        let n = if self.pass == Pass::Means { self.rows } else { self.n };
        if standardized && n > 0 && (self.pass != Pass::Variances || self.rows != self.n) {
            return Err(DataError::config(format!(
                "standardisation needs a second pass over the same {n} rows (saw {} in the second pass)",
                if self.pass == Pass::Variances { self.rows } else { 0 }
            )));
        }
        let columns = self
            .names
            .into_iter()
            .zip(self.methods)
            .enumerate()
            .map(|(c, (name, method))| {
                let (mut mean, mut std) = (0.0, 1.0);
                if method.standardizes() && n > 0 {
                    mean = self.means[c];
                    std = (self.sums[c] / n as f64).sqrt();
                    if std.is_nan() || std <= 1e-12 {
                        std = 1.0;
                    }
                }
                ColumnTransform {
                    name,
                    method,
                    mean,
                    std,
                }
            })
            .collect();
        Ok(DenseNormalizer { columns })
    }
}
