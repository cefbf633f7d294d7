//! Reshape: the same elements in the same (row-major) order under a new shape.
//! Backward: the gradient, read in the same order under the input's shape.

use super::{Backward, OrBug};
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::ArrayD;

pub(crate) struct Reshape {
    x: NodeId,
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    shape: &[usize],
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    if shape.iter().product::<usize>() != xv.len() {
        return Err(AutogradError::ShapeMismatch {
            op: "reshape",
            lhs: xv.shape().to_vec(),
            rhs: shape.to_vec(),
            why: "element counts differ",
        });
    }
    let mut out = ctx.pool.uninit(shape);
    out.as_slice_mut()
        .or_bug("reshape")
        .copy_from_slice(xv.as_slice().or_bug("reshape"));
    Ok((out, super::Op::Reshape(Reshape { x })))
}

impl<F: Float> Backward<F> for Reshape {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let shape = ctx.value(self.x).raw_dim();
        let flat = grad.as_slice().or_bug("reshape backward");
        let back = ndarray::ArrayViewD::from_shape(shape, flat).or_bug("reshape backward");
        ctx.add_grad(self.x, back);
    }
}
