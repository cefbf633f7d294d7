//! Saved optimiser state: named tensors plus string metadata, ready for a checkpoint to write
//! under an `optim.` prefix.
//!
//! Names (see `docs/optim.md` §6):
//! - tensors `{param}.momentum_buffer` (SGD with momentum), `{param}.exp_avg` and
//!   `{param}.exp_avg_sq` (Adam, AdamW), `{param}.sum` (Adagrad), each of the parameter's shape;
//! - metadata `optimizer` (`sgd`, `adam`, `adamw`, `adagrad`), `step` (steps taken) and
//!   `{param}.step` (updates of that parameter, the `t` of Adam's bias correction).
//!
//! A parameter that has not been updated yet has no entries.

use ndarray::ArrayD;
use std::collections::BTreeMap;

/// Optimiser state as named tensors and metadata. Tensor values are exact copies, so
/// restoring them continues training bit-identically.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimState<F> {
    /// `(name, tensor)` pairs in a stable order (by group, then parameter, then state name).
    pub tensors: Vec<(String, ArrayD<F>)>,
    /// Scalars as strings: optimiser kind and step counters.
    pub meta: BTreeMap<String, String>,
}

impl<F> OptimState<F> {
    /// The tensor saved under `name`.
    pub fn tensor(&self, name: &str) -> Option<&ArrayD<F>> {
        self.tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}
