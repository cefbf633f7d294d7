//! Dense values too large for the model: a dense input of 3e38 that nobody normalised makes the
//! loss overflow (or reach 1e36) while every value is a perfectly valid finite number. These
//! checks name such columns so the caller can warn or refuse.

use std::fmt;

use crate::dataset::Dataset;
use crate::normalize::{DenseNormalizer, Normalize};

/// A suggested threshold for [`Dataset::dense_range_warnings`] and
/// [`crate::SkipReport::dense_range_warnings`]: 1e6. Normalised features are of order 1; a
/// value a million times larger dominates every activation it feeds.
pub const DENSE_WARN_ABS: f32 = 1e6;

/// A place in an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// The file, as given.
    pub file: String,
    /// 1-based line where the record starts (the header is line 1).
    pub line: u64,
}

impl fmt::Display for SourceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The smallest and largest value of one dense column as read, with where each first occurs.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseRange {
    /// Column name.
    pub column: String,
    /// Smallest value.
    pub min: f32,
    /// Where the smallest value first occurs.
    pub min_at: SourceLine,
    /// Largest value.
    pub max: f32,
    /// Where the largest value first occurs.
    pub max_at: SourceLine,
}

/// A dense column whose values exceed a threshold in absolute value.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseRangeWarning {
    /// Column name.
    pub column: String,
    /// The largest |value| (infinite if normalising a value overflows).
    pub max_abs: f32,
    /// The threshold it exceeds.
    pub threshold: f32,
    /// The column's normalisation, and whether `max_abs` is after it (`false`: as read).
    pub normalize: Normalize,
    /// Whether `max_abs` is a normalised value.
    pub normalized: bool,
    /// Row (of the dataset checked) where the largest |value| first occurs, if known.
    pub row: Option<usize>,
    /// File and line where the largest |value| first occurs, if known.
    pub at: Option<SourceLine>,
    /// How many rows exceed the threshold, if known.
    pub rows_over: Option<usize>,
}

impl fmt::Display for DenseRangeWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = if self.normalized {
            format!("after normalisation ({})", normalize_name(self.normalize))
        } else {
            format!("as read (normalize = \"{}\")", normalize_name(self.normalize))
        };
        write!(
            f,
            "dense column \"{}\": |value| reaches {:.3e} {stage}, above {:e}",
            self.column, self.max_abs, self.threshold
        )?;
        if let Some(n) = self.rows_over {
            write!(f, " in {n} row{}", if n == 1 { "" } else { "s" })?;
        }
        match (&self.at, self.row) {
            (Some(at), _) => write!(f, ", first at {at}")?,
            (None, Some(r)) => write!(f, ", first at row {r}")?,
            (None, None) => {}
        }
        f.write_str(
            "; values this large swamp the model's activations and loss: normalise the column \
             (normalize = \"log1p\" or \"standardize\") or fix the data",
        )
    }
}

fn normalize_name(n: Normalize) -> &'static str {
    match n {
        Normalize::None => "none",
        Normalize::Standardize => "standardize",
        Normalize::Log1p => "log1p",
        Normalize::Log1pStandardize => "log1p_standardize",
    }
}

/// See [`crate::SkipReport::dense_range_warnings`].
pub(crate) fn range_warnings(
    ranges: &[Option<DenseRange>],
    normalizer: Option<&DenseNormalizer>,
    threshold: f32,
) -> Vec<DenseRangeWarning> {
    let mut out = Vec::new();
    for (c, r) in ranges.iter().enumerate() {
        let Some(r) = r else { continue };
        // The normaliser's transform of this column, if it has one by that name.
        let t = normalizer.and_then(|n| n.columns.get(c).filter(|t| t.name == r.column));
        let see = |x: f32| -> f32 {
            match t {
                Some(t) => t.transform(x).map_or(f32::INFINITY, f32::abs),
                None => x.abs(),
            }
        };
        let (lo, hi) = (see(r.min), see(r.max));
        // The larger wins; on a tie, the smallest value's place.
        let (max_abs, at) = if hi > lo { (hi, &r.max_at) } else { (lo, &r.min_at) };
        if max_abs > threshold || max_abs.is_nan() {
            let normalize = t.map_or(Normalize::None, |t| t.method);
            out.push(DenseRangeWarning {
                column: r.column.clone(),
                max_abs,
                threshold,
                normalize,
                normalized: t.is_some_and(|t| t.method != Normalize::None),
                row: None,
                at: Some(at.clone()),
                rows_over: None,
            });
        }
    }
    out
}

impl Dataset {
    /// Dense columns whose values, as the model will see them, exceed `threshold` in absolute
    /// value (e.g. [`DENSE_WARN_ABS`]), with the largest |value|, the first row holding it and
    /// the number of rows above the threshold.
    ///
    /// After normalisation (`dense_normalized`) every column is checked. Before it, only the
    /// columns with `normalize = "none"`, whose values reach the model as they are; a column
    /// still to be standardised or log-transformed may legitimately hold large raw values
    /// (timestamps, prices). Non-finite values (which no reader of this crate accepts) count
    /// as infinite.
    pub fn dense_range_warnings(&self, threshold: f32) -> Vec<DenseRangeWarning> {
        let d = self.spec.dense.len();
        let mut out = Vec::new();
        if d == 0 {
            return out;
        }
        for (c, name) in self.spec.dense.iter().enumerate() {
            let normalize = self.dense_normalize.get(c).copied().unwrap_or(Normalize::None);
            if !self.dense_normalized && normalize != Normalize::None {
                continue;
            }
            let (mut max_abs, mut row, mut over) = (0.0f32, 0usize, 0usize);
            for (r, x) in self.dense.iter().skip(c).step_by(d).enumerate() {
                let a = if x.is_finite() { x.abs() } else { f32::INFINITY };
                if a > threshold {
                    over += 1;
                }
                if a > max_abs {
                    (max_abs, row) = (a, r);
                }
            }
            if over > 0 {
                out.push(DenseRangeWarning {
                    column: name.clone(),
                    max_abs,
                    threshold,
                    normalize,
                    normalized: self.dense_normalized && normalize != Normalize::None,
                    row: Some(row),
                    at: None,
                    rows_over: Some(over),
                });
            }
        }
        out
    }
}
