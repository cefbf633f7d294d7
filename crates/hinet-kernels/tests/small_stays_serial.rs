//! Products too small to split never ask rayon for a worker: a one-row prediction calls dozens
//! of them, and waking a sleeping worker for each costs more than the product (measured on a
//! 2-core VM: one row on 2 threads took 326-493 us against 284 us once small groups stopped
//! going to the pool). Observable in a process of its own: a call that used rayon would have
//! started its global pool, after which `build_global` fails.

use hinet_kernels::{Epilogue, GemmProblem, MatMut, MatRef, sgemm_grouped, sgemm_with_epilogue};

#[test]
fn small_products_and_groups_stay_on_the_calling_thread() {
    // One row through five experts' first layers (320 -> 128), as in bench-default: 410 kflop
    // in all, under the split threshold; and one blocked-path product of 64 x 32 x 64.
    let (k, n, experts) = (320, 128, 5);
    let x: Vec<f32> = (0..k).map(|i| (i % 7) as f32 * 0.1).collect();
    let w: Vec<Vec<f32>> = (0..experts)
        .map(|e| (0..n * k).map(|i| ((i + e) % 5) as f32 * 0.01).collect())
        .collect();
    let mut out = vec![vec![0.0f32; n]; experts];
    let mut problems: Vec<GemmProblem<'_, f32>> = w
        .iter()
        .zip(out.iter_mut())
        .map(|(w, c)| {
            GemmProblem::new(
                MatRef::row_major(&x, 1, k).unwrap(),
                MatRef::row_major(w, n, k).unwrap().t(),
                MatMut::row_major(c, 1, n).unwrap(),
                Epilogue::none(),
            )
        })
        .collect();
    sgemm_grouped(&mut problems).unwrap();
    drop(problems);
    // The group computed its products: each output is its expert's dot products.
    for (e, c) in out.iter().enumerate() {
        for (j, &v) in c.iter().enumerate() {
            let want: f32 = (0..k).map(|i| x[i] * w[e][j * k + i]).sum();
            assert!((v - want).abs() <= 1e-4 * want.abs().max(1.0), "expert {e}, column {j}");
        }
    }
    let (a, b) = (vec![0.5f32; 64 * 64], vec![0.25f32; 64 * 32]);
    let mut c = vec![0.0f32; 64 * 32];
    sgemm_with_epilogue(
        1.0,
        MatRef::row_major(&a, 64, 64).unwrap(),
        MatRef::row_major(&b, 64, 32).unwrap(),
        0.0,
        MatMut::row_major(&mut c, 64, 32).unwrap(),
        Epilogue::none(),
    )
    .unwrap();
    assert!(c.iter().all(|&v| v == 8.0));
    assert!(
        rayon::ThreadPoolBuilder::new().num_threads(2).build_global().is_ok(),
        "a small product or group started rayon's global pool"
    );
}
