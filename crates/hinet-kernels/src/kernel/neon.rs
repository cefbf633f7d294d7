//! aarch64 microkernel. NEON and FMA are part of the aarch64 baseline, so the
//! generic kernel body compiled with `FUSED = true` lowers to `fmla` on
//! 128-bit vectors; 8 x 8 uses 16 of the 32 vector registers as accumulators.
//! It is its own portable twin (same source, fused), which the tests check.

use super::KernelSpec;
#[cfg(target_arch = "aarch64")]
use super::TileEpilogue;

/// Rows of the NEON tile.
pub(crate) const MR: usize = 8;
/// Columns of the NEON tile (two 128-bit vectors).
pub(crate) const NR: usize = 8;

#[cfg(target_arch = "aarch64")]
pub(crate) fn spec() -> Option<KernelSpec> {
    Some(KernelSpec {
        mr: MR,
        nr: NR,
        kernel,
        pack_a: crate::pack::pack_panels::<MR>,
        pack_b: crate::pack::pack_panels::<NR>,
        kind: crate::dispatch::KernelKind::Neon,
        k_per_slot: 1,
    })
}

#[cfg(not(target_arch = "aarch64"))]
pub(crate) fn spec() -> Option<KernelSpec> {
    None
}

/// # Safety
/// Same contract as [`super::MicroKernelFn`]; only called when NEON was detected.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn kernel(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rs_c: usize, epi: &TileEpilogue) {
    // SAFETY: forwarded caller contract.
    unsafe { super::portable::kernel_body::<MR, NR, true>(kc, a, b, c, rs_c, epi) }
}
