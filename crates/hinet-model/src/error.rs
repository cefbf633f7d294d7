//! Model errors: configuration keys, layer errors, checkpoint mismatches.

use crate::size::MemoryEstimate;
use hinet_layers::LayerError;
use std::fmt;
use thiserror::Error;

/// What the model can refuse.
#[derive(Debug, Error)]
pub enum ModelError {
    /// An invalid configuration value, naming its key.
    #[error("config: key `{key}`: {why}")]
    Config {
        /// The TOML key (dotted path) that is wrong.
        key: String,
        /// What is wrong with it.
        why: String,
    },
    /// A configuration file that does not parse (unknown keys included).
    #[error("config: {0}")]
    Parse(String),
    /// An input batch that does not fit the model.
    #[error("input: {0}")]
    Input(String),
    /// A layer's error (shapes, ids).
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// An engine error outside any layer.
    #[error(transparent)]
    Autograd(#[from] hinet_autograd::AutogradError),
    /// An optimiser error.
    #[error(transparent)]
    Optim(#[from] hinet_optim::OptimError),
    /// A checkpoint that cannot be read, written or applied; the message names the file and
    /// exactly what does not match.
    #[error("checkpoint {path}: {why}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// The loss became NaN or infinite; the report says which task's term, which parameter
    /// and which rows of the batch hold non-finite values. Nothing was updated.
    #[error("{0}")]
    NonFiniteLoss(Box<NonFiniteReport>),
    /// Predictions that are NaN or infinite (the report names the rows and what is non-finite
    /// in them); no prediction of the batch is returned.
    #[error("{0}")]
    NonFinitePredictions(Box<NonFiniteReport>),
    /// The model and its training state would need more memory than allowed; nothing was
    /// allocated.
    #[error(
        "the model needs about {} of memory, more than the {} it may use: make {} smaller (estimate: {estimate})",
        crate::size::human_bytes(*needed),
        crate::size::human_bytes(*limit),
        estimate.advice()
    )]
    TooLarge {
        /// What the model would need, by component.
        estimate: Box<MemoryEstimate>,
        /// The bytes compared with the limit: the estimate's total to train, its
        /// [`MemoryEstimate::inference_bytes`] to evaluate, plus the size of a checkpoint file
        /// that is read whole.
        needed: u64,
        /// The limit (`TrainOptions::max_memory_bytes`, or for the parameters alone the memory
        /// available on the machine).
        limit: u64,
    },
}

/// The most rows a [`NonFiniteReport`] lists (it counts them all).
pub const MAX_LISTED_ROWS: usize = 8;

/// A batch row holding a non-finite value.
#[derive(Debug, Clone, PartialEq)]
pub struct RowFault {
    /// The row's position in the batch (the sorted order of [`crate::ModelInput`]).
    pub batch_row: usize,
    /// The caller's id of the row, once [`NonFiniteReport::with_row_ids`] mapped it (e.g. the
    /// dataset row from `hinet_data::Batch::source_rows`).
    pub id: Option<usize>,
    /// Tasks whose logit (prediction) is NaN or infinite for this row.
    pub logits: Vec<String>,
    /// Dense columns holding NaN or infinity.
    pub dense: Vec<String>,
    /// Tasks whose label is NaN or infinite.
    pub labels: Vec<String>,
}

/// What the trainer found when a loss (or a prediction) was not finite.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFiniteReport {
    /// The loss (NaN for a prediction report).
    pub value: f64,
    /// Steps taken before this one.
    pub step: u64,
    /// Each term of the loss: `(task name, weighted mean BCE)`, and `("l2", penalty)` when
    /// the config has an L2 penalty. Empty for a prediction report.
    pub terms: Vec<(String, f64)>,
    /// The first parameter or buffer holding NaN or infinity, if any.
    pub parameter: Option<String>,
    /// Rows with a non-finite logit, dense value or label, in batch order (at most
    /// [`MAX_LISTED_ROWS`]).
    pub rows: Vec<RowFault>,
    /// How many rows have one (all of them, not only those listed).
    pub rows_total: usize,
}

impl NonFiniteReport {
    /// Maps each listed row's batch position to the caller's id (`ids[batch_row]`), e.g.
    /// `hinet_data::Batch::source_rows`, so that messages name input rows.
    pub fn with_row_ids(mut self, ids: &[usize]) -> Self {
        for r in &mut self.rows {
            r.id = ids.get(r.batch_row).copied();
        }
        self
    }
}

impl fmt::Display for NonFiniteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.terms.is_empty() && self.value.is_nan() {
            write!(f, "predictions are not finite at step {}", self.step)?;
        } else {
            write!(f, "the loss is not finite ({}) at step {}", self.value, self.step)?;
        }
        let bad: Vec<String> = self
            .terms
            .iter()
            .filter(|(_, v)| !v.is_finite())
            .map(|(name, v)| format!("`{name}` {v}"))
            .collect();
        if !bad.is_empty() {
            write!(f, "; non-finite terms: {}", bad.join(", "))?;
        }
        if let Some(p) = &self.parameter {
            write!(f, "; parameter `{p}` holds NaN or infinity")?;
        }
        if self.rows_total > 0 {
            let rows: Vec<String> = self.rows.iter().map(RowFault::to_string).collect();
            write!(f, "; rows with non-finite values: {}", rows.join(", "))?;
            if self.rows_total > self.rows.len() {
                write!(f, " ({} rows in all)", self.rows_total)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for RowFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            Some(id) => write!(f, "row {id} (batch row {})", self.batch_row)?,
            None => write!(f, "batch row {}", self.batch_row)?,
        }
        let mut parts = Vec::new();
        if !self.dense.is_empty() {
            parts.push(format!("dense {}", self.dense.join(" ")));
        }
        if !self.labels.is_empty() {
            parts.push(format!("label {}", self.labels.join(" ")));
        }
        if !self.logits.is_empty() {
            parts.push(format!("output {}", self.logits.join(" ")));
        }
        if !parts.is_empty() {
            write!(f, " [{}]", parts.join("; "))?;
        }
        Ok(())
    }
}

impl ModelError {
    /// For a [`ModelError::NonFiniteLoss`] or [`ModelError::NonFinitePredictions`], maps the
    /// rows it lists to the caller's ids ([`NonFiniteReport::with_row_ids`]); other errors are
    /// returned unchanged. `trainer.step(&input).map_err(|e| e.with_row_ids(&batch.source_rows))`.
    pub fn with_row_ids(self, ids: &[usize]) -> Self {
        match self {
            Self::NonFiniteLoss(r) => Self::NonFiniteLoss(Box::new(r.with_row_ids(ids))),
            Self::NonFinitePredictions(r) => Self::NonFinitePredictions(Box::new(r.with_row_ids(ids))),
            e => e,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

pub(crate) fn config_err<T>(key: &str, why: impl Into<String>) -> Result<T> {
    Err(ModelError::Config {
        key: key.to_string(),
        why: why.into(),
    })
}
