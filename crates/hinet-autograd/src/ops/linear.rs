//! The fused dense layer `y = act(x W^T + b)`: one tape node instead of three, and (with the
//! kernels crate) one pass over memory.
//!
//! Shapes: x `[n, in]`, W `[out, in]` (PyTorch's layout), b `[out]`, y `[n, out]`. A weight
//! `[K, h, in]` is read as `[K * h, in]` and a bias `[K, h]` as `[K * h]` (no copy): the first
//! layers of K experts fed the same input are then one product.
//! Backward with `dz = dy * act'(z)` (for ReLU, `act'(z) = [y > 0]`, read from the output):
//! `dx = dz W`, `dW = dz^T x`, `db = sum over rows of dz`.

use super::matmul::as_matrix;
use super::{Backward, OrBug};
use crate::bf16_weights::{FEW_ROWS, f32_bias};
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::parallel::rows_of;
use crate::pool::BufferPool;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use hinet_kernels::{Epilogue, MatMut, MatRef, sgemm_bf16_weights};
use ndarray::{ArrayD, ArrayView2, ArrayViewD, ArrayViewMut1, ArrayViewMutD, Axis, Ix2, Zip};

/// The activation fused into [`crate::Var::linear`]: the kernels' epilogue activation, the
/// same type (the GEMM applies it while the tile is in registers).
pub use hinet_kernels::Activation;

/// A weight of shape `[..., in]` as the matrix `[prod(...), in]`, without copying.
fn flat_weight<F>(v: ArrayViewD<'_, F>) -> Result<ArrayView2<'_, F>> {
    // The shape is copied for the message only on the error path: this runs every step.
    let bad = |shape: &[usize]| AutogradError::BadShape {
        op: "linear",
        shape: shape.to_vec(),
        why: "the weight must be [out, in] (or [K, out, in], read as [K * out, in]) and contiguous",
    };
    if v.ndim() < 2 {
        return Err(bad(v.shape()));
    }
    let inp = v.shape()[v.ndim() - 1];
    let rows = v.len() / inp.max(1);
    if !v.is_standard_layout() {
        return Err(bad(v.shape()));
    }
    v.into_shape_with_order((rows, inp)).map_err(|_| bad(&[]))
}

/// `dz = dy * act'(z)` for ReLU (zero where the output `y` is zero: `y > 0` iff `z > 0`), in a
/// pooled buffer; `None` for the identity, whose `dz` is `dy` itself.
pub(crate) fn mask_gradient<F: Float>(
    act: Activation,
    grad: &ArrayD<F>,
    y: &ArrayViewD<'_, F>,
    pool: &mut BufferPool<F>,
) -> Option<ArrayD<F>> {
    match act {
        Activation::Identity => None,
        Activation::Relu => {
            let mut dz = pool.uninit(grad.shape());
            let mask = |first: usize, mut piece: ArrayViewMutD<'_, F>| {
                let g = rows_of(grad.view(), first, piece.shape());
                let yv = rows_of(y.view(), first, piece.shape());
                Zip::from(&mut piece)
                    .and(&g)
                    .and(&yv)
                    .for_each(|z, &d, &y| *z = if y > F::zero() { d } else { F::zero() });
            };
            let work = dz.len();
            crate::parallel::for_each_piece(dz.view_mut(), Axis(0), work, &mask);
            Some(dz)
        }
    }
}

/// `y = act(x W^T + b)` for at most [`FEW_ROWS`] rows with `W` read from its bf16 copy (half
/// the bytes of a one-row product; `bf16_weights.rs`): on a bf16 tape that records no
/// backward, for a weight that is a parameter, in `f32`. `false`, with nothing written, when
/// any of that does not hold; the caller then computes the product as usual.
pub(crate) fn few_rows_bf16<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    w: NodeId,
    x: ArrayView2<'_, F>,
    bias: Option<&[F]>,
    act: Activation,
    y: &mut ArrayD<F>,
) -> bool {
    let (n, inp) = x.dim();
    let out = y.shape().get(1).copied().unwrap_or(0);
    if n == 0 || n > FEW_ROWS || ctx.bf16_weights.is_none() {
        return false;
    }
    let (Some(xs), Some(ys)) = (
        x.to_slice().and_then(F::as_f32),
        y.as_slice_mut().and_then(F::as_f32_mut),
    ) else {
        return false;
    };
    let Some(bias) = f32_bias(bias) else {
        return false;
    };
    let Some(weights) = ctx.bf16_weights(w, 1, out, inp) else {
        return false;
    };
    let (Ok(xm), Ok(ym)) = (MatRef::row_major(xs, n, inp), MatMut::row_major(ys, n, out)) else {
        return false;
    };
    sgemm_bf16_weights(1.0, xm, &weights[0], 0.0, ym, Epilogue::new(bias, act)).is_ok()
}

pub(crate) struct Linear {
    x: NodeId,
    w: NodeId,
    b: Option<NodeId>,
    act: Activation,
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    w: NodeId,
    b: Option<NodeId>,
    act: Activation,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xm = as_matrix("linear", ctx.value(x))?;
    let wm = flat_weight(ctx.value(w))?;
    if xm.ncols() != wm.ncols() {
        return Err(AutogradError::ShapeMismatch {
            op: "linear",
            lhs: xm.shape().to_vec(),
            rhs: wm.shape().to_vec(),
            why: "input features of x [n, in] and weight [out, in] differ",
        });
    }
    let (n, out_features) = (xm.nrows(), wm.nrows());
    let bias = match b {
        Some(b) => {
            let bv = ctx.value(b);
            if bv.len() != out_features || bv.as_slice().is_none() {
                return Err(AutogradError::ShapeMismatch {
                    op: "linear",
                    lhs: wm.shape().to_vec(),
                    rhs: bv.shape().to_vec(),
                    why: "bias needs one value per output feature",
                });
            }
            Some(bv)
        }
        None => None,
    };
    let mut out = ctx.pool.uninit(&[n, out_features]);
    let bias_values = bias.as_ref().and_then(|b| b.as_slice());
    if few_rows_bf16(ctx, w, xm, bias_values, act, &mut out) {
        return Ok((out, super::Op::Linear(Linear { x, w, b, act })));
    }
    {
        let Ok(o) = out.view_mut().into_dimensionality::<Ix2>() else {
            unreachable!("created 2-D");
        };
        // Bias and ReLU are applied by the kernel while each tile of y is still in registers.
        crate::float::gemm_fused(
            ctx.precision,
            F::one(),
            xm,
            wm.t(),
            F::zero(),
            o,
            bias_values,
            act == Activation::Relu,
        );
    }
    Ok((out, super::Op::Linear(Linear { x, w, b, act })))
}

impl<F: Float> Backward<F> for Linear {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
        f(self.w);
        if let Some(b) = self.b {
            f(b);
        }
    }

    /// `y = act(x W^T + b)`, `dz = dy * act'(z)`:
    /// `dx = dz W`, `dW = dz^T x`, `db = sum over rows of dz` (docs/autograd.md, "Fused linear").
    ///
    /// Speed, apart from the maths: `dz` is `dy` itself for the identity (no buffer); each
    /// product writes its gradient directly on first use (`beta = 0`, no memset) and adds
    /// after (`beta = 1`); the bias sum is split over columns.
    fn backward(&self, out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let precision = ctx.precision;
        let bug = "linear backward";
        let xv = ctx.value(self.x);
        let xm = xv.into_dimensionality::<Ix2>().or_bug(bug);
        let wm = flat_weight(ctx.value(self.w)).or_bug(bug);
        // dz = dy * act'(z); for the identity it is dy itself and no buffer is needed.
        let masked = mask_gradient(self.act, grad, &ctx.value(out), ctx.pool);
        let dz_dyn = masked.as_ref().unwrap_or(grad);
        let dz = dz_dyn.view().into_dimensionality::<Ix2>().or_bug(bug);
        if let Some((gx, beta)) = ctx.grad_for_gemm(self.x) {
            let gx = gx.into_dimensionality::<Ix2>().or_bug(bug);
            crate::float::gemm(precision, F::one(), dz, wm, beta, gx);
        }
        let w_shape = wm.dim();
        if let Some((gw, beta_w)) = ctx.grad_for_gemm(self.w) {
            let gw = gw.into_shape_with_order(w_shape).or_bug(bug);
            crate::float::gemm(precision, F::one(), dz.t(), xm, beta_w, gw);
        }
        if let Some(b) = self.b
            && let Some(mut gb) = ctx.grad_mut(b)
        {
            let gb = gb.as_slice_mut().or_bug(bug);
            crate::parallel::add_column_sums(ArrayViewMut1::from(gb), dz);
        }
        if let Some(dz) = masked {
            ctx.pool.recycle(dz);
        }
    }
}
