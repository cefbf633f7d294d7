//! Broadcasting (NumPy rules) and its adjoint, the sum back to an operand's shape.
//!
//! If `y = f(broadcast(a))`, every element of `a` was copied to all positions along the
//! broadcast axes, so its gradient is the sum of the output gradient over those positions.

use crate::error::{AutogradError, Result};
use crate::float::Float;
use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn};

/// Most dimensions a broadcast may have (shapes are small; this keeps them on the stack).
pub(crate) const MAX_DIMS: usize = 16;

/// The broadcast shape of two shapes, by NumPy's rules (align right; sizes equal or one is 1).
pub(crate) fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<IxDyn> {
    let nd = a.len().max(b.len());
    if nd > MAX_DIMS {
        return Err(AutogradError::BadShape {
            op,
            shape: if a.len() > b.len() { a.to_vec() } else { b.to_vec() },
            why: "more than 16 dimensions",
        });
    }
    let mut out = [0usize; MAX_DIMS];
    for (i, o) in out.iter_mut().enumerate().take(nd) {
        let da = dim_from_right(a, nd, i);
        let db = dim_from_right(b, nd, i);
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(AutogradError::ShapeMismatch {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                    why: "not broadcastable",
                });
            }
        };
    }
    Ok(IxDyn(&out[..nd]))
}

/// Size of axis `i` (of `nd` right-aligned axes) of `shape`, 1 where the shape is shorter.
fn dim_from_right(shape: &[usize], nd: usize, i: usize) -> usize {
    let pad = nd - shape.len();
    if i < pad { 1 } else { shape[i - pad] }
}

/// `dst += sum of src over the axes along which dst was broadcast to src's shape`.
/// Both are standard-layout; `dst`'s shape broadcasts to `src`'s.
pub(crate) fn accumulate_sum_to<F: Float>(dst: &mut ArrayViewMutD<'_, F>, src: &ArrayViewD<'_, F>) {
    if dst.shape() == src.shape() {
        dst.zip_mut_with(src, |d, &s| *d += s);
        return;
    }
    let out_shape = src.shape();
    let nd = out_shape.len();
    // dst strides in the right-aligned output index space, 0 along broadcast axes.
    let mut dst_dims = [1usize; MAX_DIMS];
    let pad = nd - dst.ndim();
    dst_dims[pad..nd].copy_from_slice(dst.shape());
    let (Some(src), Some(dst_slice)) = (src.as_slice(), dst.as_slice_mut()) else {
        // Node values and gradients are created in standard layout by the pool.
        unreachable!("accumulate_sum_to needs standard-layout tensors");
    };
    if src.is_empty() {
        return;
    }
    let mut strides = [0usize; MAX_DIMS];
    let mut acc = 1;
    for i in (0..nd).rev() {
        strides[i] = if dst_dims[i] == 1 { 0 } else { acc };
        acc *= dst_dims[i];
    }
    let inner = out_shape[nd - 1];
    let inner_broadcast = dst_dims[nd - 1] == 1;
    let mut idx = [0usize; MAX_DIMS];
    for lane in src.chunks_exact(inner) {
        let base: usize = (0..nd - 1).map(|i| idx[i] * strides[i]).sum();
        if inner_broadcast {
            let s: F = lane.iter().copied().sum();
            dst_slice[base] += s;
        } else {
            for (d, &s) in dst_slice[base..base + inner].iter_mut().zip(lane) {
                *d += s;
            }
        }
        // advance the odometer over all axes but the last
        for i in (0..nd.saturating_sub(1)).rev() {
            idx[i] += 1;
            if idx[i] < out_shape[i] {
                break;
            }
            idx[i] = 0;
        }
    }
}
