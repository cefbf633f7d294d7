//! Dense gradients summed across ranks in a few large buckets rather than one call per tensor:
//! a collective costs a latency (tens of microseconds on a network) plus its bytes, and HiNet has
//! about a hundred dense tensors, most of them small.

use crate::comm::Communicator;
use crate::error::Result;
use crate::wire::WireFloat;
use hinet_autograd::{Gradients, ParamGrad, ParamId, ParamStore};
use ndarray::ArrayViewD;

/// Default bucket size: 1 Mi values (4 MiB of f32), large enough that the per-call latency is
/// noise, small enough to bound the copy's memory.
pub const DEFAULT_BUCKET_VALUES: usize = 1 << 20;

/// Sums the dense gradients of a fixed list of parameters over the ranks.
#[derive(Debug)]
pub(crate) struct DenseReducer<F> {
    /// `(parameter, elements)`, in registration order: the same on every rank.
    params: Vec<(ParamId, usize)>,
    bucket_values: usize,
    buf: Vec<F>,
    /// Buckets sent in the last step (for reports).
    pub(crate) buckets_last_step: usize,
}

impl<F: WireFloat> DenseReducer<F> {
    pub(crate) fn new(store: &ParamStore<F>, params: Vec<ParamId>, bucket_values: usize) -> Self {
        let params = params.into_iter().map(|id| (id, store.value(id).len())).collect();
        Self {
            params,
            bucket_values: bucket_values.max(1),
            buf: Vec::new(),
            buckets_last_step: 0,
        }
    }

    /// Values (gradients plus one presence flag per tensor) that one step sends.
    pub(crate) fn values_per_step(&self) -> usize {
        self.params.iter().map(|&(_, n)| n + 1).sum()
    }

    /// Replaces each gradient by `sum over ranks of weight_k * grad_k`. A rank whose batch did
    /// not reach a parameter (no rows of a scenario) sends zeros; each tensor carries a flag
    /// counting the ranks that had a gradient, so a parameter no rank reached keeps no
    /// gradient (the optimiser then skips it, as one process would).
    pub(crate) fn reduce(
        &mut self,
        comm: &dyn Communicator,
        store: &ParamStore<F>,
        grads: &mut Gradients<F>,
        weight: F,
    ) -> Result<()> {
        self.buckets_last_step = 0;
        let mut start = 0;
        while start < self.params.len() {
            // One bucket: as many whole tensors as fit (at least one).
            let mut end = start;
            let mut size = 0;
            while end < self.params.len() && (end == start || size + self.params[end].1 < self.bucket_values) {
                size += self.params[end].1 + 1;
                end += 1;
            }
            self.buf.clear();
            for &(id, n) in &self.params[start..end] {
                match grads.get(id) {
                    Some(ParamGrad::Dense(d)) => {
                        // Slices, not the n-dimensional iterator: this loop touches every value
                        // of every dense gradient each step.
                        match d.as_slice() {
                            Some(g) => self.buf.extend(g.iter().map(|&g| g * weight)),
                            None => self.buf.extend(d.iter().map(|&g| g * weight)),
                        }
                        self.buf.push(F::one());
                    }
                    // Row gradients only come from embedding tables, which are not in the list.
                    _ => {
                        self.buf.extend(std::iter::repeat_n(F::zero(), n + 1));
                    }
                }
            }
            F::sum_over(comm, &mut self.buf)?;
            self.buckets_last_step += 1;
            let mut at = 0;
            for &(id, n) in &self.params[start..end] {
                let values = &self.buf[at..at + n];
                let reached = self.buf[at + n] > F::zero();
                at += n + 1;
                if !reached {
                    grads.remove(id);
                    continue;
                }
                match grads.dense_mut(id) {
                    Some(mut d) => match d.as_slice_mut() {
                        Some(g) => g.copy_from_slice(values),
                        None => d.iter_mut().zip(values).for_each(|(g, &v)| *g = v),
                    },
                    None => {
                        let shape = store.value(id).shape();
                        if let Ok(view) = ArrayViewD::from_shape(shape, values) {
                            grads.set_dense(id, view);
                        }
                    }
                }
            }
            start = end;
        }
        Ok(())
    }
}
