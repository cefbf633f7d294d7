//! Run-time choice of the microkernel.
//!
//! The crate is compiled for the baseline target (never `target-cpu=native`)
//! so one binary runs everywhere; the SIMD kernels are `#[target_feature]`
//! functions that are only called after `is_x86_feature_detected!` said yes.
//! The choice is made once and cached in a `OnceLock`. `HINET_KERNEL=portable|avx2|avx512|neon`
//! forces a kernel for benchmarks; an unavailable or unknown name is ignored
//! and auto-detection is used instead (a library should not abort a training
//! run over an environment variable).

use std::sync::OnceLock;

/// The microkernel families this crate ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// Plain Rust, auto-vectorised for the baseline target; runs everywhere.
    Portable,
    /// x86-64 AVX2 + FMA, 6 x 16 register tile.
    Avx2,
    /// x86-64 AVX-512F, 12 x 32 register tile.
    Avx512,
    /// aarch64 NEON (FMA), 8 x 8 register tile.
    Neon,
}

impl KernelKind {
    /// Every kind, in order of preference (best first).
    pub const ALL: [KernelKind; 4] = [
        KernelKind::Avx512,
        KernelKind::Avx2,
        KernelKind::Neon,
        KernelKind::Portable,
    ];

    /// Lower-case name, as accepted by `HINET_KERNEL`.
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Portable => "portable",
            KernelKind::Avx2 => "avx2",
            KernelKind::Avx512 => "avx512",
            KernelKind::Neon => "neon",
        }
    }

    /// Parses a name as accepted by `HINET_KERNEL` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "portable" | "generic" | "scalar" => Some(KernelKind::Portable),
            "avx2" | "fma" => Some(KernelKind::Avx2),
            "avx512" | "avx512f" => Some(KernelKind::Avx512),
            "neon" => Some(KernelKind::Neon),
            _ => None,
        }
    }

    /// Whether this CPU (and this build target) can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            KernelKind::Portable => true,
            KernelKind::Avx2 => avx2_available(),
            KernelKind::Avx512 => avx512_available(),
            KernelKind::Neon => neon_available(),
        }
    }

    /// The kinds this machine can run, best first.
    pub fn available() -> impl Iterator<Item = KernelKind> {
        Self::ALL.into_iter().filter(|k| k.is_available())
    }
}

impl std::fmt::Display for KernelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// The x86 kernels are compiled for x86_64 only (`kernel::avx2`, `kernel::avx512`): on 32-bit
// x86 the CPU may have the features, but this crate has no kernel to run with them.
#[cfg(target_arch = "x86_64")]
fn avx2_available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}
#[cfg(not(target_arch = "x86_64"))]
fn avx2_available() -> bool {
    false
}

#[cfg(target_arch = "x86_64")]
fn avx512_available() -> bool {
    is_x86_feature_detected!("avx512f")
}
#[cfg(not(target_arch = "x86_64"))]
fn avx512_available() -> bool {
    false
}

#[cfg(target_arch = "aarch64")]
fn neon_available() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}
#[cfg(not(target_arch = "aarch64"))]
fn neon_available() -> bool {
    false
}

/// The best kernel this CPU can run, ignoring `HINET_KERNEL`.
pub fn detected_kernel() -> KernelKind {
    KernelKind::available().next().unwrap_or(KernelKind::Portable)
}

/// The kernel `sgemm` uses: `HINET_KERNEL` if set to an available kernel,
/// otherwise the best detected one. Decided once per process.
pub fn selected_kernel() -> KernelKind {
    static SELECTED: OnceLock<KernelKind> = OnceLock::new();
    *SELECTED.get_or_init(|| {
        std::env::var("HINET_KERNEL")
            .ok()
            .and_then(|v| KernelKind::from_name(&v))
            .filter(|k| k.is_available())
            .unwrap_or_else(detected_kernel)
    })
}
