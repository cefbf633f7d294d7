//! Gather rows by index (embedding lookup, routing rows to their scenario) and its adjoint,
//! scatter-add rows.
//!
//! `gather`: `y[k] = x[idx[k]]`. Backward: `dx[idx[k]] += dy[k]`, a scatter-add; when `x` is
//! a parameter table the rows are handed over as sparse rows, never as a dense table.
//! `scatter_add`: `y = zeros(n); y[idx[k]] += x[k]`. Backward: `dx[k] += dy[idx[k]]`, a gather.

use super::{Backward, OrBug};
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::pool::BufferPool;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis};

pub(crate) struct GatherRows {
    x: NodeId,
    indices: Vec<usize>,
}

pub(crate) struct ScatterAddRows {
    x: NodeId,
    indices: Vec<usize>,
}

fn check_indices(op: &'static str, indices: &[usize], len: usize) -> Result<()> {
    match indices.iter().find(|&&i| i >= len) {
        Some(&index) => Err(AutogradError::IndexOutOfRange { op, index, len }),
        None => Ok(()),
    }
}

fn rows_shape(
    op: &'static str,
    v: &ArrayViewD<'_, impl Float>,
    rows: usize,
) -> Result<([usize; super::broadcast::MAX_DIMS], usize)> {
    if v.ndim() == 0 || v.ndim() > super::broadcast::MAX_DIMS {
        return Err(AutogradError::BadShape {
            op,
            shape: v.shape().to_vec(),
            why: "expected a tensor of 1 to 16 dimensions indexed along axis 0",
        });
    }
    let mut shape = [0usize; super::broadcast::MAX_DIMS];
    shape[..v.ndim()].copy_from_slice(v.shape());
    shape[0] = rows;
    Ok((shape, v.ndim()))
}

pub(crate) fn gather_forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    idx: &[usize],
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    let (shape, nd) = rows_shape("gather_rows", &xv, idx.len())?;
    check_indices("gather_rows", idx, xv.shape()[0])?;
    let mut out = ctx.pool.uninit(&shape[..nd]);
    let row_len: usize = shape[1..nd].iter().product();
    let copy = |first: usize, mut piece: ArrayViewMutD<'_, F>| match (piece.as_slice_mut(), xv.as_slice()) {
        // Contiguous rows (the embedding tables): one memcpy per row instead of an ndarray
        // assign, whose per-call overhead dominated 16-wide rows.
        (Some(dst), Some(src)) => {
            for (d, &i) in dst.chunks_exact_mut(row_len.max(1)).zip(&idx[first..]) {
                d.copy_from_slice(&src[i * row_len..(i + 1) * row_len]);
            }
        }
        _ => {
            for (mut dst, &i) in piece.axis_iter_mut(Axis(0)).zip(&idx[first..]) {
                dst.assign(&xv.index_axis(Axis(0), i));
            }
        }
    };
    let work = out.len();
    crate::parallel::for_each_piece(out.view_mut(), Axis(0), work, &copy);
    let keep = ctx.requires_grad(x);
    let mut indices = ctx.pool.take_indices(if keep { idx.len() } else { 0 });
    if keep {
        indices.extend_from_slice(idx);
    }
    Ok((out, super::Op::GatherRows(GatherRows { x, indices })))
}

pub(crate) fn scatter_forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    idx: &[usize],
    rows: usize,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    let (shape, nd) = rows_shape("scatter_add_rows", &xv, rows)?;
    if xv.shape()[0] != idx.len() {
        return Err(AutogradError::ShapeMismatch {
            op: "scatter_add_rows",
            lhs: xv.shape().to_vec(),
            rhs: vec![idx.len()],
            why: "one index per source row is needed",
        });
    }
    check_indices("scatter_add_rows", idx, rows)?;
    let mut out = ctx.pool.zeros(&shape[..nd]);
    for (src, &i) in xv.axis_iter(Axis(0)).zip(idx) {
        out.index_axis_mut(Axis(0), i).zip_mut_with(&src, |o, &s| *o += s);
    }
    let mut indices = ctx.pool.take_indices(idx.len());
    indices.extend_from_slice(idx);
    Ok((out, super::Op::ScatterAddRows(ScatterAddRows { x, indices })))
}

impl<F: Float> Backward<F> for GatherRows {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let n = self.indices.len();
        let width = grad.len().checked_div(n).unwrap_or(0);
        let g2 = grad
            .view()
            .into_shape_with_order((n, width))
            .or_bug("gather_rows backward");
        ctx.add_rows(self.x, &self.indices, g2);
    }

    fn recycle(self, pool: &mut BufferPool<F>) {
        pool.recycle_indices(self.indices);
    }
}

impl<F: Float> Backward<F> for ScatterAddRows {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            for (mut dst, &i) in gx.axis_iter_mut(Axis(0)).zip(&self.indices) {
                dst.zip_mut_with(&grad.index_axis(Axis(0), i), |g, &d| *g += d);
            }
        }
    }

    fn recycle(self, pool: &mut BufferPool<F>) {
        pool.recycle_indices(self.indices);
    }
}
