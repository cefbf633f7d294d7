//! Matrix product with either operand transposed: `y = op(a) op(b)`.
//!
//! Backward (derivation in docs/autograd.md): with `A' = op(a)`, `B' = op(b)`,
//! `dA' = dY B'^T` and `dB' = A'^T dY`; the gradient of a transposed operand is written
//! through a transposed view of its accumulator, so no copy is ever made.

use super::{Backward, OrBug};
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, ArrayView2, ArrayViewD, Ix2};

pub(crate) struct MatMul {
    a: NodeId,
    b: NodeId,
    ta: bool,
    tb: bool,
}

pub(crate) fn as_matrix<'a, F>(op: &'static str, v: ArrayViewD<'a, F>) -> Result<ArrayView2<'a, F>> {
    if v.ndim() != 2 {
        return Err(AutogradError::BadShape {
            op,
            shape: v.shape().to_vec(),
            why: "expected a 2-D tensor",
        });
    }
    v.into_dimensionality::<Ix2>().map_err(|_| AutogradError::BadShape {
        op,
        shape: vec![],
        why: "expected a 2-D tensor",
    })
}

pub(crate) fn oriented<F>(m: ArrayView2<'_, F>, t: bool) -> ArrayView2<'_, F> {
    if t { m.reversed_axes() } else { m }
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    a: NodeId,
    b: NodeId,
    ta: bool,
    tb: bool,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let am = oriented(as_matrix("matmul", ctx.value(a))?, ta);
    let bm = oriented(as_matrix("matmul", ctx.value(b))?, tb);
    if am.ncols() != bm.nrows() {
        return Err(AutogradError::ShapeMismatch {
            op: "matmul",
            lhs: am.shape().to_vec(),
            rhs: bm.shape().to_vec(),
            why: "inner dimensions differ (after transposition)",
        });
    }
    let mut out = ctx.pool.uninit(&[am.nrows(), bm.ncols()]);
    let o = out.view_mut().into_dimensionality::<Ix2>().or_bug("matmul");
    crate::float::gemm(ctx.precision, F::one(), am, bm, F::zero(), o);
    Ok((out, super::Op::MatMul(MatMul { a, b, ta, tb })))
}

impl<F: Float> Backward<F> for MatMul {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.a);
        f(self.b);
    }

    /// `y = op(a) op(b)`: `d op(a) = dy op(b)^T`, `d op(b) = op(a)^T dy`, written through
    /// the transposed view when the operand was transposed (docs/autograd.md, "Matrix product").
    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let precision = ctx.precision;
        let bug = "matmul backward";
        let dy = grad.view().into_dimensionality::<Ix2>().or_bug(bug);
        let am = ctx.value(self.a).into_dimensionality::<Ix2>().or_bug(bug);
        let bm = ctx.value(self.b).into_dimensionality::<Ix2>().or_bug(bug);
        let (am, bm) = (oriented(am, self.ta), oriented(bm, self.tb));
        let ta = self.ta;
        if let Some((ga, beta)) = ctx.grad_for_gemm(self.a) {
            // dA' = dY B'^T, written through the transposed view when a was transposed.
            let ga = ga.into_dimensionality::<Ix2>().or_bug(bug);
            let ga = if ta { ga.reversed_axes() } else { ga };
            crate::float::gemm(precision, F::one(), dy, bm.t(), beta, ga);
        }
        let tb = self.tb;
        if let Some((gb, beta)) = ctx.grad_for_gemm(self.b) {
            let gb = gb.into_dimensionality::<Ix2>().or_bug(bug);
            let gb = if tb { gb.reversed_axes() } else { gb };
            crate::float::gemm(precision, F::one(), am.t(), dy, beta, gb);
        }
    }
}
