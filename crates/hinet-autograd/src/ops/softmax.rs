//! Softmax and log-softmax along one axis, stabilised by subtracting each lane's maximum.
//!
//! Backward, per lane: softmax `dx = y * (dy - sum(dy * y))`;
//! log-softmax `dx = dy - softmax(x) * sum(dy)`, with `softmax(x) = exp(y)`.

use super::Backward;
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, ArrayView1, ArrayViewMut1, Axis, Zip};

pub(crate) struct Softmax {
    x: NodeId,
    axis: usize,
    log: bool,
}

pub(crate) fn check_axis(op: &'static str, axis: usize, ndim: usize) -> Result<()> {
    if axis >= ndim {
        return Err(AutogradError::BadAxis { op, axis, ndim });
    }
    Ok(())
}

/// Writes softmax (or log-softmax) of one lane.
pub(crate) fn softmax_lane<F: Float>(x: ArrayView1<'_, F>, mut y: ArrayViewMut1<'_, F>, log: bool) {
    let m = x.iter().copied().fold(F::neg_infinity(), F::max);
    let m = if m.is_finite() { m } else { F::zero() };
    let mut s = F::zero();
    for (o, &v) in y.iter_mut().zip(x.iter()) {
        let e = (v - m).exp();
        *o = e;
        s += e;
    }
    if log {
        let ls = s.ln();
        for (o, &v) in y.iter_mut().zip(x.iter()) {
            *o = v - m - ls;
        }
    } else {
        let inv = F::one() / s;
        y.iter_mut().for_each(|o| *o *= inv);
    }
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    axis: usize,
    log: bool,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    check_axis(if log { "log_softmax" } else { "softmax" }, axis, xv.ndim())?;
    let mut out = ctx.pool.uninit(xv.shape());
    Zip::from(out.lanes_mut(Axis(axis)))
        .and(xv.lanes(Axis(axis)))
        .for_each(|y, x| softmax_lane(x, y, log));
    Ok((out, super::Op::Softmax(Softmax { x, axis, log })))
}

impl<F: Float> Backward<F> for Softmax {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let yv = ctx.value(out);
        let (axis, log) = (Axis(self.axis), self.log);
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            Zip::from(gx.lanes_mut(axis))
                .and(grad.lanes(axis))
                .and(yv.lanes(axis))
                .for_each(|mut gx, dy, y| {
                    if log {
                        let s: F = dy.iter().copied().sum();
                        Zip::from(&mut gx)
                            .and(&dy)
                            .and(&y)
                            .for_each(|g, &d, &y| *g += d - y.exp() * s);
                    } else {
                        let s: F = dy.iter().zip(y.iter()).map(|(&d, &y)| d * y).sum();
                        Zip::from(&mut gx)
                            .and(&dy)
                            .and(&y)
                            .for_each(|g, &d, &y| *g += y * (d - s));
                    }
                });
        }
    }
}
