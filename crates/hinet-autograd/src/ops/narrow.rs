//! Narrow: the slice `start..start + len` of one axis (what `split` returns, one per piece).
//! Backward: the gradient is added into that slice of the input's gradient; zero elsewhere.

use super::Backward;
use super::softmax::check_axis;
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, Axis, Slice};

pub(crate) struct Narrow {
    x: NodeId,
    axis: usize,
    start: usize,
    len: usize,
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    axis: usize,
    start: usize,
    len: usize,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    check_axis("narrow", axis, xv.ndim())?;
    let n = xv.shape()[axis];
    if start.checked_add(len).is_none_or(|end| end > n) {
        return Err(AutogradError::BadArgument {
            op: "narrow",
            why: format!(
                "range {start}..{} is outside axis {axis} of length {n} (shape {:?})",
                start.saturating_add(len),
                xv.shape()
            ),
        });
    }
    let part = xv.slice_axis(Axis(axis), Slice::from(start..start + len));
    let mut out = ctx.pool.uninit(part.shape());
    out.assign(&part);
    Ok((out, super::Op::Narrow(Narrow { x, axis, start, len })))
}

impl<F: Float> Backward<F> for Narrow {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let (axis, range) = (Axis(self.axis), Slice::from(self.start..self.start + self.len));
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            gx.slice_axis_mut(axis, range).zip_mut_with(grad, |g, &d| *g += d);
        }
    }
}
