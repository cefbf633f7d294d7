//! sgemm against the naive f64 reference, for every kernel this CPU can run.

use crate::common::{Rng, Stored, assert_close, kernels, reference};
use hinet_kernels::{Activation, Epilogue, KernelKind, MatMut, MatRef, kernel_tile, sgemm_with_kernel};

/// Runs one product with A and B in `layout_a`/`layout_b` storage, `op`s given
/// by `ta`/`tb`, C in `layout_c`, and checks it against the reference.
#[allow(clippy::too_many_arguments)]
fn check(
    kind: KernelKind,
    rng: &mut Rng,
    (m, n, k): (usize, usize, usize),
    (ta, tb): (bool, bool),
    (la, lb, lc): (usize, usize, usize),
    alpha: f32,
    beta: f32,
    bias: bool,
    act: Activation,
) {
    // Stored operands are the un-transposed matrices; op() is a view.
    let sa = if ta {
        Stored::random(rng, k, m, la)
    } else {
        Stored::random(rng, m, k, la)
    };
    let sb = if tb {
        Stored::random(rng, n, k, lb)
    } else {
        Stored::random(rng, k, n, lb)
    };
    let mut sc = Stored::random(rng, m, n, lc);
    let bias_v = rng.vec(n);
    let c0 = sc.clone();
    let av = |i: usize, p: usize| if ta { sa.at(p, i) } else { sa.at(i, p) };
    let bv = |p: usize, j: usize| if tb { sb.at(j, p) } else { sb.at(p, j) };
    let want = reference(
        m,
        n,
        k,
        alpha,
        &av,
        &bv,
        beta,
        &|i, j| c0.at(i, j),
        bias.then_some(&bias_v[..]),
        act,
    );

    let mut a = MatRef::strided(&sa.data, sa.rows, sa.cols, sa.rs, sa.cs).unwrap();
    if ta {
        a = a.t();
    }
    let mut b = MatRef::strided(&sb.data, sb.rows, sb.cols, sb.rs, sb.cs).unwrap();
    if tb {
        b = b.t();
    }
    let c = MatMut::strided(&mut sc.data, m, n, c0.rs, c0.cs).unwrap();
    let epi = Epilogue {
        bias: bias.then_some(&bias_v[..]),
        activation: act,
    };
    sgemm_with_kernel(kind, alpha, a, b, beta, c, epi).unwrap();
    let what =
        format!("{kind:?} ta={ta} tb={tb} layouts=({la},{lb},{lc}) alpha={alpha} beta={beta} bias={bias} {act:?}");
    assert_close(&what, m, n, k, &|i, j| sc.at(i, j), &want);
    // Padding of strided layouts must be untouched.
    for (idx, (&x, &y)) in sc.data.iter().zip(&c0.data).enumerate() {
        let (i, j) = if c0.rs >= c0.cs {
            (idx / c0.rs, idx % c0.rs)
        } else {
            (idx % c0.cs, idx / c0.cs)
        };
        if i >= m || j >= n {
            assert_eq!(x.to_bits(), y.to_bits(), "{what}: padding at {idx} was written");
        }
    }
}

/// Sizes around the kernel's tile and the K-block boundary, plus 0, 1, 2 and primes.
fn grid(kind: KernelKind) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let (mr, nr) = kernel_tile(kind);
    let mut ms = vec![0, 1, 2, 5, 13, mr - 1, mr, mr + 1, 2 * mr + 1, 67];
    let mut ns = vec![0, 1, 3, nr - 1, nr, nr + 1, 2 * nr + 3, 97];
    // The K-block limit: 320 is the largest single block on a 48 KiB L1d
    // with NR = 32; 255/257 straddle the 256 base block.
    let mut ks = vec![0, 1, 2, 7, 17, 255, 257, 321];
    for v in [&mut ms, &mut ns, &mut ks] {
        v.sort_unstable();
        v.dedup();
    }
    (ms, ns, ks)
}

#[test]
fn shape_grid_every_kernel() {
    let mut rng = Rng::new(1);
    let ab = [
        (1.0, 0.0),
        (1.0, 1.0),
        (-0.5, -0.5),
        (0.0, 1.0),
        (1.0, -0.5),
        (-0.5, 0.0),
    ];
    for kind in kernels() {
        let (ms, ns, ks) = grid(kind);
        let mut case = 0usize;
        for &m in &ms {
            for &n in &ns {
                for &k in &ks {
                    // Keep the naive reference affordable: big K only with small m x n.
                    if k > 100 && m * n > 1000 {
                        continue;
                    }
                    let t = (case & 1 == 1, case & 2 == 2);
                    let (alpha, beta) = ab[case % ab.len()];
                    let act = if case.is_multiple_of(3) {
                        Activation::Relu
                    } else {
                        Activation::Identity
                    };
                    check(
                        kind,
                        &mut rng,
                        (m, n, k),
                        t,
                        (0, 0, 0),
                        alpha,
                        beta,
                        case.is_multiple_of(5),
                        act,
                    );
                    case += 1;
                }
            }
        }
    }
}

#[test]
fn large_products_every_kernel() {
    let mut rng = Rng::new(2);
    for kind in kernels() {
        check(
            kind,
            &mut rng,
            (300, 200, 700),
            (false, false),
            (0, 0, 0),
            1.0,
            0.0,
            true,
            Activation::Relu,
        );
        check(
            kind,
            &mut rng,
            (131, 257, 330),
            (true, false),
            (0, 0, 0),
            -0.5,
            1.0,
            false,
            Activation::Identity,
        );
        check(
            kind,
            &mut rng,
            (97, 129, 513),
            (false, true),
            (0, 0, 0),
            1.0,
            -0.5,
            true,
            Activation::Identity,
        );
    }
}

#[test]
fn every_transpose_and_alpha_beta() {
    let mut rng = Rng::new(3);
    let vals = [0.0f32, 1.0, -0.5];
    for kind in kernels() {
        for t in 0..4 {
            for &alpha in &vals {
                for &beta in &vals {
                    let trans = (t & 1 == 1, t & 2 == 2);
                    check(
                        kind,
                        &mut rng,
                        (29, 45, 37),
                        trans,
                        (0, 0, 0),
                        alpha,
                        beta,
                        false,
                        Activation::Identity,
                    );
                    check(
                        kind,
                        &mut rng,
                        (14, 33, 270),
                        trans,
                        (0, 0, 0),
                        alpha,
                        beta,
                        true,
                        Activation::Relu,
                    );
                }
            }
        }
    }
}

#[test]
fn strided_and_column_major_views() {
    let mut rng = Rng::new(4);
    for kind in kernels() {
        for la in 0..4 {
            for lb in 0..4 {
                for lc in 0..4 {
                    let t = ((la + lb) % 2 == 1, (lb + lc) % 2 == 0);
                    check(
                        kind,
                        &mut rng,
                        (27, 41, 19),
                        t,
                        (la, lb, lc),
                        -0.5,
                        1.0,
                        lc % 2 == 0,
                        Activation::Relu,
                    );
                }
            }
        }
    }
}

#[test]
fn beta_zero_never_reads_c_and_alpha_zero_never_reads_ab() {
    for kind in kernels() {
        for &(m, n, k) in &[(1, 1, 1), (13, 35, 9), (64, 64, 300)] {
            let a = vec![1.0f32; m * k];
            let b = vec![2.0f32; k * n];
            let mut c = vec![f32::NAN; m * n];
            let cm = MatMut::row_major(&mut c, m, n).unwrap();
            let ar = MatRef::row_major(&a, m, k).unwrap();
            let br = MatRef::row_major(&b, k, n).unwrap();
            sgemm_with_kernel(kind, 1.0, ar, br, 0.0, cm, Epilogue::none()).unwrap();
            assert!(c.iter().all(|&x| x == 2.0 * k as f32), "{kind:?} beta=0 leaked C");

            let nan_a = vec![f32::NAN; m * k];
            let mut c2 = vec![3.0f32; m * n];
            let ar = MatRef::row_major(&nan_a, m, k).unwrap();
            let cm = MatMut::row_major(&mut c2, m, n).unwrap();
            sgemm_with_kernel(kind, 0.0, ar, br, -0.5, cm, Epilogue::none()).unwrap();
            assert!(c2.iter().all(|&x| x == -1.5), "{kind:?} alpha=0 read A");

            let mut c3 = vec![f32::NAN; m * n];
            let cm = MatMut::row_major(&mut c3, m, n).unwrap();
            sgemm_with_kernel(kind, 0.0, ar, br, 0.0, cm, Epilogue::none()).unwrap();
            assert!(
                c3.iter().all(|&x| x == 0.0 && x.is_sign_positive()),
                "{kind:?} alpha=beta=0"
            );
        }
    }
}

#[test]
fn k_zero_gives_beta_c_plus_epilogue() {
    for kind in kernels() {
        let (m, n) = (5, 7);
        let mut c = vec![2.0f32; m * n];
        let bias: Vec<f32> = (0..n).map(|j| j as f32 - 3.0).collect();
        let cm = MatMut::row_major(&mut c, m, n).unwrap();
        let a = MatRef::row_major(&[], m, 0).unwrap();
        let b = MatRef::row_major(&[], 0, n).unwrap();
        let epi = Epilogue {
            bias: Some(&bias),
            activation: Activation::Relu,
        };
        sgemm_with_kernel(kind, 1.0, a, b, 0.5, cm, epi).unwrap();
        for i in 0..m {
            for j in 0..n {
                assert_eq!(c[i * n + j], (1.0 + bias[j]).max(0.0));
            }
        }
    }
}

#[test]
fn relu_is_applied_once_after_all_k_blocks() {
    // With several K blocks a ReLU applied per block would clamp partial sums.
    for kind in kernels() {
        let (m, n, k) = (16, 40, 1000);
        let a: Vec<f32> = (0..m * k).map(|x| if x % k < k / 2 { -1.0 } else { 1.0 }).collect();
        let b = vec![1.0f32; k * n];
        let mut c = vec![0.0f32; m * n];
        let epi = Epilogue {
            bias: None,
            activation: Activation::Relu,
        };
        sgemm_with_kernel(
            kind,
            1.0,
            MatRef::row_major(&a, m, k).unwrap(),
            MatRef::row_major(&b, k, n).unwrap(),
            0.0,
            MatMut::row_major(&mut c, m, n).unwrap(),
            epi,
        )
        .unwrap();
        assert!(c.iter().all(|&x| x == 0.0), "{kind:?}");
    }
}

#[test]
fn relu_keeps_nan() {
    for kind in kernels() {
        let a = [f32::NAN; 64];
        let b = [1.0f32; 64];
        let mut c = [0.0f32; 64];
        let epi = Epilogue {
            bias: None,
            activation: Activation::Relu,
        };
        sgemm_with_kernel(
            kind,
            1.0,
            MatRef::row_major(&a, 8, 8).unwrap(),
            MatRef::row_major(&b, 8, 8).unwrap(),
            0.0,
            MatMut::row_major(&mut c, 8, 8).unwrap(),
            epi,
        )
        .unwrap();
        assert!(c.iter().all(|x| x.is_nan()), "{kind:?}");
    }
}
