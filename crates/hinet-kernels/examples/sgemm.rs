//! An sgemm on your own `Vec<f32>` buffers: a dense layer `y = relu(x w + bias)`, once with the
//! weight stored row-major `[in, out]` and once stored in PyTorch's `[out, in]` layout and read
//! through a transposed view, both checked against a naive triple loop.
//!
//! `cargo run --release -p hinet-kernels --example sgemm`

use hinet_kernels::{Activation, Epilogue, GemmError, MatMut, MatRef, selected_kernel, sgemm_with_epilogue};

/// `relu(x w + bias)` by the textbook triple loop, accumulated in f64: the reference.
/// `w_at(p, j)` reads element `(p, j)` of the `k x n` weight, whatever its storage.
fn naive_dense_relu(x: &[f32], w_at: impl Fn(usize, usize) -> f32, bias: &[f32], m: usize, k: usize) -> Vec<f32> {
    let n = bias.len();
    let mut y = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = f64::from(bias[j]);
            for p in 0..k {
                acc += f64::from(x[i * k + p]) * f64::from(w_at(p, j));
            }
            y[i * n + j] = acc.max(0.0) as f32;
        }
    }
    y
}

/// Largest `|a - b| / max(1, |b|)`: float sums in a different order differ in the last bits.
fn max_relative_error(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f32::max)
}

/// Deterministic values in [-1, 1) without a random-number crate.
fn filled(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn main() -> Result<(), GemmError> {
    // A batch of 256 rows through a 320 -> 128 layer: the first layer of a HiNet expert.
    let (m, k, n) = (256, 320, 128);
    let x = filled(m * k, 1);
    let w = filled(k * n, 2); // row-major [in, out]
    let bias = filled(n, 3);
    println!("microkernel: {:?}", selected_kernel());
    // Each output sums k products in f32; k machine epsilons bounds the rounding of such a sum
    // relative to its magnitude, whatever order the kernel adds in.
    let tolerance = k as f32 * f32::EPSILON;

    // 1. Row-major weight: y = relu(x w + bias). beta = 0, so y's old contents are never read.
    let mut y = vec![0.0f32; m * n];
    sgemm_with_epilogue(
        1.0,
        MatRef::row_major(&x, m, k)?,
        MatRef::row_major(&w, k, n)?,
        0.0,
        MatMut::row_major(&mut y, m, n)?,
        Epilogue::new(Some(&bias), Activation::Relu),
    )?;
    let reference = naive_dense_relu(&x, |p, j| w[p * n + j], &bias, m, k);
    let error = max_relative_error(&y, &reference);
    println!("row-major weight    [{k} x {n}]: max relative error {error:.1e}");
    assert!(error < tolerance, "sgemm disagrees with the naive loop: {error}");

    // 2. The same layer with the weight stored as PyTorch stores it, [out, in]: `t()` swaps the
    // view's extents and strides, so x W^T needs no transposed copy of W.
    let w_out_in: Vec<f32> = (0..n * k).map(|idx| w[(idx % k) * n + idx / k]).collect();
    let mut y_t = vec![0.0f32; m * n];
    sgemm_with_epilogue(
        1.0,
        MatRef::row_major(&x, m, k)?,
        MatRef::row_major(&w_out_in, n, k)?.t(),
        0.0,
        MatMut::row_major(&mut y_t, m, n)?,
        Epilogue::new(Some(&bias), Activation::Relu),
    )?;
    let reference_t = naive_dense_relu(&x, |p, j| w_out_in[j * k + p], &bias, m, k);
    let error_t = max_relative_error(&y_t, &reference_t);
    println!("transposed weight   [{n} x {k}]^T: max relative error {error_t:.1e}");
    assert!(
        error_t < tolerance,
        "sgemm on a transposed view disagrees with the naive loop: {error_t}"
    );

    let active = y.iter().filter(|&&v| v > 0.0).count();
    println!("{active} of {} outputs are positive after the ReLU", y.len());

    // Shapes that do not chain are an error, not a panic.
    let mismatch = sgemm_with_epilogue(
        1.0,
        MatRef::row_major(&x, m, k)?,
        MatRef::row_major(&w, k, n)?.t(),
        0.0,
        MatMut::row_major(&mut y, m, n)?,
        Epilogue::none(),
    );
    println!("x w^T with w [{k} x {n}]: {}", mismatch.unwrap_err());
    Ok(())
}
