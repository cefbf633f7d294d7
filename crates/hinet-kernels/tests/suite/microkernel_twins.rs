//! Each SIMD microkernel against its portable twin (same tile, same fused
//! operation order): results must agree bit for bit.

use crate::common::{Rng, kernels};
use hinet_kernels::{kernel_tile, testing::run_microkernel};

#[test]
fn simd_kernels_match_portable_twins_bitwise() {
    let mut rng = Rng::new(11);
    for kind in kernels() {
        let (mr, nr) = kernel_tile(kind);
        for &kc in &[0usize, 1, 2, 3, 8, 17, 64, 257] {
            for &(alpha, beta) in &[(1.0f32, 0.0f32), (1.0, 1.0), (-0.5, -0.5), (2.0, 1.0), (0.5, 0.25)] {
                for &(use_bias, relu) in &[(false, false), (true, false), (true, true), (false, true)] {
                    let a = rng.vec(kc * mr);
                    let b = rng.vec(kc * nr);
                    let c0 = rng.vec(mr * nr);
                    let bias = rng.vec(nr);
                    let bias = use_bias.then_some(&bias[..]);
                    let (mut simd, mut twin) = (c0.clone(), c0.clone());
                    run_microkernel(kind, false, kc, &a, &b, &mut simd, alpha, beta, bias, relu).unwrap();
                    run_microkernel(kind, true, kc, &a, &b, &mut twin, alpha, beta, bias, relu).unwrap();
                    for (idx, (x, y)) in simd.iter().zip(&twin).enumerate() {
                        assert_eq!(
                            x.to_bits(),
                            y.to_bits(),
                            "{kind:?} kc={kc} alpha={alpha} beta={beta} bias={use_bias} relu={relu} at {idx}: {x} vs {y}"
                        );
                    }
                }
            }
        }
    }
}
