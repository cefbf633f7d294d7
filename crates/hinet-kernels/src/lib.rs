#![doc = include_str!("../README.md")]
//!
//! ## Entry points
//!
//! [`sgemm`] and [`sgemm_with_epilogue`] over [`MatRef`] / [`MatMut`] views, with an
//! [`Epilogue`] of bias and [`Activation`]; [`sgemm_grouped`] for many products at once;
//! [`dgemm`] for `f64`; [`selected_kernel`] says which [`KernelKind`] runs. Products of at
//! most 4 rows times a transposed row-major weight (one row of a prediction) skip packing and
//! read the weight in place (docs/kernels.md, "A few rows"), as do `f32` products of at most 8
//! columns, 4 rows at a time (a gate's logits); [`sgemm_bf16_weights`] reads it
//! from a [`Bf16Weights`] copy, half the bytes (a bf16 model's one-row prediction).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod bf16_weights;
mod blocking;
mod dispatch;
mod driver;
mod epilogue;
mod error;
mod grouped;
mod kernel;
mod pack;
mod pack_avx2;
mod precision;
mod small_m;
mod view;

pub use bf16_weights::{Bf16Weights, sgemm_bf16_weights};
pub use blocking::CacheSizes;
pub use dispatch::{KernelKind, detected_kernel, selected_kernel};
pub use epilogue::{Activation, Epilogue};
pub use error::GemmError;
pub use grouped::{GemmProblem, gemm_grouped, sgemm_grouped};
pub use precision::{Precision, bf16_bits, bf16_to_f32, round_to_bf16};
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

    /// [`Gemm::gemm`] with the operands in `precision`. Only `f32` has a bf16 path; other
    /// types compute in their own precision whatever is asked.
    fn gemm_in(
        precision: Precision,
        alpha: Self,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        beta: Self,
        c: MatMut<'_, Self>,
        epi: Epilogue<'_, Self>,
    ) -> Result<(), GemmError> {
        let _ = precision;
        Self::gemm(alpha, a, b, beta, c, epi)
    }
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

    fn gemm_in(
        precision: Precision,
        alpha: f32,
        a: MatRef<'_, f32>,
        b: MatRef<'_, f32>,
        beta: f32,
        c: MatMut<'_, f32>,
        epi: Epilogue<'_, f32>,
    ) -> Result<(), GemmError> {
        sgemm_in(precision, alpha, a, b, beta, c, epi)
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

/// `C = act(alpha * op(A) * op(B) + beta * C + bias)` in `f32` with the operands in
/// `precision`: [`Precision::Bf16`] rounds both operands to bfloat16 and accumulates in `f32`
/// (natively with AVX512-BF16 when the AVX-512 kernel is selected and the CPU has it, see
/// [`bf16_native`]; otherwise the selected `f32` kernel multiplies the rounded operands).
pub fn sgemm_in(
    precision: Precision,
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    epi: Epilogue<'_, f32>,
) -> Result<(), GemmError> {
    match precision {
        Precision::F32 => sgemm_with_epilogue(alpha, a, b, beta, c, epi),
        Precision::Bf16 => sgemm_bf16_with_kernel(selected_kernel(), alpha, a, b, beta, c, epi),
    }
}

/// A bf16 product ([`sgemm_in`] with [`Precision::Bf16`]) through the family `kind`: its
/// native bf16 kernel where it has one and the CPU runs it, its `f32` kernel over rounded
/// operands otherwise. Fails with [`GemmError::KernelUnavailable`] if this CPU cannot run `kind`.
pub fn sgemm_bf16_with_kernel(
    kind: KernelKind,
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    epi: Epilogue<'_, f32>,
) -> Result<(), GemmError> {
    run_spec(kernel::bf16_spec(kind), false, kind, alpha, a, b, beta, c, epi)
}

/// Whether bf16 products run natively (`vdpbf16ps`): the selected kernel is AVX-512 and the
/// CPU has AVX512-BF16. Otherwise they are emulated by the `f32` kernel on rounded operands.
pub fn bf16_native() -> bool {
    kernel::bf16_spec(selected_kernel()).is_some_and(|s| s.k_per_slot == 2)
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
    run_spec(kernel::spec(kind), true, kind, alpha, a, b, beta, c, epi)
}

/// Runs the product with `spec`, the spec of `kind` for some precision (`None`: this CPU
/// cannot run `kind`); `f32` products (`few_columns`) may take the few-columns path.
#[allow(clippy::too_many_arguments)]
fn run_spec(
    spec: Option<kernel::KernelSpec>,
    few_columns: bool,
    kind: KernelKind,
    alpha: f32,
    a: MatRef<'_, f32>,
    b: MatRef<'_, f32>,
    beta: f32,
    c: MatMut<'_, f32>,
    epi: Epilogue<'_, f32>,
) -> Result<(), GemmError> {
    let spec = spec.ok_or(GemmError::KernelUnavailable(kind))?;
    driver::sgemm_with_spec(&spec, few_columns, alpha, a, b, beta, c, epi)
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
        crate::driver::sgemm_dot_path(kind, twin, false, alpha, a, b, beta, c, epi)
    }

    /// The few-columns path (`n <= 8`, any `m`; A's rows, `op(B)`'s columns and C's rows
    /// contiguous) of `kind`, or its portable twin; `Ok(false)` when the product is not that
    /// path's.
    #[allow(clippy::too_many_arguments)]
    pub fn run_few_columns(
        kind: crate::KernelKind,
        twin: bool,
        alpha: f32,
        a: crate::MatRef<'_, f32>,
        b: crate::MatRef<'_, f32>,
        beta: f32,
        c: crate::MatMut<'_, f32>,
        epi: crate::Epilogue<'_, f32>,
    ) -> Result<bool, crate::GemmError> {
        crate::driver::sgemm_dot_path(kind, twin, true, alpha, a, b, beta, c, epi)
    }

    /// A bf16 product through the bf16-pair layout and the driver, with the AVX512-BF16 kernel
    /// (`twin = false`; [`GemmError::KernelUnavailable`] without AVX512-BF16) or its portable
    /// twin (`twin = true`, any CPU).
    pub fn run_bf16_pairs(
        twin: bool,
        alpha: f32,
        a: crate::MatRef<'_, f32>,
        b: crate::MatRef<'_, f32>,
        beta: f32,
        c: crate::MatMut<'_, f32>,
        epi: crate::Epilogue<'_, f32>,
    ) -> Result<(), crate::GemmError> {
        let spec = if twin {
            kernel::avx512_bf16::twin_spec()
        } else {
            kernel::avx512_bf16::spec().ok_or(GemmError::KernelUnavailable(KernelKind::Avx512))?
        };
        crate::driver::sgemm_with_spec(&spec, false, alpha, a, b, beta, c, epi)
    }

    /// [`crate::sgemm_bf16_weights`] through the few-rows body of `kind` (`twin = false`) or
    /// its portable twin (`twin = true`).
    #[allow(clippy::too_many_arguments)]
    pub fn run_bf16_weights(
        kind: crate::KernelKind,
        twin: bool,
        alpha: f32,
        a: crate::MatRef<'_, f32>,
        w: &crate::Bf16Weights,
        beta: f32,
        c: crate::MatMut<'_, f32>,
        epi: crate::Epilogue<'_, f32>,
    ) -> Result<(), crate::GemmError> {
        crate::bf16_weights::run(kind, twin, alpha, a, w, beta, c, epi)
    }

    /// Whether a product of these views takes the few-rows path (which computes in `f32` in
    /// every precision).
    pub fn takes_few_rows_path(
        a: &crate::MatRef<'_, f32>,
        b: &crate::MatRef<'_, f32>,
        c: &mut crate::MatMut<'_, f32>,
    ) -> bool {
        crate::driver::takes_few_rows_path(a, b, c)
    }

    /// Packs an `n x k` operand (`src[i * s_n + kk * s_k]`) into micro-panels of `r` rows in
    /// `dst` (at least `n.div_ceil(r) * r * k` floats), as the driver does, with the AVX2
    /// packer (`simd = true`; [`GemmError::KernelUnavailable`] without AVX2) or the portable
    /// loop. `r` is one of the tiles' sizes: 4, 6, 8, 12, 16, 32.
    #[allow(clippy::too_many_arguments)]
    pub fn pack_panels(
        r: usize,
        simd: bool,
        n: usize,
        k: usize,
        src: &[f32],
        s_n: usize,
        s_k: usize,
        dst: &mut [f32],
    ) -> Result<(), GemmError> {
        let f = packer(r, simd)?;
        let out_of_bounds = |needed: Option<usize>, len: usize| GemmError::OutOfBounds {
            rows: n,
            cols: k,
            row_stride: s_n,
            col_stride: s_k,
            needed: needed.unwrap_or(usize::MAX),
            len,
        };
        if n > 0 && k > 0 {
            // The last element read: (n - 1, k - 1).
            let last = (n - 1)
                .checked_mul(s_n)
                .zip((k - 1).checked_mul(s_k))
                .and_then(|(a, b)| a.checked_add(b));
            if last.is_none_or(|l| l >= src.len()) {
                return Err(out_of_bounds(last.map(|l| l + 1), src.len()));
            }
        }
        let need = n.div_ceil(r).checked_mul(r * k);
        if need.is_none_or(|need| dst.len() < need) {
            return Err(out_of_bounds(need, dst.len()));
        }
        // SAFETY: every read index is at most the last one, inside src, and dst holds the
        // panels (both checked above).
        unsafe { f(n, k, src.as_ptr(), s_n, s_k, dst.as_mut_ptr()) };
        Ok(())
    }

    fn packer(r: usize, simd: bool) -> Result<kernel::PackFn, GemmError> {
        // One instance per tile size, as the kernel specs name them.
        macro_rules! sized {
            ($pack:ident) => {
                match r {
                    4 => Ok($pack::<4>),
                    6 => Ok($pack::<6>),
                    8 => Ok($pack::<8>),
                    12 => Ok($pack::<12>),
                    16 => Ok($pack::<16>),
                    32 => Ok($pack::<32>),
                    _ => Err(GemmError::Layout("panel size must be one of 4, 6, 8, 12, 16, 32")),
                }
            };
        }
        if !simd {
            use crate::pack::pack_panels;
            return sized!(pack_panels);
        }
        #[cfg(target_arch = "x86_64")]
        if crate::pack_avx2::available() {
            use crate::pack_avx2::pack_panels_avx2;
            return sized!(pack_panels_avx2);
        }
        Err(GemmError::KernelUnavailable(KernelKind::Avx2))
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
