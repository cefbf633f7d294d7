//! Cache blocking: how big the KC, MC and NC blocks are.
//!
//! ```text
//!  loop jc over N in steps of NC      B block  (KC x NC) -> packed, lives in L3
//!   loop pc over K in steps of KC
//!    pack B[pc.., jc..]
//!    loop ic over M in steps of MC    A block  (MC x KC) -> packed, lives in L2
//!     pack A[ic.., pc..]
//!     loop jr over NC in steps of NR  B micro-panel (KC x NR) stays in L1
//!      loop ir over MC in steps of MR A micro-panel (MR x KC) streams from L2
//!       microkernel: MR x NR tile of C in registers
//! ```
//!
//! The sizes come from the cache sizes (read once from Linux sysfs, with
//! defaults elsewhere) and the kernel's `MR x NR`; they never depend on the
//! number of threads, so the order in which each element of `C` is
//! accumulated (KC block by KC block, `k` ascending inside a block) is the
//! same however the work is split.

use crate::kernel::KernelSpec;
use std::sync::OnceLock;

/// Fallback cache sizes (bytes) when they cannot be read: a conservative
/// modern x86 core (32 KiB L1d, 1 MiB L2, 8 MiB of L3 share).
const DEFAULT_L1D: usize = 32 << 10;
const DEFAULT_L2: usize = 1 << 20;
const DEFAULT_L3: usize = 8 << 20;

/// Share of L1d given to the B micro-panel (KC x NR): the rest holds the A
/// micro-panel streaming through and the C tile's lines. 2/3 of the 48 KiB
/// L1d of the Zen 4/5 EPYC this was tuned on gives KC = 256 for NR = 32.
const L1_SHARE_NUM: usize = 2;
const L1_SHARE_DEN: usize = 3;
/// A K up to this factor (in eighths) above the L1-derived KC limit is still
/// done in one block: HiNet's K = 320 then needs no second pass over C, which
/// costs more than the slightly larger B micro-panel spilling out of L1.
const KC_SLACK_EIGHTHS: usize = 10;
/// Share of L2 for the packed A block (MC x KC): half, the other half keeps
/// the B panel's lines and C tiles.
const L2_SHARE_DEN: usize = 2;
/// Share of L3 for one thread's packed B block (KC x NC).
const L3_SHARE_DEN: usize = 4;
/// NC upper bound: no HiNet product is wider, and it bounds the per-thread
/// packed-B buffer (KC x NC floats).
const NC_MAX: usize = 4096;

/// Cache sizes in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// L1 data cache per core.
    pub l1d: usize,
    /// L2 per core.
    pub l2: usize,
    /// Last-level cache (shared).
    pub l3: usize,
}

impl CacheSizes {
    /// The sizes of this machine (cached after the first call).
    pub fn get() -> CacheSizes {
        static SIZES: OnceLock<CacheSizes> = OnceLock::new();
        *SIZES.get_or_init(detect)
    }
}

#[cfg(target_os = "linux")]
fn detect() -> CacheSizes {
    let mut sizes = CacheSizes {
        l1d: DEFAULT_L1D,
        l2: DEFAULT_L2,
        l3: DEFAULT_L3,
    };
    for idx in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{idx}");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size")) else {
            continue;
        };
        let Some(bytes) = parse_size(size.trim()) else {
            continue;
        };
        match (level.trim(), kind.trim()) {
            ("1", "Data") => sizes.l1d = bytes,
            ("2", "Unified") => sizes.l2 = bytes,
            ("3", "Unified") => sizes.l3 = bytes,
            _ => {}
        }
    }
    sizes
}

#[cfg(not(target_os = "linux"))]
fn detect() -> CacheSizes {
    CacheSizes {
        l1d: DEFAULT_L1D,
        l2: DEFAULT_L2,
        l3: DEFAULT_L3,
    }
}

#[cfg(target_os = "linux")]
fn parse_size(s: &str) -> Option<usize> {
    let (num, mul) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 1 << 10),
        b'M' => (&s[..s.len() - 1], 1 << 20),
        b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>().ok().map(|n| n * mul).filter(|&n| n > 0)
}

/// Block sizes for one product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Blocking {
    /// Depth of one K block (equal blocks, so the last is not a sliver).
    pub kc: usize,
    /// Rows of one packed A block, a multiple of MR.
    pub mc: usize,
    /// Columns of one packed B block, a multiple of NR.
    pub nc: usize,
}

fn round_down(x: usize, m: usize) -> usize {
    (x / m * m).max(m)
}

/// Block sizes for kernel `spec` and depth `k >= 1`.
pub(crate) fn blocking(spec: &KernelSpec, k: usize) -> Blocking {
    let caches = CacheSizes::get();
    let f = std::mem::size_of::<f32>();
    let kc_max = round_down(caches.l1d * L1_SHARE_NUM / L1_SHARE_DEN / (spec.nr * f), 8).clamp(64, 1024);
    let kc = if k * 8 <= kc_max * KC_SLACK_EIGHTHS {
        k
    } else {
        let blocks = k.div_ceil(kc_max);
        k.div_ceil(blocks).next_multiple_of(4)
    };
    let mc = round_down(caches.l2 / L2_SHARE_DEN / (kc * f), spec.mr);
    let nc = round_down((caches.l3 / L3_SHARE_DEN / (kc * f)).min(NC_MAX), spec.nr);
    Blocking { kc, mc, nc }
}
