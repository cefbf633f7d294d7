//! Views, errors, dgemm, the Gemm trait and kernel selection.

use crate::common::{Rng, assert_close, reference};
use hinet_kernels::{
    Activation, Epilogue, Gemm, GemmError, GemmProblem, KernelKind, MatMut, MatRef, Precision, dgemm, gemm_grouped,
    selected_kernel, sgemm, sgemm_with_kernel,
};

#[test]
fn views_check_bounds() {
    let d = [0.0f32; 12];
    assert!(MatRef::row_major(&d, 3, 4).is_ok());
    assert!(matches!(
        MatRef::row_major(&d, 4, 4),
        Err(GemmError::OutOfBounds {
            needed: 16,
            len: 12,
            ..
        })
    ));
    assert!(MatRef::col_major(&d, 4, 3).is_ok());
    assert!(MatRef::strided(&d, 2, 2, 10, 1).is_ok()); // largest index 11
    assert!(MatRef::strided(&d, 2, 2, 11, 1).is_err());
    assert!(MatRef::strided(&d, 3, 3, usize::MAX, 1).is_err()); // overflow, not panic
    assert!(MatRef::row_major(&[] as &[f32], 0, 5).is_ok());
    let v = MatRef::row_major(&d, 3, 4).unwrap().t();
    assert_eq!((v.rows(), v.cols(), v.row_stride(), v.col_stride()), (4, 3, 1, 4));
    let s = MatRef::row_major(&d, 3, 4).unwrap().submatrix(1, 1, 2, 3).unwrap();
    assert_eq!((s.rows(), s.cols()), (2, 3));
    assert!(MatRef::row_major(&d, 3, 4).unwrap().submatrix(2, 2, 2, 2).is_err());
}

#[test]
fn mutable_views_reject_aliasing_strides() {
    let mut d = [0.0f32; 64];
    assert!(MatMut::strided(&mut d, 4, 4, 4, 1).is_ok());
    assert!(MatMut::strided(&mut d, 4, 4, 1, 4).is_ok());
    assert!(MatMut::strided(&mut d, 4, 4, 5, 1).is_ok()); // padded rows
    assert!(matches!(
        MatMut::strided(&mut d, 4, 4, 3, 1),
        Err(GemmError::AliasingStrides { .. })
    ));
    assert!(MatMut::strided(&mut d, 4, 4, 0, 1).is_err());
    assert!(MatMut::strided(&mut d, 4, 4, 2, 2).is_err());
    assert!(MatMut::strided(&mut d, 1, 4, 0, 1).is_ok()); // one row: row stride unused
    assert!(MatMut::strided(&mut d, 4, 1, 1, 0).is_ok());
    assert!(MatMut::strided(&mut d, 0, 4, 0, 0).is_ok());
    // MatRef may broadcast.
    assert!(MatRef::strided(&d, 4, 4, 0, 1).is_ok());
}

#[test]
fn dimension_mismatch_names_both_shapes() {
    let a = [0.0f32; 6];
    let b = [0.0f32; 8];
    let mut c = [0.0f32; 8];
    let err = sgemm(
        1.0,
        MatRef::row_major(&a, 2, 3).unwrap(),
        MatRef::row_major(&b, 4, 2).unwrap(),
        0.0,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        GemmError::DimensionMismatch {
            a: (2, 3),
            b: (4, 2),
            c: (2, 2)
        }
    ));
    let msg = err.to_string();
    assert!(msg.contains("2x3") && msg.contains("4x2"), "{msg}");
}

#[test]
fn bias_length_and_unavailable_kernel_are_errors() {
    let a = [1.0f32; 4];
    let mut c = [0.0f32; 4];
    let bias = [0.0f32; 3];
    let av = MatRef::row_major(&a, 2, 2).unwrap();
    let err = sgemm_with_kernel(
        KernelKind::Portable,
        1.0,
        av,
        av,
        0.0,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        Epilogue {
            bias: Some(&bias),
            activation: Activation::Identity,
        },
    )
    .unwrap_err();
    assert_eq!(err, GemmError::BiasLength { len: 3, n: 2 });
    for kind in KernelKind::ALL {
        let r = sgemm_with_kernel(
            kind,
            1.0,
            av,
            av,
            0.0,
            MatMut::row_major(&mut c, 2, 2).unwrap(),
            Epilogue::none(),
        );
        if kind.is_available() {
            assert!(r.is_ok());
        } else {
            assert_eq!(r, Err(GemmError::KernelUnavailable(kind)));
        }
    }
    assert!(selected_kernel().is_available());
}

#[test]
fn grouped_checks_every_shape_before_computing() {
    let a = [1.0f32; 4];
    let (mut c1, mut c2) = ([5.0f32; 4], [5.0f32; 2]);
    let av = MatRef::row_major(&a, 2, 2).unwrap();
    let mut problems = vec![
        GemmProblem {
            alpha: 1.0,
            a: av,
            b: av,
            beta: 0.0,
            c: MatMut::row_major(&mut c1, 2, 2).unwrap(),
            epilogue: Epilogue::none(),
            precision: Precision::F32,
        },
        GemmProblem {
            alpha: 1.0,
            a: av,
            b: av,
            beta: 0.0,
            c: MatMut::row_major(&mut c2, 1, 2).unwrap(),
            epilogue: Epilogue::none(),
            precision: Precision::F32,
        },
    ];
    assert!(matches!(
        gemm_grouped(&mut problems),
        Err(GemmError::DimensionMismatch { .. })
    ));
    drop(problems);
    assert_eq!(c1, [5.0; 4], "nothing is computed when any problem is invalid");
}

#[test]
fn dgemm_and_gemm_trait_match_reference() {
    let mut rng = Rng::new(31);
    for &(m, n, k, ta, tb) in &[
        (37, 29, 41, false, false),
        (64, 33, 200, true, false),
        (5, 70, 3, false, true),
    ] {
        let a: Vec<f64> = (0..m * k).map(|_| rng.f32() as f64).collect();
        let b: Vec<f64> = (0..k * n).map(|_| rng.f32() as f64).collect();
        let bias: Vec<f64> = (0..n).map(|_| rng.f32() as f64).collect();
        let c0: Vec<f64> = (0..m * n).map(|_| rng.f32() as f64).collect();
        let av = if ta {
            MatRef::row_major(&a, k, m).unwrap().t()
        } else {
            MatRef::row_major(&a, m, k).unwrap()
        };
        let bv = if tb {
            MatRef::row_major(&b, n, k).unwrap().t()
        } else {
            MatRef::row_major(&b, k, n).unwrap()
        };
        let mut c = c0.clone();
        let epi = Epilogue {
            bias: Some(&bias[..]),
            activation: Activation::Relu,
        };
        dgemm(0.5, av, bv, -1.0, MatMut::row_major(&mut c, m, n).unwrap(), epi).unwrap();
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for p in 0..k {
                    s += av.get(i, p).unwrap() * bv.get(p, j).unwrap();
                }
                let want = (0.5 * s - c0[i * n + j] + bias[j]).max(0.0);
                assert!(
                    (c[i * n + j] - want).abs() < 1e-12 * (k as f64 + 1.0),
                    "dgemm {m}x{n}x{k}"
                );
            }
        }
        // The trait dispatches f64 the same way.
        let mut c2 = c0.clone();
        f64::gemm(0.5, av, bv, -1.0, MatMut::row_major(&mut c2, m, n).unwrap(), epi).unwrap();
        assert_eq!(c, c2);
    }
    // beta = 0 never reads C, alpha = 0 never reads A/B, in f64 too.
    let nan = [f64::NAN; 4];
    let mut c = [f64::NAN; 4];
    let v = MatRef::row_major(&nan, 2, 2).unwrap();
    dgemm(
        0.0,
        v,
        v,
        0.0,
        MatMut::row_major(&mut c, 2, 2).unwrap(),
        Epilogue::none(),
    )
    .unwrap();
    assert_eq!(c, [0.0; 4]);
}

#[test]
fn f32_trait_matches_reference() {
    let mut rng = Rng::new(32);
    let (m, n, k) = (19, 23, 31);
    let a = rng.vec(m * k);
    let b = rng.vec(k * n);
    let mut c = vec![0.0f32; m * n];
    f32::gemm(
        1.0,
        MatRef::row_major(&a, m, k).unwrap(),
        MatRef::row_major(&b, k, n).unwrap(),
        0.0,
        MatMut::row_major(&mut c, m, n).unwrap(),
        Epilogue::none(),
    )
    .unwrap();
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
    assert_close("f32 trait", m, n, k, &|i, j| c[i * n + j], &want);
}
