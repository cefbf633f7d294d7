//! Test support for the HiNet-rs crates (not published; a dev-dependency only).
//!
//! [`CountingAlloc`] is a global allocator that forwards every call to the system allocator
//! and counts: calls, bytes requested, bytes live and their peak. The crates' "a warm step
//! does not allocate" tests install it in a test binary of their own (a global allocator
//! serves the whole process):
//!
//! ```
//! use hinet_testkit::{CountingAlloc, allocations_during};
//!
//! #[global_allocator]
//! static GLOBAL: CountingAlloc = CountingAlloc;
//!
//! let buffer = vec![0u8; 64];
//! let (count, sum) = allocations_during(|| buffer.iter().map(|&b| u64::from(b)).sum::<u64>());
//! assert_eq!((count, sum), (0, 0));
//! let (count, v) = allocations_during(|| vec![1u8; 16]);
//! assert_eq!((count, v.len()), (1, 16));
//! ```
//!
//! The counters are process-wide: anything another thread allocates in the meantime counts
//! too (rayon's workers do, now and then), which is why the tests measure several windows.

#![deny(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

static CALLS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// A global allocator that counts and otherwise does exactly what [`System`] does.
pub struct CountingAlloc;

fn grow(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged
// and returns its result; the counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        CALLS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: as for `dealloc`; `new_size` is the caller's, under `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grow(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Allocation calls (`alloc` and `realloc`) since the process started.
pub fn allocations() -> usize {
    CALLS.load(Ordering::Relaxed)
}

/// Bytes requested by those calls.
pub fn bytes_allocated() -> usize {
    BYTES.load(Ordering::Relaxed)
}

/// Allocation calls made while `work` ran (by any thread), and its result.
pub fn allocations_during<T>(work: impl FnOnce() -> T) -> (usize, T) {
    let before = allocations();
    let out = work();
    (allocations() - before, out)
}

/// The most bytes live at once while `work` ran, beyond those live when it started, and its
/// result.
pub fn peak_during<T>(work: impl FnOnce() -> T) -> (usize, T) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = work();
    (PEAK.load(Ordering::Relaxed).saturating_sub(base), out)
}
