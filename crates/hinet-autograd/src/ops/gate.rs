//! The fused gate: mixes E expert outputs with per-row weights,
//! `y[n] = sum_e g[n, e] * X[e, n]`, where `g = softmax(z)` over the E logits of each row
//! (the paper's `G = sum_k g_k(x) Q_k(x)`), or `g = z` itself when the weights are given
//! (SAN's masked attention, the plain mean of the "without gates" ablation).
//!
//! Shapes: z `[n, E]`, X `[E, n, d]` (each expert's output a contiguous block, as a grouped
//! GEMM writes it), y `[n, d]`. Backward: `dX[e, n] = g[n, e] dy[n]`,
//! `dg[n, e] = <dy[n], X[e, n]>`, and through the softmax `dz = g * (dg - sum_e g dg)`.

use super::Backward;
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::pool::BufferPool;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, ArrayView2, ArrayView3, Axis, Ix2, Ix3};

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
        let Ok(mut wm) = weights.view_mut().into_dimensionality::<Ix2>() else {
            unreachable!("created 2-D");
        };
        if softmax {
            for (w, z) in wm.rows_mut().into_iter().zip(zm.rows()) {
                super::softmax::softmax_lane(z, w, false);
            }
        } else {
            wm.assign(&zm);
        }
    }
    let mut out = ctx.pool.zeros(&[n, d]);
    if let (Ok(wm), Ok(mut om)) = (
        weights.view().into_dimensionality::<Ix2>(),
        out.view_mut().into_dimensionality::<Ix2>(),
    ) {
        mix(wm, xm, &mut om);
    }
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

/// `out[n] += sum_e w[n, e] X[e, n]`, expert-major so each expert block is read in order.
fn mix<F: Float>(w: ArrayView2<'_, F>, x: ArrayView3<'_, F>, out: &mut ndarray::ArrayViewMut2<'_, F>) {
    for (e, block) in x.axis_iter(Axis(0)).enumerate() {
        for ((mut orow, xrow), &g) in out.rows_mut().into_iter().zip(block.rows()).zip(w.column(e)) {
            orow.zip_mut_with(&xrow, |o, &v| *o += g * v);
        }
    }
}

impl<F: Float> Backward<F> for Gate<F> {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.z);
        f(self.experts);
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let (Ok(dy), Ok(w)) = (
            grad.view().into_dimensionality::<Ix2>(),
            self.weights.view().into_dimensionality::<Ix2>(),
        ) else {
            return;
        };
        let Ok(xm) = ctx.value(self.experts).into_dimensionality::<Ix3>() else {
            return;
        };
        if let Some(gx) = ctx.grad_mut(self.experts)
            && let Ok(mut gx) = gx.into_dimensionality::<Ix3>()
        {
            for (e, mut block) in gx.axis_iter_mut(Axis(0)).enumerate() {
                for ((mut grow, drow), &g) in block.rows_mut().into_iter().zip(dy.rows()).zip(w.column(e)) {
                    grow.zip_mut_with(&drow, |gv, &d| *gv += g * d);
                }
            }
        }
        if !ctx.requires_grad(self.z) {
            return;
        }
        let (n, e) = w.dim();
        // dg[n, e] = <dy[n], X[e, n]>
        let mut dg = ctx.pool.uninit(&[n, e]);
        if let Ok(mut dgm) = dg.view_mut().into_dimensionality::<Ix2>() {
            for (k, block) in xm.axis_iter(Axis(0)).enumerate() {
                for ((slot, xrow), drow) in dgm.column_mut(k).iter_mut().zip(block.rows()).zip(dy.rows()) {
                    *slot = xrow.dot(&drow);
                }
            }
            if self.softmax {
                for (mut dgrow, wrow) in dgm.rows_mut().into_iter().zip(w.rows()) {
                    let s: F = dgrow.iter().zip(wrow.iter()).map(|(&a, &b)| a * b).sum();
                    dgrow.zip_mut_with(&wrow, |a, &g| *a = g * (*a - s));
                }
            }
        }
        if let Some(mut gz) = ctx.grad_mut(self.z) {
            gz.zip_mut_with(&dg, |a, &b| *a += b);
        }
        ctx.pool.recycle(dg);
    }

    fn recycle(self, pool: &mut BufferPool<F>) {
        pool.recycle(self.weights);
    }
}
