//! Warm steps do not allocate: state buffers are allocated on a parameter's first update.
//! (Its own test binary, because it installs a counting global allocator.)

mod common;
use common::*;
use hinet_autograd::ParamStore;
use hinet_optim::{Optimizer, OptimizerKind, ParamGroup, Schedule};

#[global_allocator]
static GLOBAL: hinet_testkit::CountingAlloc = hinet_testkit::CountingAlloc;

/// The counter is process-wide, so this binary has a single test: a second one would run on
/// another harness thread, and that thread's start-up (or a finished test's rayon pool shutting
/// down) would allocate inside this one's counting window. The serial check runs first, the
/// one with a thread pool last.
/// Allocations counted in each of `windows` runs of `work`. The counter is process-wide and
/// rayon's threads allocate on their own now and then (epoch bookkeeping of the work-stealing
/// deques, a worker starting up), whatever the optimiser does; an update that allocated would
/// show in every window, so one clean window out of five is the test.
fn window_counts(windows: usize, mut work: impl FnMut()) -> Vec<usize> {
    (0..windows)
        .map(|_| hinet_testkit::allocations_during(&mut work).0)
        .collect()
}

#[test]
fn warm_steps_do_not_allocate() {
    serial_steps();
    parallel_steps();
}

fn serial_steps() {
    for kind in [
        OptimizerKind::adam(),
        OptimizerKind::adamw(),
        OptimizerKind::nesterov(0.9),
        OptimizerKind::adagrad(),
    ] {
        let mut store = ParamStore::<f32>::new();
        let w = store.add("w", arr(&[64, 32], &vec![0.1; 64 * 32])).unwrap();
        let lazy = store.add("emb.lazy", arr(&[100, 8], &vec![0.1; 800])).unwrap();
        let table = store.add("emb.dense", arr(&[50, 8], &vec![0.1; 400])).unwrap();
        let g_w = linear_grads(&store, &[(w, &arr(&[64, 32], &vec![0.5; 64 * 32]))]);
        let g_lazy = row_grads(&store, lazy, &[3, 7, 7, 90], &arr(&[4, 8], &[0.25; 32]));
        let g_table = row_grads(&store, table, &[1, 2], &arr(&[2, 8], &[0.25; 16]));
        // Both tables carry the touched-row L2 penalty (lazy and dense drivers).
        let groups = vec![
            ParamGroup::new("lazy", vec![lazy])
                .with_sparse(true)
                .with_weight_decay(0.01)
                .with_row_l2(1e-3),
            ParamGroup::new("table", vec![table]).with_row_l2(1e-3),
        ];
        let mut opt = Optimizer::new(kind, 0.01, groups, &store).unwrap();
        opt.set_clip_norm(Some(1.0)).unwrap();
        opt.set_schedule(Schedule::Cosine {
            warmup_steps: 2,
            total_steps: 100,
            min_lr: 0.0,
        })
        .unwrap();
        // Cold: first update of every parameter allocates its state.
        for g in [&g_w, &g_lazy, &g_table] {
            opt.step(&mut store, g).unwrap();
        }
        let counts = window_counts(5, || {
            for _ in 0..10 {
                for g in [&g_w, &g_lazy, &g_table] {
                    opt.step(&mut store, g).unwrap();
                }
            }
        });
        assert!(
            counts.contains(&0),
            "{}: allocations in every window of 30 warm steps: {counts:?}",
            kind.name()
        );
    }
}

fn parallel_steps() {
    let mut store = ParamStore::<f32>::new();
    let w = store.add("w", arr(&[256, 512], &vec![0.1; 256 * 512])).unwrap();
    let lazy = store.add("emb", arr(&[4000, 16], &vec![0.1; 64000])).unwrap();
    let rows: Vec<usize> = (0..2000).map(|i| 2 * i).collect();
    let g_w = linear_grads(&store, &[(w, &arr(&[256, 512], &vec![0.5; 256 * 512]))]);
    let g_lazy = row_grads(&store, lazy, &rows, &arr(&[2000, 16], &vec![0.25; 32000]));
    let groups = vec![ParamGroup::new("lazy", vec![lazy]).with_sparse(true).with_row_l2(1e-3)];
    let mut opt = Optimizer::new(OptimizerKind::adam(), 0.01, groups, &store).unwrap();
    opt.set_clip_norm(Some(1.0)).unwrap();
    opt.set_parallel_threshold(0);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(|| {
        for _ in 0..3 {
            opt.step(&mut store, &g_w).unwrap();
            opt.step(&mut store, &g_lazy).unwrap();
        }
        // Inside the pool, `rayon::join` keeps its jobs on the stack and in the workers'
        // already-grown deques.
        let counts = window_counts(5, || {
            for _ in 0..10 {
                opt.step(&mut store, &g_w).unwrap();
                opt.step(&mut store, &g_lazy).unwrap();
            }
        });
        assert!(
            counts.contains(&0),
            "allocations in every window of 20 warm parallel steps: {counts:?}"
        );
    });
}
