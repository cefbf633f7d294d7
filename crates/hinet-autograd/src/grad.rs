//! Gradients of parameters, handed from a backward sweep to an optimiser by [`ParamId`].
//!
//! A parameter's gradient is dense, or, for an embedding table read only through
//! `gather_rows`, a list of touched rows: a batch of 4096 rows touches a few thousand of a
//! table's 10,000 rows, and a lazy optimiser then updates only those.
//! The struct keeps its buffers between steps, so a warm training loop allocates nothing here.

use crate::float::Float;
use crate::ops::OrBug;
use crate::param::ParamId;
use ndarray::{ArrayD, ArrayView2, ArrayViewD, ArrayViewMutD, Axis};

#[derive(Debug, Default)]
struct Slot<F> {
    dense: Option<ArrayD<F>>,
    dense_live: bool,
    row_indices: Vec<usize>,
    row_values: Vec<F>,
    row_width: usize,
    rows_live: bool,
    // scratch for coalescing duplicate rows
    order: Vec<(usize, usize)>,
    merged: Vec<F>,
}

/// One parameter's gradient.
#[derive(Debug, Clone)]
pub enum ParamGrad<'a, F> {
    /// A gradient for every element, with the parameter's shape.
    Dense(ArrayViewD<'a, F>),
    /// Gradient rows of a 2-D table: `values.row(k)` is the gradient of row `rows[k]`;
    /// every other row's gradient is zero. Rows are sorted and unique.
    Rows {
        /// The touched rows, sorted and unique.
        rows: &'a [usize],
        /// `[rows.len(), width]`: the gradient of each touched row.
        values: ArrayView2<'a, F>,
    },
}

/// Gradients of one backward sweep, by parameter id.
#[derive(Debug, Default)]
pub struct Gradients<F> {
    slots: Vec<Slot<F>>,
}

impl<F: Float> Gradients<F> {
    /// An empty set, reusable across steps.
    pub fn new() -> Self {
        Self { slots: Vec::new() }
    }

    /// Forgets all gradients but keeps their buffers for the next sweep.
    pub fn clear(&mut self) {
        for slot in &mut self.slots {
            slot.dense_live = false;
            slot.rows_live = false;
            slot.row_indices.clear();
            slot.row_values.clear();
        }
    }

    fn slot(&mut self, id: ParamId) -> &mut Slot<F> {
        if self.slots.len() <= id.0 {
            self.slots.resize_with(id.0 + 1, Slot::default);
        }
        &mut self.slots[id.0]
    }

    /// The gradient of a parameter, or `None` if the loss did not depend on it.
    pub fn get(&self, id: ParamId) -> Option<ParamGrad<'_, F>> {
        let slot = self.slots.get(id.0)?;
        if slot.dense_live {
            return slot.dense.as_ref().map(|d| ParamGrad::Dense(d.view()));
        }
        if slot.rows_live {
            let n = slot.row_indices.len();
            // The engine wrote n rows of row_width values; anything else is a bug, never "no
            // gradient".
            let values = ArrayView2::from_shape((n, slot.row_width), &slot.row_values).or_bug("row gradient");
            return Some(ParamGrad::Rows {
                rows: &slot.row_indices,
                values,
            });
        }
        None
    }

    /// The gradient as a dense tensor of the parameter's shape (rows expanded), for tests and
    /// optimisers that do not do sparse updates.
    pub fn dense(&self, id: ParamId, shape: &[usize]) -> Option<ArrayD<F>> {
        match self.get(id)? {
            ParamGrad::Dense(d) => Some(d.to_owned()),
            ParamGrad::Rows { rows, values } => {
                let mut out = ArrayD::zeros(shape);
                for (k, &r) in rows.iter().enumerate() {
                    let mut dst = out.index_axis_mut(Axis(0), r);
                    for (d, &v) in dst.iter_mut().zip(values.row(k)) {
                        *d += v;
                    }
                }
                Some(out)
            }
        }
    }

    /// Ids that received a gradient.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.dense_live || s.rows_live)
            .map(|(i, _)| ParamId(i))
    }

    /// A parameter's dense gradient, to change in place (a data-parallel trainer sums it across
    /// processes); `None` when it has none or its gradient is a list of rows.
    pub fn dense_mut(&mut self, id: ParamId) -> Option<ArrayViewMutD<'_, F>> {
        let slot = self.slots.get_mut(id.0)?;
        if slot.dense_live {
            slot.dense.as_mut().map(|d| d.view_mut())
        } else {
            None
        }
    }

    /// Sets a parameter's gradient to the dense `grad`, replacing any it had.
    pub fn set_dense(&mut self, id: ParamId, grad: ArrayViewD<'_, F>) {
        self.remove(id);
        self.add_dense(id, grad);
    }

    /// Sets a 2-D table's gradient to rows: `values` holds `rows.len()` rows of `width` values,
    /// row `k` being the gradient of table row `rows[k]`. Rows may repeat and come in any order:
    /// they are sorted and duplicates summed (in the order given). Empty `rows` is a gradient
    /// of zero, which still counts as one (an optimiser updates the table). Replaces any
    /// gradient the parameter had.
    pub fn set_rows(&mut self, id: ParamId, rows: &[usize], values: &[F], width: usize) {
        let slot = self.slot(id);
        slot.dense_live = false;
        slot.row_indices.clear();
        slot.row_values.clear();
        slot.row_width = width;
        slot.rows_live = true;
        slot.row_indices.extend_from_slice(rows);
        slot.row_values.extend_from_slice(&values[..rows.len() * width]);
        coalesce(slot);
    }

    /// Forgets one parameter's gradient (keeping its buffers).
    pub fn remove(&mut self, id: ParamId) {
        if let Some(slot) = self.slots.get_mut(id.0) {
            slot.dense_live = false;
            slot.rows_live = false;
            slot.row_indices.clear();
            slot.row_values.clear();
        }
    }

    /// Multiplies every gradient by `factor` (clipping, loss scaling).
    pub fn scale(&mut self, factor: F) {
        for slot in &mut self.slots {
            if slot.dense_live
                && let Some(d) = slot.dense.as_mut()
            {
                d.mapv_inplace(|v| v * factor);
            }
            if slot.rows_live {
                slot.row_values.iter_mut().for_each(|v| *v *= factor);
            }
        }
    }

    /// Adds a dense gradient; copies into the slot's own buffer when it has one of this shape.
    pub(crate) fn add_dense(&mut self, id: ParamId, grad: ArrayViewD<'_, F>) {
        let slot = self.slot(id);
        if slot.dense_live {
            if let Some(d) = slot.dense.as_mut() {
                *d += &grad;
            }
            return;
        }
        match slot.dense.as_mut() {
            Some(d) if d.shape() == grad.shape() => d.assign(&grad),
            _ => slot.dense = Some(grad.to_owned()),
        }
        slot.dense_live = true;
    }

    /// Adds gradient rows of a 2-D table: `values` is `[indices.len(), width]`.
    pub(crate) fn add_rows(&mut self, id: ParamId, indices: &[usize], values: ArrayView2<'_, F>) {
        let slot = self.slot(id);
        if !slot.rows_live {
            slot.row_indices.clear();
            slot.row_values.clear();
            slot.row_width = values.ncols();
            slot.rows_live = true;
        }
        slot.row_indices.extend_from_slice(indices);
        for row in values.rows() {
            slot.row_values.extend(row.iter().copied());
        }
    }

    /// Merges duplicate rows and folds rows into a dense gradient where both exist.
    /// Called once at the end of a sweep.
    pub(crate) fn finish(&mut self) {
        for slot in &mut self.slots {
            if !slot.rows_live {
                continue;
            }
            if slot.dense_live {
                let width = slot.row_width;
                if let Some(d) = slot.dense.as_mut() {
                    let mut d2 = d.view_mut();
                    scatter_rows_into(&mut d2, &slot.row_indices, &slot.row_values, width);
                }
                slot.rows_live = false;
                continue;
            }
            coalesce(slot);
        }
    }
}

fn scatter_rows_into<F: Float>(dense: &mut ArrayViewMutD<'_, F>, rows: &[usize], values: &[F], width: usize) {
    for (k, &r) in rows.iter().enumerate() {
        let mut dst = dense.index_axis_mut(Axis(0), r);
        for (d, &v) in dst.iter_mut().zip(&values[k * width..(k + 1) * width]) {
            *d += v;
        }
    }
}

/// Sorts rows and sums duplicates in place, reusing the slot's scratch buffers.
fn coalesce<F: Float>(slot: &mut Slot<F>) {
    let width = slot.row_width;
    slot.order.clear();
    slot.order
        .extend(slot.row_indices.iter().copied().enumerate().map(|(k, r)| (r, k)));
    slot.order.sort_unstable();
    slot.merged.clear();
    slot.row_indices.clear();
    for &(row, k) in &slot.order {
        let src = &slot.row_values[k * width..(k + 1) * width];
        if slot.row_indices.last() == Some(&row) {
            let start = slot.merged.len() - width;
            for (d, &v) in slot.merged[start..].iter_mut().zip(src) {
                *d += v;
            }
        } else {
            slot.row_indices.push(row);
            slot.merged.extend_from_slice(src);
        }
    }
    std::mem::swap(&mut slot.row_values, &mut slot.merged);
}
