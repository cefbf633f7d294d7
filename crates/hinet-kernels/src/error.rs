//! Typed errors returned by every public entry point.

use crate::dispatch::KernelKind;

/// Everything that can go wrong when describing or running a matrix product.
///
/// No entry point panics on bad input; they all report one of these instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GemmError {
    /// The shapes of `op(A)`, `op(B)` and `C` do not chain (`A: m x k`, `B: k x n`, `C: m x n`).
    #[error(
        "dimension mismatch: op(A) is {}x{}, op(B) is {}x{}, C is {}x{} \
         (need A: m x k, B: k x n, C: m x n)",
        a.0, a.1, b.0, b.1, c.0, c.1
    )]
    DimensionMismatch {
        /// `(rows, cols)` of `op(A)`.
        a: (usize, usize),
        /// `(rows, cols)` of `op(B)`.
        b: (usize, usize),
        /// `(rows, cols)` of `C`.
        c: (usize, usize),
    },
    /// A view would reach past the end of its slice.
    #[error(
        "view of {rows}x{cols} with strides ({row_stride}, {col_stride}) needs {needed} elements \
         but the slice has {len}"
    )]
    OutOfBounds {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Row stride in elements.
        row_stride: usize,
        /// Column stride in elements.
        col_stride: usize,
        /// Elements the view needs (`usize::MAX` when the computation overflows).
        needed: usize,
        /// Length of the slice.
        len: usize,
    },
    /// A mutable view whose strides would make two elements share one memory location.
    #[error(
        "mutable view of {rows}x{cols} with strides ({row_stride}, {col_stride}) would alias: \
         the larger stride must be at least (extent - 1) * smaller stride + 1"
    )]
    AliasingStrides {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Row stride in elements.
        row_stride: usize,
        /// Column stride in elements.
        col_stride: usize,
    },
    /// The epilogue's bias does not have one entry per column of `C`.
    #[error("bias has {len} entries but C has {n} columns")]
    BiasLength {
        /// Length of the bias slice.
        len: usize,
        /// Columns of `C`.
        n: usize,
    },
    /// A view's layout is not one the entry point takes (it says which).
    #[error("unsupported layout: {0}")]
    Layout(&'static str),
    /// A microkernel was forced that this CPU (or this build target) cannot run.
    #[error("the {0:?} microkernel is not available on this CPU")]
    KernelUnavailable(KernelKind),
}
