//! Concatenation along one axis. Backward: each input receives its own slice of the gradient.

use super::Backward;
use super::softmax::check_axis;
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::pool::BufferPool;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, Axis, Slice};

pub(crate) struct Concat {
    inputs: Vec<NodeId>,
    axis: usize,
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    xs: &[NodeId],
    axis: usize,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let Some(&first) = xs.first() else {
        return Err(AutogradError::BadArgument {
            op: "concat",
            why: "no tensors to concatenate".into(),
        });
    };
    let f = ctx.value(first);
    check_axis("concat", axis, f.ndim())?;
    let mut total = 0;
    for &x in xs {
        let v = ctx.value(x);
        let same_rank = v.ndim() == f.ndim();
        if !same_rank
            || v.shape()
                .iter()
                .zip(f.shape())
                .enumerate()
                .any(|(i, (a, b))| i != axis && a != b)
        {
            return Err(AutogradError::ShapeMismatch {
                op: "concat",
                lhs: f.shape().to_vec(),
                rhs: v.shape().to_vec(),
                why: "shapes differ outside the concatenation axis",
            });
        }
        total += v.shape()[axis];
    }
    let mut shape = [0usize; super::broadcast::MAX_DIMS];
    shape[..f.ndim()].copy_from_slice(f.shape());
    shape[axis] = total;
    let mut out = ctx.pool.uninit(&shape[..f.ndim()]);
    let mut start = 0;
    for &x in xs {
        let v = ctx.value(x);
        let len = v.shape()[axis];
        out.slice_axis_mut(Axis(axis), Slice::from(start..start + len))
            .assign(&v);
        start += len;
    }
    let mut inputs = ctx.pool.take_indices(xs.len());
    inputs.extend_from_slice(xs);
    Ok((out, super::Op::Concat(Concat { inputs, axis })))
}

impl<F: Float> Backward<F> for Concat {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        self.inputs.iter().for_each(|&i| f(i));
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let mut start = 0;
        for &x in &self.inputs {
            let len = ctx.value(x).shape()[self.axis];
            let part = grad.slice_axis(Axis(self.axis), Slice::from(start..start + len));
            ctx.add_grad(x, part);
            start += len;
        }
    }

    fn recycle(self, pool: &mut BufferPool<F>) {
        pool.recycle_indices(self.inputs);
    }
}
