//! AVX2 + FMA microkernel: a 6 x 16 tile of `C` held in 12 ymm accumulators.
//!
//! Why 6 x 16: with 16 ymm registers, 12 accumulators + 2 B vectors + 1
//! broadcast fit without spilling, and 12 independent FMA chains cover the
//! 2 pipes x 4 cycles latency. This is the classic Haswell-era BLIS/OpenBLAS
//! shape.

use super::KernelSpec;
#[cfg(target_arch = "x86_64")]
use super::TileEpilogue;

/// Rows of the AVX2 tile.
pub(crate) const MR: usize = 6;
/// Columns of the AVX2 tile (two ymm vectors).
pub(crate) const NR: usize = 16;

#[cfg(target_arch = "x86_64")]
pub(crate) fn spec() -> Option<KernelSpec> {
    let (pack_a, pack_b) = super::x86_packers::<MR, NR>(false);
    Some(KernelSpec {
        mr: MR,
        nr: NR,
        kernel,
        pack_a,
        pack_b,
        kind: crate::dispatch::KernelKind::Avx2,
        k_per_slot: 1,
    })
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn spec() -> Option<KernelSpec> {
    None
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// One output vector, in the operation order of the portable twin.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn finish(acc: __m256, cp: *mut f32, bias: *const f32, epi: &TileEpilogue) {
    let alpha = _mm256_set1_ps(epi.alpha);
    let mut v = if epi.beta == 0.0 {
        _mm256_mul_ps(acc, alpha)
    } else if epi.beta == 1.0 {
        // SAFETY: beta != 0, so the caller made the tile readable.
        _mm256_fmadd_ps(acc, alpha, unsafe { _mm256_loadu_ps(cp) })
    } else {
        // SAFETY: as above.
        let c = unsafe { _mm256_loadu_ps(cp) };
        _mm256_fmadd_ps(acc, alpha, _mm256_mul_ps(c, _mm256_set1_ps(epi.beta)))
    };
    if !bias.is_null() {
        // SAFETY: a non-null bias points at this vector's 8 bias values.
        v = _mm256_add_ps(v, unsafe { _mm256_loadu_ps(bias) });
    }
    if epi.relu {
        // max(0, v): returns v when v is NaN, like the scalar `0 > v ? 0 : v`.
        v = _mm256_max_ps(_mm256_setzero_ps(), v);
    }
    // SAFETY: cp is inside the tile the caller vouched for.
    unsafe { _mm256_storeu_ps(cp, v) };
}

/// # Safety
/// Same contract as [`super::MicroKernelFn`]; only called when AVX2 and FMA
/// were detected at run time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rs_c: usize, epi: &TileEpilogue) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let mut a = a;
    let mut b = b;
    for _ in 0..kc {
        // SAFETY: the caller guarantees kc * NR floats of packed B; this step reads NR of them.
        let (b0, b1) = unsafe { (_mm256_loadu_ps(b), _mm256_loadu_ps(b.add(8))) };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: and kc * MR floats of packed A; this step reads MR of them.
            let ai = _mm256_set1_ps(unsafe { *a.add(i) });
            row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
            row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
        }
        // SAFETY: stays within (or one past) the packed panels.
        unsafe {
            a = a.add(MR);
            b = b.add(NR);
        }
    }
    let bias1 = if epi.bias.is_null() {
        epi.bias
    } else {
        // SAFETY: a non-null bias holds NR floats.
        unsafe { epi.bias.add(8) }
    };
    for (i, row) in acc.iter().enumerate() {
        // SAFETY: row i of the MR x NR tile; the caller vouched for the tile.
        unsafe {
            let cp = c.add(i * rs_c);
            finish(row[0], cp, epi.bias, epi);
            finish(row[1], cp.add(8), bias1, epi);
        }
    }
}
