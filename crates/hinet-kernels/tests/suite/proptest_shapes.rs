//! Random shapes, strides, transposes and scalars against the reference.

use crate::common::{assert_close, kernels, reference};
use hinet_kernels::{Activation, Epilogue, MatMut, MatRef, sgemm_with_kernel};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_products_match_reference(
        m in 0usize..70, n in 0usize..80, k in 0usize..350,
        ta in any::<bool>(), tb in any::<bool>(),
        pad_a in 0usize..3, pad_c in 0usize..3, c_col_major in any::<bool>(),
        alpha in prop::sample::select(vec![0.0f32, 1.0, -0.5, 2.0]),
        beta in prop::sample::select(vec![0.0f32, 1.0, -0.5]),
        bias in any::<bool>(), relu in any::<bool>(), seed in any::<u64>(),
    ) {
        let mut rng = crate::common::Rng::new(seed);
        // A stored with a padded leading dimension, B dense.
        let (ar, ac) = if ta { (k, m) } else { (m, k) };
        let lda = ac + pad_a;
        let a = rng.vec((ar * lda).max(1));
        let (br, bc) = if tb { (n, k) } else { (k, n) };
        let b = rng.vec((br * bc).max(1));
        let (rsc, csc, len) = if c_col_major { (1, m + pad_c, n * (m + pad_c)) } else { (n + pad_c, 1, m * (n + pad_c)) };
        let c0 = rng.vec(len.max(1));
        let bias_v = rng.vec(n);
        let act = if relu { Activation::Relu } else { Activation::Identity };
        let mut av = MatRef::strided(&a, ar, ac, lda, 1).unwrap();
        if ta { av = av.t(); }
        let mut bv = MatRef::row_major(&b, br, bc).unwrap();
        if tb { bv = bv.t(); }
        let want = reference(m, n, k, alpha, &|i, p| *av.get(i, p).unwrap(), &|p, j| *bv.get(p, j).unwrap(),
            beta, &|i, j| c0[i * rsc + j * csc], bias.then_some(&bias_v[..]), act);
        for kind in kernels() {
            let mut c = c0.clone();
            let cv = MatMut::strided(&mut c, m, n, rsc, csc).unwrap();
            let epi = Epilogue { bias: bias.then_some(&bias_v[..]), activation: act };
            sgemm_with_kernel(kind, alpha, av, bv, beta, cv, epi).unwrap();
            assert_close(&format!("{kind:?}"), m, n, k, &|i, j| c[i * rsc + j * csc], &want);
        }
    }
}
