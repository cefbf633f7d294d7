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
use crate::precision::bf16_to_f32;

/// Most rows of A this path takes.
pub(crate) const SMALL_M: usize = 4;

/// Most columns of `op(B)` for which a product with many rows runs through this path too,
/// [`SMALL_M`] rows at a time ([`run_rows`]): a gate's logits (one column per expert) and a
/// tower's logit (one column). The blocked path would pack all of A to fill at most 8 of a
/// tile's 16 (AVX2) or 32 (AVX-512) columns; here A is read in place, once, and the few
/// weight columns stay in L1.
pub(crate) const FEW_COLUMNS: usize = 8;

/// Accumulator lanes per row and column: one AVX-512 register, two AVX2 registers.
const LANES: usize = 16;

/// Whether `p` takes this path: at most [`SMALL_M`] rows, A's rows, `op(B)`'s columns and C's
/// rows each contiguous.
pub(crate) fn applies(p: &Problem) -> bool {
    p.m <= SMALL_M && p.csa == 1 && p.rsb == 1 && p.csc == 1
}

/// Whether `p` takes the few-columns use of this path ([`run_rows`]): at most
/// [`FEW_COLUMNS`] columns, with the layout of [`applies`].
pub(crate) fn applies_columns(p: &Problem) -> bool {
    p.n <= FEW_COLUMNS && p.csa == 1 && p.rsb == 1 && p.csc == 1
}

/// Rows `i0..i1` of `p`, [`SMALL_M`] at a time, through [`run`]. Every element of C is the
/// same dot product, summed the same way, whichever block its row falls in, so the result
/// does not depend on how rows are split among threads, and a row equals that row computed
/// alone.
///
/// # Safety
/// As [`run`], with any `m`; `i0 <= i1 <= m`, and no other thread touches those rows of C.
pub(crate) unsafe fn run_rows(kind: KernelKind, twin: bool, p: &Problem, i0: usize, i1: usize) {
    let mut r0 = i0;
    while r0 < i1 {
        let m = SMALL_M.min(i1 - r0);
        // SAFETY: rows r0..r0 + m <= i1 <= p.m of A and C: inside the caller's views.
        let rows = unsafe {
            Problem {
                m,
                a: p.a.add(r0 * p.rsa),
                c: p.c.add(r0 * p.rsc),
                ..*p
            }
        };
        // SAFETY: a few-rows problem over rows of the caller's views, layout unchanged.
        unsafe { run(kind, twin, &rows) };
        r0 += m;
    }
}

/// k-values per group of the bf16 weight layout (see [`bf16_index`]).
pub(crate) const BF16_GROUP: usize = 32;

/// Where the `p`-th of a weight row's `k` values sits when stored as bf16: in each whole group
/// of 32 the values `i` and `i + 16` share the 32-bit word `i` (low and high half), so one
/// shift and one mask of a loaded register give two 16-lane chunks in order, as f32 (two cheap
/// integer operations per 16 values, where widening 16-bit lanes costs a shuffle each); the
/// values after the last whole group are stored in order.
#[inline(always)]
pub(crate) fn bf16_index(k: usize, p: usize) -> usize {
    let whole = k / BF16_GROUP * BF16_GROUP;
    if p >= whole {
        return p;
    }
    let (group, t) = (p / BF16_GROUP * BF16_GROUP, p % BF16_GROUP);
    let half = BF16_GROUP / 2;
    group + if t < half { 2 * t } else { 2 * (t - half) + 1 }
}

/// How `op(B)`'s columns are stored, for the portable bodies: `f32` in order, or bf16 bit
/// patterns (`u16`) in the layout of [`bf16_index`]. A is read as given: a product with bf16
/// weights rounds A beforehand ([`crate::sgemm_bf16_weights`]), once rather than once per
/// column, so that every product is of two bf16 values (exact in `f32`).
pub(crate) trait Element: Copy {
    /// The `p`-th value of a column of `col.len()` values, as `f32` (exact).
    fn at(col: &[Self], p: usize) -> f32;
}

impl Element for f32 {
    #[inline(always)]
    fn at(col: &[f32], p: usize) -> f32 {
        col[p]
    }
}

impl Element for u16 {
    #[inline(always)]
    fn at(col: &[u16], p: usize) -> f32 {
        bf16_to_f32(col[bf16_index(col.len(), p)])
    }
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
            (KernelKind::Portable, _) => by_rows::<f32, false>(p, p.b),
            // The twins, and NEON (aarch64 always fuses).
            _ => by_rows::<f32, true>(p, p.b),
        }
    }
}

/// [`run`] with `op(B)`'s columns stored as bf16 at `b` (`p.b` is not read): column `j` holds
/// `k` bit patterns from `b + j * p.csb`, in the layout of [`bf16_index`].
///
/// # Safety
/// As [`run`], with `b` in place of `p.b`.
pub(crate) unsafe fn run_bf16(kind: KernelKind, twin: bool, p: &Problem, b: *const u16) {
    // SAFETY (all arms): as in `run`.
    unsafe {
        match (kind, twin) {
            #[cfg(target_arch = "x86_64")]
            (KernelKind::Avx512, false) => avx512_bf16(p, b),
            #[cfg(target_arch = "x86_64")]
            (KernelKind::Avx2, false) => avx2_bf16(p, b),
            (KernelKind::Portable, _) => by_rows::<u16, false>(p, b),
            _ => by_rows::<u16, true>(p, b),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512_bf16(p: &Problem, b: *const u16) {
    // SAFETY: forwarded contract.
    unsafe { x86::by_rows_bf16::<x86::Zmm>(p, b) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_bf16(p: &Problem, b: *const u16) {
    // SAFETY: forwarded contract.
    unsafe { x86::by_rows_bf16::<x86::Ymm2>(p, b) }
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
    use super::{BF16_GROUP, LANES, Problem, epilogue};
    use crate::precision::bf16_to_f32;
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
        /// 16 operand lanes in registers.
        type Operand: Copy;
        /// 16 floats from `p`.
        /// # Safety
        /// As [`Lanes::zero`]; `p` points at 16 readable floats.
        unsafe fn load(p: *const f32) -> Self::Operand;
        /// A whole group of 32 bf16 values from `p` (layout of [`super::bf16_index`]) as its two
        /// 16-lane chunks, in order.
        /// # Safety
        /// As [`Lanes::zero`]; `p` points at 32 readable values.
        unsafe fn load_bf16_group(p: *const u16) -> (Self::Operand, Self::Operand);
        /// 16 bf16 values stored in order from `p`.
        /// # Safety
        /// As [`Lanes::zero`]; `p` points at 16 readable values.
        unsafe fn load_bf16(p: *const u16) -> Self::Operand;
        /// `acc + a * b`, lane by lane, fused.
        /// # Safety
        /// As [`Lanes::zero`].
        unsafe fn fmadd_op(self, a: Self::Operand, b: Self::Operand) -> Self;
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
        type Operand = (__m256, __m256);
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self::Operand {
            // SAFETY: AVX2; 16 readable floats at p.
            unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) }
        }
        #[inline(always)]
        unsafe fn load_bf16_group(p: *const u16) -> (Self::Operand, Self::Operand) {
            // SAFETY: AVX2; 32 readable values at p. Word i of the group holds values i (low
            // half) and i + 16 (high half): shifted left they are values 0-15, masked 16-31.
            unsafe {
                let (v0, v1) = (_mm256_loadu_si256(p.cast()), _mm256_loadu_si256(p.add(16).cast()));
                let high = _mm256_set1_epi32(0xffff_0000_u32 as i32);
                let (low0, low1) = (_mm256_slli_epi32::<16>(v0), _mm256_slli_epi32::<16>(v1));
                let (top0, top1) = (_mm256_and_si256(v0, high), _mm256_and_si256(v1, high));
                (
                    (_mm256_castsi256_ps(low0), _mm256_castsi256_ps(low1)),
                    (_mm256_castsi256_ps(top0), _mm256_castsi256_ps(top1)),
                )
            }
        }
        #[inline(always)]
        unsafe fn load_bf16(p: *const u16) -> Self::Operand {
            // SAFETY: AVX2; 16 readable values at p, widened to 32 bits and shifted into the
            // top half, which makes each the f32 of equal value.
            unsafe {
                let lo = _mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast()));
                let hi = _mm256_cvtepu16_epi32(_mm_loadu_si128(p.add(8).cast()));
                (
                    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(lo)),
                    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(hi)),
                )
            }
        }
        #[inline(always)]
        unsafe fn fmadd_op(self, a: Self::Operand, b: Self::Operand) -> Self {
            // SAFETY: FMA and AVX.
            unsafe { Ymm2(_mm256_fmadd_ps(a.0, b.0, self.0), _mm256_fmadd_ps(a.1, b.1, self.1)) }
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
        type Operand = __m512;
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self::Operand {
            // SAFETY: AVX-512F; 16 readable floats at p.
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn load_bf16_group(p: *const u16) -> (Self::Operand, Self::Operand) {
            // SAFETY: AVX-512F; 32 readable values at p (layout as for `Ymm2`).
            unsafe {
                let v = _mm512_loadu_si512(p.cast());
                let low = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(v));
                let top = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(0xffff_0000_u32 as i32)));
                (low, top)
            }
        }
        #[inline(always)]
        unsafe fn load_bf16(p: *const u16) -> Self::Operand {
            // SAFETY: AVX-512F; 16 readable values at p (see `Ymm2::load_bf16`).
            unsafe {
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(_mm256_loadu_si256(
                    p.cast(),
                ))))
            }
        }
        #[inline(always)]
        unsafe fn fmadd_op(self, a: Self::Operand, b: Self::Operand) -> Self {
            // SAFETY: AVX-512F.
            unsafe { Zmm(_mm512_fmadd_ps(a, b, self.0)) }
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

    /// As [`super::by_rows`] for bf16 weights, with registers `L`.
    ///
    /// # Safety
    /// As [`super::columns`] (columns at `b`, layout of [`super::bf16_index`]), on a CPU with
    /// the features of `L`.
    #[inline(always)]
    pub(super) unsafe fn by_rows_bf16<L: Lanes>(p: &Problem, b: *const u16) {
        // SAFETY: forwarded contract (m <= SMALL_M).
        unsafe {
            match p.m {
                1 => columns_bf16::<L, 1, 4>(p, b),
                2 => columns_bf16::<L, 2, 2>(p, b),
                3 => columns_bf16::<L, 3, 1>(p, b),
                _ => columns_bf16::<L, 4, 1>(p, b),
            }
        }
    }

    /// [`columns`] over bf16 weights: per accumulator the same chunks in the same order as the
    /// portable body, two chunks per whole group of 32.
    ///
    /// # Safety
    /// As [`by_rows_bf16`].
    #[inline(always)]
    unsafe fn columns_bf16<L: Lanes, const M: usize, const J: usize>(p: &Problem, b: *const u16) {
        let k = p.k;
        let groups = k / BF16_GROUP;
        // After the whole groups the values are in order: one more whole chunk, then a tail.
        let chunk_after = k % BF16_GROUP >= LANES;
        let tail_from = groups * BF16_GROUP + if chunk_after { LANES } else { 0 };
        // SAFETY: as in `super::columns`: A's rows, op(B)'s columns (k values each), C's rows
        // in bounds.
        unsafe {
            let a: [*const f32; M] = std::array::from_fn(|r| p.a.add(r * p.rsa));
            let mut j0 = 0;
            while j0 < p.n {
                let width = J.min(p.n - j0);
                let w: [*const u16; J] = std::array::from_fn(|q| b.add((j0 + q.min(width - 1)) * p.csb));
                let mut acc = [[L::zero(); J]; M];
                // Loops, not `array::from_fn`, for the operands: a closure is a function of its
                // own, without this body's target features, where the intrinsics would not inline.
                for g in 0..groups {
                    let at = g * BF16_GROUP;
                    let mut lo = [L::load(a[0].add(at)); M];
                    let mut hi = [L::load(a[0].add(at + LANES)); M];
                    for r in 1..M {
                        lo[r] = L::load(a[r].add(at));
                        hi[r] = L::load(a[r].add(at + LANES));
                    }
                    for q in 0..J {
                        let (w_lo, w_hi) = L::load_bf16_group(w[q].add(at));
                        for r in 0..M {
                            acc[r][q] = acc[r][q].fmadd_op(lo[r], w_lo).fmadd_op(hi[r], w_hi);
                        }
                    }
                }
                if chunk_after {
                    let at = groups * BF16_GROUP;
                    let mut av = [L::load(a[0].add(at)); M];
                    for r in 1..M {
                        av[r] = L::load(a[r].add(at));
                    }
                    for q in 0..J {
                        let wv = L::load_bf16(w[q].add(at));
                        for r in 0..M {
                            acc[r][q] = acc[r][q].fmadd_op(av[r], wv);
                        }
                    }
                }
                for q in 0..width {
                    for r in 0..M {
                        let mut dot = acc[r][q].sum();
                        for i in tail_from..k {
                            dot = (*a[r].add(i)).mul_add(bf16_to_f32(*w[q].add(i)), dot);
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
unsafe fn by_rows<E: Element, const FMA: bool>(p: &Problem, b: *const E) {
    // SAFETY: forwarded contract (m <= SMALL_M).
    unsafe {
        match p.m {
            1 => columns::<E, FMA, 1, 4>(p, b),
            2 => columns::<E, FMA, 2, 2>(p, b),
            3 => columns::<E, FMA, 3, 1>(p, b),
            _ => columns::<E, FMA, 4, 1>(p, b),
        }
    }
}

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `C[r][j]` for every row `r < M` and column `j`, `J` columns at a time; `op(B)`'s columns
/// read from `b` as `E`.
#[inline(always)]
unsafe fn columns<E: Element, const FMA: bool, const M: usize, const J: usize>(p: &Problem, b: *const E) {
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
            let w: [&[E]; J] = std::array::from_fn(|q| {
                // Past the last column, repeat it (computed, never stored).
                let j = j0 + q.min(width - 1);
                std::slice::from_raw_parts(b.add(j * p.csb), k)
            });
            let mut acc = [[[0.0f32; LANES]; J]; M];
            for c in 0..chunks {
                let at = c * LANES;
                for q in 0..J {
                    for r in 0..M {
                        let ar = &a[r][at..at + LANES];
                        let s = &mut acc[r][q];
                        for l in 0..LANES {
                            s[l] = madd::<FMA>(ar[l], E::at(w[q], at + l), s[l]);
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
                    for (i, &x) in a[r].iter().enumerate().skip(chunks * LANES) {
                        dot = madd::<FMA>(x, E::at(w[q], i), dot);
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
