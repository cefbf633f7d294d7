//! The grouped dense layer: K independent layers (the K sub-experts of an expert group), each
//! `y_k = act(x_k W_k^T + b_k)`, in one tape node.
//!
//! Shapes: W `[K, out, in]`, b `[K, out]`, y `[K, n, out]` (each expert's rows contiguous, the
//! layout the fused gate mixes). The input is either `[K, n, in]` (expert k reads block k) or
//! `[n, K * in]` (expert k reads column block k, a strided view: the output of a first layer
//! computed for all experts at once, read without regrouping it).
//! Backward per expert, with `dz_k = dy_k * act'(z_k)`: `dx_k = dz_k W_k`, `dW_k = dz_k^T x_k`,
//! `db_k = sum over rows of dz_k` (the rules of `linear.rs`, once per expert).

use super::linear::mask_gradient;
use super::{Backward, OrBug};
use crate::bf16_weights::{FEW_ROWS, f32_bias};
use crate::error::{AutogradError, Result};
use crate::float::{Float, gemm_group, gemm_mat, mat_ref};
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use hinet_kernels::{Activation, Epilogue, GemmProblem, MatMut, MatRef, sgemm_bf16_weights};
use ndarray::{ArrayD, Axis, Ix2, Ix3};
use smallvec::SmallVec;

pub(crate) struct GroupedLinear {
    x: NodeId,
    w: NodeId,
    b: Option<NodeId>,
    act: Activation,
}

/// Where expert e's input block lies in the input's (standard-layout) buffer:
/// `(offset, row stride)`; the block has `n` rows of `inp` columns, unit column stride.
fn block_layout(ndim: usize, e: usize, k: usize, n: usize, inp: usize) -> (usize, usize) {
    if ndim == 3 {
        (e * n * inp, inp)
    } else {
        (e * inp, k * inp)
    }
}

/// Expert e's input block as a kernel view of the input's buffer (a strided view when the
/// input is `[n, K * in]`; ndarray cannot hand such a view to the kernels without a copy).
fn block<F: Float>(data: &[F], ndim: usize, e: usize, k: usize, n: usize, inp: usize) -> Option<MatRef<'_, F>> {
    let (offset, rs) = block_layout(ndim, e, k, n, inp);
    MatRef::strided(data.get(offset..)?, n, inp, rs, 1).ok()
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
    let x_data = xv.to_slice().ok_or_else(|| mismatch("input must be contiguous"))?;
    let w_data = wv.to_slice().ok_or_else(|| mismatch("weights must be contiguous"))?;
    let b_data = bias.as_ref().map(|b| b.to_slice().or_bug("grouped_linear"));
    let mut y = ctx.pool.uninit(&[k, n, out]);
    let op = super::Op::GroupedLinear(GroupedLinear { x, w, b, act });
    if few_rows_bf16(ctx, w, (x_data, xv.ndim()), b_data, act, (k, n, out, inp), &mut y) {
        return Ok((y, op));
    }
    let y_data = y.as_slice_mut().or_bug("grouped_linear");
    if n * out > 0 {
        // K independent products in one call: the kernels run them in parallel, so two cores
        // stay busy even when one expert's product is too small to split.
        let mut problems: SmallVec<[GemmProblem<'_, F>; 8]> = SmallVec::new();
        for (e, ye) in y_data.chunks_exact_mut(n * out).enumerate() {
            // Shapes were checked above.
            let xe = block(x_data, xv.ndim(), e, k, n, inp).or_bug("grouped_linear");
            let we = MatRef::row_major(&w_data[e * out * inp..(e + 1) * out * inp], out, inp).or_bug("grouped_linear");
            let ye = MatMut::row_major(ye, n, out).or_bug("grouped_linear");
            let be = b_data.map(|b| &b[e * out..(e + 1) * out]);
            problems.push(GemmProblem {
                alpha: F::one(),
                a: xe,
                b: we.t(),
                beta: F::zero(),
                c: ye,
                epilogue: Epilogue::new(be, act),
                precision: ctx.precision,
            });
        }
        gemm_group(&mut problems);
    }
    Ok((y, op))
}

/// The grouped layer for at most [`FEW_ROWS`] rows with each expert's weights read from their
/// bf16 copy (as `linear::few_rows_bf16`, whose conditions apply), the experts one after the
/// other: a one-row group is far below what is worth a second thread. `false`, with nothing
/// written, when the path does not apply.
fn few_rows_bf16<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    w: NodeId,
    (x, ndim): (&[F], usize),
    bias: Option<&[F]>,
    act: Activation,
    (k, n, out, inp): (usize, usize, usize, usize),
    y: &mut ArrayD<F>,
) -> bool {
    if n == 0 || n > FEW_ROWS || out == 0 || ctx.bf16_weights.is_none() {
        return false;
    }
    let (Some(x), Some(ys)) = (F::as_f32(x), y.as_slice_mut().and_then(F::as_f32_mut)) else {
        return false;
    };
    let Some(bias) = f32_bias(bias) else {
        return false;
    };
    let Some(weights) = ctx.bf16_weights(w, k, out, inp) else {
        return false;
    };
    for (e, (ye, we)) in ys.chunks_exact_mut(n * out).zip(weights).enumerate() {
        let Some(xe) = block(x, ndim, e, k, n, inp) else {
            return false;
        };
        let Ok(ye) = MatMut::row_major(ye, n, out) else {
            return false;
        };
        let be = bias.map(|b| &b[e * out..(e + 1) * out]);
        // Shapes were checked by the caller. Should an expert still be refused, the caller
        // computes every expert again (with beta = 0, over whatever was written here).
        if sgemm_bf16_weights(1.0, xe, we, 0.0, ye, Epilogue::new(be, act)).is_err() {
            return false;
        }
    }
    true
}

impl<F: Float> Backward<F> for GroupedLinear {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
        f(self.w);
        if let Some(b) = self.b {
            f(b);
        }
    }

    /// K independent linear maps, `y_k = act(x_k W_k^T + b_k)`: each expert's rule is the
    /// linear one, `dx_k = dz_k W_k`, `dW_k = dz_k^T x_k`, `db_k = sum over rows of dz_k`
    /// (docs/autograd.md, "Grouped linear").
    ///
    /// Speed: the K `dW_k` products run as one grouped GEMM (parallel across experts); `x_k`
    /// and `dx_k` are strided blocks of the shared input, read and written in place.
    fn backward(&self, out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let precision = ctx.precision;
        let bug = "grouped_linear backward";
        let xv = ctx.value(self.x);
        let w3 = ctx.value(self.w).into_dimensionality::<Ix3>().or_bug(bug);
        let (k, _, inp) = w3.dim();
        let masked = mask_gradient(self.act, grad, &ctx.value(out), ctx.pool);
        let dz = masked.as_ref().unwrap_or(grad);
        let dz3 = dz.view().into_dimensionality::<Ix3>().or_bug(bug);
        let n = dz3.shape()[1];
        let ndim = xv.ndim();
        if let Some((mut gx, beta)) = ctx.grad_for_gemm(self.x) {
            let gx = gx.as_slice_mut().or_bug(bug);
            for e in 0..k {
                let (offset, rs) = block_layout(ndim, e, k, n, inp);
                let (we, dze) = (w3.index_axis(Axis(0), e), dz3.index_axis(Axis(0), e));
                let gxe = gx.get_mut(offset..).map(|d| MatMut::strided(d, n, inp, rs, 1));
                let gxe = gxe.or_bug(bug).or_bug(bug);
                gemm_mat(
                    precision,
                    F::one(),
                    mat_ref(&dze).or_bug(bug),
                    mat_ref(&we).or_bug(bug),
                    beta,
                    gxe,
                    None,
                    false,
                );
            }
        }
        let x_data = xv.to_slice().or_bug(bug);
        let out_features = dz3.shape()[2];
        if let Some((mut gw, beta_w)) = ctx.grad_for_gemm(self.w) {
            let gw = gw.as_slice_mut().or_bug(bug);
            let dz_data = dz.as_slice().or_bug(bug);
            if n == 0 {
                // No rows: dW = 0, and a first write (beta = 0) must still write it.
                if beta_w == F::zero() {
                    gw.fill(F::zero());
                }
            } else if out_features * inp > 0 {
                // dW_k = dZ_k^T X_k for every expert at once: K independent products.
                let mut problems: SmallVec<[GemmProblem<'_, F>; 8]> = SmallVec::new();
                let block_len = n * out_features;
                for (e, gwe) in gw.chunks_exact_mut(out_features * inp).enumerate() {
                    let dze = MatRef::row_major(&dz_data[e * block_len..(e + 1) * block_len], n, out_features);
                    problems.push(GemmProblem {
                        alpha: F::one(),
                        a: dze.or_bug(bug).t(),
                        b: block(x_data, ndim, e, k, n, inp).or_bug(bug),
                        beta: beta_w,
                        c: MatMut::row_major(gwe, out_features, inp).or_bug(bug),
                        epilogue: Epilogue::none(),
                        precision,
                    });
                }
                gemm_group(&mut problems);
            }
        }
        if let Some(b) = self.b
            && let Some(gb) = ctx.grad_mut(b)
        {
            let mut gb = gb.into_dimensionality::<Ix2>().or_bug(bug);
            for (e, gbe) in gb.axis_iter_mut(Axis(0)).enumerate() {
                crate::parallel::add_column_sums(gbe, dz3.index_axis(Axis(0), e));
            }
        }
        if let Some(dz) = masked {
            ctx.pool.recycle(dz);
        }
    }
}
