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
        for (r, part) in self.split_parts(spec)?.into_iter().enumerate() {
            out[part_index(part)].push(r);
        }
        Ok(out)
    }

    /// The part of the split `spec` that each row goes to (one byte a row).
    pub fn split_parts(&self, spec: &SplitSpec) -> Result<Vec<Part>, DataError> {
        const PARTS: [Part; 3] = [Part::Train, Part::Valid, Part::Test];
        let mut out = Vec::with_capacity(self.len());
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
                for &key in &self.row_key {
                    let u = unit_interval(key, seed);
                    let part = if u < train {
                        0
                    } else if u < train + valid {
                        1
                    } else {
                        2
                    };
                    out.push(PARTS[part]);
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
                    out.push(PARTS[k]);
                }
            }
        }
        Ok(out)
    }

    /// Splits into three datasets without holding the data twice: the training rows stay in
    /// this dataset's buffers (compacted in place, as [`Dataset::keep_rows`] does), and the
    /// validation and test rows are moved out one column at a time, each column's buffer
    /// shrunk as soon as its rows are out. The peak is the data plus the validation and test
    /// rows of one column (not of all: a copy of validation and test beside the whole data is
    /// what [`Dataset::split`] needs). Returns the parts, equal to [`Dataset::split`]'s, and the
    /// part each row of this dataset went to (one byte a row: the data row of a training row,
    /// for a message, is the position of its `Part::Train`).
    pub fn split_in_place(mut self, spec: &SplitSpec) -> Result<(Splits, Vec<Part>), DataError> {
        let part = self.split_parts(spec)?;
        let (f, d, t) = (self.spec.sparse.len(), self.spec.dense.len(), self.spec.tasks.len());
        let mut valid = Dataset::empty(self.spec.clone());
        let mut test = Dataset::empty(self.spec.clone());
        for out in [&mut valid, &mut test] {
            out.dense_normalize = self.dense_normalize.clone();
            out.dense_normalized = self.dense_normalized;
        }
        [valid.scenario, test.scenario] = partition_column(&mut self.scenario, 1, &part);
        [valid.sparse, test.sparse] = partition_column(&mut self.sparse, f, &part);
        [valid.dense, test.dense] = partition_column(&mut self.dense, d, &part);
        [valid.labels, test.labels] = partition_column(&mut self.labels, t, &part);
        if let Some(o) = &mut self.oracle {
            let [v, te] = partition_column(o, t, &part);
            (valid.oracle, test.oracle) = (Some(v), Some(te));
        }
        [valid.row_key, test.row_key] = partition_column(&mut self.row_key, 1, &part);
        [valid.file_part, test.file_part] = partition_column(&mut self.file_part, 1, &part);
        let splits = Splits {
            train: self,
            valid,
            test,
        };
        Ok((splits, part))
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

fn part_index(part: Part) -> usize {
    match part {
        Part::Train => 0,
        Part::Valid => 1,
        Part::Test => 2,
    }
}

/// Keeps the training rows of `v` (`width` values each, one `part` each) in order and in
/// place, and returns the validation rows and the test rows, in order; `v`'s spare capacity goes back to the
/// allocator.
fn partition_column<T: Copy>(v: &mut Vec<T>, width: usize, part: &[Part]) -> [Vec<T>; 2] {
    let count = |p: Part| part.iter().filter(|&&x| x == p).count() * width;
    let mut out = [
        Vec::with_capacity(count(Part::Valid)),
        Vec::with_capacity(count(Part::Test)),
    ];
    let mut to = 0;
    for (r, &p) in part.iter().enumerate() {
        let row = r * width..(r + 1) * width;
        if p == Part::Train {
            // Row r moves down to `to <= r`: never onto a row still to be read.
            if to != r {
                v.copy_within(row, to * width);
            }
            to += 1;
        } else {
            out[part_index(p) - 1].extend_from_slice(&v[row]);
        }
    }
    v.truncate(to * width);
    v.shrink_to_fit();
    out
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
