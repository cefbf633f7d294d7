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

/// A `kc` so large that `kc * MR` wraps around is refused, never read past the slices (the
/// length check multiplies with overflow checks); so are slices one value short.
#[test]
fn a_microkernel_call_with_too_little_data_is_an_error() {
    for kind in hinet_kernels::KernelKind::available() {
        let (mr, nr) = kernel_tile(kind);
        let (a, b) = (vec![1.0f32; 4 * mr], vec![1.0f32; 4 * nr]);
        let mut c = vec![0.0f32; mr * nr];
        for twin in [false, true] {
            for kc in [usize::MAX / mr + 1, usize::MAX / nr + 1, usize::MAX, 5] {
                let r = run_microkernel(kind, twin, kc, &a, &b, &mut c, 1.0, 0.0, None, false);
                assert!(r.is_err(), "{kind}, twin {twin}, kc {kc}: {r:?}");
            }
            let short_c = &mut c[..mr * nr - 1];
            assert!(run_microkernel(kind, twin, 4, &a, &b, short_c, 1.0, 0.0, None, false).is_err());
            assert!(run_microkernel(kind, twin, 4, &a, &b, &mut c, 1.0, 0.0, Some(&a[..nr - 1]), false).is_err());
            run_microkernel(kind, twin, 4, &a, &b, &mut c, 1.0, 0.0, None, false).unwrap();
            assert!(c.iter().all(|&v| v == 4.0), "{kind}: 4 products of ones");
        }
    }
}
