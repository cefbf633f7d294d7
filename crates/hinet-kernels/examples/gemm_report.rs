//! GFLOP/s of hinet-kernels vs matrixmultiply on square and HiNet shapes.
//!
//! ```text
//! cargo run --release -p hinet-kernels --example gemm_report -- [--json] [--quick]
//!     [--threads 1,2] [--kernel avx512|avx2|portable] [--shapes square|hinet|all]
//!     [--batch 256,1024,4096] [--rounds N]
//! ```
//!
//! Each figure is the median of several rounds; within a round hinet and
//! matrixmultiply are timed back to back, so a noisy neighbour slows both.
//! matrixmultiply is built without its `threading` feature, so its figure is
//! always one thread (its thread pool size is fixed per process).

use hinet_kernels::{Epilogue, KernelKind, MatMut, MatRef, selected_kernel, sgemm_with_kernel};
use std::time::Instant;

#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    m: usize,
    n: usize,
    k: usize,
    ta: bool,
    tb: bool,
}

fn shapes(which: &str, batches: &[usize]) -> Vec<Shape> {
    let mut v = Vec::new();
    if which == "square" || which == "all" {
        for s in [64, 128, 256, 512, 1024, 2048] {
            v.push(Shape {
                name: "square",
                m: s,
                n: s,
                k: s,
                ta: false,
                tb: false,
            });
        }
    }
    if which == "hinet" || which == "all" {
        for &b in batches {
            let fwd = |name, k, n| Shape {
                name,
                m: b,
                n,
                k,
                ta: false,
                tb: false,
            };
            v.push(fwd("fwd 320->640", 320, 640));
            v.push(fwd("fwd 128->64", 128, 64));
            v.push(fwd("fwd 192->768", 192, 768));
            v.push(fwd("fwd 64->128", 64, 128));
            // Weight gradient X^T dY: (in x B) (B x out); X stored row-major B x in.
            v.push(Shape {
                name: "dW X^T dY 320x640",
                m: 320,
                n: 640,
                k: b,
                ta: true,
                tb: false,
            });
            v.push(Shape {
                name: "dW X^T dY 128x64",
                m: 128,
                n: 64,
                k: b,
                ta: true,
                tb: false,
            });
            // Input gradient dY W^T: (B x out) (out x in); W stored row-major in x out.
            v.push(Shape {
                name: "dX dY W^T 640->320",
                m: b,
                n: 320,
                k: 640,
                ta: false,
                tb: true,
            });
        }
    }
    v
}

struct Opts {
    json: bool,
    threads: Vec<usize>,
    kernel: KernelKind,
    shapes: String,
    batches: Vec<usize>,
    rounds: usize,
    target_s: f64,
}

fn parse_list(s: &str) -> Vec<usize> {
    s.split(',').filter_map(|x| x.trim().parse().ok()).collect()
}

fn opts() -> Result<Opts, String> {
    let mut o = Opts {
        json: false,
        threads: vec![1, 2],
        kernel: selected_kernel(),
        shapes: "all".into(),
        batches: vec![256, 1024, 4096],
        rounds: 7,
        target_s: 0.02,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--json" => o.json = true,
            "--quick" => {
                o.rounds = 3;
                o.target_s = 0.01;
                o.batches = vec![1024, 4096];
            }
            "--threads" => o.threads = parse_list(&val()?),
            "--batch" => o.batches = parse_list(&val()?),
            "--rounds" => o.rounds = val()?.parse().map_err(|e| format!("--rounds: {e}"))?,
            "--shapes" => o.shapes = val()?,
            "--kernel" => {
                let v = val()?;
                o.kernel = KernelKind::from_name(&v).ok_or(format!("unknown kernel {v}"))?;
                if !o.kernel.is_available() {
                    return Err(format!("kernel {v} is not available on this CPU"));
                }
            }
            "-h" | "--help" => {
                return Err(
                    "usage: gemm_report [--json] [--quick] [--threads 1,2] [--kernel avx512|avx2|portable] \
                            [--shapes square|hinet|all] [--batch 256,1024,4096] [--rounds N]"
                        .into(),
                );
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds per call of `f`, timed over enough calls to last about `target_s`.
fn time_calls(iters: usize, f: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() / iters as f64
}

fn main() {
    let o = match opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if !o.json {
        println!(
            "{:<22} {:>5} {:>5} {:>5} {:>3} {:>3} {:>8} {:>12} {:>12} {:>7}",
            "shape", "m", "n", "k", "tA", "tB", "threads", "hinet GF/s", "mm GF/s", "ratio"
        );
    }
    let mut seed = 0x1234_5678u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed as f32 / u32::MAX as f32) - 0.5
    };
    for s in shapes(&o.shapes, &o.batches) {
        let a: Vec<f32> = (0..s.m * s.k).map(|_| rnd()).collect();
        let b: Vec<f32> = (0..s.k * s.n).map(|_| rnd()).collect();
        let mut c = vec![0.0f32; s.m * s.n];
        let mut c2 = vec![0.0f32; s.m * s.n];
        // Stored layouts: op(A) = A^T means A is stored k x m row-major.
        let (rsa, csa) = if s.ta { (1, s.m) } else { (s.k, 1) };
        let (rsb, csb) = if s.tb { (1, s.k) } else { (s.n, 1) };
        let flops = 2.0 * (s.m * s.n * s.k) as f64;
        for &t in &o.threads {
            let pool = match rayon::ThreadPoolBuilder::new().num_threads(t).build() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("thread pool: {e}");
                    std::process::exit(1);
                }
            };
            let mut hinet = || {
                let av = MatRef::strided(&a, s.m, s.k, rsa, csa).expect("A view");
                let bv = MatRef::strided(&b, s.k, s.n, rsb, csb).expect("B view");
                let cv = MatMut::row_major(&mut c, s.m, s.n).expect("C view");
                sgemm_with_kernel(o.kernel, 1.0, av, bv, 0.0, cv, Epilogue::none()).expect("sgemm");
            };
            let mut mm = || {
                // SAFETY: A, B, C are live vectors of the stated shapes and strides.
                unsafe {
                    matrixmultiply::sgemm(
                        s.m,
                        s.k,
                        s.n,
                        1.0,
                        a.as_ptr(),
                        rsa as isize,
                        csa as isize,
                        b.as_ptr(),
                        rsb as isize,
                        csb as isize,
                        0.0,
                        c2.as_mut_ptr(),
                        s.n as isize,
                        1,
                    )
                }
            };
            // Both libraries are timed from inside the pool, as a training
            // loop running on rayon workers would call them.
            let (mut gh, mut gm) = pool.install(|| {
                // Warm up (page faults, packing buffers, rayon workers) and size the batches.
                let t0 = time_calls(1, &mut hinet);
                time_calls(1, &mut mm);
                let iters = ((o.target_s / t0.max(1e-7)) as usize).clamp(1, 10_000);
                let (mut gh, mut gm) = (Vec::new(), Vec::new());
                for _ in 0..o.rounds {
                    gh.push(flops / time_calls(iters, &mut hinet) / 1e9);
                    gm.push(flops / time_calls(iters, &mut mm) / 1e9);
                }
                (gh, gm)
            });
            let (h, m) = (median(&mut gh), median(&mut gm));
            if o.json {
                let line = serde_json::json!({
                    "shape": s.name, "m": s.m, "n": s.n, "k": s.k,
                    "trans_a": s.ta, "trans_b": s.tb, "threads": t,
                    "kernel": o.kernel.name(),
                    "gflops_hinet": (h * 10.0).round() / 10.0,
                    "gflops_matrixmultiply": (m * 10.0).round() / 10.0,
                    "matrixmultiply_threads": 1,
                    "ratio": (h / m * 100.0).round() / 100.0,
                });
                println!("{line}");
            } else {
                println!(
                    "{:<22} {:>5} {:>5} {:>5} {:>3} {:>3} {:>8} {:>12.1} {:>12.1} {:>7.2}",
                    s.name,
                    s.m,
                    s.n,
                    s.k,
                    if s.ta { "T" } else { "N" },
                    if s.tb { "T" } else { "N" },
                    t,
                    h,
                    m,
                    h / m
                );
            }
        }
    }
}
