//! Portable microkernel, written so LLVM can auto-vectorise it for whatever
//! baseline the crate is compiled for (SSE2 on x86-64, NEON on aarch64).
//!
//! [`kernel_body`] is generic over the tile shape and over fused vs. separate
//! multiply-add: with `FUSED = true` it is the bit-exact twin of the SIMD
//! kernels (same order of `fma` roundings); with `FUSED = false` it is the
//! production portable kernel, because `f32::mul_add` without hardware FMA is
//! a slow library call.

use super::{KernelSpec, TileEpilogue};
use crate::epilogue::relu;

/// Rows of the portable tile. 4 x 8 needs 8 SSE accumulators out of 16
/// registers, leaving room for the B vectors and the broadcast A value.
pub(crate) const MR: usize = 4;
/// Columns of the portable tile (two SSE / NEON vectors).
pub(crate) const NR: usize = 8;

pub(crate) const SPEC: KernelSpec = KernelSpec {
    mr: MR,
    nr: NR,
    kernel,
    pack_a: crate::pack::pack_panels::<MR>,
    pack_b: crate::pack::pack_panels::<NR>,
    kind: crate::dispatch::KernelKind::Portable,
    k_per_slot: 1,
};

#[inline(always)]
fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED { a.mul_add(b, c) } else { a * b + c }
}

/// The production portable kernel.
///
/// # Safety
/// Same contract as [`super::MicroKernelFn`].
pub(crate) unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rs_c: usize, epi: &TileEpilogue) {
    // SAFETY: forwarded caller contract.
    unsafe { kernel_body::<MR, NR, false>(kc, a, b, c, rs_c, epi) }
}

/// Generic `MR_ x NR_` microkernel.
///
/// # Safety
/// `a` must hold `kc * MR_` and `b` `kc * NR_` readable floats; `c` must be
/// valid for an `MR_ x NR_` tile with row stride `rs_c` and unit column stride
/// (read only when `epi.beta != 0`); `epi.bias` is null or holds `NR_` floats.
#[inline(always)]
pub(crate) unsafe fn kernel_body<const MR_: usize, const NR_: usize, const FUSED: bool>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs_c: usize,
    epi: &TileEpilogue,
) {
    let mut acc = [[0.0f32; NR_]; MR_];
    for p in 0..kc {
        // SAFETY: p < kc, and the caller guarantees kc * MR_ (resp. NR_) floats.
        let ap: &[f32; MR_] = unsafe { &*a.add(p * MR_).cast::<[f32; MR_]>() };
        // SAFETY: as above for B.
        let bp: &[f32; NR_] = unsafe { &*b.add(p * NR_).cast::<[f32; NR_]>() };
        for (row, &ai) in acc.iter_mut().zip(ap) {
            for (x, &bj) in row.iter_mut().zip(bp) {
                *x = madd::<FUSED>(ai, bj, *x);
            }
        }
    }
    // SAFETY: forwarded caller contract.
    unsafe { store_tile::<MR_, NR_, FUSED>(&acc, c, rs_c, epi) };
}

/// The portable twin of the AVX512-BF16 microkernel: `MR_ x NR_` over packed bf16 pairs
/// ([`crate::pack::pack_pairs_bf16`]), `kc.div_ceil(2)` slots deep. Per pair, as `vdpbf16ps`
/// does: `acc += a_odd * b_odd`, then `acc += a_even * b_even`, each a fused multiply-add
/// (the product of two bf16 values is exact in `f32`, so each step rounds once).
///
/// # Safety
/// `a` must hold `kc.div_ceil(2) * MR_` and `b` `kc.div_ceil(2) * NR_` readable 32-bit slots;
/// `c` and `epi` as for [`kernel_body`].
pub(crate) unsafe fn bf16_pairs_body<const MR_: usize, const NR_: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    rs_c: usize,
    epi: &TileEpilogue,
) {
    let (a, b) = (a.cast::<u32>(), b.cast::<u32>());
    let half = |slot: u32, high: bool| f32::from_bits(if high { slot & 0xffff_0000 } else { slot << 16 });
    let mut acc = [[0.0f32; NR_]; MR_];
    for q in 0..kc.div_ceil(2) {
        // SAFETY: q < kc.div_ceil(2) slots, as the caller guarantees for both panels.
        let ap: &[u32; MR_] = unsafe { &*a.add(q * MR_).cast::<[u32; MR_]>() };
        // SAFETY: as above for B.
        let bp: &[u32; NR_] = unsafe { &*b.add(q * NR_).cast::<[u32; NR_]>() };
        for (row, &ai) in acc.iter_mut().zip(ap) {
            for (x, &bj) in row.iter_mut().zip(bp) {
                *x = half(ai, true).mul_add(half(bj, true), *x);
                *x = half(ai, false).mul_add(half(bj, false), *x);
            }
        }
    }
    // SAFETY: forwarded caller contract.
    unsafe { store_tile::<MR_, NR_, true>(&acc, c, rs_c, epi) };
}

/// `C = act(alpha * acc + beta * C + bias)` for one `MR_ x NR_` tile, in the operation order
/// of the SIMD kernels' epilogues.
///
/// # Safety
/// As [`kernel_body`]'s `c` and `epi`.
#[inline(always)]
unsafe fn store_tile<const MR_: usize, const NR_: usize, const FUSED: bool>(
    acc: &[[f32; NR_]; MR_],
    c: *mut f32,
    rs_c: usize,
    epi: &TileEpilogue,
) {
    for (i, row) in acc.iter().enumerate() {
        for (j, &x) in row.iter().enumerate() {
            // SAFETY: (i, j) is inside the MR_ x NR_ tile the caller vouched for.
            let cp = unsafe { c.add(i * rs_c + j) };
            let mut v = if epi.beta == 0.0 {
                x * epi.alpha
            } else if epi.beta == 1.0 {
                // SAFETY: beta != 0, so the tile is readable.
                madd::<FUSED>(x, epi.alpha, unsafe { *cp })
            } else {
                // SAFETY: as above.
                madd::<FUSED>(x, epi.alpha, unsafe { *cp } * epi.beta)
            };
            if !epi.bias.is_null() {
                // SAFETY: a non-null bias holds NR_ floats.
                v += unsafe { *epi.bias.add(j) };
            }
            if epi.relu {
                v = relu(v);
            }
            // SAFETY: inside the tile.
            unsafe { *cp = v };
        }
    }
}
