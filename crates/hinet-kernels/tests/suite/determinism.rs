//! The same product on 1 and 2 rayon threads must be bit-identical, for every
//! kernel, on shapes that split along M, along N and with several K blocks.

use crate::common::{Rng, kernels};
use hinet_kernels::{Activation, Epilogue, GemmProblem, MatMut, MatRef, Precision, sgemm_grouped, sgemm_with_kernel};

fn pools() -> (rayon::ThreadPool, rayon::ThreadPool) {
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    (one, two)
}

#[test]
fn one_and_two_threads_are_bit_identical() {
    let mut rng = Rng::new(21);
    let (one, two) = pools();
    // (m, n, k, trans_a): M-heavy, N-heavy with K blocks, weight-gradient-like.
    let shapes = [
        (1037, 333, 300, false),
        (97, 1100, 700, false),
        (128, 64, 2000, true),
        (333, 777, 129, true),
    ];
    for kind in kernels() {
        for &(m, n, k, ta) in &shapes {
            let a = rng.vec(m * k);
            let b = rng.vec(k * n);
            let bias = rng.vec(n);
            let c0 = rng.vec(m * n);
            let run = |pool: &rayon::ThreadPool| {
                let mut c = c0.clone();
                let av = if ta {
                    MatRef::row_major(&a, k, m).unwrap().t()
                } else {
                    MatRef::row_major(&a, m, k).unwrap()
                };
                let bv = MatRef::row_major(&b, k, n).unwrap();
                let cv = MatMut::row_major(&mut c, m, n).unwrap();
                let epi = Epilogue {
                    bias: Some(&bias),
                    activation: Activation::Relu,
                };
                pool.install(|| sgemm_with_kernel(kind, 0.75, av, bv, -0.5, cv, epi))
                    .unwrap();
                c
            };
            let (c1, c2) = (run(&one), run(&two));
            assert!(
                c1.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{kind:?} {m}x{n}x{k}: 1 and 2 threads differ"
            );
        }
    }
}

#[test]
fn grouped_matches_individual_and_is_thread_independent() {
    let mut rng = Rng::new(22);
    let (one, two) = pools();
    let (g, m, k, n) = (5, 300, 320, 128);
    let a: Vec<Vec<f32>> = (0..g).map(|_| rng.vec(m * k)).collect();
    let w: Vec<Vec<f32>> = (0..g).map(|_| rng.vec(k * n)).collect();
    let bias: Vec<Vec<f32>> = (0..g).map(|_| rng.vec(n)).collect();
    let grouped = |pool: &rayon::ThreadPool| {
        let mut outs: Vec<Vec<f32>> = vec![vec![f32::NAN; m * n]; g];
        let mut problems: Vec<GemmProblem<f32>> = outs
            .iter_mut()
            .enumerate()
            .map(|(e, c)| GemmProblem {
                alpha: 1.0,
                a: MatRef::row_major(&a[e], m, k).unwrap(),
                b: MatRef::row_major(&w[e], k, n).unwrap(),
                beta: 0.0,
                c: MatMut::row_major(c, m, n).unwrap(),
                epilogue: Epilogue {
                    bias: Some(&bias[e]),
                    activation: Activation::Relu,
                },
                precision: Precision::F32,
            })
            .collect();
        pool.install(|| sgemm_grouped(&mut problems)).unwrap();
        drop(problems);
        outs
    };
    let (g1, g2) = (grouped(&one), grouped(&two));
    for e in 0..g {
        let mut c = vec![0.0f32; m * n];
        hinet_kernels::sgemm_with_epilogue(
            1.0,
            MatRef::row_major(&a[e], m, k).unwrap(),
            MatRef::row_major(&w[e], k, n).unwrap(),
            0.0,
            MatMut::row_major(&mut c, m, n).unwrap(),
            Epilogue {
                bias: Some(&bias[e]),
                activation: Activation::Relu,
            },
        )
        .unwrap();
        for ((x, y), z) in g1[e].iter().zip(&g2[e]).zip(&c) {
            assert_eq!(x.to_bits(), y.to_bits(), "group {e}: 1 vs 2 threads");
            assert_eq!(x.to_bits(), z.to_bits(), "group {e}: grouped vs single call");
        }
    }
}
