//! Once warm, sgemm (and a product with bf16 weights) does not touch the heap (the training
//! loop and the prediction loop rely on it):
//! a counting global allocator watches a second round of identical calls.

use hinet_kernels::{Activation, Bf16Weights, Epilogue, MatMut, MatRef, sgemm_bf16_weights, sgemm_with_epilogue};

/// A, B, C and bias of one product.
type Operands = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

#[global_allocator]
static GLOBAL: hinet_testkit::CountingAlloc = hinet_testkit::CountingAlloc;

#[test]
fn steady_state_calls_do_not_allocate() {
    let shapes = [(8, 8, 8), (1024, 64, 128), (320, 640, 1024), (777, 333, 200)];
    let data: Vec<Operands> = shapes
        .iter()
        .map(|&(m, n, k)| (vec![0.5; m * k], vec![0.25; k * n], vec![0.0; m * n], vec![0.1; n]))
        .collect();
    // And a one-row product with bf16 weights (its rounded row lives in a per-thread buffer).
    let row = vec![0.5f32; 320];
    let weights = Bf16Weights::round_from(MatRef::row_major(&vec![0.25f32; 128 * 320], 128, 320).unwrap());
    let mut out = vec![0.0f32; 128];
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let run_all = |data: &mut Vec<Operands>, out: &mut Vec<f32>| {
        let (a, c) = (
            MatRef::row_major(&row, 1, 320).unwrap(),
            MatMut::row_major(out, 1, 128).unwrap(),
        );
        sgemm_bf16_weights(1.0, a, &weights, 0.0, c, Epilogue::none()).unwrap();
        for (&(m, n, k), (a, b, c, bias)) in shapes.iter().zip(data.iter_mut()) {
            let av = MatRef::row_major(a, m, k).unwrap();
            let bv = MatRef::row_major(b, k, n).unwrap();
            let cv = MatMut::row_major(c, m, n).unwrap();
            let epi = Epilogue {
                bias: Some(bias),
                activation: Activation::Relu,
            };
            sgemm_with_epilogue(1.0, av, bv, 0.0, cv, epi).unwrap();
        }
    };
    let mut data = data;
    // Everything runs inside one `install`, as a training loop on the pool
    // would: injecting a job from outside the pool allocates inside rayon's
    // own queue every few dozen calls, which is not this crate's doing.
    pool.install(|| {
        // Warm up: the thread-local packing buffers grow the first time each
        // worker runs a task of a given size, and which worker runs which task is
        // up to rayon's scheduler, so give every worker a few chances.
        for _ in 0..10 {
            run_all(&mut data, &mut out);
        }
        let mut counts = Vec::with_capacity(20);
        for _ in 0..20 {
            counts.push(hinet_testkit::allocations_during(|| run_all(&mut data, &mut out)).0);
        }
        // A call that allocated would show in every round. Rayon's own threads allocate now
        // and then whatever the kernels do (epoch bookkeeping of the work-stealing deques), and
        // the counter is process-wide, so an isolated non-zero round is tolerated.
        let clean = counts.iter().filter(|&&c| c == 0).count();
        assert!(clean >= counts.len() - 2, "sgemm allocated in steady state: {counts:?}");
    });
}
