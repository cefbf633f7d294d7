//! The few-rows path (one row of a prediction, up to four): against the naive reference on
//! awkward sizes, through the public entry point, and each SIMD body against its portable twin
//! bit for bit.

use crate::common::{Rng, assert_close, kernels, reference};
use hinet_kernels::{Activation, Epilogue, MatMut, MatRef, sgemm_with_epilogue, testing::run_small_m};

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
