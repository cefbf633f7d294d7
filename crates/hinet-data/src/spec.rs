//! What the model needs to know about its input.

use serde::{Deserialize, Serialize};

/// One sparse (categorical) field: its name and how many distinct ids it can hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SparseField {
    /// Field name (the CSV column it comes from).
    pub name: String,
    /// Embedding-table size: every id of this field is in `0..vocab`.
    pub vocab: usize,
}

/// Everything the model needs to know about the input: scenario and task names (their
/// order defines the scenario and task indices), the sparse fields and the dense columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Scenario names; scenario index m is `scenarios[m]`.
    pub scenarios: Vec<String>,
    /// Task names; task index j is `tasks[j]` (by convention task 0 = CTR, task 1 = CTCVR).
    pub tasks: Vec<String>,
    /// Sparse fields, in the order of the `sparse` columns of a [`crate::Dataset`].
    pub sparse: Vec<SparseField>,
    /// Dense column names, in the order of the `dense` columns of a [`crate::Dataset`].
    pub dense: Vec<String>,
}

impl FeatureSpec {
    /// Number of scenarios M.
    pub fn num_scenarios(&self) -> usize {
        self.scenarios.len()
    }
    /// Number of tasks T.
    pub fn num_tasks(&self) -> usize {
        self.tasks.len()
    }
    /// Number of sparse fields.
    pub fn num_sparse(&self) -> usize {
        self.sparse.len()
    }
    /// Number of dense columns.
    pub fn num_dense(&self) -> usize {
        self.dense.len()
    }
}
