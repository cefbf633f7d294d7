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

// One test function: the counter is global, so a second test running in parallel (building
// its model) would be counted here.
#[test]
fn warm_training_steps_do_not_allocate() {
    tiny_hinet_one_and_two_threads();
    bench_default_two_threads();
}

fn tiny_hinet_one_and_two_threads() {
    for threads in [1, 2] {
        let d = data::<f32>();
        let mut trainer = Trainer::<f32>::new(&tiny_config(), 1, &TrainOptions::default()).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
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
            println!("{threads} threads: {total} allocations in {steps} warm steps");
            // Forward, loss, backward, Adam and the running statistics of a whole HiNet step reuse
            // their memory: nothing is allocated once the loop is warm.
            assert_eq!(total, 0, "{threads} threads: {total} allocations in {steps} warm steps");
        });
    }
}

fn bench_default_two_threads() {
    use hinet_model::{ModelConfig, throughput::SyntheticBatch};
    let config = ModelConfig::bench_default();
    let batch = SyntheticBatch::<f32>::new(&config, 256, &[0.35, 0.25, 0.15, 0.12, 0.08, 0.05], 3);
    let mut trainer = Trainer::<f32>::new(&config, 1, &TrainOptions::default()).unwrap();
    // Two threads: the large products are split over rayon workers here.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(|| {
        for _ in 0..3 {
            trainer.step(&batch.input()).unwrap();
        }
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let steps = 10;
        for _ in 0..steps {
            trainer.step(&batch.input()).unwrap();
        }
        let total = ALLOCATIONS.load(Ordering::Relaxed) - before;
        println!("bench-default, 2 threads: {total} allocations in {steps} warm steps");
        assert_eq!(total, 0, "{total} allocations in {steps} warm steps");
    });
}
