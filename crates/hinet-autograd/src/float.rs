//! The element type: one code path for f32 (training) and f64 (gradient checks).

use hinet_kernels::{Activation, Epilogue, MatMut, MatRef, Precision};
use ndarray::{ArrayView2, ArrayViewMut2, LinalgScalar, ScalarOperand};
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point element the engine computes with. Implemented for `f32` and `f64`.
///
/// Matrix products go through [`hinet_kernels::Gemm`]: the crate's own SIMD kernels for f32,
/// `matrixmultiply` for f64.
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + LinalgScalar
    + ScalarOperand
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + hinet_kernels::Gemm
    + 'static
{
    /// Short name for messages and reports.
    const NAME: &'static str;

    /// Converts from f64, rounding if needed (constants, finite differences).
    fn of(x: f64) -> Self;

    /// Widens to f64 (reports, metrics).
    fn f64(self) -> f64;

    /// The slice as `f32`, when `Self` is `f32`: the paths only `f32` has (products with bf16
    /// weights) take it; other types get `None` and the generic path.
    fn as_f32(s: &[Self]) -> Option<&[f32]> {
        let _ = s;
        None
    }

    /// [`Float::as_f32`] for a mutable slice.
    fn as_f32_mut(s: &mut [Self]) -> Option<&mut [f32]> {
        let _ = s;
        None
    }
}

/// `c = alpha * a * b + beta * c` on views of any strides (transposes are views), the
/// operands in `precision` (the tape's). Shapes are checked by the caller; `beta == 0` never
/// reads `c`.
pub(crate) fn gemm<F: Float>(
    precision: Precision,
    alpha: F,
    a: ArrayView2<'_, F>,
    b: ArrayView2<'_, F>,
    beta: F,
    c: ArrayViewMut2<'_, F>,
) {
    gemm_fused(precision, alpha, a, b, beta, c, None, false)
}

/// `c = act(alpha * a * b + beta * c + bias)` with the bias (one per column) and ReLU applied
/// by the kernel while the tile is in registers. Views whose memory the kernels cannot
/// describe (negative strides) take ndarray's path with a separate epilogue pass (in `F`'s
/// own precision: no op of this crate builds such views).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_fused<F: Float>(
    precision: Precision,
    alpha: F,
    a: ArrayView2<'_, F>,
    b: ArrayView2<'_, F>,
    beta: F,
    mut c: ArrayViewMut2<'_, F>,
    bias: Option<&[F]>,
    relu: bool,
) {
    let activation = if relu { Activation::Relu } else { Activation::Identity };
    let epilogue = Epilogue::new(bias, activation);
    if let (Some(am), Some(bm)) = (mat_ref(&a), mat_ref(&b)) {
        let (rows, cols) = c.dim();
        let strides = c.strides();
        let (rs, cs) = (strides[0], strides[1]);
        if let (Ok(rs), Ok(cs)) = (usize::try_from(rs), usize::try_from(cs))
            && let Some(data) = c.as_slice_memory_order_mut()
            && let Ok(cm) = MatMut::strided(data, rows, cols, rs, cs)
        {
            // Shapes were checked by the op. Should the kernel still refuse, the ndarray path
            // below computes the product (a debug build stops, to find the bug).
            let done = <F as hinet_kernels::Gemm>::gemm_in(precision, alpha, am, bm, beta, cm, epilogue);
            debug_assert!(done.is_ok(), "kernel rejected checked shapes: {done:?}");
            if done.is_ok() {
                return;
            }
        }
    }
    if beta == F::zero() {
        // beta = 0 must not read c: a NaN left in a recycled buffer would survive 0 * NaN.
        c.fill(F::zero());
    }
    ndarray::linalg::general_mat_mul(alpha, &a, &b, beta, &mut c);
    if let Some(bias) = bias {
        for mut row in c.rows_mut() {
            row.iter_mut().zip(bias).for_each(|(y, &b)| *y += b);
        }
    }
    if relu {
        c.mapv_inplace(|v| if v > F::zero() { v } else { F::zero() });
    }
}

/// `c = act(alpha * a * b + beta * c + bias)` on kernel views (strided blocks of a larger
/// buffer, which ndarray views cannot hand to the kernels without copying).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_mat<F: Float>(
    precision: Precision,
    alpha: F,
    a: MatRef<'_, F>,
    b: MatRef<'_, F>,
    beta: F,
    c: MatMut<'_, F>,
    bias: Option<&[F]>,
    relu: bool,
) {
    let activation = if relu { Activation::Relu } else { Activation::Identity };
    let done = <F as hinet_kernels::Gemm>::gemm_in(precision, alpha, a, b, beta, c, Epilogue::new(bias, activation));
    // Callers build the views from checked shapes, so a failure is a bug in the caller: stop
    // loudly rather than leave a stale output buffer to be read as the product.
    if let Err(e) = done {
        panic!("hinet-autograd: the GEMM kernel rejected shapes the op had checked ({e}); this is a bug");
    }
}

/// Independent products in one call, run in parallel across problems (and tiles) by the
/// kernels: K small expert products keep both cores busy where one at a time would not.
pub(crate) fn gemm_group<F: Float>(problems: &mut [hinet_kernels::GemmProblem<'_, F>]) {
    // As in `gemm_mat`: a failure is a bug, never a silently stale output.
    if let Err(e) = hinet_kernels::gemm_grouped(problems) {
        panic!("hinet-autograd: the grouped GEMM rejected shapes the op had checked ({e}); this is a bug");
    }
}

/// Describes an ndarray view to the kernels: its memory, when that is contiguous in some order
/// (a transpose included), and its strides, when they are non-negative. Other views (a strided
/// block of a larger array, a reversed axis) give `None` and take ndarray's path.
pub(crate) fn mat_ref<'a, F: Float>(v: &'a ArrayView2<'_, F>) -> Option<MatRef<'a, F>> {
    let (rows, cols) = v.dim();
    let rs = usize::try_from(v.strides()[0]).ok()?;
    let cs = usize::try_from(v.strides()[1]).ok()?;
    let data = v.as_slice_memory_order()?;
    MatRef::strided(data, rows, cols, rs, cs).ok()
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
    fn as_f32(s: &[f32]) -> Option<&[f32]> {
        Some(s)
    }
    fn as_f32_mut(s: &mut [f32]) -> Option<&mut [f32]> {
        Some(s)
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    fn of(x: f64) -> Self {
        x
    }
    fn f64(self) -> f64 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A product the kernel refuses (here: inner dimensions that disagree) stops the engine
    /// instead of leaving the output buffer as it was.
    #[test]
    #[should_panic(expected = "the GEMM kernel rejected shapes")]
    fn a_refused_product_is_a_loud_failure() {
        let (a, b) = (vec![1.0f32; 6], vec![1.0f32; 8]);
        let mut c = vec![7.0f32; 4];
        let am = MatRef::row_major(&a, 2, 3).unwrap();
        let bm = MatRef::row_major(&b, 4, 2).unwrap();
        let cm = MatMut::row_major(&mut c, 2, 2).unwrap();
        gemm_mat(Precision::F32, 1.0, am, bm, 0.0, cm, None, false);
    }

    #[test]
    #[should_panic(expected = "the grouped GEMM rejected shapes")]
    fn a_refused_grouped_product_is_a_loud_failure() {
        let (a, b) = (vec![1.0f32; 6], vec![1.0f32; 8]);
        let mut c = vec![7.0f32; 4];
        let am = MatRef::row_major(&a, 2, 3).unwrap();
        let bm = MatRef::row_major(&b, 4, 2).unwrap();
        let cm = MatMut::row_major(&mut c, 2, 2).unwrap();
        let mut problems = [hinet_kernels::GemmProblem::new(am, bm, cm, Epilogue::default())];
        gemm_group(&mut problems);
    }
}
