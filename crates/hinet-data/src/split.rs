//! Train/validation/test splits.
//!
//! A hash split assigns each row by a stable hash of its key, not by a random draw in row
//! order: the assignment of a row does not depend on which other rows exist, so appending data
//! or skipping a bad row never moves other rows between splits, and a key of `user_id` keeps
//! every user's rows in one split.
//!
//! Most public datasets ship train and test files only; [`SplitSpec::FileValid`] keeps them and
//! carves the validation rows out of the training files by the same row-key hash.

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::hash::unit_interval;
use crate::schema::{InputFile, Part};

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
    /// By file, with validation rows carved from the training files: a row of a `train` file
    /// goes to validation when the seeded hash of its key (see [`Dataset::row_key`]) falls below
    /// `valid`; rows of `valid` and `test` files stay where their file puts them. Serialised as
    /// `{"by": "file_valid", "valid": 0.1, "seed": 2024}`.
    #[serde(rename = "file_valid")]
    FileValid {
        /// Fraction of the training files' rows that go to validation, in (0, 1).
        valid: f64,
        /// Seed mixed into the hash (another seed, another validation set).
        seed: u64,
    },
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

    /// A split by file with `valid` of the training files' rows carved out for validation.
    pub fn file_valid(valid: f64, seed: u64) -> SplitSpec {
        SplitSpec::FileValid { valid, seed }
    }

    /// This split with a validation fraction carved from the training files (what `hinet`'s
    /// `--valid-fraction` asks for): a split by file becomes [`SplitSpec::FileValid`] (an
    /// existing one gets the new fraction and seed). A hash split is an error: its validation
    /// share is already one of its own fractions, and silently changing it would move rows that
    /// the user's fractions put into training or test.
    pub fn carve_valid(self, valid: f64, seed: u64) -> Result<SplitSpec, DataError> {
        if !(valid.is_finite() && valid > 0.0 && valid < 1.0) {
            return Err(DataError::config(format!(
                "validation fraction {valid} of the training files must be in (0, 1)"
            )));
        }
        match self {
            SplitSpec::File | SplitSpec::FileValid { .. } => Ok(SplitSpec::FileValid { valid, seed }),
            SplitSpec::Hash { .. } => Err(DataError::config(
                "a validation fraction is carved from training files, but this data is split by hash, \
                 not by file (give every input file a `part`, or set the hash split's own fractions)",
            )),
        }
    }
}

/// The split that fits `files`: by file when every file has a `part`, `hash` when none has
/// (or there are no files), and an error naming both groups when only some have one.
///
/// A mixed list is an error rather than a silent hash split of everything: a hash split would
/// put rows of the file marked `test` into training (and training rows into the test set).
pub fn split_for_files(files: &[InputFile], hash: SplitSpec) -> Result<SplitSpec, DataError> {
    let (with, without): (Vec<&InputFile>, Vec<&InputFile>) = files.iter().partition(|f| f.part.is_some());
    if without.is_empty() && !with.is_empty() {
        return Ok(SplitSpec::File);
    }
    if with.is_empty() {
        return Ok(hash);
    }
    let list = |fs: &[&InputFile]| {
        fs.iter()
            .map(|f| match f.part {
                Some(p) => format!("{} ({})", f.path.display(), p.name()),
                None => f.path.display().to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(DataError::config(format!(
        "some input files have a `part` and others do not, so neither a split by file nor a hash \
         split fits; give every file a part (train, valid or test) or none. With a part: {}. \
         Without: {}",
        list(&with),
        list(&without)
    )))
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
            SplitSpec::File | SplitSpec::FileValid { .. } => {
                let carve = match *spec {
                    SplitSpec::FileValid { valid, seed } => {
                        if !(valid.is_finite() && valid > 0.0 && valid < 1.0) {
                            return Err(DataError::config(format!(
                                "validation fraction {valid} of the training files must be in (0, 1)"
                            )));
                        }
                        Some((valid, seed))
                    }
                    _ => None,
                };
                for (r, part) in self.file_part.iter().enumerate() {
                    let k = match part {
                        Some(Part::Train) => match carve {
                            Some((valid, seed)) if unit_interval(self.row_key[r], seed) < valid => 1,
                            _ => 0,
                        },
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
