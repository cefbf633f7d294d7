//! Products with a few rows of A (`m <= 4`): predicting one row, or a handful.
//!
//! The blocked path packs B into panels and runs an `MR x NR` register tile. With one row of A
//! that is the wrong shape twice over: packing reads and writes all of B to use it once (74 %
//! of a one-row prediction of bench-default went to packing the layers' weights), and the tile
//! computes `MR` rows of which one is real. Here `op(B)` is read in place, once: every linear
//! layer multiplies by `W^T` with `W` row-major `[out, in]`, so column `j` of `op(B)` is row
//! `j` of `W`, contiguous, and `C[r][j]` is a dot product of two contiguous vectors. Each output
//! column's dot products run in `LANES` independent accumulators per row of A (several columns
//! at once, so that the fused multiply-adds do not wait for each other), summed at the end by a
//! fixed tree, then the epilogue `act(alpha * dot + beta * C + bias)`.
//!
//! The AVX2 body (16 lanes in two registers) and the AVX-512 body (one register) are chosen at
//! run time with the microkernel family; the plain Rust body runs elsewhere. The portable twin
//! is that plain body with `f32::mul_add`: per lane the same fused multiply-adds in the same
//! order and the same summation tree, so the SIMD bodies must match it bit for bit
//! (`tests/suite/small_m.rs`).

use crate::dispatch::KernelKind;
use crate::driver::Problem;
use crate::epilogue::relu;

/// Most rows of A this path takes.
pub(crate) const SMALL_M: usize = 4;

/// Accumulator lanes per row and column: one AVX-512 register, two AVX2 registers.
const LANES: usize = 16;

/// Whether `p` takes this path: at most [`SMALL_M`] rows, A's rows, `op(B)`'s columns and C's
/// rows each contiguous.
pub(crate) fn applies(p: &Problem) -> bool {
    p.m <= SMALL_M && p.csa == 1 && p.rsb == 1 && p.csc == 1
}

/// Runs `p` with the body compiled for `kind`; `twin` runs the portable twin of that body.
///
/// # Safety
/// `p` must describe valid, in-bounds views with `1 <= m <= SMALL_M`, `n, k >= 1`, for which
/// [`applies`] holds, and C must not alias A, B or the bias.
pub(crate) unsafe fn run(kind: KernelKind, twin: bool, p: &Problem) {
    // SAFETY (all arms): forwarded contract; the target-feature arms run only where
    // `KernelKind::is_available` said the CPU has the features (the spec of a kind exists
    // only then, and the testing hook checks it too).
    unsafe {
        match (kind, twin) {
            #[cfg(target_arch = "x86_64")]
            (KernelKind::Avx512, false) => avx512(p),
            #[cfg(target_arch = "x86_64")]
            (KernelKind::Avx2, false) => avx2(p),
            // Plain multiply then add: no fused multiply-add instruction to rely on.
            (KernelKind::Portable, _) => by_rows::<false>(p),
            // The twins, and NEON (aarch64 always fuses).
            _ => by_rows::<true>(p),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512(p: &Problem) {
    // SAFETY: forwarded contract.
    unsafe { x86::by_rows::<x86::Zmm>(p) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(p: &Problem) {
    // SAFETY: forwarded contract.
    unsafe { x86::by_rows::<x86::Ymm2>(p) }
}

/// The x86 bodies: [`columns`] with the 16 lanes of an accumulator in one AVX-512 register or
/// two AVX2 registers, and the same tree at the end, so every lane sees the same fused
/// multiply-adds in the same order as the portable twin.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{LANES, Problem, epilogue};
    use std::arch::x86_64::*;

    /// 16 accumulator lanes.
    pub(super) trait Lanes: Copy {
        /// # Safety
        /// The CPU has the register's features (the callers are `target_feature` functions).
        unsafe fn zero() -> Self;
        /// `acc + a[0..16] * b[0..16]`, lane by lane, fused.
        /// # Safety
        /// `a` and `b` point at 16 readable floats.
        unsafe fn fmadd(self, a: *const f32, b: *const f32) -> Self;
        /// The lanes summed by the tree 16 -> 8 -> 4 -> 2 -> 1.
        /// # Safety
        /// As [`Lanes::zero`].
        unsafe fn sum(self) -> f32;
    }

    /// Two AVX2 registers: lanes 0-7 and 8-15.
    #[derive(Clone, Copy)]
    pub(super) struct Ymm2(__m256, __m256);

    /// One AVX-512 register.
    #[derive(Clone, Copy)]
    pub(super) struct Zmm(__m512);

    /// 8 lanes (in a ymm) summed by the tree 8 -> 4 -> 2 -> 1 (`s[l] += s[l + half]`).
    #[inline(always)]
    unsafe fn sum8(v: __m256) -> f32 {
        // SAFETY: AVX (implied by the callers' AVX2).
        unsafe {
            let x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let x = _mm_add_ps(x, _mm_movehl_ps(x, x));
            let x = _mm_add_ss(x, _mm_shuffle_ps::<0b01>(x, x));
            _mm_cvtss_f32(x)
        }
    }

    impl Lanes for Ymm2 {
        #[inline(always)]
        unsafe fn zero() -> Self {
            // SAFETY: AVX.
            unsafe { Ymm2(_mm256_setzero_ps(), _mm256_setzero_ps()) }
        }
        #[inline(always)]
        unsafe fn fmadd(self, a: *const f32, b: *const f32) -> Self {
            // SAFETY: FMA and AVX; 16 readable floats at a and b.
            unsafe {
                Ymm2(
                    _mm256_fmadd_ps(_mm256_loadu_ps(a), _mm256_loadu_ps(b), self.0),
                    _mm256_fmadd_ps(_mm256_loadu_ps(a.add(8)), _mm256_loadu_ps(b.add(8)), self.1),
                )
            }
        }
        #[inline(always)]
        unsafe fn sum(self) -> f32 {
            // SAFETY: AVX. 16 -> 8 is lanes l and l + 8: the two registers added.
            unsafe { sum8(_mm256_add_ps(self.0, self.1)) }
        }
    }

    impl Lanes for Zmm {
        #[inline(always)]
        unsafe fn zero() -> Self {
            // SAFETY: AVX-512F.
            unsafe { Zmm(_mm512_setzero_ps()) }
        }
        #[inline(always)]
        unsafe fn fmadd(self, a: *const f32, b: *const f32) -> Self {
            // SAFETY: AVX-512F; 16 readable floats at a and b.
            unsafe { Zmm(_mm512_fmadd_ps(_mm512_loadu_ps(a), _mm512_loadu_ps(b), self.0)) }
        }
        #[inline(always)]
        unsafe fn sum(self) -> f32 {
            // SAFETY: AVX-512F (and the AVX it implies). 16 -> 8: the two halves added.
            unsafe {
                let lo = _mm512_castps512_ps256(self.0);
                let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(self.0)));
                sum8(_mm256_add_ps(lo, hi))
            }
        }
    }

    /// As [`super::by_rows`], with registers `L`.
    ///
    /// # Safety
    /// As [`super::columns`], on a CPU with the features of `L`.
    #[inline(always)]
    pub(super) unsafe fn by_rows<L: Lanes>(p: &Problem) {
        // SAFETY: forwarded contract (m <= SMALL_M).
        unsafe {
            match p.m {
                1 => columns::<L, 1, 4>(p),
                2 => columns::<L, 2, 2>(p),
                3 => columns::<L, 3, 1>(p),
                _ => columns::<L, 4, 1>(p),
            }
        }
    }

    /// As [`super::columns`], with registers.
    ///
    /// # Safety
    /// As [`super::columns`], on a CPU with the features of `L`.
    #[inline(always)]
    pub(super) unsafe fn columns<L: Lanes, const M: usize, const J: usize>(p: &Problem) {
        let k = p.k;
        let chunks = k / LANES;
        // SAFETY: as in `super::columns`: A's rows, op(B)'s columns, C's rows in bounds.
        unsafe {
            let a: [*const f32; M] = std::array::from_fn(|r| p.a.add(r * p.rsa));
            let mut j0 = 0;
            while j0 < p.n {
                let width = J.min(p.n - j0);
                let w: [*const f32; J] = std::array::from_fn(|q| p.b.add((j0 + q.min(width - 1)) * p.csb));
                let mut acc = [[L::zero(); J]; M];
                for c in 0..chunks {
                    let at = c * LANES;
                    for q in 0..J {
                        for r in 0..M {
                            acc[r][q] = acc[r][q].fmadd(a[r].add(at), w[q].add(at));
                        }
                    }
                }
                for q in 0..width {
                    for r in 0..M {
                        let mut dot = acc[r][q].sum();
                        for i in chunks * LANES..k {
                            dot = (*a[r].add(i)).mul_add(*w[q].add(i), dot);
                        }
                        epilogue::<true>(p, r, j0 + q, dot);
                    }
                }
                j0 += J;
            }
        }
    }
}

/// Picks the register block for the number of rows: `M` rows times `J` columns of `LANES`
/// accumulators (4 or 2 independent chains of 16 lanes).
#[inline(always)]
unsafe fn by_rows<const FMA: bool>(p: &Problem) {
    // SAFETY: forwarded contract (m <= SMALL_M).
    unsafe {
        match p.m {
            1 => columns::<FMA, 1, 4>(p),
            2 => columns::<FMA, 2, 2>(p),
            3 => columns::<FMA, 3, 1>(p),
            _ => columns::<FMA, 4, 1>(p),
        }
    }
}

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `C[r][j]` for every row `r < M` and column `j`, `J` columns at a time.
#[inline(always)]
unsafe fn columns<const FMA: bool, const M: usize, const J: usize>(p: &Problem) {
    let k = p.k;
    let chunks = k / LANES;
    // SAFETY (whole body): rows `r < M` of A hold `k` values from `a + r * rsa` (csa == 1);
    // column `j < n` of op(B) holds `k` values from `b + j * csb` (rsb == 1); row `r` of C holds
    // `n` values from `c + r * rsc` (csc == 1); the bias, when not null, `n` values.
    unsafe {
        let a: [&[f32]; M] = std::array::from_fn(|r| std::slice::from_raw_parts(p.a.add(r * p.rsa), k));
        let mut j0 = 0;
        while j0 < p.n {
            let width = J.min(p.n - j0);
            let w: [&[f32]; J] = std::array::from_fn(|q| {
                // Past the last column, repeat it (computed, never stored).
                let j = j0 + q.min(width - 1);
                std::slice::from_raw_parts(p.b.add(j * p.csb), k)
            });
            let mut acc = [[[0.0f32; LANES]; J]; M];
            for c in 0..chunks {
                let at = c * LANES;
                for q in 0..J {
                    let wq = &w[q][at..at + LANES];
                    for r in 0..M {
                        let ar = &a[r][at..at + LANES];
                        let s = &mut acc[r][q];
                        for l in 0..LANES {
                            s[l] = madd::<FMA>(ar[l], wq[l], s[l]);
                        }
                    }
                }
            }
            for q in 0..width {
                let j = j0 + q;
                for r in 0..M {
                    let mut s = acc[r][q];
                    // A fixed tree: 16 -> 8 -> 4 -> 2 -> 1.
                    let mut half = LANES / 2;
                    while half > 0 {
                        for l in 0..half {
                            s[l] += s[l + half];
                        }
                        half /= 2;
                    }
                    let mut dot = s[0];
                    for i in chunks * LANES..k {
                        dot = madd::<FMA>(a[r][i], w[q][i], dot);
                    }
                    epilogue::<FMA>(p, r, j, dot);
                }
            }
            j0 += J;
        }
    }
}

/// `C[r][j] = act(alpha * dot + beta * C[r][j] + bias[j])`: the microkernels' epilogue, in
/// their order.
///
/// # Safety
/// `(r, j)` is inside C; the bias, when not null, holds `n` values.
#[inline(always)]
unsafe fn epilogue<const FMA: bool>(p: &Problem, r: usize, j: usize, dot: f32) {
    // SAFETY: the caller's bounds.
    unsafe {
        let out = p.c.add(r * p.rsc + j);
        let mut v = if p.beta == 0.0 {
            dot * p.alpha
        } else if p.beta == 1.0 {
            madd::<FMA>(dot, p.alpha, *out)
        } else {
            madd::<FMA>(dot, p.alpha, *out * p.beta)
        };
        if !p.bias.is_null() {
            v += *p.bias.add(j);
        }
        if p.relu {
            v = relu(v);
        }
        *out = v;
    }
}
