//! Batched matrix product over a leading axis: `y[i] = op(a[i]) op(b[i])` for each i.
//! Backward is the matmul rule applied to each slice.

use super::matmul::oriented;
use super::{Backward, OrBug};
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, ArrayView3, ArrayViewD, Axis, Ix2, Ix3};

pub(crate) struct BatchedMatMul {
    a: NodeId,
    b: NodeId,
    ta: bool,
    tb: bool,
}

fn as_batch<'a, F>(v: ArrayViewD<'a, F>) -> Result<ArrayView3<'a, F>> {
    if v.ndim() != 3 {
        return Err(AutogradError::BadShape {
            op: "batched_matmul",
            shape: v.shape().to_vec(),
            why: "expected a 3-D tensor [batch, rows, cols]",
        });
    }
    v.into_dimensionality::<Ix3>().map_err(|_| AutogradError::BadShape {
        op: "batched_matmul",
        shape: vec![],
        why: "expected a 3-D tensor [batch, rows, cols]",
    })
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    a: NodeId,
    b: NodeId,
    ta: bool,
    tb: bool,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let av = as_batch(ctx.value(a))?;
    let bv = as_batch(ctx.value(b))?;
    let (m, k) = if ta {
        (av.shape()[2], av.shape()[1])
    } else {
        (av.shape()[1], av.shape()[2])
    };
    let (k2, n) = if tb {
        (bv.shape()[2], bv.shape()[1])
    } else {
        (bv.shape()[1], bv.shape()[2])
    };
    if av.shape()[0] != bv.shape()[0] || k != k2 {
        return Err(AutogradError::ShapeMismatch {
            op: "batched_matmul",
            lhs: av.shape().to_vec(),
            rhs: bv.shape().to_vec(),
            why: "batch sizes or inner dimensions differ (after transposition)",
        });
    }
    let batch = av.shape()[0];
    let mut out = ctx.pool.uninit(&[batch, m, n]);
    for (i, o) in out.axis_iter_mut(Axis(0)).enumerate() {
        let o = o.into_dimensionality::<Ix2>().or_bug("batched_matmul");
        let ai = oriented(av.index_axis(Axis(0), i), ta);
        let bi = oriented(bv.index_axis(Axis(0), i), tb);
        crate::float::gemm(ctx.precision, F::one(), ai, bi, F::zero(), o);
    }
    Ok((out, super::Op::BatchedMatMul(BatchedMatMul { a, b, ta, tb })))
}

impl<F: Float> Backward<F> for BatchedMatMul {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.a);
        f(self.b);
    }

    /// Per batch entry, the matmul rule: `d op(a_i) = dy_i op(b_i)^T`, `d op(b_i) = op(a_i)^T dy_i`.
    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let precision = ctx.precision;
        let bug = "batched_matmul backward";
        let dy = grad.view().into_dimensionality::<Ix3>().or_bug(bug);
        let av = as_batch(ctx.value(self.a)).or_bug(bug);
        let bv = as_batch(ctx.value(self.b)).or_bug(bug);
        let (ta, tb) = (self.ta, self.tb);
        if let Some(mut ga) = ctx.grad_mut(self.a) {
            for (i, g) in ga.axis_iter_mut(Axis(0)).enumerate() {
                let g = g.into_dimensionality::<Ix2>().or_bug(bug);
                let g = if ta { g.reversed_axes() } else { g };
                let bi = oriented(bv.index_axis(Axis(0), i), tb);
                crate::float::gemm(precision, F::one(), dy.index_axis(Axis(0), i), bi.t(), F::one(), g);
            }
        }
        if let Some(mut gb) = ctx.grad_mut(self.b) {
            for (i, g) in gb.axis_iter_mut(Axis(0)).enumerate() {
                let g = g.into_dimensionality::<Ix2>().or_bug(bug);
                let g = if tb { g.reversed_axes() } else { g };
                let ai = oriented(av.index_axis(Axis(0), i), ta);
                crate::float::gemm(precision, F::one(), ai.t(), dy.index_axis(Axis(0), i), F::one(), g);
            }
        }
    }
}
