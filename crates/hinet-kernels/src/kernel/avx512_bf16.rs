//! AVX512-BF16 microkernel: a 12 x 32 tile of `C` from bf16 operand pairs, `f32` accumulation.
//!
//! `vdpbf16ps acc, a, b` adds, in each of 16 `f32` lanes, the two products of one bf16 pair of
//! `a` and one of `b`: twice the multiply-adds of an `f32` FMA per instruction, and half the
//! bytes per packed operand. The packers ([`crate::pack::pack_pairs_bf16`]) store `k = 2q` and
//! `k = 2q + 1` of one row of A (or one column of B) in one 32-bit slot, so per pair step the
//! kernel loads two zmm of B (32 columns x 2 values), broadcasts one slot of A per row and
//! issues 24 `vdpbf16ps`: the tile and register budget of the `f32` AVX-512 kernel
//! (24 accumulators, 2 B vectors, 1 broadcast). The epilogue is that kernel's.
//!
//! Its portable twin is [`super::portable::bf16_pairs_body`]: per pair, the odd product then
//! the even one, each rounded once, as Intel specifies the instruction. The instruction
//! flushes subnormal inputs and outputs; the packers already flush subnormal inputs, and
//! subnormal sums are the only place the two can differ.

use super::KernelSpec;
#[cfg(target_arch = "x86_64")]
use super::TileEpilogue;

/// Rows of the tile.
pub(crate) const MR: usize = super::avx512::MR;
/// Columns of the tile (two zmm vectors of `f32` accumulators).
pub(crate) const NR: usize = super::avx512::NR;

/// Whether this CPU can run the kernel (AVX-512F and AVX512-BF16).
#[cfg(target_arch = "x86_64")]
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn available() -> bool {
    false
}

/// The spec, or `None` when this CPU has no AVX512-BF16.
#[cfg(target_arch = "x86_64")]
pub(crate) fn spec() -> Option<KernelSpec> {
    available().then_some(KernelSpec {
        mr: MR,
        nr: NR,
        kernel,
        pack_a: crate::pack::pack_pairs_bf16::<MR>,
        pack_b: crate::pack::pack_pairs_bf16::<NR>,
        kind: crate::dispatch::KernelKind::Avx512,
        k_per_slot: 2,
    })
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn spec() -> Option<KernelSpec> {
    None
}

/// The same tile with the portable twin as its kernel: the pair layout and the driver's
/// offsets can be tested on any CPU.
pub(crate) fn twin_spec() -> KernelSpec {
    KernelSpec {
        mr: MR,
        nr: NR,
        kernel: super::portable::bf16_pairs_body::<MR, NR>,
        pack_a: crate::pack::pack_pairs_bf16::<MR>,
        pack_b: crate::pack::pack_pairs_bf16::<NR>,
        kind: crate::dispatch::KernelKind::Portable,
        k_per_slot: 2,
    }
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// # Safety
/// Same contract as [`super::MicroKernelFn`] with `a` holding `kc.div_ceil(2) * MR` and `b`
/// `kc.div_ceil(2) * NR` packed pair slots; only called when [`available`] said yes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rs_c: usize, epi: &TileEpilogue) {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let mut a = a.cast::<i32>();
    let mut b = b.cast::<f32>();
    for _ in 0..kc.div_ceil(2) {
        // SAFETY: the caller guarantees kc.div_ceil(2) * NR slots of packed B; this step reads NR.
        // A zmm of 16 pair slots is a vector of 32 bf16 values, the instruction's operand type.
        let (b0, b1): (__m512bh, __m512bh) = unsafe {
            (
                std::mem::transmute::<__m512, __m512bh>(_mm512_loadu_ps(b)),
                std::mem::transmute::<__m512, __m512bh>(_mm512_loadu_ps(b.add(16))),
            )
        };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: and kc.div_ceil(2) * MR slots of packed A; this step reads MR. The
            // broadcast slot, reinterpreted, is the pair (a[i, 2q], a[i, 2q + 1]) in every lane.
            let ai = unsafe { std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(*a.add(i))) };
            row[0] = _mm512_dpbf16_ps(row[0], ai, b0);
            row[1] = _mm512_dpbf16_ps(row[1], ai, b1);
        }
        // SAFETY: stays within (or one past) the packed panels.
        unsafe {
            a = a.add(MR);
            b = b.add(NR);
        }
    }
    // SAFETY: the caller vouched for the tile and the bias; this function enables AVX-512F.
    unsafe { super::avx512::store_tile(&acc, c, rs_c, epi) };
}
