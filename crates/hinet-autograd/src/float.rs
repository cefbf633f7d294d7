//! The element type: one code path for f32 (training) and f64 (gradient checks).

use hinet_kernels::{Activation, Epilogue, MatMut, MatRef};
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
}

/// `c = alpha * a * b + beta * c` on views of any strides (transposes are views).
/// Shapes are checked by the caller; `beta == 0` never reads `c`.
pub(crate) fn gemm<F: Float>(alpha: F, a: ArrayView2<'_, F>, b: ArrayView2<'_, F>, beta: F, c: ArrayViewMut2<'_, F>) {
    gemm_fused(alpha, a, b, beta, c, None, false)
}

/// `c = act(alpha * a * b + beta * c + bias)` with the bias (one per column) and ReLU applied
/// by the kernel while the tile is in registers. Views whose memory the kernels cannot
/// describe (negative strides) take ndarray's path with a separate epilogue pass.
pub(crate) fn gemm_fused<F: Float>(
    alpha: F,
    a: ArrayView2<'_, F>,
    b: ArrayView2<'_, F>,
    beta: F,
    mut c: ArrayViewMut2<'_, F>,
    bias: Option<&[F]>,
    relu: bool,
) {
    let activation = if relu { Activation::Relu } else { Activation::None };
    let epilogue = Epilogue::new(bias, activation);
    if let (Some(am), Some(bm)) = (mat_ref(&a), mat_ref(&b)) {
        let (rows, cols) = c.dim();
        let strides = c.strides();
        let (rs, cs) = (strides[0], strides[1]);
        if let (Ok(rs), Ok(cs)) = (usize::try_from(rs), usize::try_from(cs))
            && let Some(data) = c.as_slice_memory_order_mut()
            && let Ok(cm) = MatMut::strided(data, rows, cols, rs, cs)
        {
            let done = <F as hinet_kernels::Gemm>::gemm(alpha, am, bm, beta, cm, epilogue);
            // Shapes were checked by the op; a failure here is a bug in this function.
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
pub(crate) fn gemm_mat<F: Float>(
    alpha: F,
    a: MatRef<'_, F>,
    b: MatRef<'_, F>,
    beta: F,
    c: MatMut<'_, F>,
    bias: Option<&[F]>,
    relu: bool,
) {
    let activation = if relu { Activation::Relu } else { Activation::None };
    let done = <F as hinet_kernels::Gemm>::gemm(alpha, a, b, beta, c, Epilogue::new(bias, activation));
    // Callers build the views from checked shapes; a failure is a bug in the caller.
    debug_assert!(done.is_ok(), "kernel rejected checked shapes: {done:?}");
}

/// Independent products in one call, run in parallel across problems (and tiles) by the
/// kernels: K small expert products keep both cores busy where one at a time would not.
pub(crate) fn gemm_group<F: Float>(problems: &mut [hinet_kernels::GemmProblem<'_, F>]) {
    let done = hinet_kernels::gemm_grouped(problems);
    // Callers build the problems from checked shapes; a failure is a bug in the caller.
    debug_assert!(done.is_ok(), "kernel rejected checked shapes: {done:?}");
}

/// Describes an ndarray view to the kernels: its memory (contiguous in some order, or the
/// span between its first and last element) and non-negative strides.
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
