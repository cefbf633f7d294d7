//! The element type: one code path for f32 (training) and f64 (gradient checks).

use ndarray::{ArrayView2, ArrayViewMut2, LinalgScalar, ScalarOperand};
use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A floating-point element the engine computes with. Implemented for `f32` and `f64`.
///
/// Besides the usual arithmetic it knows how to run a matrix product on strided views, so that
/// each element type can use its fastest kernel.
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
    + 'static
{
    /// Short name for messages and reports.
    const NAME: &'static str;

    /// `c = alpha * a * b + beta * c` on views of any strides (transposes are views).
    /// Shapes are checked by the caller; `beta == 0` never reads `c`.
    fn gemm(alpha: Self, a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>, beta: Self, c: ArrayViewMut2<'_, Self>);

    /// Converts from f64, rounding if needed (constants, finite differences).
    fn of(x: f64) -> Self;

    /// Widens to f64 (reports, metrics).
    fn f64(self) -> f64;
}

fn gemm_via_ndarray<F: Float>(
    alpha: F,
    a: ArrayView2<'_, F>,
    b: ArrayView2<'_, F>,
    beta: F,
    mut c: ArrayViewMut2<'_, F>,
) {
    if beta == F::zero() {
        // beta = 0 must not read c: a NaN left in a recycled buffer would otherwise survive 0 * NaN.
        c.fill(F::zero());
    }
    ndarray::linalg::general_mat_mul(alpha, &a, &b, beta, &mut c);
}

impl Float for f32 {
    const NAME: &'static str = "f32";
    fn gemm(alpha: Self, a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>, beta: Self, c: ArrayViewMut2<'_, Self>) {
        gemm_via_ndarray(alpha, a, b, beta, c)
    }
    fn of(x: f64) -> Self {
        x as f32
    }
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    const NAME: &'static str = "f64";
    fn gemm(alpha: Self, a: ArrayView2<'_, Self>, b: ArrayView2<'_, Self>, beta: Self, c: ArrayViewMut2<'_, Self>) {
        gemm_via_ndarray(alpha, a, b, beta, c)
    }
    fn of(x: f64) -> Self {
        x
    }
    fn f64(self) -> f64 {
        self
    }
}
