//! bf16 products: every path against the naive reference of the *rounded* operands on awkward
//! sizes and layouts (so a path that forgot to round fails: its error is bf16's, not f32's),
//! the emulated path bit for bit against the `f32` kernel on pre-rounded operands, and the
//! AVX512-BF16 kernel against its portable twin where the CPU has it.

use crate::common::{Rng, Stored, assert_close, kernels, reference};
use hinet_kernels::testing::run_bf16_pairs;
use hinet_kernels::{
    Activation, Epilogue, GemmError, MatMut, MatRef, Precision, round_to_bf16, sgemm_bf16_with_kernel, sgemm_in,
    sgemm_with_kernel,
};

/// `(m, n, k)`: edges of every tile shape, odd `k` (a half-empty last pair), `k` beyond one
/// cache block (several blocks, the last of odd depth), and HiNet's widths.
const SHAPES: [(usize, usize, usize); 10] = [
    (1, 1, 1),
    (5, 7, 3),
    (13, 33, 17),
    (12, 32, 64),
    (25, 65, 2),
    (37, 31, 129),
    (6, 16, 701),
    (64, 128, 320),
    (129, 40, 1001),
    (3, 70, 255),
];

/// `(alpha, beta, bias, relu)` cases.
const CASES: [(f32, f32, bool, bool); 3] = [
    (1.0, 0.0, false, false),
    (-0.7, 1.0, true, false),
    (0.5, 0.25, true, true),
];

/// Which bf16 path a case runs.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// The family's `f32` kernel over rounded operands (or its native kernel, see
    /// `sgemm_bf16_with_kernel`).
    Family(hinet_kernels::KernelKind),
    /// The pair layout through the driver with the portable twin kernel (any CPU).
    PairsTwin,
    /// The pair layout with the AVX512-BF16 kernel (only where the CPU has it).
    PairsNative,
}

fn run(path: Path, alpha: f32, a: &Stored, b: &Stored, beta: f32, c: &mut [f32], epi: Epilogue<'_, f32>) {
    let am = MatRef::strided(&a.data, a.rows, a.cols, a.rs, a.cs).unwrap();
    let bm = MatRef::strided(&b.data, b.rows, b.cols, b.rs, b.cs).unwrap();
    let cm = MatMut::row_major(c, a.rows, b.cols).unwrap();
    match path {
        Path::Family(kind) => sgemm_bf16_with_kernel(kind, alpha, am, bm, beta, cm, epi).unwrap(),
        Path::PairsTwin => run_bf16_pairs(true, alpha, am, bm, beta, cm, epi).unwrap(),
        Path::PairsNative => run_bf16_pairs(false, alpha, am, bm, beta, cm, epi).unwrap(),
    }
}

fn native_available() -> bool {
    let (a, b) = ([0.0f32; 1], [0.0f32; 1]);
    let mut c = [0.0f32; 1];
    let am = MatRef::row_major(&a, 1, 1).unwrap();
    let bm = MatRef::row_major(&b, 1, 1).unwrap();
    let cm = MatMut::row_major(&mut c, 1, 1).unwrap();
    !matches!(
        run_bf16_pairs(false, 1.0, am, bm, 0.0, cm, Epilogue::none()),
        Err(GemmError::KernelUnavailable(_))
    )
}

fn paths() -> Vec<Path> {
    let mut paths: Vec<Path> = kernels().into_iter().map(Path::Family).collect();
    paths.push(Path::PairsTwin);
    if native_available() {
        paths.push(Path::PairsNative);
    } else {
        eprintln!("bf16: this CPU has no AVX512-BF16; the native kernel is checked where it has");
    }
    paths
}

#[test]
fn every_bf16_path_matches_the_reference_of_the_rounded_operands() {
    let mut rng = Rng::new(41);
    let paths = paths();
    for (s, &(m, n, k)) in SHAPES.iter().enumerate() {
        // Every layout of A and B across the shapes (row-, column-major, padded).
        let a = Stored::random(&mut rng, m, k, s % 4);
        let b = Stored::random(&mut rng, k, n, (s + 1) % 4);
        let c0 = rng.vec(m * n);
        let bias = rng.vec(n);
        for &(alpha, beta, use_bias, relu) in &CASES {
            let act = if relu { Activation::Relu } else { Activation::Identity };
            let bias = use_bias.then_some(&bias[..]);
            let epi = Epilogue { bias, activation: act };
            let want = reference(
                m,
                n,
                k,
                alpha,
                &|i, p| round_to_bf16(a.at(i, p)),
                &|p, j| round_to_bf16(b.at(p, j)),
                beta,
                &|i, j| c0[i * n + j],
                bias,
                act,
            );
            // Products of at most 4 rows with A's rows, op(B)'s columns and C's rows contiguous
            // take the few-rows path, in f32 whatever the precision (docs/kernels.md).
            let few_rows = {
                let mut c = c0.clone();
                hinet_kernels::testing::takes_few_rows_path(
                    &MatRef::strided(&a.data, m, k, a.rs, a.cs).unwrap(),
                    &MatRef::strided(&b.data, k, n, b.rs, b.cs).unwrap(),
                    &mut MatMut::row_major(&mut c, m, n).unwrap(),
                )
            };
            let want_f32 = reference(
                m,
                n,
                k,
                alpha,
                &|i, p| a.at(i, p),
                &|p, j| b.at(p, j),
                beta,
                &|i, j| c0[i * n + j],
                bias,
                act,
            );
            for &path in &paths {
                let want = if few_rows { &want_f32 } else { &want };
                let mut c = c0.clone();
                run(path, alpha, &a, &b, beta, &mut c, epi);
                let what = format!("{path:?} alpha={alpha} beta={beta} bias={use_bias} relu={relu}");
                assert_close(&what, m, n, k, &|i, j| c[i * n + j], want);
            }
        }
    }
}

/// The emulated path is the `f32` kernel on rounded operands: bit for bit the `f32` product of
/// operands rounded beforehand (rows >= 5, so neither takes the few-rows path).
#[test]
fn the_emulated_path_is_the_f32_kernel_on_rounded_operands() {
    let mut rng = Rng::new(43);
    for kind in kernels() {
        if kind == hinet_kernels::KernelKind::Avx512 && native_available() {
            continue; // the AVX-512 family's bf16 products are native here
        }
        for &(m, n, k) in SHAPES.iter().filter(|s| s.0 >= 5) {
            let a = Stored::random(&mut rng, m, k, 0);
            let b = Stored::random(&mut rng, k, n, 1);
            let rounded = |s: &Stored| Stored {
                data: s.data.iter().map(|&v| round_to_bf16(v)).collect(),
                ..s.clone()
            };
            let (ar, br) = (rounded(&a), rounded(&b));
            let (mut bf, mut f32c) = (vec![0.0f32; m * n], vec![0.0f32; m * n]);
            run(Path::Family(kind), 1.0, &a, &b, 0.0, &mut bf, Epilogue::none());
            let am = MatRef::strided(&ar.data, m, k, ar.rs, ar.cs).unwrap();
            let bm = MatRef::strided(&br.data, k, n, br.rs, br.cs).unwrap();
            let cm = MatMut::row_major(&mut f32c, m, n).unwrap();
            sgemm_with_kernel(kind, 1.0, am, bm, 0.0, cm, Epilogue::none()).unwrap();
            let differ = bf.iter().zip(&f32c).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
            assert_eq!(differ, 0, "{kind} m={m} n={n} k={k}: {differ} elements differ");
        }
    }
}

/// The AVX512-BF16 kernel against its twin: bit for bit on small integers (every product and
/// sum exact, whatever order or intermediate rounding the hardware uses), and within a few
/// `f32` roundings on random data.
#[test]
fn the_native_pair_kernel_matches_its_twin() {
    if !native_available() {
        eprintln!("skipped: this CPU has no AVX512-BF16 (the twin is checked against the reference above)");
        return;
    }
    let mut rng = Rng::new(47);
    for &(m, n, k) in &SHAPES {
        let mut ints = Stored::random(&mut rng, m, k, 0);
        ints.data.iter_mut().for_each(|v| *v = (*v * 8.0).round());
        let mut intb = Stored::random(&mut rng, k, n, 1);
        intb.data.iter_mut().for_each(|v| *v = (*v * 8.0).round());
        let (mut native, mut twin) = (vec![0.0f32; m * n], vec![0.0f32; m * n]);
        run(Path::PairsNative, 1.0, &ints, &intb, 0.0, &mut native, Epilogue::none());
        run(Path::PairsTwin, 1.0, &ints, &intb, 0.0, &mut twin, Epilogue::none());
        assert_eq!(native, twin, "integers m={m} n={n} k={k}");
    }
}

/// The public entry point: `F32` is the plain product, `Bf16` is measurably coarser (its error
/// against the unrounded reference is bf16's, far above the `f32` bound) yet close.
#[test]
fn precision_selects_the_operand_rounding() {
    let mut rng = Rng::new(53);
    let (m, n, k) = (33, 40, 96);
    let a = rng.vec(m * k);
    let b = rng.vec(k * n);
    let want = reference(
        m,
        n,
        k,
        1.0,
        &|i, p| a[i * k + p],
        &|p, j| b[p * n + j],
        0.0,
        &|_, _| 0.0,
        None,
        Activation::Identity,
    );
    let product = |precision| {
        let mut c = vec![0.0f32; m * n];
        let am = MatRef::row_major(&a, m, k).unwrap();
        let bm = MatRef::row_major(&b, k, n).unwrap();
        sgemm_in(
            precision,
            1.0,
            am,
            bm,
            0.0,
            MatMut::row_major(&mut c, m, n).unwrap(),
            Epilogue::none(),
        )
        .unwrap();
        c
    };
    let f = product(Precision::F32);
    assert_close("f32", m, n, k, &|i, j| f[i * n + j], &want);
    let h = product(Precision::Bf16);
    let mut worst = 0.0f64;
    for (x, (w, g)) in h.iter().zip(want.0.iter().zip(&want.1)) {
        worst = worst.max((f64::from(*x) - w).abs() / g);
    }
    // Each rounded operand is off by at most 2^-9 relative: the product sum by about 2^-8 of
    // its magnitude at worst, and well above f32's (k + 4) * 2 eps on random data.
    assert!(worst <= 2f64.powi(-8), "bf16 error {worst} of the magnitude");
    assert!(
        worst > 100.0 * 2.0 * f64::from(f32::EPSILON),
        "bf16 products were not rounded (error {worst})"
    );
}

/// One row times a transposed row-major weight (a prediction's product) takes the few-rows
/// path in both precisions: bf16 gives the f32 result, bit for bit.
#[test]
fn one_row_products_are_f32_in_both_precisions() {
    let mut rng = Rng::new(59);
    for &(m, n, k) in &[(1usize, 64usize, 320usize), (3, 17, 33), (4, 1, 7)] {
        let a = rng.vec(m * k);
        let w = rng.vec(n * k);
        let product = |precision| {
            let mut c = vec![0.0f32; m * n];
            let am = MatRef::row_major(&a, m, k).unwrap();
            let wt = MatRef::row_major(&w, n, k).unwrap().t();
            let mut cm = MatMut::row_major(&mut c, m, n).unwrap();
            assert!(hinet_kernels::testing::takes_few_rows_path(&am, &wt, &mut cm));
            sgemm_in(precision, 1.0, am, wt, 0.0, cm, Epilogue::none()).unwrap();
            c
        };
        assert_eq!(product(Precision::Bf16), product(Precision::F32), "m={m} n={n} k={k}");
    }
}
