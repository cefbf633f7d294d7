//! The squared L2 norm of gradients, summed in f64 in an order fixed by the tensor's length
//! alone, so that the norm (and hence clipping) is bit-identical for any number of threads.

use crate::kernel::CHUNK;
use hinet_autograd::{Float, ParamGrad};

/// Sum of squares of a contiguous slice: a binary tree over `CHUNK`-sized leaves whose shape
/// depends only on `x.len()`; each leaf sums in 8 independent lanes (vectorisable, fixed order).
pub(crate) fn sum_sq<F: Float>(x: &[F], par: bool) -> f64 {
    if x.len() <= CHUNK {
        return leaf(x);
    }
    let mid = (x.len().div_ceil(CHUNK) / 2) * CHUNK;
    let (a, b) = x.split_at(mid);
    let (sa, sb) = if par {
        rayon::join(|| sum_sq(a, true), || sum_sq(b, true))
    } else {
        (sum_sq(a, false), sum_sq(b, false))
    };
    sa + sb
}

fn leaf<F: Float>(x: &[F]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut it = x.chunks_exact(8);
    for c in &mut it {
        for (l, v) in lanes.iter_mut().zip(c) {
            let v = v.f64();
            *l += v * v;
        }
    }
    for (l, v) in lanes.iter_mut().zip(it.remainder()) {
        let v = v.f64();
        *l += v * v;
    }
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
}

/// Sum of squares of one parameter's gradient. A NaN or infinity anywhere makes it non-finite.
pub(crate) fn grad_sum_sq<F: Float>(g: &ParamGrad<'_, F>, par: bool) -> f64 {
    match g {
        ParamGrad::Dense(d) => match d.as_slice() {
            Some(s) => sum_sq(s, par),
            None => d.iter().map(|v| v.f64() * v.f64()).sum(),
        },
        ParamGrad::Rows { values, .. } => match values.as_slice() {
            Some(s) => sum_sq(s, par),
            None => values.iter().map(|v| v.f64() * v.f64()).sum(),
        },
    }
}
