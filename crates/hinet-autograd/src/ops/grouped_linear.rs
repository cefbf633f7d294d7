//! The grouped dense layer: K independent layers (the K sub-experts of an expert group), each
//! `y_k = act(x_k W_k^T + b_k)`, in one tape node.
//!
//! Shapes: W `[K, out, in]`, b `[K, out]`, y `[K, n, out]` (each expert's rows contiguous, the
//! layout the fused gate mixes). The input is either `[K, n, in]` (expert k reads block k) or
//! `[n, K * in]` (expert k reads column block k, a strided view: the output of a first layer
//! computed for all experts at once, read without regrouping it).
//! Backward per expert, with `dz_k = dy_k * act'(z_k)`: `dx_k = dz_k W_k`, `dW_k = dz_k^T x_k`,
//! `db_k = sum over rows of dz_k` (the rules of `linear.rs`, once per expert).

use super::Backward;
use super::linear::Activation;
use crate::error::{AutogradError, Result};
use crate::float::{Float, gemm, gemm_fused};
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Ix2, Ix3, Slice};

pub(crate) struct GroupedLinear {
    x: NodeId,
    w: NodeId,
    b: Option<NodeId>,
    act: Activation,
}

/// Expert k's block of the input (or of its gradient), as a 2-D view.
fn block<'a, F>(x: &'a ArrayViewD<'_, F>, k: usize, experts: usize) -> Option<ArrayView2<'a, F>> {
    match x.ndim() {
        3 => x.index_axis(Axis(0), k).into_dimensionality::<Ix2>().ok(),
        2 => {
            let width = x.shape()[1] / experts;
            x.slice_axis(Axis(1), Slice::from(k * width..(k + 1) * width))
                .into_dimensionality::<Ix2>()
                .ok()
        }
        _ => None,
    }
}

fn block_mut<'a, F>(
    x: &'a mut ndarray::ArrayViewMutD<'_, F>,
    k: usize,
    experts: usize,
) -> Option<ArrayViewMut2<'a, F>> {
    match x.ndim() {
        3 => x.index_axis_mut(Axis(0), k).into_dimensionality::<Ix2>().ok(),
        2 => {
            let width = x.shape()[1] / experts;
            x.slice_axis_mut(Axis(1), Slice::from(k * width..(k + 1) * width))
                .into_dimensionality::<Ix2>()
                .ok()
        }
        _ => None,
    }
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    w: NodeId,
    b: Option<NodeId>,
    act: Activation,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    let wv = ctx.value(w);
    let mismatch = |why: &'static str| AutogradError::ShapeMismatch {
        op: "grouped_linear",
        lhs: xv.shape().to_vec(),
        rhs: wv.shape().to_vec(),
        why,
    };
    let Ok(w3) = wv.view().into_dimensionality::<Ix3>() else {
        return Err(mismatch("weights must be [K, out, in]"));
    };
    let (k, out, inp) = w3.dim();
    let n = match *xv.shape() {
        [kk, n, i] if kk == k && i == inp => n,
        [n, ki] if ki == k * inp => n,
        _ => return Err(mismatch("input must be [K, n, in] or [n, K * in]")),
    };
    let bias = match b {
        Some(b) => {
            let bv = ctx.value(b);
            if bv.shape() != [k, out] {
                return Err(AutogradError::ShapeMismatch {
                    op: "grouped_linear",
                    lhs: wv.shape().to_vec(),
                    rhs: bv.shape().to_vec(),
                    why: "bias must be [K, out]",
                });
            }
            Some(bv)
        }
        None => None,
    };
    let mut y = ctx.pool.uninit(&[k, n, out]);
    for (e, ye) in y.axis_iter_mut(Axis(0)).enumerate() {
        let (Some(xe), Ok(ye)) = (block(&xv, e, k), ye.into_dimensionality::<Ix2>()) else {
            unreachable!("shapes checked above");
        };
        let be = bias.as_ref().and_then(|b| b.index_axis(Axis(0), e).to_slice());
        gemm_fused(
            F::one(),
            xe,
            w3.index_axis(Axis(0), e).t(),
            F::zero(),
            ye,
            be,
            act == Activation::Relu,
        );
    }
    Ok((y, super::Op::GroupedLinear(GroupedLinear { x, w, b, act })))
}

impl<F: Float> Backward<F> for GroupedLinear {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
        f(self.w);
        if let Some(b) = self.b {
            f(b);
        }
    }

    fn backward(&self, out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let xv = ctx.value(self.x);
        let Ok(w3) = ctx.value(self.w).into_dimensionality::<Ix3>() else {
            return;
        };
        let k = w3.shape()[0];
        // dz = dy * act'(z): for ReLU, zero where the output is zero.
        let masked = match self.act {
            Activation::Identity => None,
            Activation::Relu => {
                let yv = ctx.value(out);
                let mut dz = ctx.pool.uninit(grad.shape());
                if let (Some(d), Some(g), Some(y)) = (dz.as_slice_mut(), grad.as_slice(), yv.as_slice()) {
                    for ((d, &g), &y) in d.iter_mut().zip(g).zip(y) {
                        *d = if y > F::zero() { g } else { F::zero() };
                    }
                }
                Some(dz)
            }
        };
        let dz = masked.as_ref().unwrap_or(grad);
        let Ok(dz3) = dz.view().into_dimensionality::<Ix3>() else {
            return;
        };
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            for e in 0..k {
                if let Some(gxe) = block_mut(&mut gx, e, k) {
                    gemm(
                        F::one(),
                        dz3.index_axis(Axis(0), e),
                        w3.index_axis(Axis(0), e),
                        F::one(),
                        gxe,
                    );
                }
            }
        }
        if let Some(gw) = ctx.grad_mut(self.w) {
            if let Ok(mut gw) = gw.into_dimensionality::<Ix3>() {
                for (e, gwe) in gw.axis_iter_mut(Axis(0)).enumerate() {
                    if let Some(xe) = block(&xv, e, k) {
                        gemm(F::one(), dz3.index_axis(Axis(0), e).t(), xe, F::one(), gwe);
                    }
                }
            }
        }
        if let Some(b) = self.b {
            if let Some(gb) = ctx.grad_mut(b) {
                if let Ok(mut gb) = gb.into_dimensionality::<Ix2>() {
                    for (e, mut gbe) in gb.axis_iter_mut(Axis(0)).enumerate() {
                        for row in dz3.index_axis(Axis(0), e).rows() {
                            gbe.zip_mut_with(&row, |g, &d| *g += d);
                        }
                    }
                }
            }
        }
        if let Some(dz) = masked {
            ctx.pool.recycle(dz);
        }
    }
}
