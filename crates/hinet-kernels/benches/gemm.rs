//! GFLOP/s of hinet-kernels, matrixmultiply and a naive loop on square and HiNet shapes,
//! like with like:
//!
//! - `sgemm_1_thread/{hinet,matrixmultiply,naive}/CASE`: every contender on one thread
//!   (hinet-kernels inside a one-thread rayon pool; matrixmultiply built without threading).
//! - `sgemm_bf16_1_thread/{f32,bf16-native|bf16-emulated}/CASE`: the same product with f32 and
//!   with bf16 operands (`sgemm_in`), one thread, HiNet's shapes at B = 1024.
//! - `one_row/{f32,bf16-weights}/{hot,cycled}`: one row times a 320 -> 128 layer's weights (the
//!   few-rows path), f32 weights against `Bf16Weights`; `hot` repeats one weight (in L2),
//!   `cycled` runs 48 distinct weights per iteration (7.9 MB in f32, like the layers of one
//!   bench-default prediction). Throughput in weights read per second.
//! - `sgemm_N_threads/hinet/CASE`: hinet-kernels on a pool of N threads (the machine's cores,
//!   or `RAYON_NUM_THREADS`). matrixmultiply joins this group only when the bench is built
//!   with `--features matrixmultiply-threading` (its threads: `MATMUL_NUM_THREADS`, default
//!   the cores); the feature is off by default because it would make the f64 path of every
//!   test build multi-threaded too.
//!
//! Criterion's throughput unit "elem/s" is FLOP/s here: each case counts `2 m n k` elements.
//! Kept short (small samples, brief measurement) so the whole bench runs in minutes;
//! `examples/gemm_report.rs` gives medians and ratios.
//!
//! `cargo bench -p hinet-kernels --bench gemm [--features matrixmultiply-threading]`

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hinet_kernels::{
    Bf16Weights, Epilogue, KernelKind, MatMut, MatRef, Precision, bf16_native, selected_kernel, sgemm_bf16_weights,
    sgemm_in, sgemm_with_kernel,
};
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

/// Operands of one case: A, B, C and the strides of A and B.
struct Operands {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
    rsa: usize,
    csa: usize,
    rsb: usize,
    csb: usize,
}

impl Operands {
    fn new(case: &Case) -> Self {
        let (m, n, k) = (case.m, case.n, case.k);
        let (rsa, csa) = if case.ta { (1, m) } else { (k, 1) };
        let (rsb, csb) = if case.tb { (1, k) } else { (n, 1) };
        Self {
            a: (0..m * k).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect(),
            b: (0..k * n).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect(),
            c: vec![0.0f32; m * n],
            rsa,
            csa,
            rsb,
            csb,
        }
    }
}

fn bench_hinet(g: &mut BenchmarkGroup<'_, WallTime>, case: &Case, op: &mut Operands, pool: &rayon::ThreadPool) {
    let (m, n, k) = (case.m, case.n, case.k);
    let kind = selected_kernel();
    g.bench_function(BenchmarkId::new(format!("hinet-{}", kind.name()), &case.name), |bch| {
        pool.install(|| {
            bch.iter(|| {
                let av = MatRef::strided(&op.a, m, k, op.rsa, op.csa).unwrap();
                let bv = MatRef::strided(&op.b, k, n, op.rsb, op.csb).unwrap();
                let cv = MatMut::row_major(&mut op.c, m, n).unwrap();
                sgemm_with_kernel(kind, 1.0, av, bv, 0.0, cv, Epilogue::none()).unwrap();
                black_box(&op.c);
            })
        })
    });
}

fn bench_matrixmultiply(g: &mut BenchmarkGroup<'_, WallTime>, case: &Case, op: &mut Operands) {
    let (m, n, k) = (case.m, case.n, case.k);
    g.bench_function(BenchmarkId::new("matrixmultiply", &case.name), |bch| {
        bch.iter(|| {
            // SAFETY: a, b, c are live buffers of the stated shapes and strides.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    op.a.as_ptr(),
                    op.rsa as isize,
                    op.csa as isize,
                    op.b.as_ptr(),
                    op.rsb as isize,
                    op.csb as isize,
                    0.0,
                    op.c.as_mut_ptr(),
                    n as isize,
                    1,
                )
            };
            black_box(&op.c);
        })
    });
}

/// One product through [`sgemm_in`] in `precision`.
fn bench_precision(
    g: &mut BenchmarkGroup<'_, WallTime>,
    case: &Case,
    op: &mut Operands,
    pool: &rayon::ThreadPool,
    precision: Precision,
) {
    let (m, n, k) = (case.m, case.n, case.k);
    let name = match precision {
        Precision::F32 => "f32",
        Precision::Bf16 if bf16_native() => "bf16-native",
        Precision::Bf16 => "bf16-emulated",
    };
    g.bench_function(BenchmarkId::new(name, &case.name), |bch| {
        pool.install(|| {
            bch.iter(|| {
                let av = MatRef::strided(&op.a, m, k, op.rsa, op.csa).unwrap();
                let bv = MatRef::strided(&op.b, k, n, op.rsb, op.csb).unwrap();
                let cv = MatMut::row_major(&mut op.c, m, n).unwrap();
                sgemm_in(precision, 1.0, av, bv, 0.0, cv, Epilogue::none()).unwrap();
                black_box(&op.c);
            })
        })
    });
}

/// One row through `count` distinct 320 -> 128 layers, f32 weights and their bf16 copies.
fn bench_one_row(g: &mut BenchmarkGroup<'_, WallTime>, label: &str, count: usize) {
    let (n, k) = (128, 320);
    let row: Vec<f32> = (0..k).map(|i| (i % 11) as f32 * 0.1 - 0.5).collect();
    let weights: Vec<Vec<f32>> = (0..count)
        .map(|w| (0..n * k).map(|i| ((i * 7 + w) % 19) as f32 * 0.01 - 0.09).collect())
        .collect();
    let copies: Vec<Bf16Weights> = weights
        .iter()
        .map(|w| Bf16Weights::round_from(MatRef::row_major(w, n, k).unwrap()))
        .collect();
    let mut out = vec![0.0f32; n];
    g.throughput(Throughput::Elements((count * n * k) as u64));
    g.bench_function(BenchmarkId::new("f32", label), |bch| {
        bch.iter(|| {
            for w in &weights {
                let a = MatRef::row_major(&row, 1, k).unwrap();
                let b = MatRef::row_major(w, n, k).unwrap().t();
                let c = MatMut::row_major(&mut out, 1, n).unwrap();
                sgemm_with_kernel(selected_kernel(), 1.0, a, b, 0.0, c, Epilogue::none()).unwrap();
            }
            black_box(&out);
        })
    });
    g.bench_function(BenchmarkId::new("bf16-weights", label), |bch| {
        bch.iter(|| {
            for w in &copies {
                let a = MatRef::row_major(&row, 1, k).unwrap();
                let c = MatMut::row_major(&mut out, 1, n).unwrap();
                sgemm_bf16_weights(1.0, a, w, 0.0, c, Epilogue::none()).unwrap();
            }
            black_box(&out);
        })
    });
}

/// Packing one `n x k` block into `r`-row panels, the portable loop against the AVX2 packer:
/// the transposing way (`along_k`: rows contiguous along k, as `x` and `W^T` are) or by
/// straight copies (columns contiguous, as `X` is in a weight gradient's B).
fn bench_pack(g: &mut BenchmarkGroup<'_, WallTime>, r: usize, n: usize, k: usize, along_k: bool) {
    let src: Vec<f32> = (0..n * k).map(|i| (i % 23) as f32 * 0.1).collect();
    let (s_n, s_k) = if along_k { (k, 1) } else { (1, n) };
    g.throughput(Throughput::Bytes((n * k * 4) as u64));
    let label = format!("r{r}_{n}x{k}_{}", if along_k { "transposing" } else { "straight" });
    let mut dst = vec![0.0f32; n.div_ceil(r) * r * k];
    for (name, simd) in [("portable", false), ("avx2", true)] {
        if simd && !KernelKind::Avx2.is_available() {
            continue;
        }
        g.bench_function(BenchmarkId::new(name, &label), |bch| {
            bch.iter(|| {
                hinet_kernels::testing::pack_panels(r, simd, n, k, &src, s_n, s_k, &mut dst).unwrap();
                black_box(&dst);
            })
        });
    }
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600));
}

fn bench(cr: &mut Criterion) {
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let many = rayon::ThreadPoolBuilder::new().build().unwrap();
    let mut g = cr.benchmark_group("sgemm_1_thread");
    configure(&mut g);
    for case in cases() {
        let mut op = Operands::new(&case);
        g.throughput(Throughput::Elements((2 * case.m * case.n * case.k) as u64));
        bench_hinet(&mut g, &case, &mut op, &one);
        if !cfg!(feature = "matrixmultiply-threading") {
            bench_matrixmultiply(&mut g, &case, &mut op);
        }
        // The naive loop only where it finishes in reasonable time.
        if case.m * case.n * case.k <= 256 * 256 * 256 {
            g.bench_function(BenchmarkId::new("naive", &case.name), |bch| {
                bch.iter(|| {
                    naive(
                        case.m, case.n, case.k, &op.a, op.rsa, op.csa, &op.b, op.rsb, op.csb, &mut op.c,
                    );
                    black_box(&op.c);
                })
            });
        }
    }
    g.finish();
    let mut g = cr.benchmark_group(format!("sgemm_{}_threads", many.current_num_threads()));
    configure(&mut g);
    for case in cases() {
        let mut op = Operands::new(&case);
        g.throughput(Throughput::Elements((2 * case.m * case.n * case.k) as u64));
        bench_hinet(&mut g, &case, &mut op, &many);
        if cfg!(feature = "matrixmultiply-threading") {
            bench_matrixmultiply(&mut g, &case, &mut op);
        }
    }
    g.finish();
    let mut g = cr.benchmark_group("sgemm_bf16_1_thread");
    configure(&mut g);
    for case in cases().into_iter().filter(|c| c.name.contains("B1024")) {
        let mut op = Operands::new(&case);
        g.throughput(Throughput::Elements((2 * case.m * case.n * case.k) as u64));
        for precision in [Precision::F32, Precision::Bf16] {
            bench_precision(&mut g, &case, &mut op, &one, precision);
        }
    }
    g.finish();
    let mut g = cr.benchmark_group("one_row");
    configure(&mut g);
    bench_one_row(&mut g, "hot", 1);
    bench_one_row(&mut g, "cycled", 48);
    g.finish();
    let mut g = cr.benchmark_group("pack");
    configure(&mut g);
    // The AVX2 tile's A block (MR = 6) and B block (NR = 16) of a 320-wide layer; the AVX-512
    // tile's (12, 32).
    for (r, n) in [(6, 96), (16, 128), (12, 96), (32, 128)] {
        bench_pack(&mut g, r, n, 320, true);
    }
    bench_pack(&mut g, 16, 320, 256, false);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
