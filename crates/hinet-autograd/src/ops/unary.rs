//! Elementwise functions of one tensor. Each backward rule is written in terms of whichever of
//! the input `x` or the output `y` makes it cheapest (both stay on the tape):
//!
//! | op      | y            | dy/dx           |
//! |---------|--------------|-----------------|
//! | neg     | -x           | -1              |
//! | exp     | e^x          | y               |
//! | log     | ln x         | 1/x             |
//! | sqrt    | sqrt x       | 1/(2y)          |
//! | sigmoid | 1/(1+e^-x)   | y(1-y)          |
//! | tanh    | tanh x       | 1-y^2           |
//! | relu    | max(x, 0)    | 1 if x > 0 else 0 |

use super::Backward;
use crate::error::Result;
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, Zip};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnaryKind {
    Neg,
    Exp,
    Log,
    Sqrt,
    Sigmoid,
    Tanh,
    Relu,
}

pub(crate) struct Unary {
    kind: UnaryKind,
    x: NodeId,
}

/// Numerically stable logistic function: never evaluates e^x for large positive x.
pub(crate) fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    kind: UnaryKind,
    x: NodeId,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    let mut out = ctx.pool.uninit(xv.shape());
    let z = Zip::from(&mut out).and(&xv);
    match kind {
        UnaryKind::Neg => z.for_each(|o, &v| *o = -v),
        UnaryKind::Exp => z.for_each(|o, &v| *o = v.exp()),
        UnaryKind::Log => z.for_each(|o, &v| *o = v.ln()),
        UnaryKind::Sqrt => z.for_each(|o, &v| *o = v.sqrt()),
        UnaryKind::Sigmoid => z.for_each(|o, &v| *o = sigmoid(v)),
        UnaryKind::Tanh => z.for_each(|o, &v| *o = v.tanh()),
        UnaryKind::Relu => z.for_each(|o, &v| *o = if v > F::zero() { v } else { F::zero() }),
    }
    Ok((out, super::Op::Unary(Unary { kind, x })))
}

impl<F: Float> Backward<F> for Unary {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let xv = ctx.value(self.x);
        let yv = ctx.value(out);
        let kind = self.kind;
        let one = F::one();
        let two = one + one;
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            let z = Zip::from(&mut gx).and(grad).and(&xv).and(&yv);
            match kind {
                UnaryKind::Neg => z.for_each(|g, &d, _, _| *g -= d),
                UnaryKind::Exp => z.for_each(|g, &d, _, &y| *g += d * y),
                UnaryKind::Log => z.for_each(|g, &d, &x, _| *g += d / x),
                UnaryKind::Sqrt => z.for_each(|g, &d, _, &y| *g += d / (two * y)),
                UnaryKind::Sigmoid => z.for_each(|g, &d, _, &y| *g += d * y * (one - y)),
                UnaryKind::Tanh => z.for_each(|g, &d, _, &y| *g += d * (one - y * y)),
                UnaryKind::Relu => z.for_each(|g, &d, &x, _| {
                    if x > F::zero() {
                        *g += d
                    }
                }),
            }
        }
    }
}
