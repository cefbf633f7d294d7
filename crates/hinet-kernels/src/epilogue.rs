//! The fused epilogue: what happens to a tile of `C` after `alpha * A * B + beta * C`.
//!
//! The SIMD microkernels apply it while the tile is still in registers, so a
//! `linear + bias + ReLU` layer touches `C` once. The scalar helpers here are
//! used where no microkernel runs: `alpha == 0` or `k == 0` (only `beta * C`
//! plus the epilogue is needed) and the `f64` path, which multiplies with
//! `matrixmultiply` and then makes one epilogue pass.

use crate::error::GemmError;

/// Elementwise activation applied after the bias, while the tile is in registers.
///
/// The one fused-activation type of the workspace: `hinet-autograd` re-exports it for
/// `Var::linear` and derives its backward rule from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activation {
    /// `y = z`.
    #[default]
    Identity,
    /// `y = max(z, 0)`; a NaN input stays NaN (it is not silently zeroed).
    Relu,
}

/// Bias row and activation fused into the store of `C`:
/// `C = act(alpha * op(A) * op(B) + beta * C + bias)`, with `bias[j]` added
/// to every element of column `j`.
#[derive(Debug)]
pub struct Epilogue<'a, T> {
    /// One entry per column of `C`, or `None` for no bias.
    pub bias: Option<&'a [T]>,
    /// Activation applied last.
    pub activation: Activation,
}

impl<T> Clone for Epilogue<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Epilogue<'_, T> {}

impl<T> Default for Epilogue<'_, T> {
    fn default() -> Self {
        Self::none()
    }
}

impl<'a, T> Epilogue<'a, T> {
    /// No bias, no activation: a plain GEMM.
    pub const fn none() -> Self {
        Self {
            bias: None,
            activation: Activation::Identity,
        }
    }

    /// Bias row (length `n`) and activation.
    pub const fn new(bias: Option<&'a [T]>, activation: Activation) -> Self {
        Self { bias, activation }
    }

    /// True when the epilogue does nothing.
    pub fn is_identity(&self) -> bool {
        self.bias.is_none() && self.activation == Activation::Identity
    }

    pub(crate) fn check(&self, n: usize) -> Result<(), GemmError> {
        match self.bias {
            Some(b) if b.len() != n => Err(GemmError::BiasLength { len: b.len(), n }),
            _ => Ok(()),
        }
    }
}

/// The few float operations the scalar paths need, for `f32` and `f64`.
pub(crate) trait Real: Copy + PartialOrd + std::ops::Mul<Output = Self> + std::ops::Add<Output = Self> {
    const ZERO: Self;
}
impl Real for f32 {
    const ZERO: Self = 0.0;
}
impl Real for f64 {
    const ZERO: Self = 0.0;
}

/// ReLU written as `0 > x ? 0 : x`, exactly the operand order of
/// `vmaxps(0, x)`, so the scalar and SIMD paths agree on `-0.0` and NaN.
#[inline(always)]
pub(crate) fn relu<T: Real>(x: T) -> T {
    if T::ZERO > x { T::ZERO } else { x }
}

/// `C = act(beta * C + bias)` for the cases where the product term vanishes
/// (`alpha == 0` or `k == 0`). `beta == 0` writes without reading `C`, so
/// NaN or uninitialised garbage in `C` cannot leak through.
///
/// # Safety
/// `c` must be valid for writes (and reads when `beta != 0`) at
/// `i * rs + j * cs` for all `i < m`, `j < n`, and `bias` must hold `n` entries.
pub(crate) unsafe fn scale_c<T: Real>(
    m: usize,
    n: usize,
    beta: T,
    c: *mut T,
    rs: usize,
    cs: usize,
    epi: &Epilogue<'_, T>,
) {
    for i in 0..m {
        for j in 0..n {
            // SAFETY: (i, j) is inside the m x n view the caller vouched for.
            let p = unsafe { c.add(i * rs + j * cs) };
            // SAFETY: as above; C is only read when beta != 0.
            let mut v = if beta == T::ZERO { T::ZERO } else { beta * unsafe { *p } };
            if let Some(b) = epi.bias {
                v = v + b[j];
            }
            if epi.activation == Activation::Relu {
                v = relu(v);
            }
            // SAFETY: as above.
            unsafe { *p = v };
        }
    }
}

/// Bias and activation over an already computed `C` (the `f64` path).
///
/// # Safety
/// Same contract as [`scale_c`], with `C` readable.
pub(crate) unsafe fn apply_in_place<T: Real>(
    m: usize,
    n: usize,
    c: *mut T,
    rs: usize,
    cs: usize,
    epi: &Epilogue<'_, T>,
) {
    if epi.bias.is_none() && epi.activation == Activation::Identity {
        return;
    }
    for i in 0..m {
        for j in 0..n {
            // SAFETY: (i, j) is inside the view the caller vouched for.
            let p = unsafe { c.add(i * rs + j * cs) };
            // SAFETY: as above.
            let mut v = unsafe { *p };
            if let Some(b) = epi.bias {
                v = v + b[j];
            }
            if epi.activation == Activation::Relu {
                v = relu(v);
            }
            // SAFETY: as above.
            unsafe { *p = v };
        }
    }
}
