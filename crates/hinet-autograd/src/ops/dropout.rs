//! Inverted dropout: each element is kept with probability `1 - p` and scaled by `1/(1 - p)`,
//! so the expected output equals the input and inference needs no rescaling.
//! Backward: the same mask times the gradient (the mask is saved; it is all backward needs).

use super::Backward;
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::pool::BufferPool;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, Zip};

pub(crate) struct Dropout<F> {
    x: NodeId,
    mask: ArrayD<F>,
}

pub(crate) fn forward<F: Float, R: rand::Rng + ?Sized>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    p: f64,
    rng: &mut R,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    if !(0.0..1.0).contains(&p) {
        return Err(AutogradError::BadArgument {
            op: "dropout",
            why: format!("drop probability {p} must be in [0, 1)"),
        });
    }
    let xv = ctx.value(x);
    let mut mask = ctx.pool.uninit(xv.shape());
    let keep = F::of(1.0 / (1.0 - p));
    mask.iter_mut()
        .for_each(|m| *m = if rng.random::<f64>() < p { F::zero() } else { keep });
    let mut out = ctx.pool.uninit(xv.shape());
    Zip::from(&mut out).and(&xv).and(&mask).for_each(|o, &x, &m| *o = x * m);
    Ok((out, super::Op::Dropout(Dropout { x, mask })))
}

impl<F: Float> Backward<F> for Dropout<F> {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
    }

    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            Zip::from(&mut gx)
                .and(grad)
                .and(&self.mask)
                .for_each(|g, &d, &m| *g += d * m);
        }
    }

    fn recycle(self, pool: &mut BufferPool<F>) {
        pool.recycle(self.mask);
    }
}
