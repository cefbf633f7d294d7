//! Products with weights stored as bf16 (`sgemm_bf16_weights`, a bf16 model's one-row
//! prediction): against the naive reference of the rounded operands on awkward sizes, bit for
//! bit equal to the f32 few-rows path on operands rounded beforehand (the same products in the
//! same order), each SIMD body equal to its portable twin, and the errors.

use crate::common::{Rng, assert_close, kernels, reference};
use hinet_kernels::{
    Activation, Bf16Weights, Epilogue, GemmError, KernelKind, MatMut, MatRef, bf16_bits, round_to_bf16,
    sgemm_bf16_weights, testing::run_bf16_weights, testing::run_small_m,
};

/// `(alpha, beta, bias, relu)` cases.
const CASES: [(f32, f32, bool, bool); 4] = [
    (1.0, 0.0, false, false),
    (1.0, 0.0, true, true),
    (-0.7, 1.0, true, false),
    (0.5, 0.25, false, true),
];

#[test]
fn rounding_the_weights_is_round_to_nearest_even_in_any_layout() {
    let mut rng = Rng::new(5);
    // 77 columns: two whole groups of the kernels' layout, one more chunk of 16, a tail of 13.
    let (rows, cols) = (7, 77);
    let mut w = rng.vec(rows * cols);
    // Ties, a subnormal, a NaN and a value that overflows to infinity among ordinary values.
    w[0] = f32::from_bits(0x3f80_8000);
    w[1] = f32::from_bits(0x3f81_8000);
    w[2] = 1e-40;
    w[3] = f32::NAN;
    w[4] = f32::MAX;
    let from_row_major = Bf16Weights::round_from(MatRef::row_major(&w, rows, cols).unwrap());
    assert_eq!((from_row_major.rows(), from_row_major.cols()), (rows, cols));
    let want: Vec<u16> = w.iter().map(|&x| bf16_bits(x)).collect();
    let stored = |b: &Bf16Weights| -> Vec<u16> {
        (0..rows)
            .flat_map(|i| (0..cols).map(move |j| (i, j)))
            .map(|(i, j)| b.bits_at(i, j).unwrap())
            .collect()
    };
    assert_eq!(stored(&from_row_major), want);
    assert_eq!(from_row_major.bits_at(rows, 0), None);
    assert_eq!(from_row_major.bits_at(0, cols), None);
    assert_eq!(want[0], 0x3f80, "a tie rounds to even (down)");
    assert_eq!(want[1], 0x3f82, "a tie rounds to even (up)");
    // The same matrix stored column-major and read through its view.
    let mut col_major = vec![0.0f32; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            col_major[j * rows + i] = w[i * cols + j];
        }
    }
    let from_col_major = Bf16Weights::round_from(MatRef::col_major(&col_major, rows, cols).unwrap());
    assert_eq!(from_col_major, from_row_major);
    // `assign` reuses a larger buffer and leaves nothing of the old contents.
    let mut reused = Bf16Weights::round_from(MatRef::row_major(&rng.vec(400), 20, 20).unwrap());
    reused.assign(MatRef::row_major(&w, rows, cols).unwrap());
    assert_eq!(reused, from_row_major);
}

#[test]
fn bf16_weight_products_match_the_rounded_reference_the_f32_path_and_the_twins() {
    let mut rng = Rng::new(41);
    for &m in &[1usize, 2, 3, 4, 5, 9] {
        // k: below a chunk, one chunk, whole groups of 32 with and without a chunk after, tails.
        for &k in &[1usize, 7, 16, 17, 33, 50, 63, 320, 1001] {
            for &n in &[1usize, 3, 4, 5, 37] {
                let a = rng.vec(m * k);
                let w = rng.vec(n * k);
                let (ar, wr): (Vec<f32>, Vec<f32>) = (
                    a.iter().map(|&x| round_to_bf16(x)).collect(),
                    w.iter().map(|&x| round_to_bf16(x)).collect(),
                );
                let packed = Bf16Weights::round_from(MatRef::row_major(&w, n, k).unwrap());
                let c0 = rng.vec(m * n);
                let bias = rng.vec(n);
                for &(alpha, beta, use_bias, relu) in &CASES {
                    let act = if relu { Activation::Relu } else { Activation::Identity };
                    let bias = use_bias.then_some(&bias[..]);
                    let epi = Epilogue { bias, activation: act };
                    let what = format!("m={m} k={k} n={n} alpha={alpha} beta={beta} bias={use_bias} relu={relu}");
                    let want = reference(
                        m,
                        n,
                        k,
                        alpha,
                        &|i, p| ar[i * k + p],
                        &|p, j| wr[j * k + p],
                        beta,
                        &|i, j| c0[i * n + j],
                        bias,
                        act,
                    );
                    let mut public = c0.clone();
                    let am = MatRef::row_major(&a, m, k).unwrap();
                    sgemm_bf16_weights(
                        alpha,
                        am,
                        &packed,
                        beta,
                        MatMut::row_major(&mut public, m, n).unwrap(),
                        epi,
                    )
                    .unwrap();
                    assert_close(&what, m, n, k, &|i, j| public[i * n + j], &want);
                    for kind in kernels() {
                        let mut simd = c0.clone();
                        let mut twin = c0.clone();
                        let cm = MatMut::row_major(&mut simd, m, n).unwrap();
                        run_bf16_weights(kind, false, alpha, am, &packed, beta, cm, epi).unwrap();
                        let cm = MatMut::row_major(&mut twin, m, n).unwrap();
                        run_bf16_weights(kind, true, alpha, am, &packed, beta, cm, epi).unwrap();
                        // Each row as the f32 few-rows path computes it on pre-rounded operands:
                        // an output's products and sums do not depend on the rows around it.
                        let mut f32_path = c0.clone();
                        for i in 0..m {
                            let row = MatRef::row_major(&ar[i * k..(i + 1) * k], 1, k).unwrap();
                            let wt = MatRef::row_major(&wr, n, k).unwrap().t();
                            let ci = MatMut::row_major(&mut f32_path[i * n..(i + 1) * n], 1, n).unwrap();
                            assert!(run_small_m(kind, false, alpha, row, wt, beta, ci, epi).unwrap());
                        }
                        for idx in 0..m * n {
                            let (s, t, f) = (simd[idx], twin[idx], f32_path[idx]);
                            assert_eq!(
                                s.to_bits(),
                                t.to_bits(),
                                "{kind} {what} at {idx}: {s} vs its twin's {t}"
                            );
                            assert_eq!(
                                s.to_bits(),
                                f.to_bits(),
                                "{kind} {what} at {idx}: {s} vs f32 of rounded {f}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn bf16_weight_products_are_coarser_than_f32_and_keep_nan() {
    let mut rng = Rng::new(8);
    let (m, k, n) = (1, 320, 64);
    let a = rng.vec(m * k);
    let w = rng.vec(n * k);
    let packed = Bf16Weights::round_from(MatRef::row_major(&w, n, k).unwrap());
    let product = |alpha: f32, a: &[f32], beta: f32, c: &mut [f32]| {
        let (am, cm) = (MatRef::row_major(a, m, k).unwrap(), MatMut::row_major(c, m, n).unwrap());
        sgemm_bf16_weights(alpha, am, &packed, beta, cm, Epilogue::none()).unwrap();
    };
    let mut bf = vec![0.0f32; n];
    product(1.0, &a, 0.0, &mut bf);
    let exact: Vec<f64> = (0..n)
        .map(|j| (0..k).map(|p| f64::from(a[p]) * f64::from(w[j * k + p])).sum())
        .collect();
    let scale: Vec<f64> = (0..n)
        .map(|j| (0..k).map(|p| (f64::from(a[p]) * f64::from(w[j * k + p])).abs()).sum())
        .collect();
    // Rounding both operands: each product off by up to 2^-8 relative, so the dot within
    // 2^-7 of its magnitude sum; and measurably off (a path that skipped the rounding of A or
    // W would be within f32's error, ~1e-6 of the scale).
    let worst = (0..n)
        .map(|j| (f64::from(bf[j]) - exact[j]).abs() / scale[j])
        .fold(0.0, f64::max);
    assert!(worst <= 2f64.powi(-7), "bf16 error {worst} of the magnitude");
    assert!(worst > 1e-4, "bf16 error {worst} is f32's: were the operands rounded?");
    // A NaN in A stays a NaN through the rounding.
    let mut a_nan = a.clone();
    a_nan[100] = f32::NAN;
    product(1.0, &a_nan, 0.0, &mut bf);
    assert!(bf.iter().all(|v| v.is_nan()));
    // alpha = 0 reads neither A nor W (BLAS semantics): C = beta * C.
    let mut c = vec![2.0f32; n];
    product(0.0, &a_nan, 0.5, &mut c);
    assert!(c.iter().all(|&v| v == 1.0));
}

#[test]
fn bf16_weight_products_refuse_bad_shapes_layouts_and_kernels() {
    let a = vec![1.0f32; 2 * 8];
    let packed = Bf16Weights::round_from(MatRef::row_major(&[0.5f32; 3 * 8], 3, 8).unwrap());
    let mut c = vec![0.0f32; 2 * 3];
    let run = |a: MatRef<'_, f32>, c: MatMut<'_, f32>, epi| sgemm_bf16_weights(1.0, a, &packed, 0.0, c, epi);
    // k mismatch: A is 2 x 4 against weights of 8 columns.
    let err = run(
        MatRef::row_major(&a[..8], 2, 4).unwrap(),
        MatMut::row_major(&mut c, 2, 3).unwrap(),
        Epilogue::none(),
    );
    assert!(matches!(err, Err(GemmError::DimensionMismatch { .. })), "{err:?}");
    let bias = [0.0f32; 2];
    let epi = Epilogue {
        bias: Some(&bias),
        activation: Activation::Identity,
    };
    let err = run(
        MatRef::row_major(&a, 2, 8).unwrap(),
        MatMut::row_major(&mut c, 2, 3).unwrap(),
        epi,
    );
    assert_eq!(err, Err(GemmError::BiasLength { len: 2, n: 3 }));
    let err = run(
        MatRef::col_major(&a, 2, 8).unwrap(),
        MatMut::row_major(&mut c, 2, 3).unwrap(),
        Epilogue::none(),
    );
    assert!(matches!(err, Err(GemmError::Layout(_))), "{err:?}");
    assert!(err.unwrap_err().to_string().contains("contiguous"));
    // Nothing was written by the refused calls.
    assert!(c.iter().all(|&v| v == 0.0));
    run(
        MatRef::row_major(&a, 2, 8).unwrap(),
        MatMut::row_major(&mut c, 2, 3).unwrap(),
        Epilogue::none(),
    )
    .unwrap();
    assert!(c.iter().all(|&v| v == 4.0));
    for kind in [KernelKind::Avx512, KernelKind::Avx2, KernelKind::Neon] {
        if !kind.is_available() {
            let cm = MatMut::row_major(&mut c, 2, 3).unwrap();
            let err = run_bf16_weights(
                kind,
                false,
                1.0,
                MatRef::row_major(&a, 2, 8).unwrap(),
                &packed,
                0.0,
                cm,
                Epilogue::none(),
            );
            assert_eq!(err, Err(GemmError::KernelUnavailable(kind)));
        }
    }
}
