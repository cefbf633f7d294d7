//! Ops with one tensor and one scalar constant: `x + c`, `x * c`, `x ^ c`.
//!
//! Backward: `d(x + c)/dx = 1`, `d(c x)/dx = c`, `d(x^c)/dx = c x^(c-1)`.

use super::Backward;
use crate::error::Result;
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, Zip};

#[derive(Debug, Clone, Copy)]
pub(crate) enum ScalarKind<F> {
    Add(F),
    Mul(F),
    Pow(F),
}

pub(crate) struct Scalar<F> {
    kind: ScalarKind<F>,
    x: NodeId,
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    kind: ScalarKind<F>,
    x: NodeId,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let xv = ctx.value(x);
    let mut out = ctx.pool.uninit(xv.shape());
    let z = Zip::from(&mut out).and(&xv);
    match kind {
        ScalarKind::Add(c) => z.for_each(|o, &v| *o = v + c),
        ScalarKind::Mul(c) => z.for_each(|o, &v| *o = v * c),
        ScalarKind::Pow(c) => z.for_each(|o, &v| *o = v.powf(c)),
    }
    Ok((out, super::Op::Scalar(Scalar { kind, x })))
}

impl<F: Float> Backward<F> for Scalar<F> {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let xv = ctx.value(self.x);
        let kind = self.kind;
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            let z = Zip::from(&mut gx).and(grad).and(&xv);
            match kind {
                ScalarKind::Add(_) => z.for_each(|g, &d, _| *g += d),
                ScalarKind::Mul(c) => z.for_each(|g, &d, _| *g += d * c),
                ScalarKind::Pow(c) => z.for_each(|g, &d, &x| *g += d * c * x.powf(c - F::one())),
            }
        }
    }
}
