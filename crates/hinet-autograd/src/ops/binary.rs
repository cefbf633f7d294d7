//! Elementwise add, sub, mul, div with NumPy broadcasting.
//!
//! Backward: `d(a+b) = (1, 1)`, `d(a-b) = (1, -1)`, `d(a*b) = (b, a)`,
//! `d(a/b) = (1/b, -a/b^2) = (1/b, -y/b)`; each input's share is then summed back over the
//! axes it was broadcast along.

use super::broadcast::{accumulate_sum_to, broadcast_shape};
use super::{Backward, OrBug};
use crate::error::Result;
use crate::float::Float;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, Dimension, Zip};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryKind {
    fn name(self) -> &'static str {
        match self {
            BinaryKind::Add => "add",
            BinaryKind::Sub => "sub",
            BinaryKind::Mul => "mul",
            BinaryKind::Div => "div",
        }
    }
}

pub(crate) struct Binary {
    kind: BinaryKind,
    a: NodeId,
    b: NodeId,
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    kind: BinaryKind,
    a: NodeId,
    b: NodeId,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    let av = ctx.value(a);
    let bv = ctx.value(b);
    let shape = broadcast_shape(kind.name(), av.shape(), bv.shape())?;
    let mut out = ctx.pool.uninit(shape.slice());
    // broadcast_shape guarantees both operands broadcast to `shape`.
    let (Some(ab), Some(bb)) = (av.broadcast(shape.clone()), bv.broadcast(shape)) else {
        unreachable!("operands broadcast to their broadcast shape");
    };
    let z = Zip::from(&mut out).and(&ab).and(&bb);
    match kind {
        BinaryKind::Add => z.for_each(|o, &x, &y| *o = x + y),
        BinaryKind::Sub => z.for_each(|o, &x, &y| *o = x - y),
        BinaryKind::Mul => z.for_each(|o, &x, &y| *o = x * y),
        BinaryKind::Div => z.for_each(|o, &x, &y| *o = x / y),
    }
    Ok((out, super::Op::Binary(Binary { kind, a, b })))
}

impl<F: Float> Backward<F> for Binary {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.a);
        f(self.b);
    }

    /// Elementwise `y = a (+ - * /) b` with broadcasting: `da = dy (1, 1, b, 1/b)`,
    /// `db = dy (1, -1, a, -y/b)`, each summed back over the axes its input was broadcast
    /// along (docs/autograd.md, "Broadcasting add, sub, mul, div").
    fn backward(&self, out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let g = grad.view();
        let av = ctx.value(self.a);
        let bv = ctx.value(self.b);
        let yv = ctx.value(out);
        let shape = g.raw_dim();
        let ab = av.broadcast(shape.clone()).or_bug("binary backward");
        let bb = bv.broadcast(shape).or_bug("binary backward");
        let mut tmp = ctx.pool.uninit(g.shape());
        if ctx.requires_grad(self.a) {
            match self.kind {
                BinaryKind::Add | BinaryKind::Sub => tmp.assign(&g),
                BinaryKind::Mul => Zip::from(&mut tmp).and(&g).and(&bb).for_each(|t, &d, &y| *t = d * y),
                BinaryKind::Div => Zip::from(&mut tmp).and(&g).and(&bb).for_each(|t, &d, &y| *t = d / y),
            }
            if let Some(mut ga) = ctx.grad_mut(self.a) {
                accumulate_sum_to(&mut ga, &tmp.view());
            }
        }
        if ctx.requires_grad(self.b) {
            match self.kind {
                BinaryKind::Add => tmp.assign(&g),
                BinaryKind::Sub => Zip::from(&mut tmp).and(&g).for_each(|t, &d| *t = -d),
                BinaryKind::Mul => Zip::from(&mut tmp).and(&g).and(&ab).for_each(|t, &d, &x| *t = d * x),
                BinaryKind::Div => Zip::from(&mut tmp)
                    .and(&g)
                    .and(&yv)
                    .and(&bb)
                    .for_each(|t, &d, &y, &b| *t = -d * y / b),
            }
            if let Some(mut gb) = ctx.grad_mut(self.b) {
                accumulate_sum_to(&mut gb, &tmp.view());
            }
        }
        ctx.pool.recycle(tmp);
    }
}
