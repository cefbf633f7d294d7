//! Heap allocations per warm training step of a whole model, counted by a global allocator.

mod common;

use common::{data, tiny_config};
use hinet_model::{TrainOptions, Trainer};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn warm_hinet_steps_do_not_allocate() {
    let d = data::<f32>();
    let mut trainer = Trainer::<f32>::new(&tiny_config(), 1, &TrainOptions::default()).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        for _ in 0..3 {
            trainer.step(&d.input()).unwrap();
        }
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let steps = 40;
        for _ in 0..steps {
            trainer.step(&d.input()).unwrap();
        }
        let total = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!("{total} allocations in {steps} warm steps");
        // Measured: 7 allocations in 40 warm steps (was 37 per step before per-step Vecs became
        // inline SmallVecs). The few left are not attributed yet (candidates: rayon's job
        // queue, the test harness's output capture); they are far below one per step.
        assert!(total * 4 < steps, "{total} allocations in {steps} warm steps");
    });
}
