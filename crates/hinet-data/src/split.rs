//! Train/validation/test splits.
//!
//! A hash split assigns each row by a stable hash of its key, not by a random draw in row
//! order: the assignment of a row does not depend on which other rows exist, so appending data
//! or skipping a bad row never moves other rows between splits, and a key of `user_id` keeps
//! every user's rows in one split.

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::hash::unit_interval;
use crate::schema::Part;

/// How to split a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "lowercase")]
pub enum SplitSpec {
    /// By a hash of each row's key (see [`Dataset::row_key`]), with the given fractions
    /// (non-negative, summing to 1).
    Hash {
        /// Fraction of rows for training.
        train: f64,
        /// Fraction for validation.
        valid: f64,
        /// Fraction for test.
        test: f64,
        /// Seed mixed into the hash (another seed, another split).
        seed: u64,
    },
    /// By the `part` of each row's input file; every file must have one.
    File,
}

impl SplitSpec {
    /// A hash split with the given fractions and seed.
    pub fn hash(train: f64, valid: f64, test: f64, seed: u64) -> SplitSpec {
        SplitSpec::Hash {
            train,
            valid,
            test,
            seed,
        }
    }
}

/// The three parts of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows.
    pub valid: Dataset,
    /// Test rows.
    pub test: Dataset,
}

impl Dataset {
    /// Row indices of train, validation and test, each in dataset order.
    pub fn split_indices(&self, spec: &SplitSpec) -> Result<[Vec<usize>; 3], DataError> {
        let mut out: [Vec<usize>; 3] = Default::default();
        match *spec {
            SplitSpec::Hash {
                train,
                valid,
                test,
                seed,
            } => {
                let fr = [train, valid, test];
                if fr.iter().any(|x| !(x.is_finite() && *x >= 0.0)) || ((train + valid + test) - 1.0).abs() > 1e-6 {
                    return Err(DataError::config(format!(
                        "split fractions {train}, {valid}, {test} must be non-negative and sum to 1"
                    )));
                }
                for (r, &key) in self.row_key.iter().enumerate() {
                    let u = unit_interval(key, seed);
                    let part = if u < train {
                        0
                    } else if u < train + valid {
                        1
                    } else {
                        2
                    };
                    out[part].push(r);
                }
            }
            SplitSpec::File => {
                for (r, part) in self.file_part.iter().enumerate() {
                    let k = match part {
                        Some(Part::Train) => 0,
                        Some(Part::Valid) => 1,
                        Some(Part::Test) => 2,
                        None => {
                            return Err(DataError::config(format!(
                                "split by file, but row {r} comes from a file without a `part`"
                            )));
                        }
                    };
                    out[k].push(r);
                }
            }
        }
        Ok(out)
    }

    /// Splits into three datasets.
    pub fn split(&self, spec: &SplitSpec) -> Result<Splits, DataError> {
        let [a, b, c] = self.split_indices(spec)?;
        Ok(Splits {
            train: self.subset(&a),
            valid: self.subset(&b),
            test: self.subset(&c),
        })
    }
}

impl Splits {
    /// Fits a [`crate::DenseNormalizer`] on `train` and applies it to all three parts.
    pub fn normalize(&mut self) -> Result<crate::DenseNormalizer, DataError> {
        let n = crate::DenseNormalizer::fit(&self.train)?;
        n.apply(&mut self.train)?;
        n.apply(&mut self.valid)?;
        n.apply(&mut self.test)?;
        Ok(n)
    }
}
