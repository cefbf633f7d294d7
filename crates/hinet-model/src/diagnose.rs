//! Reports on non-finite losses and predictions: which task's term, which parameter and which
//! rows of the batch hold NaN or infinity. Built only on the error path (they allocate).

#[cfg(feature = "trainer")]
use crate::error::ModelError;
use crate::error::{MAX_LISTED_ROWS, NonFiniteReport, RowFault};
use crate::input::ModelInput;
use crate::model::Model;
use hinet_autograd::{Float, ParamStore};
#[cfg(feature = "trainer")]
use hinet_autograd::{Tape, Var};
use ndarray::ArrayViewD;

/// The error for a batch whose loss `value` is not finite: each task's term, the non-finite
/// parameters and the rows of `input` and `logits` that hold NaN or infinity.
#[cfg(feature = "trainer")]
pub(crate) fn non_finite_loss<'t, F: Float>(
    model: &Model<F>,
    store: &ParamStore<F>,
    step: u64,
    tape: &'t Tape<'t, F>,
    logits: Var<'t, F>,
    input: &ModelInput<'_, F>,
    value: f64,
) -> ModelError {
    let terms = input
        .labels
        .map_or_else(Vec::new, |labels| model.loss_terms(tape, logits, labels));
    let outputs = logits.value();
    ModelError::NonFiniteLoss(Box::new(report(
        model,
        store,
        input,
        Some(outputs.view()),
        value,
        step,
        terms,
    )))
}

/// What is non-finite in `input`, `outputs` (`[n, T]` logits or predictions) and the store.
/// Labels are looked at for a loss report (`terms` not empty), not for predictions.
pub(crate) fn report<F: Float>(
    model: &Model<F>,
    store: &ParamStore<F>,
    input: &ModelInput<'_, F>,
    outputs: Option<ArrayViewD<'_, F>>,
    value: f64,
    step: u64,
    terms: Vec<(String, f64)>,
) -> NonFiniteReport {
    let config = model.config();
    let task = |j: usize| config.tasks.get(j).cloned().unwrap_or_else(|| format!("task {j}"));
    let parameter = store
        .ids()
        .find(|&id| store.value(id).iter().any(|v| !v.is_finite()))
        .map(|id| store.name(id).to_string());
    let mut rows = Vec::new();
    let mut rows_total = 0;
    for r in 0..input.rows {
        let mut fault = RowFault {
            batch_row: r,
            id: None,
            logits: Vec::new(),
            dense: Vec::new(),
            labels: Vec::new(),
        };
        if let Some(out) = &outputs
            && out.ndim() == 2
            && r < out.shape()[0]
        {
            for j in 0..out.shape()[1] {
                if !out[[r, j]].is_finite() {
                    fault.logits.push(task(j));
                }
            }
        }
        if r < input.dense.nrows() {
            for (c, v) in input.dense.row(r).iter().enumerate() {
                if !v.is_finite() {
                    let name = config.dense.get(c).cloned().unwrap_or_else(|| format!("column {c}"));
                    fault.dense.push(name);
                }
            }
        }
        if let Some(labels) = input.labels.filter(|_| !terms.is_empty())
            && r < labels.nrows()
        {
            for (j, v) in labels.row(r).iter().enumerate() {
                if !v.is_finite() {
                    fault.labels.push(task(j));
                }
            }
        }
        if !(fault.logits.is_empty() && fault.dense.is_empty() && fault.labels.is_empty()) {
            rows_total += 1;
            if rows.len() < MAX_LISTED_ROWS {
                rows.push(fault);
            }
        }
    }
    NonFiniteReport {
        value,
        step,
        terms,
        parameter,
        rows,
        rows_total,
    }
}
