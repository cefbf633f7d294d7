//! Permute (and its special case, transpose): `y[i_p0, i_p1, ...] = x[i_0, i_1, ...]`.
//! Backward: the gradient permuted by the inverse permutation.

use super::Backward;
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::pool::BufferPool;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, IxDyn};

pub(crate) struct Permute {
    x: NodeId,
    /// The inverse permutation, which is all backward needs.
    inverse: Vec<usize>,
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    axes: &[usize],
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    let nd = xv.ndim();
    let mut seen = [false; super::broadcast::MAX_DIMS];
    let valid = axes.len() == nd
        && nd <= super::broadcast::MAX_DIMS
        && axes.iter().all(|&a| a < nd && !std::mem::replace(&mut seen[a], true));
    if !valid {
        return Err(AutogradError::BadArgument {
            op: "permute",
            why: format!(
                "{axes:?} is not a permutation of the {nd} axes of a tensor of shape {:?}",
                xv.shape()
            ),
        });
    }
    let permuted = xv.permuted_axes(IxDyn(axes));
    let mut out = ctx.pool.uninit(permuted.shape());
    out.assign(&permuted);
    let mut inverse = ctx.pool.take_indices(nd);
    inverse.resize(nd, 0);
    for (i, &a) in axes.iter().enumerate() {
        inverse[a] = i;
    }
    Ok((out, super::Op::Permute(Permute { x, inverse })))
}

impl<F: Float> Backward<F> for Permute {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let back = grad.view().permuted_axes(IxDyn(&self.inverse));
        ctx.add_grad(self.x, back);
    }

    fn recycle(self, pool: &mut BufferPool<F>) {
        pool.recycle_indices(self.inverse);
    }
}
