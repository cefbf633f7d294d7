//! The few-rows path (one row of a prediction, up to four): against the naive reference on
//! awkward sizes, through the public entry point, and each SIMD body against its portable twin
//! bit for bit.

use crate::common::{Rng, assert_close, kernels, reference};
use hinet_kernels::testing::{run_few_columns, run_small_m};
use hinet_kernels::{Activation, Epilogue, MatMut, MatRef, sgemm_with_epilogue};

/// `(alpha, beta, bias, relu)` cases.
const CASES: [(f32, f32, bool, bool); 5] = [
    (1.0, 0.0, false, false),
    (1.0, 0.0, true, true),
    (-0.7, 1.0, true, false),
    (0.5, 0.25, false, true),
    (2.0, -1.5, true, true),
];

#[test]
fn few_rows_times_a_transposed_weight_match_the_reference_and_the_twins() {
    let mut rng = Rng::new(23);
    for m in 1..=4usize {
        for &k in &[1usize, 7, 15, 16, 17, 33, 320, 1001] {
            for &n in &[1usize, 2, 3, 5, 13, 64] {
                let a = rng.vec(m * k);
                // W is [n, k] row-major; the product is A W^T, as every linear layer's.
                let w = rng.vec(n * k);
                let c0 = rng.vec(m * n);
                let bias = rng.vec(n);
                for &(alpha, beta, use_bias, relu) in &CASES {
                    let act = if relu { Activation::Relu } else { Activation::Identity };
                    let bias = use_bias.then_some(&bias[..]);
                    let want = reference(
                        m,
                        n,
                        k,
                        alpha,
                        &|i, p| a[i * k + p],
                        &|p, j| w[j * k + p],
                        beta,
                        &|i, j| c0[i * n + j],
                        bias,
                        act,
                    );
                    let run = |c: &mut Vec<f32>, kind: Option<(hinet_kernels::KernelKind, bool)>| {
                        let am = MatRef::row_major(&a, m, k).unwrap();
                        let wt = MatRef::row_major(&w, n, k).unwrap().t();
                        let cm = MatMut::row_major(c, m, n).unwrap();
                        let epi = Epilogue { bias, activation: act };
                        match kind {
                            None => sgemm_with_epilogue(alpha, am, wt, beta, cm, epi).unwrap(),
                            Some((kind, twin)) => {
                                assert!(run_small_m(kind, twin, alpha, am, wt, beta, cm, epi).unwrap(), "taken");
                            }
                        }
                    };
                    let mut public = c0.clone();
                    run(&mut public, None);
                    let what = format!("m={m} k={k} n={n} alpha={alpha} beta={beta} bias={use_bias} relu={relu}");
                    assert_close(&what, m, n, k, &|i, j| public[i * n + j], &want);
                    for kind in kernels() {
                        let (mut simd, mut twin) = (c0.clone(), c0.clone());
                        run(&mut simd, Some((kind, false)));
                        run(&mut twin, Some((kind, true)));
                        assert_close(&format!("{kind} {what}"), m, n, k, &|i, j| simd[i * n + j], &want);
                        for (idx, (x, y)) in simd.iter().zip(&twin).enumerate() {
                            assert_eq!(
                                x.to_bits(),
                                y.to_bits(),
                                "{kind} {what} at {idx}: {x} vs its twin's {y}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn other_shapes_and_layouts_are_not_the_few_rows_path() {
    let (a, w) = (vec![1.0f32; 5 * 8], vec![1.0f32; 3 * 8]);
    let mut c = vec![0.0f32; 5 * 3];
    for kind in kernels() {
        // Five rows of A.
        let taken = run_small_m(
            kind,
            false,
            1.0,
            MatRef::row_major(&a, 5, 8).unwrap(),
            MatRef::row_major(&w, 3, 8).unwrap().t(),
            0.0,
            MatMut::row_major(&mut c, 5, 3).unwrap(),
            Epilogue::default(),
        )
        .unwrap();
        assert!(!taken, "{kind}: m = 5");
        // B row-major [k, n] (its columns strided).
        let taken = run_small_m(
            kind,
            false,
            1.0,
            MatRef::row_major(&a[..8], 1, 8).unwrap(),
            MatRef::row_major(&w, 8, 3).unwrap(),
            0.0,
            MatMut::row_major(&mut c[..3], 1, 3).unwrap(),
            Epilogue::default(),
        )
        .unwrap();
        assert!(!taken, "{kind}: B with strided columns");
    }
}

/// Many rows times a weight of at most 8 rows (a gate's logits, a tower's logit): the
/// few-columns path, through the public entry point and each body, against the reference, the
/// twins bit for bit, and each row equal bit for bit to that row computed alone (the property
/// that makes the result independent of how rows are split among threads).
#[test]
fn few_columns_times_many_rows_match_the_reference_the_twins_and_each_row_alone() {
    let mut rng = Rng::new(29);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    for &m in &[5usize, 7, 33, 1031] {
        for &k in &[1usize, 15, 16, 17, 64, 320] {
            for &n in &[1usize, 4, 5, 8] {
                let a = rng.vec(m * k);
                let w = rng.vec(n * k);
                let c0 = rng.vec(m * n);
                let bias = rng.vec(n);
                for &(alpha, beta, use_bias, relu) in &CASES[..3] {
                    let act = if relu { Activation::Relu } else { Activation::Identity };
                    let bias = use_bias.then_some(&bias[..]);
                    let epi = Epilogue { bias, activation: act };
                    let want = reference(
                        m,
                        n,
                        k,
                        alpha,
                        &|i, p| a[i * k + p],
                        &|p, j| w[j * k + p],
                        beta,
                        &|i, j| c0[i * n + j],
                        bias,
                        act,
                    );
                    let what = format!("m={m} k={k} n={n} alpha={alpha} beta={beta} bias={use_bias} relu={relu}");
                    let wt = MatRef::row_major(&w, n, k).unwrap().t();
                    let mut public = c0.clone();
                    // On a pool of 3, so a large product is split among workers.
                    pool.install(|| {
                        let am = MatRef::row_major(&a, m, k).unwrap();
                        sgemm_with_epilogue(alpha, am, wt, beta, MatMut::row_major(&mut public, m, n).unwrap(), epi)
                            .unwrap()
                    });
                    assert_close(&what, m, n, k, &|i, j| public[i * n + j], &want);
                    for kind in kernels() {
                        let (mut simd, mut twin) = (c0.clone(), c0.clone());
                        for (c, is_twin) in [(&mut simd, false), (&mut twin, true)] {
                            let am = MatRef::row_major(&a, m, k).unwrap();
                            let cm = MatMut::row_major(c, m, n).unwrap();
                            let taken = pool
                                .install(|| run_few_columns(kind, is_twin, alpha, am, wt, beta, cm, epi))
                                .unwrap();
                            assert!(taken, "{kind} {what}: taken");
                        }
                        assert_eq!(bits(&simd), bits(&twin), "{kind} {what}: SIMD against its twin");
                        if kind == hinet_kernels::selected_kernel() {
                            assert_eq!(bits(&public), bits(&simd), "{kind} {what}: the public entry's path");
                        }
                        // Row 2 alone (a one-row product: the few-rows path).
                        let mut alone = c0[2 * n..3 * n].to_vec();
                        let row = MatRef::row_major(&a[2 * k..3 * k], 1, k).unwrap();
                        let cm = MatMut::row_major(&mut alone, 1, n).unwrap();
                        assert!(run_small_m(kind, false, alpha, row, wt, beta, cm, epi).unwrap());
                        assert_eq!(bits(&alone), bits(&simd[2 * n..3 * n]), "{kind} {what}: row 2 alone");
                    }
                }
            }
        }
    }
}

#[test]
fn nine_columns_or_strided_operands_are_not_the_few_columns_path() {
    let (a, w) = (vec![1.0f32; 6 * 8], vec![1.0f32; 9 * 8]);
    let mut c = vec![0.0f32; 6 * 9];
    for kind in kernels() {
        let taken = run_few_columns(
            kind,
            false,
            1.0,
            MatRef::row_major(&a, 6, 8).unwrap(),
            MatRef::row_major(&w, 9, 8).unwrap().t(),
            0.0,
            MatMut::row_major(&mut c, 6, 9).unwrap(),
            Epilogue::default(),
        )
        .unwrap();
        assert!(!taken, "{kind}: n = 9");
        // A column-major (its rows strided).
        let taken = run_few_columns(
            kind,
            false,
            1.0,
            MatRef::row_major(&a, 8, 6).unwrap().t(),
            MatRef::row_major(&w[..3 * 8], 3, 8).unwrap().t(),
            0.0,
            MatMut::row_major(&mut c[..18], 6, 3).unwrap(),
            Epilogue::default(),
        )
        .unwrap();
        assert!(!taken, "{kind}: A with strided rows");
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}
