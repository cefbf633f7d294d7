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

/// Allocations counted in each of `windows` runs of `work`.
///
/// The counter is process-wide, and rayon's threads allocate on their own now and then (epoch
/// bookkeeping of the work-stealing deques, a dropped pool's worker exiting), whatever our code
/// does; a single window catches one of those in about a quarter of runs. A step that
/// allocated would show in every window, so one clean window out of five is the test.
fn window_counts(windows: usize, mut work: impl FnMut()) -> Vec<usize> {
    (0..windows)
        .map(|_| {
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            work();
            ALLOCATIONS.load(Ordering::Relaxed) - before
        })
        .collect()
}

// One test function: the counter is global, so a second test running in parallel (building
// its model) would be counted here.
#[test]
fn warm_training_steps_do_not_allocate() {
    tiny_hinet_one_and_two_threads();
    bench_default_two_threads();
    embedding_l2_dense_and_lazy();
}

/// The lazy embedding penalty (`embedding_l2`) is applied inside the optimiser's row loop:
/// nothing allocated, with dense and with lazy embedding updates.
fn embedding_l2_dense_and_lazy() {
    for sparse in [false, true] {
        let d = data::<f32>();
        let options = TrainOptions {
            sparse_embeddings: sparse,
            embedding_l2: 1e-3,
            ..TrainOptions::default()
        };
        let mut trainer = Trainer::<f32>::new(&tiny_config(), 1, &options).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        pool.install(|| {
            for _ in 0..3 {
                trainer.step(&d.input()).unwrap();
            }
            let steps = 40;
            let counts = window_counts(5, || {
                for _ in 0..steps {
                    trainer.step(&d.input()).unwrap();
                }
            });
            println!("embedding_l2, sparse {sparse}: {counts:?} allocations in windows of {steps} warm steps");
            assert!(
                counts.contains(&0),
                "embedding_l2, sparse {sparse}: allocations in every window of {steps} warm steps: {counts:?}"
            );
        });
    }
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
            let steps = 40;
            let counts = window_counts(5, || {
                for _ in 0..steps {
                    trainer.step(&d.input()).unwrap();
                }
            });
            println!("{threads} threads: {counts:?} allocations in windows of {steps} warm steps");
            // Forward, loss, backward, Adam and the running statistics of a whole HiNet step reuse
            // their memory: nothing is allocated once the loop is warm.
            assert!(
                counts.contains(&0),
                "{threads} threads: allocations in every window of {steps} warm steps: {counts:?}"
            );
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
        let steps = 10;
        let counts = window_counts(5, || {
            for _ in 0..steps {
                trainer.step(&batch.input()).unwrap();
            }
        });
        println!("bench-default, 2 threads: {counts:?} allocations in windows of {steps} warm steps");
        assert!(
            counts.contains(&0),
            "allocations in every window of {steps} warm steps: {counts:?}"
        );
    });
}
