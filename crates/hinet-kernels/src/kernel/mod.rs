//! Register-blocked microkernels.
//!
//! A microkernel computes one `MR x NR` tile of `C` from an `MR x kc` micro-panel
//! of packed A and a `kc x NR` micro-panel of packed B (see [`crate::pack`]):
//!
//! ```text
//!   acc[i][j] = sum_{p < kc} a[p * MR + i] * b[p * NR + j]      (p ascending)
//!   C[i][j]   = act( alpha * acc[i][j]  (+ beta * C[i][j])  (+ bias[j]) )
//! ```
//!
//! The accumulators live in registers for the whole `kc` loop; the tile of `C`
//! is read (only when `beta != 0`) and written exactly once. Every SIMD kernel
//! has a portable twin ([`portable::kernel_body`] with the same `MR`, `NR` and
//! fused multiply-add) that performs the identical sequence of roundings, so
//! tests can demand bit-for-bit equality.

use crate::dispatch::KernelKind;

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod avx512_bf16;
pub(crate) mod neon;
pub(crate) mod portable;

/// How the tile is stored: `C = act(alpha * acc + beta * C + bias)`.
/// `beta == 0` means C is never read; `bias` is null for no bias, otherwise it
/// points at `NR` readable values (the tile's columns of the bias row).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TileEpilogue {
    pub alpha: f32,
    pub beta: f32,
    pub bias: *const f32,
    pub relu: bool,
}

/// `kernel(kc, a, b, c, rs_c, epi)`: `a` holds `kc * MR`, `b` holds `kc * NR`
/// packed values; `c` points at a full `MR x NR` tile with row stride `rs_c`
/// and unit column stride.
pub(crate) type MicroKernelFn = unsafe fn(usize, *const f32, *const f32, *mut f32, usize, &TileEpilogue);

/// `pack(n, k, src, s_n, s_k, dst)`: see [`crate::pack::pack_panels`].
pub(crate) type PackFn = unsafe fn(usize, usize, *const f32, usize, usize, *mut f32);

/// Largest `MR * NR` of any kernel: the size of the on-stack scratch tile
/// used for edge tiles and non-unit column strides.
pub(crate) const MAX_TILE: usize = avx512::MR * avx512::NR;
/// Largest `NR` of any kernel (the padded bias of an edge tile).
pub(crate) const MAX_NR: usize = avx512::NR;

/// Everything the driver needs to know about one kernel family.
#[derive(Clone, Copy)]
pub(crate) struct KernelSpec {
    pub mr: usize,
    pub nr: usize,
    pub kernel: MicroKernelFn,
    pub pack_a: PackFn,
    pub pack_b: PackFn,
    /// The family, for the paths that are not tiles (see [`crate::small_m`]).
    pub kind: KernelKind,
    /// Values of `k` per packed 32-bit slot: 1 for `f32`, 2 for bf16 pairs. A micro-panel of
    /// depth `kc` holds `kc.div_ceil(k_per_slot)` slots per row (or column).
    pub k_per_slot: usize,
}

const _: () = {
    assert!(avx2::MR * avx2::NR <= MAX_TILE);
    assert!(portable::MR * portable::NR <= MAX_TILE);
    assert!(neon::MR * neon::NR <= MAX_TILE);
    assert!(avx2::NR <= MAX_NR && portable::NR <= MAX_NR && neon::NR <= MAX_NR);
};

/// The spec for `kind`, or `None` when this CPU cannot run it.
pub(crate) fn spec(kind: KernelKind) -> Option<KernelSpec> {
    if !kind.is_available() {
        return None;
    }
    match kind {
        KernelKind::Portable => Some(portable::SPEC),
        KernelKind::Avx2 => avx2::spec(),
        KernelKind::Avx512 => avx512::spec(),
        KernelKind::Neon => neon::spec(),
    }
}

/// The spec of a bf16 product for the `f32` family `kind`: the AVX512-BF16 kernel over packed
/// pairs when `kind` is AVX-512 and the CPU has AVX512-BF16, otherwise `kind`'s own `f32`
/// kernel over operands the packers round to bf16 (the emulated path: the same operands and
/// exact products, summed one `k` at a time instead of a pair at a time). `None` when this
/// CPU cannot run `kind`.
pub(crate) fn bf16_spec(kind: KernelKind) -> Option<KernelSpec> {
    use crate::pack::pack_panels_bf16_rounded as rounded;
    if kind == KernelKind::Avx512
        && let Some(native) = avx512_bf16::spec()
    {
        return Some(native);
    }
    let (pack_a, pack_b): (PackFn, PackFn) = match kind {
        KernelKind::Portable => (rounded::<{ portable::MR }>, rounded::<{ portable::NR }>),
        KernelKind::Avx2 => x86_packers::<{ avx2::MR }, { avx2::NR }>(true),
        KernelKind::Avx512 => x86_packers::<{ avx512::MR }, { avx512::NR }>(true),
        KernelKind::Neon => (rounded::<{ neon::MR }>, rounded::<{ neon::NR }>),
    };
    Some(KernelSpec {
        pack_a,
        pack_b,
        ..spec(kind)?
    })
}

/// The packers of an x86 tile (`rounded`: the bf16-rounding ones): the AVX2 transposing
/// packer where the CPU has AVX2 (every CPU that runs these kernels does; the check keeps the
/// packer's contract explicit), else the baseline loop.
pub(crate) fn x86_packers<const MR: usize, const NR: usize>(rounded: bool) -> (PackFn, PackFn) {
    use crate::pack::{pack_panels, pack_panels_bf16_rounded};
    #[cfg(target_arch = "x86_64")]
    if crate::pack_avx2::available() {
        use crate::pack_avx2::{pack_panels_avx2, pack_panels_bf16_rounded_avx2};
        return if rounded {
            (pack_panels_bf16_rounded_avx2::<MR>, pack_panels_bf16_rounded_avx2::<NR>)
        } else {
            (pack_panels_avx2::<MR>, pack_panels_avx2::<NR>)
        };
    }
    if rounded {
        (pack_panels_bf16_rounded::<MR>, pack_panels_bf16_rounded::<NR>)
    } else {
        (pack_panels::<MR>, pack_panels::<NR>)
    }
}

/// The portable twin of `kind`'s microkernel: same tile, same operation order,
/// fused multiply-add, so results must match bit for bit.
pub(crate) fn twin(kind: KernelKind) -> (usize, usize, MicroKernelFn) {
    match kind {
        KernelKind::Portable => (portable::MR, portable::NR, portable::kernel),
        KernelKind::Avx2 => (
            avx2::MR,
            avx2::NR,
            portable::kernel_body::<{ avx2::MR }, { avx2::NR }, true>,
        ),
        KernelKind::Avx512 => (
            avx512::MR,
            avx512::NR,
            portable::kernel_body::<{ avx512::MR }, { avx512::NR }, true>,
        ),
        KernelKind::Neon => (
            neon::MR,
            neon::NR,
            portable::kernel_body::<{ neon::MR }, { neon::NR }, true>,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{detected_kernel, selected_kernel};

    /// Availability and the compiled kernels agree: a kind that says it can run has a kernel
    /// in this build (on 32-bit x86 the CPU may have AVX2, but no AVX2 kernel is compiled).
    #[test]
    fn every_available_kind_has_a_kernel_and_only_those() {
        for kind in KernelKind::ALL {
            assert_eq!(kind.is_available(), spec(kind).is_some(), "{kind}");
            if let Some(s) = spec(kind) {
                assert_eq!((s.mr, s.nr), (twin(kind).0, twin(kind).1), "{kind}: twin's tile");
            }
        }
        assert!(spec(selected_kernel()).is_some(), "selected {}", selected_kernel());
        assert!(spec(detected_kernel()).is_some(), "detected {}", detected_kernel());
    }
}
