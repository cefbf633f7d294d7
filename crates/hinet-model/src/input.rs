//! `ModelInput`: one batch as the model sees it, borrowed from whatever produced it.

use crate::error::{ModelError, Result};
use hinet_autograd::Float;
use ndarray::ArrayView2;

/// A batch whose rows are sorted by scenario.
#[derive(Debug, Clone, Copy)]
pub struct ModelInput<'a, F> {
    /// Number of rows n.
    pub rows: usize,
    /// Scenario id of each row (ascending).
    pub scenario: &'a [usize],
    /// M + 1 offsets: rows of scenario m are `offsets[m]..offsets[m + 1]`.
    pub scenario_offsets: &'a [usize],
    /// Field-major ids: `sparse[f * rows + r]`.
    pub sparse: &'a [usize],
    /// Dense features `[rows, D]` (D may be 0).
    pub dense: ArrayView2<'a, F>,
    /// Labels `[rows, T]`, for the loss and metrics.
    pub labels: Option<ArrayView2<'a, F>>,
}

impl<F: Float> ModelInput<'_, F> {
    /// Checks the batch against the model's sizes; messages say which part is wrong.
    pub fn validate(&self, scenarios: usize, fields: usize, dense: usize, tasks: usize) -> Result<()> {
        let n = self.rows;
        let err = |why: String| Err(ModelError::Input(why));
        if self.scenario.len() != n {
            return err(format!("{} scenario ids for {n} rows", self.scenario.len()));
        }
        if self.scenario_offsets.len() != scenarios + 1
            || self.scenario_offsets.first() != Some(&0)
            || self.scenario_offsets.last() != Some(&n)
            || self.scenario_offsets.windows(2).any(|w| w[0] > w[1])
        {
            return err(format!(
                "scenario offsets {:?} do not split {n} rows into {scenarios} scenarios",
                self.scenario_offsets
            ));
        }
        for m in 0..scenarios {
            let range = self.scenario_offsets[m]..self.scenario_offsets[m + 1];
            if let Some(r) = range.clone().find(|&r| self.scenario[r] != m) {
                return err(format!(
                    "row {r} has scenario {} but lies in scenario {m}'s range {range:?} (rows must be sorted by scenario)",
                    self.scenario[r]
                ));
            }
        }
        if self.sparse.len() != n * fields {
            return err(format!(
                "{} sparse ids for {n} rows x {fields} fields",
                self.sparse.len()
            ));
        }
        if self.dense.dim() != (n, dense) {
            return err(format!(
                "dense features {:?}, expected ({n}, {dense})",
                self.dense.dim()
            ));
        }
        if let Some(l) = self.labels
            && l.dim() != (n, tasks)
        {
            return err(format!("labels {:?}, expected ({n}, {tasks})", l.dim()));
        }
        Ok(())
    }
}
