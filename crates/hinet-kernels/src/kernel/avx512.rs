//! AVX-512F microkernel: a 12 x 32 tile of `C` held in 24 zmm accumulators.
//!
//! Why 12 x 32: two zmm per row of B (32 floats) and one broadcast A value per
//! row gives 24 independent FMA chains, more than the 2 FMA pipes x 4 cycles
//! latency = 8 needed to keep the pipes full, while leaving 8 of the 32 zmm
//! registers for the B vectors and broadcasts. Per `k` step it does 2 vector
//! loads + 12 broadcasts for 24 FMAs, well within two loads per cycle. It is
//! also the layout BLIS uses for SKX (its 32 x 12 column-major kernel is this
//! one transposed). NR = 32 divides every HiNet width (64, 128, 320, 640, 768);
//! MR = 12 wastes less on the 64/128/256/320-row edges than 14 would.

use super::KernelSpec;
#[cfg(target_arch = "x86_64")]
use super::TileEpilogue;

/// Rows of the AVX-512 tile.
pub(crate) const MR: usize = 12;
/// Columns of the AVX-512 tile (two zmm vectors).
pub(crate) const NR: usize = 32;

#[cfg(target_arch = "x86_64")]
pub(crate) fn spec() -> Option<KernelSpec> {
    let (pack_a, pack_b) = super::x86_packers::<MR, NR>(false);
    Some(KernelSpec {
        mr: MR,
        nr: NR,
        kernel,
        pack_a,
        pack_b,
        kind: crate::dispatch::KernelKind::Avx512,
        k_per_slot: 1,
    })
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn spec() -> Option<KernelSpec> {
    None
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// One output vector: `act(alpha * acc (+ beta * C) (+ bias))`, in exactly the
/// operation order of the portable twin.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn finish(acc: __m512, cp: *mut f32, bias: *const f32, epi: &TileEpilogue) {
    let alpha = _mm512_set1_ps(epi.alpha);
    let mut v = if epi.beta == 0.0 {
        _mm512_mul_ps(acc, alpha)
    } else if epi.beta == 1.0 {
        // SAFETY: beta != 0, so the caller made the tile readable.
        _mm512_fmadd_ps(acc, alpha, unsafe { _mm512_loadu_ps(cp) })
    } else {
        // SAFETY: as above.
        let c = unsafe { _mm512_loadu_ps(cp) };
        _mm512_fmadd_ps(acc, alpha, _mm512_mul_ps(c, _mm512_set1_ps(epi.beta)))
    };
    if !bias.is_null() {
        // SAFETY: a non-null bias points at this vector's 16 bias values.
        v = _mm512_add_ps(v, unsafe { _mm512_loadu_ps(bias) });
    }
    if epi.relu {
        // max(0, v): returns v when v is NaN, like the scalar `0 > v ? 0 : v`.
        v = _mm512_max_ps(_mm512_setzero_ps(), v);
    }
    // SAFETY: cp is inside the tile the caller vouched for.
    unsafe { _mm512_storeu_ps(cp, v) };
}

/// # Safety
/// Same contract as [`super::MicroKernelFn`]; only called when AVX-512F was
/// detected at run time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rs_c: usize, epi: &TileEpilogue) {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let mut a = a;
    let mut b = b;
    for _ in 0..kc {
        // SAFETY: the caller guarantees kc * NR floats of packed B; this step reads NR of them.
        let (b0, b1) = unsafe { (_mm512_loadu_ps(b), _mm512_loadu_ps(b.add(16))) };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: and kc * MR floats of packed A; this step reads MR of them.
            let ai = _mm512_set1_ps(unsafe { *a.add(i) });
            row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
        }
        // SAFETY: stays within (or one past) the packed panels.
        unsafe {
            a = a.add(MR);
            b = b.add(NR);
        }
    }
    // SAFETY: the caller vouched for the tile and the bias.
    unsafe { store_tile(&acc, c, rs_c, epi) };
}

/// Stores a 12 x 32 tile of accumulators through the epilogue (this kernel's and the
/// AVX512-BF16 kernel's, which share the tile).
///
/// # Safety
/// `c` is valid for a full `MR x NR` tile with row stride `rs_c` and unit column stride (read
/// only when `epi.beta != 0`); `epi.bias` is null or holds `NR` floats; AVX-512F is available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(super) unsafe fn store_tile(acc: &[[__m512; 2]; MR], c: *mut f32, rs_c: usize, epi: &TileEpilogue) {
    let bias1 = if epi.bias.is_null() {
        epi.bias
    } else {
        // SAFETY: a non-null bias holds NR floats.
        unsafe { epi.bias.add(16) }
    };
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row i of the MR x NR tile; the caller vouched for the tile.
        unsafe {
            let cp = c.add(i * rs_c);
            finish(row[0], cp, epi.bias, epi);
            finish(row[1], cp.add(16), bias1, epi);
        }
    }
}
