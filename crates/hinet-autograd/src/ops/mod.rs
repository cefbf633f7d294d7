//! The ops. One file per op: its forward function and its backward rule side by side, so a
//! reader checks each rule against its derivation (docs/autograd.md) without hunting.
//!
//! Each op is a small struct holding its inputs' node ids and what its backward rule needs.
//! It implements [`Backward`]; the `ops!` list below is the one place that names them all.

use crate::float::Float;
use crate::pool::BufferPool;
use crate::tape::{BackwardCtx, NodeId};
use ndarray::ArrayD;

pub(crate) mod batch_norm;
pub(crate) mod batched_matmul;
pub(crate) mod bce;
pub(crate) mod binary;
pub(crate) mod broadcast;
pub(crate) mod concat;
pub(crate) mod dropout;
pub(crate) mod gate;
pub(crate) mod gather;
pub(crate) mod grouped_linear;
pub(crate) mod linear;
pub(crate) mod matmul;
pub(crate) mod narrow;
pub(crate) mod permute;
pub(crate) mod reduce;
pub(crate) mod reshape;
pub(crate) mod scalar;
pub(crate) mod softmax;
pub(crate) mod unary;

/// A broken engine invariant, turned into a panic that names the op.
///
/// The engine makes every value and gradient buffer itself, in the shape and standard layout
/// its op recorded, so a view that will not take that shape is a bug in this crate. Ops say so
/// with `.or_bug("matmul backward")` where a silent `return` would drop a gradient or leave an
/// output unwritten.
pub(crate) trait OrBug<T> {
    /// The value, or a panic naming `op` (and, through `track_caller`, the line).
    fn or_bug(self, op: &str) -> T;
}

impl<T, E: std::fmt::Debug> OrBug<T> for Result<T, E> {
    #[track_caller]
    fn or_bug(self, op: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => broken(op, &format!("{e:?}")),
        }
    }
}

impl<T> OrBug<T> for Option<T> {
    #[track_caller]
    fn or_bug(self, op: &str) -> T {
        match self {
            Some(v) => v,
            None => broken(op, "a buffer is not in standard layout"),
        }
    }
}

#[cold]
#[track_caller]
fn broken(op: &str, what: &str) -> ! {
    panic!(
        "hinet-autograd: {op}: a tensor does not have the shape or layout the forward pass \
         recorded ({what}); this is a bug in the engine, not in your model"
    )
}

/// The backward rule of one op.
pub(crate) trait Backward<F: Float> {
    /// Calls `f` with every input node id.
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId));
    /// Pushes `grad` (the gradient of this op's output node `out`) to the inputs.
    fn backward(&self, out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>);
    /// Returns saved buffers to the pool when the tape is reset.
    fn recycle(self, _pool: &mut BufferPool<F>)
    where
        Self: Sized,
    {
    }
}

macro_rules! ops {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Every recorded op. `Leaf` marks inputs, parameters and nodes that need no gradient.
        pub(crate) enum Op<F: Float> {
            Leaf,
            $($variant($ty),)*
        }

        impl<F: Float> Op<F> {
            pub(crate) fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
                match self {
                    Op::Leaf => {}
                    $(Op::$variant(op) => Backward::<F>::for_each_input(op, f),)*
                }
            }

            pub(crate) fn backward(&self, out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
                match self {
                    Op::Leaf => {}
                    $(Op::$variant(op) => op.backward(out, grad, ctx),)*
                }
            }

            pub(crate) fn recycle(self, pool: &mut BufferPool<F>) {
                match self {
                    Op::Leaf => {}
                    $(Op::$variant(op) => op.recycle(pool),)*
                }
            }
        }
    };
}

ops! {
    MatMul(matmul::MatMul),
    BatchedMatMul(batched_matmul::BatchedMatMul),
    Binary(binary::Binary),
    Scalar(scalar::Scalar<F>),
    Unary(unary::Unary),
    Softmax(softmax::Softmax),
    Reduce(reduce::Reduce),
    Reshape(reshape::Reshape),
    Permute(permute::Permute),
    Concat(concat::Concat),
    Narrow(narrow::Narrow),
    GatherRows(gather::GatherRows),
    ScatterAddRows(gather::ScatterAddRows),
    BceWithLogits(bce::BceWithLogits<F>),
    Dropout(dropout::Dropout<F>),
    BatchNorm(batch_norm::BatchNorm<F>),
    Linear(linear::Linear),
    GroupedLinear(grouped_linear::GroupedLinear),
    Gate(gate::Gate<F>),
}

#[cfg(test)]
mod tests {
    use super::OrBug;

    #[test]
    #[should_panic(expected = "hinet-autograd: matmul backward: a tensor does not have the shape")]
    fn a_broken_invariant_panics_naming_the_op() {
        let r: Result<(), &str> = Err("incompatible shapes");
        r.or_bug("matmul backward");
    }

    #[test]
    fn a_held_invariant_passes_the_value_through() {
        assert_eq!(Some(3).or_bug("gate"), 3);
        assert_eq!(Ok::<_, ()>(4).or_bug("gate"), 4);
    }
}
