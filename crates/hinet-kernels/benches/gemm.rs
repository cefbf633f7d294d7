//! GFLOP/s of hinet-kernels, matrixmultiply and a naive loop on square and
//! HiNet shapes. Kept short (small samples, brief measurement) so the whole
//! bench runs in minutes; `examples/gemm_report.rs` gives medians and ratios.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hinet_kernels::{Epilogue, MatMut, MatRef, selected_kernel, sgemm_with_kernel};
use std::hint::black_box;
use std::time::Duration;

struct Case {
    name: String,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for s in [64, 128, 256, 512, 1024, 2048] {
        v.push(Case {
            name: format!("square{s}"),
            m: s,
            n: s,
            k: s,
            ta: false,
            tb: false,
        });
    }
    for b in [256, 1024, 4096] {
        for (k, n) in [(320, 640), (128, 64), (192, 768), (64, 128)] {
            v.push(Case {
                name: format!("fwd_B{b}_{k}x{n}"),
                m: b,
                n,
                k,
                ta: false,
                tb: false,
            });
        }
        v.push(Case {
            name: format!("dW_B{b}_320x640"),
            m: 320,
            n: 640,
            k: b,
            ta: true,
            tb: false,
        });
        v.push(Case {
            name: format!("dX_B{b}_640x320"),
            m: b,
            n: 320,
            k: 640,
            ta: false,
            tb: true,
        });
    }
    v
}

#[allow(clippy::too_many_arguments)]
fn naive(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    rsa: usize,
    csa: usize,
    b: &[f32],
    rsb: usize,
    csb: usize,
    c: &mut [f32],
) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += a[i * rsa + p * csa] * b[p * rsb + j * csb];
            }
            c[i * n + j] = s;
        }
    }
}

fn bench(cr: &mut Criterion) {
    let kind = selected_kernel();
    let mut g = cr.benchmark_group(format!("sgemm_{}", kind.name()));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600));
    for case in cases() {
        let (m, n, k) = (case.m, case.n, case.k);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
        let mut c = vec![0.0f32; m * n];
        let (rsa, csa) = if case.ta { (1, m) } else { (k, 1) };
        let (rsb, csb) = if case.tb { (1, k) } else { (n, 1) };
        g.throughput(Throughput::Elements((2 * m * n * k) as u64));
        g.bench_function(BenchmarkId::new("hinet", &case.name), |bch| {
            bch.iter(|| {
                let av = MatRef::strided(&a, m, k, rsa, csa).unwrap();
                let bv = MatRef::strided(&b, k, n, rsb, csb).unwrap();
                let cv = MatMut::row_major(&mut c, m, n).unwrap();
                sgemm_with_kernel(kind, 1.0, av, bv, 0.0, cv, Epilogue::none()).unwrap();
                black_box(&c);
            })
        });
        g.bench_function(BenchmarkId::new("matrixmultiply", &case.name), |bch| {
            bch.iter(|| {
                // SAFETY: a, b, c are live buffers of the stated shapes and strides.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        rsa as isize,
                        csa as isize,
                        b.as_ptr(),
                        rsb as isize,
                        csb as isize,
                        0.0,
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                };
                black_box(&c);
            })
        });
        // The naive loop only where it finishes in reasonable time.
        if m * n * k <= 256 * 256 * 256 {
            g.bench_function(BenchmarkId::new("naive", &case.name), |bch| {
                bch.iter(|| {
                    naive(m, n, k, &a, rsa, csa, &b, rsb, csb, &mut c);
                    black_box(&c);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
