//! Binary cross-entropy with logits, elementwise, with optional per-element weights (a weight
//! of 0 masks an element out) and a weight for positive labels.
//!
//! With `sp(z) = ln(1 + e^z)` computed stably as `max(z, 0) + ln(1 + e^-|z|)`:
//! `l = w * (p y sp(-x) + (1 - y) sp(x))`, which never overflows for large `|x|`.
//! Backward: `dl/dx = w ((1 - y) s(x) - p y (1 - s(x)))` (`= w (s(x) - y)` for `p = 1`),
//! `dl/dy = w (p sp(-x) - sp(x))`, `dl/dw = l / w` (the unweighted loss).

use super::Backward;
use super::unary::sigmoid;
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, ArrayViewD, IxDyn, Zip};

pub(crate) struct BceWithLogits<F> {
    x: NodeId,
    y: NodeId,
    w: Option<NodeId>,
    pos_weight: F,
}

/// `ln(1 + e^z)` without overflow.
pub(crate) fn softplus<F: Float>(z: F) -> F {
    z.max(F::zero()) + (-z.abs()).exp().ln_1p()
}

fn unweighted<F: Float>(x: F, y: F, p: F) -> F {
    p * y * softplus(-x) + (F::one() - y) * softplus(x)
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    y: NodeId,
    w: Option<NodeId>,
    pos_weight: F,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    let yv = ctx.value(y);
    let check = |other: &ndarray::ArrayViewD<'_, F>, what: &'static str| {
        if other.shape() != xv.shape() {
            Err(AutogradError::ShapeMismatch {
                op: "bce_with_logits",
                lhs: xv.shape().to_vec(),
                rhs: other.shape().to_vec(),
                why: what,
            })
        } else {
            Ok(())
        }
    };
    check(&yv, "logits and targets must have the same shape")?;
    if pos_weight.is_nan() || pos_weight < F::zero() {
        return Err(AutogradError::BadArgument {
            op: "bce_with_logits",
            why: format!("positive weight {pos_weight} must be >= 0"),
        });
    }
    let mut out = ctx.pool.uninit(xv.shape());
    Zip::from(&mut out)
        .and(&xv)
        .and(&yv)
        .for_each(|o, &x, &y| *o = unweighted(x, y, pos_weight));
    if let Some(w) = w {
        let wv = ctx.value(w);
        check(&wv, "logits and weights must have the same shape")?;
        out.zip_mut_with(&wv, |o, &w| *o *= w);
    }
    Ok((out, super::Op::BceWithLogits(BceWithLogits { x, y, w, pos_weight })))
}

impl<F: Float> Backward<F> for BceWithLogits<F> {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
        f(self.y);
        if let Some(w) = self.w {
            f(w);
        }
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let xv = ctx.value(self.x);
        let yv = ctx.value(self.y);
        let p = self.pos_weight;
        let one = F::one();
        // Without weights every element has weight 1: a broadcast view of one number.
        let unit = [one];
        let unit_view = ArrayViewD::from_shape(IxDyn(&[]), &unit[..]);
        let wv = match (self.w, &unit_view) {
            (Some(w), _) => ctx.value(w),
            (None, Ok(u)) => match u.broadcast(xv.raw_dim()) {
                Some(b) => b,
                None => return,
            },
            (None, Err(_)) => return,
        };
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            Zip::from(&mut gx)
                .and(grad)
                .and(&xv)
                .and(&yv)
                .and(&wv)
                .for_each(|g, &d, &x, &y, &w| {
                    let s = sigmoid(x);
                    *g += d * w * ((one - y) * s - p * y * (one - s));
                });
        }
        if let Some(mut gy) = ctx.grad_mut(self.y) {
            Zip::from(&mut gy)
                .and(grad)
                .and(&xv)
                .and(&wv)
                .for_each(|g, &d, &x, &w| {
                    *g += d * w * (p * softplus(-x) - softplus(x));
                });
        }
        if let Some(w) = self.w
            && let Some(mut gw) = ctx.grad_mut(w)
        {
            Zip::from(&mut gw)
                .and(grad)
                .and(&xv)
                .and(&yv)
                .for_each(|g, &d, &x, &y| {
                    *g += d * unweighted(x, y, p);
                });
        }
    }
}
