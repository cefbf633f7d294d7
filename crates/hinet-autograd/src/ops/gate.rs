//! The fused gate: mixes E expert outputs with per-row weights,
//! `y[n] = sum_e g[n, e] * X[e, n]`, where `g = softmax(z)` over the E logits of each row
//! (the paper's `G = sum_k g_k(x) Q_k(x)`), or `g = z` itself when the weights are given
//! (SAN's masked attention, the plain mean of the "without gates" ablation).
//!
//! Shapes: z `[n, E]`, X `[E, n, d]` (each expert's output a contiguous block, as a grouped
//! GEMM writes it), y `[n, d]`. Backward: `dX[e, n] = g[n, e] dy[n]`,
//! `dg[n, e] = <dy[n], X[e, n]>`, and through the softmax `dz = g * (dg - sum_e g dg)`.

use super::{Backward, OrBug};
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::parallel::for_each_piece;
use crate::pool::BufferPool;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, ArrayView2, ArrayView3, ArrayViewMut2, ArrayViewMut3, Axis, Ix2, Ix3, s};

pub(crate) struct Gate<F> {
    z: NodeId,
    experts: NodeId,
    /// The mixing weights `g` `[n, E]` (the softmax of z, or a copy of z).
    weights: ArrayD<F>,
    softmax: bool,
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    z: NodeId,
    experts: NodeId,
    softmax: bool,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let zv = ctx.value(z);
    let xv = ctx.value(experts);
    let bad = || AutogradError::ShapeMismatch {
        op: "gate",
        lhs: zv.shape().to_vec(),
        rhs: xv.shape().to_vec(),
        why: "gate logits must be [n, E] and expert outputs [E, n, d]",
    };
    let (Ok(zm), Ok(xm)) = (
        zv.view().into_dimensionality::<Ix2>(),
        xv.view().into_dimensionality::<Ix3>(),
    ) else {
        return Err(bad());
    };
    let (e, n, d) = xm.dim();
    if zm.dim() != (n, e) {
        return Err(bad());
    }
    let mut weights = ctx.pool.uninit(&[n, e]);
    {
        let mut wm = weights.view_mut().into_dimensionality::<Ix2>().or_bug("gate");
        if softmax {
            let lanes = |first: usize, mut piece: ArrayViewMut2<'_, F>| {
                for (w, z) in piece.rows_mut().into_iter().zip(zm.rows().into_iter().skip(first)) {
                    super::softmax::softmax_lane(z, w, false);
                }
            };
            for_each_piece(wm, Axis(0), 8 * n * e, &lanes);
        } else {
            wm.assign(&zm);
        }
    }
    // Not zeroed: `mix` writes every element with expert 0's term before adding the others.
    let mut out = ctx.pool.uninit(&[n, d]);
    let wm = weights.view().into_dimensionality::<Ix2>().or_bug("gate");
    let mut om = out.view_mut().into_dimensionality::<Ix2>().or_bug("gate");
    mix(wm, xm, &mut om);
    Ok((
        out,
        super::Op::Gate(Gate {
            z,
            experts,
            weights,
            softmax,
        }),
    ))
}

/// `out[r] = sum over e of w[r, e] * x[e, r]` (expert 0's term written, the others added in
/// order e = 1, 2, ...), split over rows.
fn mix<F: Float>(w: ArrayView2<'_, F>, x: ArrayView3<'_, F>, out: &mut ndarray::ArrayViewMut2<'_, F>) {
    let (e, n, d) = x.dim();
    let rows = |first: usize, mut piece: ArrayViewMut2<'_, F>| {
        let len = piece.nrows();
        if e == 0 {
            piece.fill(F::zero());
        }
        for k in 0..e {
            let block = x.index_axis(Axis(0), k);
            let block = block.slice(s![first..first + len, ..]);
            let weights = w.column(k);
            for ((mut orow, xrow), &g) in piece
                .rows_mut()
                .into_iter()
                .zip(block.rows())
                .zip(weights.iter().skip(first))
            {
                if k == 0 {
                    orow.zip_mut_with(&xrow, |o, &v| *o = g * v);
                } else {
                    orow.zip_mut_with(&xrow, |o, &v| *o += g * v);
                }
            }
        }
    };
    for_each_piece(out.view_mut(), Axis(0), e * n * d, &rows);
}

impl<F: Float> Backward<F> for Gate<F> {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.z);
        f(self.experts);
    }

    /// `y[r] = sum over e of w[r, e] X[e, r]`, `w[r] = softmax(z[r])` (or `z` itself):
    /// `dX[e, r] = w[r, e] dy[r]`; `dw[r, e] = <dy[r], X[e, r]>`; through the softmax,
    /// `dz[r] = w[r] * (dw[r] - <w[r], dw[r]>)` (docs/autograd.md, "Fused gate and mix").
    ///
    /// Speed: `dX` is written directly on its first use (`beta = 0`, no memset) and added
    /// after; both loops are split over rows, each row computed exactly as serially.
    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let bug = "gate backward";
        let dy = grad.view().into_dimensionality::<Ix2>().or_bug(bug);
        let w = self.weights.view().into_dimensionality::<Ix2>().or_bug(bug);
        let xm = ctx.value(self.experts).into_dimensionality::<Ix3>().or_bug(bug);
        // One product per element of dX: written directly on first use (no memset), added after.
        if let Some((gx, beta)) = ctx.grad_for_gemm(self.experts) {
            let gx = gx.into_dimensionality::<Ix3>().or_bug(bug);
            let (e, n, d) = gx.dim();
            let first_write = beta == F::zero();
            // Split over rows (axis 1): every expert block's rows first..first + len.
            let rows = |first: usize, mut piece: ArrayViewMut3<'_, F>| {
                for (k, mut block) in piece.axis_iter_mut(Axis(0)).enumerate() {
                    let dys = dy.rows().into_iter().skip(first);
                    for ((mut grow, drow), &g) in block
                        .rows_mut()
                        .into_iter()
                        .zip(dys)
                        .zip(w.column(k).iter().skip(first))
                    {
                        if first_write {
                            grow.zip_mut_with(&drow, |gv, &d| *gv = g * d);
                        } else {
                            grow.zip_mut_with(&drow, |gv, &d| *gv += g * d);
                        }
                    }
                }
            };
            for_each_piece(gx, Axis(1), e * n * d, &rows);
        }
        if !ctx.requires_grad(self.z) {
            return;
        }
        let (n, e) = w.dim();
        // dg[n, e] = <dy[n], X[e, n]>
        let mut dg = ctx.pool.uninit(&[n, e]);
        {
            let dgm = dg.view_mut().into_dimensionality::<Ix2>().or_bug(bug);
            let d = xm.shape()[2];
            let softmax = self.softmax;
            let rows = |first: usize, mut piece: ArrayViewMut2<'_, F>| {
                for (k, block) in xm.axis_iter(Axis(0)).enumerate() {
                    let pairs = block
                        .rows()
                        .into_iter()
                        .skip(first)
                        .zip(dy.rows().into_iter().skip(first));
                    for (slot, (xrow, drow)) in piece.column_mut(k).iter_mut().zip(pairs) {
                        *slot = xrow.dot(&drow);
                    }
                }
                if softmax {
                    for (mut dgrow, wrow) in piece.rows_mut().into_iter().zip(w.rows().into_iter().skip(first)) {
                        let s: F = dgrow.iter().zip(wrow.iter()).map(|(&a, &b)| a * b).sum();
                        dgrow.zip_mut_with(&wrow, |a, &g| *a = g * (*a - s));
                    }
                }
            };
            for_each_piece(dgm, Axis(0), n * e * d, &rows);
        }
        ctx.add_grad(self.z, dg.view());
        ctx.pool.recycle(dg);
    }

    fn recycle(self, pool: &mut BufferPool<F>) {
        pool.recycle(self.weights);
    }
}
