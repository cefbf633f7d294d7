//! Shared helpers: a deterministic RNG, matrices with arbitrary layouts, and
//! the naive f64-accumulated reference with a K-scaled tolerance.
#![allow(dead_code)]

use hinet_kernels::{Activation, KernelKind};

/// xorshift64*: deterministic, dependency-free test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

/// A dense matrix stored with explicit strides inside a larger buffer.
#[derive(Clone, Debug)]
pub struct Stored {
    pub data: Vec<f32>,
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Stored {
    /// Layout 0: row-major, 1: column-major, 2: row-major with padded leading
    /// dimension, 3: column-major with padded leading dimension.
    pub fn random(rng: &mut Rng, rows: usize, cols: usize, layout: usize) -> Self {
        let (rs, cs, len) = match layout {
            0 => (cols, 1, rows * cols),
            1 => (1, rows, rows * cols),
            2 => (cols + 3, 1, rows * (cols + 3)),
            _ => (1, rows + 5, cols * (rows + 5)),
        };
        Stored {
            data: rng.vec(len.max(1)),
            rows,
            cols,
            rs,
            cs,
        }
    }
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// Naive reference `act(alpha A B + beta C + bias)` in f64 plus, per element,
/// the magnitude `|alpha| sum |a||b| + |beta c| + |bias|` for the error bound.
#[allow(clippy::too_many_arguments)]
pub fn reference(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &dyn Fn(usize, usize) -> f32,
    b: &dyn Fn(usize, usize) -> f32,
    beta: f32,
    c: &dyn Fn(usize, usize) -> f32,
    bias: Option<&[f32]>,
    act: Activation,
) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0; m * n];
    let mut mag = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut sa) = (0.0f64, 0.0f64);
            if alpha != 0.0 {
                for p in 0..k {
                    let prod = a(i, p) as f64 * b(p, j) as f64;
                    s += prod;
                    sa += prod.abs();
                }
            }
            let mut v = alpha as f64 * s;
            let mut g = (alpha as f64).abs() * sa;
            if beta != 0.0 {
                let cv = beta as f64 * c(i, j) as f64;
                v += cv;
                g += cv.abs();
            }
            if let Some(bias) = bias {
                v += bias[j] as f64;
                g += (bias[j] as f64).abs();
            }
            if act == Activation::Relu && v < 0.0 {
                v = 0.0;
            }
            out[i * n + j] = v;
            mag[i * n + j] = g;
        }
    }
    (out, mag)
}

/// Asserts `got(i, j)` is within `(k + 4) * 2 eps * magnitude` of the reference.
pub fn assert_close(
    what: &str,
    m: usize,
    n: usize,
    k: usize,
    got: &dyn Fn(usize, usize) -> f32,
    reference: &(Vec<f64>, Vec<f64>),
) {
    let (want, mag) = reference;
    for i in 0..m {
        for j in 0..n {
            let g = got(i, j) as f64;
            let w = want[i * n + j];
            let tol = (k as f64 + 4.0) * 2.0 * f32::EPSILON as f64 * mag[i * n + j] + 1e-30;
            assert!(
                (g - w).abs() <= tol,
                "{what}: m={m} n={n} k={k} C[{i}][{j}] = {g}, want {w} (tol {tol})"
            );
        }
    }
}

/// Every kernel this machine can run.
pub fn kernels() -> Vec<KernelKind> {
    KernelKind::available().collect()
}
