#![doc = include_str!("../README.md")]
//!
//! ## Entry points
//!
//! [`sgemm`] and [`sgemm_with_epilogue`] over [`MatRef`] / [`MatMut`] views, with an
//! [`Epilogue`] of bias and [`Activation`]; [`sgemm_grouped`] for many products at once;
//! [`dgemm`] for `f64`; [`selected_kernel`] says which [`KernelKind`] runs. Products of at
//! most 4 rows times a transposed row-major weight (one row of a prediction) skip packing and
//! read the weight in place (docs/kernels.md, "A few rows").

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod blocking;
mod dispatch;
mod driver;
mod epilogue;
mod error;
mod grouped;
mod kernel;
mod pack;
mod small_m;
mod view;

pub use blocking::CacheSizes;
pub use dispatch::{KernelKind, detected_kernel, selected_kernel};
pub use epilogue::{Activation, Epilogue};
pub use error::GemmError;
pub use grouped::{GemmProblem, gemm_grouped, sgemm_grouped};
pub use view::{MatMut, MatRef};

/// Element types with a GEMM: `f32` (this crate's kernels) and `f64`
/// (`matrixmultiply` plus an epilogue pass).
pub trait Gemm: Copy + Send + Sync + 'static {
    /// `C = act(alpha * op(A) * op(B) + beta * C + bias)`.
    fn gemm(
        alpha: Self,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        beta: Self,
        c: MatMut<'_, Self>,
        epi: Epilogue<'_, Self>,
    ) -> Result<(), GemmError>;
}

impl Gemm for f32 {
    fn gemm(
        alpha: f32,
        a: MatRef<'_, f32>,
        b: MatRef<'_, f32>,
        beta: f32,
        c: MatMut<'_, f32>,
        epi: Epilogue<'_, f32>,
    ) -> Result<(), GemmError> {
        sgemm_with_epilogue(alpha, a, b, beta, c, epi)
    }
}

impl Gemm for f64 {
    fn gemm(
        alpha: f64,
        a: MatRef<'_, f64>,
        b: MatRef<'_, f64>,
        beta: f64,
        mut c: MatMut<'_, f64>,
        epi: Epilogue<'_, f64>,
    ) -> Result<(), GemmError> {
        let (m, n, k) = driver::check_shapes(&a, &b, &c, &epi)?;
        if m == 0 || n == 0 {
            return Ok(());
        }
        let (rsc, csc) = (c.row_stride(), c.col_stride());
        let cp = c.ptr_mut();
        if alpha == 0.0 || k == 0 {
            // SAFETY: c is a checked m x n view.
            unsafe { epilogue::scale_c(m, n, beta, cp, rsc, csc, &epi) };
            return Ok(());
        }
        // Strides of checked views index inside their slices, and slices
        // never exceed isize::MAX bytes, so these conversions cannot wrap.
        let s = |x: usize| x as isize;
        // SAFETY: all three views were bounds-checked (every (i, j) inside
        // them is in their slice), C's strides were checked not to alias, and
        // C is exclusively borrowed so it overlaps neither A nor B.
        // matrixmultiply does not read C when beta == 0.
        unsafe {
            matrixmultiply::dgemm(
                m,
                k,
                n,
                alpha,
                a.ptr(),
                s(a.row_stride()),
                s(a.col_stride()),
                b.ptr(),
                s(b.row_stride()),
                s(b.col_stride()),
                beta,
                cp,
                s(rsc),
                s(csc),
            );
            epilogue::apply_in_place(m, n, cp, rsc, csc, &epi);
        }
        Ok(())
    }
}

/// `C = alpha * op(A) * op(B) + beta * C` in `f32` with the selected kernel.
pub fn sgemm(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
) -> Result<(), GemmError> {
    sgemm_with_epilogue(alpha, a, b, beta, c, Epilogue::none())
}

/// `C = act(alpha * op(A) * op(B) + beta * C + bias)` in `f32`, the bias and
/// activation fused into the store of each tile.
pub fn sgemm_with_epilogue(
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    epi: Epilogue<'_, f32>,
) -> Result<(), GemmError> {
    sgemm_with_kernel(selected_kernel(), alpha, a, b, beta, c, epi)
}

/// [`sgemm_with_epilogue`] with a forced microkernel (tests, benchmarks).
/// Fails with [`GemmError::KernelUnavailable`] if this CPU cannot run it.
pub fn sgemm_with_kernel(
    kind: KernelKind,
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    epi: Epilogue<'_, f32>,
) -> Result<(), GemmError> {
    let spec = kernel::spec(kind).ok_or(GemmError::KernelUnavailable(kind))?;
    driver::sgemm_with_spec(&spec, alpha, a, b, beta, c, epi)
}

/// `C = act(alpha * op(A) * op(B) + beta * C + bias)` in `f64`, via `matrixmultiply`.
pub fn dgemm(
    alpha: f64,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    beta: f64,
    c: MatMut<'_, f64>,
    epi: Epilogue<'_, f64>,
) -> Result<(), GemmError> {
    f64::gemm(alpha, a, b, beta, c, epi)
}

/// Register tile `(MR, NR)` of a kernel family.
pub fn kernel_tile(kind: KernelKind) -> (usize, usize) {
    let (mr, nr, _) = kernel::twin(kind);
    (mr, nr)
}

/// Hooks for this crate's own tests; not part of the stable API.
#[doc(hidden)]
pub mod testing {
    /// The few-rows path (`m <= 4`, A's rows, `op(B)`'s columns and C's rows contiguous) of
    /// `kind`, or its portable twin; `Ok(false)` when the product is not that path's.
    #[allow(clippy::too_many_arguments)]
    pub fn run_small_m(
        kind: crate::KernelKind,
        twin: bool,
        alpha: f32,
        a: crate::MatRef<'_, f32>,
        b: crate::MatRef<'_, f32>,
        beta: f32,
        c: crate::MatMut<'_, f32>,
        epi: crate::Epilogue<'_, f32>,
    ) -> Result<bool, crate::GemmError> {
        crate::driver::sgemm_small_m(kind, twin, alpha, a, b, beta, c, epi)
    }

    use crate::dispatch::KernelKind;
    use crate::error::GemmError;
    use crate::kernel::{self, TileEpilogue};

    /// Runs one microkernel tile, either the SIMD kernel of `kind` or (with
    /// `twin = true`) its portable twin. `a` holds `kc * MR`, `b` `kc * NR`
    /// packed values, `c` a row-major `MR x NR` tile, `bias` `NR` values.
    #[allow(clippy::too_many_arguments)]
    pub fn run_microkernel(
        kind: KernelKind,
        twin: bool,
        kc: usize,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        alpha: f32,
        beta: f32,
        bias: Option<&[f32]>,
        relu: bool,
    ) -> Result<(), GemmError> {
        let spec = kernel::spec(kind).ok_or(GemmError::KernelUnavailable(kind))?;
        let (mr, nr, twin_fn) = kernel::twin(kind);
        let f = if twin { twin_fn } else { spec.kernel };
        // Checked products: a `kc` so large that `kc * MR` wraps must be refused, not compared
        // as a small number (the kernel would read past the slices).
        let fits = |len: usize, per_k: usize| kc.checked_mul(per_k).is_some_and(|need| len >= need);
        let short = !fits(a.len(), mr) || !fits(b.len(), nr) || c.len() < mr * nr || bias.is_some_and(|b| b.len() < nr);
        if short {
            return Err(GemmError::OutOfBounds {
                rows: mr,
                cols: nr,
                row_stride: nr,
                col_stride: 1,
                needed: kc.saturating_mul(mr.max(nr)),
                len: a.len().min(b.len()),
            });
        }
        let epi = TileEpilogue {
            alpha,
            beta,
            bias: bias.map_or(std::ptr::null(), <[f32]>::as_ptr),
            relu,
        };
        // SAFETY: lengths checked above; c is a full row-major MR x NR tile.
        unsafe { f(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), nr, &epi) };
        Ok(())
    }
}
