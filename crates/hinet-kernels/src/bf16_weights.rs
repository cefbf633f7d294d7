//! Weights stored as bfloat16, for products of a few rows (a one-row prediction of a bf16
//! model).
//!
//! At one row a product reads every weight once, so its time is the weights' bytes over the
//! memory bandwidth (docs/kernels.md, "A few rows"). Stored as bf16 the weights are half the
//! bytes. The numbers are those of the bf16 GEMM ([`crate::Precision::Bf16`]): both operands
//! rounded to bf16 (A once per call), their products exact in `f32`, summed in `f32`; only the
//! order of the sums differs from the blocked path's.

use crate::dispatch::{KernelKind, selected_kernel};
use crate::driver::Problem;
use crate::epilogue::{Activation, Epilogue, scale_c};
use crate::error::GemmError;
use crate::precision::{bf16_bits, round_to_bf16};
use crate::small_m::{self, SMALL_M, bf16_index};
use crate::view::{MatMut, MatRef};
use std::cell::RefCell;

/// A weight matrix `W` (`[out, in]`, PyTorch's layout for a linear layer) rounded to bfloat16,
/// round to nearest even ([`crate::bf16_bits`]), each row stored in the order the few-rows
/// kernels read (pairs of values 16 apart share a 32-bit word, so that widening them is one
/// shift or one mask; see [`Bf16Weights::bits_at`] to read them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bf16Weights {
    bits: Vec<u16>,
    rows: usize,
    cols: usize,
}

impl Bf16Weights {
    /// `w` rounded to bf16 (any strides).
    pub fn round_from(w: MatRef<'_, f32>) -> Self {
        let mut out = Self::default();
        out.assign(w);
        out
    }

    /// Overwrites `self` with `w` rounded to bf16, reusing the allocation when it is large
    /// enough (a cache refreshed after every optimiser step allocates once).
    pub fn assign(&mut self, w: MatRef<'_, f32>) {
        let (rows, cols) = (w.rows(), w.cols());
        let (rs, cs) = (w.row_stride(), w.col_stride());
        let data = w.as_slice();
        // Each row in the few-rows kernels' layout ([`small_m::bf16_index`]).
        self.bits.clear();
        self.bits.resize(rows * cols, 0);
        for (i, row) in self.bits.chunks_exact_mut(cols.max(1)).enumerate() {
            for j in 0..cols {
                row[bf16_index(cols, j)] = bf16_bits(data[i * rs + j * cs]);
            }
        }
        self.rows = rows;
        self.cols = cols;
    }

    /// Rows (`out`).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns (`in`).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The bf16 bit pattern of `W[i][j]`; `None` outside the matrix. (The patterns are stored
    /// in an order the kernels read fastest, not plain row-major.)
    pub fn bits_at(&self, i: usize, j: usize) -> Option<u16> {
        (i < self.rows && j < self.cols).then(|| self.bits[i * self.cols + bf16_index(self.cols, j)])
    }
}

/// `C = act(alpha * bf16(A) * W^T + beta * C + bias)` with `W` in bf16: A (`m x in`) rounded
/// to bf16 (into a buffer of this thread's, grown once), products exact, sums in `f32`. Made
/// for a few rows (`m <= 4` per pass; more rows run in passes of 4, correct but without the
/// blocked GEMM's reuse). A's rows and C's rows must be contiguous (column stride 1), else
/// [`GemmError::Layout`].
pub fn sgemm_bf16_weights(
    alpha: f32,
    a: MatRef<'_, f32>,
    w: &Bf16Weights,
    beta: f32,
    c: MatMut<'_, f32>,
    epi: Epilogue<'_, f32>,
) -> Result<(), GemmError> {
    run(selected_kernel(), false, alpha, a, w, beta, c, epi)
}

/// [`sgemm_bf16_weights`] with the few-rows body of `kind`, or (`twin`) its portable twin.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    kind: KernelKind,
    twin: bool,
    alpha: f32,
    a: MatRef<'_, f32>,
    w: &Bf16Weights,
    beta: f32,
    mut c: MatMut<'_, f32>,
    epi: Epilogue<'_, f32>,
) -> Result<(), GemmError> {
    if !kind.is_available() {
        return Err(GemmError::KernelUnavailable(kind));
    }
    let (m, k, n) = (a.rows(), a.cols(), w.rows());
    if w.cols() != k || c.rows() != m || c.cols() != n {
        return Err(GemmError::DimensionMismatch {
            a: (m, k),
            b: (w.cols(), w.rows()),
            c: (c.rows(), c.cols()),
        });
    }
    epi.check(n)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let (rsc, csc) = (c.row_stride(), c.col_stride());
    if alpha == 0.0 || k == 0 {
        // SAFETY: c is a checked m x n view; the bias was checked to hold n entries.
        unsafe { scale_c(m, n, beta, c.ptr_mut(), rsc, csc, &epi) };
        return Ok(());
    }
    if (k > 1 && a.col_stride() != 1) || (n > 1 && csc != 1) {
        return Err(GemmError::Layout(
            "A's rows and C's rows must be contiguous (column stride 1)",
        ));
    }
    let (data, rsa, pc) = (a.as_slice(), a.row_stride(), c.ptr_mut());
    let bias = epi.bias.map_or(std::ptr::null(), <[f32]>::as_ptr);
    ROUNDED_A.with_borrow_mut(|rounded| {
        let mut r0 = 0;
        while r0 < m {
            let rows = SMALL_M.min(m - r0);
            // The pass's rows of A rounded once here, not once per column in the kernel (which
            // made the product slower than the f32 one whenever the weights sit in cache).
            rounded.clear();
            for r in r0..r0 + rows {
                rounded.extend(data[r * rsa..r * rsa + k].iter().map(|&x| round_to_bf16(x)));
            }
            let p = Problem {
                m: rows,
                n,
                k,
                alpha,
                beta,
                a: rounded.as_ptr(),
                rsa: k,
                csa: 1,
                // Not read: the weights come as bf16 below.
                b: std::ptr::null(),
                rsb: 1,
                csb: k,
                // SAFETY: r0 < m, so row r0 is inside the checked view of C.
                c: unsafe { pc.add(r0 * rsc) },
                rsc,
                csc: 1,
                bias,
                relu: epi.activation == Activation::Relu,
            };
            // SAFETY: `rounded` holds `rows` rows of k values; rows r0..r0 + rows of C hold n
            // contiguous values each (checked view, column stride 1 or a single column); W's n
            // rows of k bf16 values are contiguous in `bits` (length n * k); C is exclusively
            // borrowed and `rounded` is this thread's own, so C aliases neither it, W nor the
            // bias; `kind` is available on this CPU.
            unsafe { small_m::run_bf16(kind, twin, &p, w.bits.as_ptr()) };
            r0 += rows;
        }
    });
    Ok(())
}

thread_local! {
    /// A's rows rounded to bf16, for one pass of a product; grown once, then reused (a warm
    /// prediction loop allocates nothing).
    static ROUNDED_A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}
