//! bf16 copies of weights for the few-rows products of a bf16 tape that records no backward:
//! one row of a bf16 model's prediction.
//!
//! A product of one row reads every weight once, so its time is the weights' bytes over the
//! memory bandwidth (docs/kernels.md, "A few rows"); a bf16 copy is half the bytes, and a bf16
//! model's products round their operands to bf16 anyway (the copy holds exactly the values
//! the bf16 GEMM multiplies). The copy is made on first use and again whenever the
//! parameter's version changes (an optimiser step, a checkpoint load), so a prediction never
//! reads a stale weight. It lives in the tape's [`crate::Workspace`], with the other buffers
//! that outlive a tape.

use crate::float::Float;
use crate::param::{ParamId, ParamStore};
use hinet_kernels::{Bf16Weights, MatRef};

/// Most rows a product may have and still read bf16 weights (the kernels' few-rows path).
pub(crate) const FEW_ROWS: usize = 4;

/// A bias as `f32` for a product with bf16 weights: `Some(None)` without a bias, `None` when
/// the elements are not `f32` (the path does not apply).
pub(crate) fn f32_bias<F: Float>(bias: Option<&[F]>) -> Option<Option<&[f32]>> {
    match bias {
        None => Some(None),
        Some(b) => F::as_f32(b).map(Some),
    }
}

/// bf16 copies of weight parameters, by parameter index.
#[derive(Default)]
pub(crate) struct Bf16WeightCache {
    entries: Vec<Option<WeightCopy>>,
}

/// One parameter's copy, as blocks of rows (one per expert of a grouped layer).
struct WeightCopy {
    /// The parameter's version the copy was made from (0: none; versions start at 1).
    version: u64,
    parts: Vec<Bf16Weights>,
}

impl Bf16WeightCache {
    /// Parameter `id` of `store`, an `f32` tensor of `parts * rows * cols` values read as
    /// `parts` blocks of `[rows, cols]` (row-major), in bf16: the cached copy while the
    /// parameter's version is the one it was made from, a fresh one (in the same buffers)
    /// otherwise. `None` when the store is not `f32` or the tensor has another size.
    pub(crate) fn weights<F: Float>(
        &mut self,
        store: &ParamStore<F>,
        id: ParamId,
        parts: usize,
        rows: usize,
        cols: usize,
    ) -> Option<&[Bf16Weights]> {
        let data = F::as_f32(store.value(id).as_slice()?)?;
        let block = rows.checked_mul(cols)?;
        if parts.checked_mul(block)? != data.len() {
            return None;
        }
        let index = id.index();
        if self.entries.len() <= index {
            self.entries.resize_with(index + 1, || None);
        }
        let copy = self.entries[index].get_or_insert_with(|| WeightCopy {
            version: 0,
            parts: Vec::new(),
        });
        let version = store.version(id);
        let same_shape = copy.parts.len() == parts && copy.parts.iter().all(|p| p.rows() == rows && p.cols() == cols);
        if copy.version != version || !same_shape {
            copy.version = 0;
            copy.parts.resize_with(parts, Bf16Weights::default);
            for (part, values) in copy.parts.iter_mut().zip(data.chunks_exact(block.max(1))) {
                part.assign(MatRef::row_major(values, rows, cols).ok()?);
            }
            copy.version = version;
        }
        Some(&copy.parts)
    }
}
