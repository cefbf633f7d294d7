//! The packers: the AVX2 transposing packer against the portable loop, bit for bit, and both
//! against the definition of a micro-panel, on every tile size and awkward shapes and strides.

use hinet_kernels::testing;
use hinet_kernels::{GemmError, KernelKind};

/// The packed panels, every slot first set to NaN so an unwritten one shows.
fn pack_panels(
    r: usize,
    simd: bool,
    n: usize,
    k: usize,
    src: &[f32],
    s_n: usize,
    s_k: usize,
) -> Result<Vec<f32>, GemmError> {
    let mut dst = vec![f32::NAN; n.div_ceil(r.max(1)) * r * k];
    testing::pack_panels(r, simd, n, k, src, s_n, s_k, &mut dst).map(|()| dst)
}

/// `dst[p * r * k + kk * r + i] = src[(p * r + i) * s_n + kk * s_k]`, zero past `n`.
fn definition(r: usize, n: usize, k: usize, src: &[f32], s_n: usize, s_k: usize) -> Vec<f32> {
    let mut dst = vec![0.0; n.div_ceil(r) * r * k];
    for row in 0..n {
        let (p, i) = (row / r, row % r);
        for kk in 0..k {
            dst[p * r * k + kk * r + i] = src[row * s_n + kk * s_k];
        }
    }
    dst
}

/// Distinct values (and a negative zero and a NaN payload) so a misplaced float shows.
fn source(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| match i % 97 {
            13 => -0.0,
            41 => f32::from_bits(0x7fc0_1234),
            _ => i as f32 * 0.5 - 1000.0,
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn simd_packer_equals_the_portable_loop_and_the_definition() {
    let simd = KernelKind::Avx2.is_available();
    if !simd {
        println!("AVX2 not available: only the portable packer is checked against its definition");
    }
    let mut checked = 0;
    for r in [4, 6, 8, 12, 16, 32] {
        for n in [1, r - 1, r, r + 1, 2 * r + 3, 37] {
            for k in [1, 7, 8, 9, 16, 23, 64, 65] {
                // Along k (the transposing case, with and without padding between rows),
                // along n (straight copies) and strided both ways.
                let layouts = [(k, 1), (k + 5, 1), (1, n), (1, n + 3), (3, 3 * n + 1)];
                for (s_n, s_k) in layouts {
                    let src = source((n - 1) * s_n + (k - 1) * s_k + 1);
                    let want = bits(&definition(r, n, k, &src, s_n, s_k));
                    let portable = pack_panels(r, false, n, k, &src, s_n, s_k).unwrap();
                    let case = format!("r {r}, n {n}, k {k}, strides ({s_n}, {s_k})");
                    assert_eq!(bits(&portable), want, "portable: {case}");
                    if simd {
                        let avx2 = pack_panels(r, true, n, k, &src, s_n, s_k).unwrap();
                        assert_eq!(bits(&avx2), want, "avx2: {case}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 6 * 6 * 8 * 5);
}

#[test]
fn packer_refuses_short_sources_and_unknown_panel_sizes() {
    let src = source(10);
    // 3 rows of 4 along k need 12 values.
    assert!(matches!(
        pack_panels(6, false, 3, 4, &src, 4, 1),
        Err(GemmError::OutOfBounds {
            needed: 12,
            len: 10,
            ..
        })
    ));
    assert!(matches!(
        pack_panels(5, false, 2, 2, &src, 2, 1),
        Err(GemmError::Layout(_))
    ));
    assert!(pack_panels(6, false, 0, 4, &src, 4, 1).unwrap().is_empty());
    // A destination one float short of the panels (2 rows pad to one panel of 6 x 2).
    let mut dst = vec![0.0; 11];
    assert!(matches!(
        testing::pack_panels(6, false, 2, 2, &src, 2, 1, &mut dst),
        Err(GemmError::OutOfBounds {
            needed: 12,
            len: 11,
            ..
        })
    ));
}
