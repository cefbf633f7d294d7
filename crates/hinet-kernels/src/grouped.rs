//! Grouped GEMM: many independent products in one call.
//!
//! HiNet's expert groups hold K sub-experts with their own weights; their
//! forward and backward products have the same shapes but nothing in common
//! otherwise. Running them as one call lets rayon spread the problems over
//! the workers, and each problem still splits over its own macro-tiles when
//! it is large enough, so both small and large groups keep every core busy.

use crate::driver::{self, check_shapes};
use crate::epilogue::Epilogue;
use crate::error::GemmError;
use crate::view::{MatMut, MatRef};
use crate::{Gemm, Precision};
use rayon::prelude::*;

/// One product of a group: `C = act(alpha op(A) op(B) + beta C + bias)`.
#[derive(Debug)]
pub struct GemmProblem<'a, T> {
    /// Scale of the product.
    pub alpha: T,
    /// `op(A)`, `m x k`.
    pub a: MatRef<'a, T>,
    /// `op(B)`, `k x n`.
    pub b: MatRef<'a, T>,
    /// Scale of the old `C` (`0` never reads it).
    pub beta: T,
    /// Output, `m x n`.
    pub c: MatMut<'a, T>,
    /// Bias row and activation.
    pub epilogue: Epilogue<'a, T>,
    /// Operand precision (`f32` unless set; see [`Gemm::gemm_in`]).
    pub precision: Precision,
}

impl<'a, T> GemmProblem<'a, T> {
    /// A problem with `alpha = 1`, `beta = 0` and the given epilogue.
    pub fn new(a: MatRef<'a, T>, b: MatRef<'a, T>, c: MatMut<'a, T>, epilogue: Epilogue<'a, T>) -> Self
    where
        T: Gemm + From<u8>,
    {
        Self {
            alpha: T::from(1u8),
            a,
            b,
            beta: T::from(0u8),
            c,
            epilogue,
            precision: Precision::F32,
        }
    }

    /// The same problem with its operands in `precision`.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }
}

/// Runs every problem, in parallel across problems (and across tiles inside
/// the large ones). All shapes are checked before anything is computed, so on
/// error no `C` has been touched.
pub fn gemm_grouped<T: Gemm>(problems: &mut [GemmProblem<'_, T>]) -> Result<(), GemmError> {
    for p in problems.iter() {
        check_shapes(&p.a, &p.b, &p.c, &p.epilogue)?;
    }
    let run =
        |p: &mut GemmProblem<'_, T>| T::gemm_in(p.precision, p.alpha, p.a, p.b, p.beta, p.c.reborrow(), p.epilogue);
    // Size first, as the driver does for one product: a group too small to split (a one-row
    // prediction's experts) runs here. Waking a sleeping worker costs more than such a group
    // takes: on a 2-core VM, one row on two threads took 326-493 us with its groups sent to
    // the pool, 284 us with them kept here (docs/benchmarks.md).
    let flops = problems.iter().fold(0usize, |sum, p| {
        sum.saturating_add(driver::flops(p.c.rows(), p.c.cols(), p.a.cols()))
    });
    if problems.len() < 2 || flops < driver::PAR_MIN_FLOPS {
        return problems.iter_mut().try_for_each(run);
    }
    problems.par_iter_mut().try_for_each(run)
}

/// [`gemm_grouped`] for `f32`, with the selected SIMD kernel.
pub fn sgemm_grouped(problems: &mut [GemmProblem<'_, f32>]) -> Result<(), GemmError> {
    gemm_grouped(problems)
}
