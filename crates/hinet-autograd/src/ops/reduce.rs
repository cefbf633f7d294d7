//! Sum and mean, over the whole tensor or along one axis (which disappears from the shape).
//!
//! Backward: every input element contributed once to its sum, so it receives the output
//! gradient of its lane (divided by the lane length for a mean), broadcast back.

use super::Backward;
use super::softmax::check_axis;
use crate::error::Result;
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, Axis, Zip};

pub(crate) struct Reduce {
    x: NodeId,
    axis: Option<usize>,
    mean: bool,
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    axis: Option<usize>,
    mean: bool,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    let out = match axis {
        None => {
            let mut out = ctx.pool.uninit(&[]);
            let s: F = xv.iter().copied().sum();
            let n = F::of(xv.len().max(1) as f64);
            out.fill(if mean { s / n } else { s });
            out
        }
        Some(ax) => {
            check_axis(if mean { "mean_axis" } else { "sum_axis" }, ax, xv.ndim())?;
            let mut shape = [0usize; super::broadcast::MAX_DIMS];
            let mut nd = 0;
            for (i, &d) in xv.shape().iter().enumerate() {
                if i != ax {
                    shape[nd] = d;
                    nd += 1;
                }
            }
            let mut out = ctx.pool.uninit(&shape[..nd]);
            let n = F::of(xv.shape()[ax].max(1) as f64);
            Zip::from(&mut out).and(xv.lanes(Axis(ax))).for_each(|o, lane| {
                let s: F = lane.iter().copied().sum();
                *o = if mean { s / n } else { s };
            });
            out
        }
    };
    Ok((out, super::Op::Reduce(Reduce { x, axis, mean })))
}

impl<F: Float> Backward<F> for Reduce {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let (axis, mean) = (self.axis, self.mean);
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            match axis {
                None => {
                    let n = F::of(gx.len().max(1) as f64);
                    let d = grad.iter().next().copied().unwrap_or_else(F::zero);
                    let d = if mean { d / n } else { d };
                    gx.iter_mut().for_each(|g| *g += d);
                }
                Some(ax) => {
                    let n = F::of(gx.shape()[ax].max(1) as f64);
                    let scale = if mean { F::one() / n } else { F::one() };
                    Zip::from(gx.lanes_mut(Axis(ax))).and(grad).for_each(|mut lane, &d| {
                        let d = d * scale;
                        lane.iter_mut().for_each(|g| *g += d);
                    });
                }
            }
        }
    }
}
