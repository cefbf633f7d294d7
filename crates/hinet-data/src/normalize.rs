//! Dense-feature normalisation, fitted on the training split and applied to every split.
//!
//! Statistics must never come from validation or test rows (that leaks the evaluation data
//! into the features), and prediction must apply exactly the training transform, so the fitted
//! [`DenseNormalizer`] is a serde value a checkpoint can carry.

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::DataError;

/// How one dense column is normalised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    /// Used as is.
    #[default]
    None,
    /// `(x - mean) / std` with the mean and population standard deviation of the training
    /// split (computed in f64).
    #[serde(alias = "standardise")]
    Standardize,
    /// `ln(1 + x)` (computed in f32), for non-negative heavy-tailed values (prices, counts);
    /// x must be > -1.
    Log1p,
    /// `(ln(1 + x) - mean) / std`: log1p as [`Normalize::Log1p`], then standardised with the
    /// mean and population standard deviation of the *transformed* training values. For
    /// heavy-tailed values whose logarithm is still far from zero mean and unit scale.
    #[serde(rename = "log1p_standardize", alias = "log1p_standardise")]
    Log1pStandardize,
}

impl Normalize {
    /// Whether the method takes `ln(1 + x)` (so x must be > -1).
    pub fn takes_log1p(self) -> bool {
        matches!(self, Normalize::Log1p | Normalize::Log1pStandardize)
    }
    /// Whether the method standardises with fitted statistics.
    pub fn standardizes(self) -> bool {
        matches!(self, Normalize::Standardize | Normalize::Log1pStandardize)
    }
}

/// The fitted transform of one dense column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnTransform {
    /// Column name.
    pub name: String,
    /// The method.
    pub method: Normalize,
    /// Training mean (of ln(1 + x) for `log1p_standardize`); 0 for methods that do not
    /// standardise.
    pub mean: f64,
    /// Training population standard deviation (of ln(1 + x) for `log1p_standardize`); 1 for
    /// methods that do not standardise, and 1 for a constant column so that it maps to 0
    /// instead of NaN.
    pub std: f64,
}

impl ColumnTransform {
    /// The value the model sees for `x`; `None` if it has none: log1p of a value <= -1, or a
    /// result that is not a finite f32 (standardising with a tiny training std can overflow).
    pub fn transform(&self, x: f32) -> Option<f32> {
        let y = match self.method {
            Normalize::None => x,
            Normalize::Standardize => ((f64::from(x) - self.mean) / self.std) as f32,
            Normalize::Log1p | Normalize::Log1pStandardize if x <= -1.0 => return None,
            Normalize::Log1p => x.ln_1p(),
            Normalize::Log1pStandardize => ((f64::from(x.ln_1p()) - self.mean) / self.std) as f32,
        };
        y.is_finite().then_some(y)
    }

    /// Checks the statistics (a checkpoint may carry any numbers): mean finite, std finite and
    /// positive.
    fn check(&self) -> Result<(), DataError> {
        if !self.mean.is_finite() || !self.std.is_finite() || self.std <= 0.0 {
            return Err(DataError::config(format!(
                "normaliser column {:?}: mean {} and std {} must be finite, std > 0",
                self.name, self.mean, self.std
            )));
        }
        Ok(())
    }
}

/// Fitted dense normalisation: one [`ColumnTransform`] per dense column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenseNormalizer {
    /// Per-column transforms, in dense-column order.
    pub columns: Vec<ColumnTransform>,
}

impl DenseNormalizer {
    /// Fits on `train` with the methods in `train.dense_normalize` (set by the reader from the
    /// schema, or by the generator). Statistics in f64 so a million rows do not lose digits.
    pub fn fit(train: &Dataset) -> Result<DenseNormalizer, DataError> {
        // The streamed fit with every row in one chunk: the two agree by construction.
        let mut fit = crate::normalizer_fit::NormalizerFit::new(train)?;
        fit.add(train)?;
        if fit.needs_second_pass() {
            fit.second_pass();
            fit.add(train)?;
        }
        fit.finish()
    }

    /// Applies the transform in place. Errors if the columns differ from the fitted ones, if the
    /// dataset is already normalised, if a statistic is not finite or a std not positive, if a
    /// log1p value is <= -1, or if a result is not a finite f32 (a value far outside the
    /// training range standardised with a tiny std). On error the dataset is unchanged.
    pub fn apply(&self, data: &mut Dataset) -> Result<(), DataError> {
        if data.dense_normalized {
            return Err(DataError::config("dataset is already normalised"));
        }
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        if names != data.spec.dense.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(DataError::config(format!(
                "normaliser columns {names:?} differ from the dataset's dense columns {:?}",
                data.spec.dense
            )));
        }
        for t in &self.columns {
            t.check()?;
        }
        let d = self.columns.len();
        if d > 0 {
            // Checked first, so that an error leaves the dataset untouched.
            for (r, row) in data.dense.chunks_exact(d).enumerate() {
                for (x, t) in row.iter().zip(&self.columns) {
                    if t.transform(*x).is_none() {
                        let why = if t.method.takes_log1p() && *x <= -1.0 {
                            "<= -1 for log1p".to_string()
                        } else {
                            format!(
                                "does not give a finite f32 with {:?} (mean {}, std {})",
                                t.method, t.mean, t.std
                            )
                        };
                        return Err(DataError::config(format!(
                            "row {r}: column {:?}: value {x} {why}",
                            t.name
                        )));
                    }
                }
            }
            for row in data.dense.chunks_exact_mut(d) {
                for (x, t) in row.iter_mut().zip(&self.columns) {
                    // Checked above.
                    *x = t.transform(*x).unwrap_or(0.0);
                }
            }
        }
        data.dense_normalized = true;
        Ok(())
    }

    /// Applies the transform to one row of dense values; on failure returns the index of the
    /// column whose value has no transform ([`ColumnTransform::transform`]: a log1p value <= -1
    /// or a result that is not a finite f32); the row is then partly transformed.
    pub fn apply_row(&self, row: &mut [f32]) -> Result<(), usize> {
        for (c, (x, t)) in row.iter_mut().zip(&self.columns).enumerate() {
            *x = t.transform(*x).ok_or(c)?;
        }
        Ok(())
    }
}
