//! `Var`: a handle to one value on a tape, and the public face of every op.

use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::ops::batch_norm::ReplicaSum;
use crate::ops::binary::BinaryKind;
use crate::ops::linear::Activation;
use crate::ops::scalar::ScalarKind;
use crate::ops::unary::UnaryKind;
use crate::ops::{
    batch_norm, batched_matmul, bce, binary, concat, dropout, gate, gather, grouped_linear, linear, matmul, narrow,
    permute, reduce, reshape, scalar, softmax, unary,
};
use crate::tape::{NodeId, Tape};
use ndarray::{ArrayD, ArrayViewD};
use std::sync::Arc;

/// A value recorded on a [`Tape`]. Cheap to copy; lives as long as the tape borrow.
#[derive(Clone, Copy)]
pub struct Var<'t, F: Float> {
    tape: &'t Tape<'t, F>,
    id: NodeId,
}

impl<F: Float> std::fmt::Debug for Var<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var(#{}, shape {:?})", self.id, self.shape())
    }
}

// `add`, `mul`, `neg`... return `Result` (shapes are checked), so they cannot be the std
// operator traits; the names are still the clearest.
#[allow(clippy::should_implement_trait)]
impl<'t, F: Float> Var<'t, F> {
    pub(crate) fn new(tape: &'t Tape<'t, F>, id: NodeId) -> Self {
        Self { tape, id }
    }

    pub(crate) fn id(self) -> NodeId {
        self.id
    }

    /// The tape this variable lives on.
    pub fn tape(self) -> &'t Tape<'t, F> {
        self.tape
    }

    fn same_tape(self, other: Var<'_, F>, op: &'static str) -> Result<()> {
        if std::ptr::eq(self.tape, other.tape) {
            Ok(())
        } else {
            Err(AutogradError::ForeignVar { op })
        }
    }

    /// The shape of the value.
    pub fn shape(self) -> Vec<usize> {
        self.tape.with_value(self.id, |v| v.shape().to_vec())
    }

    /// The shape without allocating (inline for up to 4 dimensions): for checks on hot paths.
    pub fn dim(self) -> ndarray::IxDyn {
        self.tape.with_value(self.id, |v| v.raw_dim())
    }

    /// A copy of the value.
    pub fn value(self) -> ArrayD<F> {
        self.tape.with_value(self.id, |v| v.to_owned())
    }

    /// Reads the value without copying it.
    pub fn with_value<R>(self, f: impl FnOnce(ArrayViewD<'_, F>) -> R) -> R {
        self.tape.with_value(self.id, f)
    }

    /// The single element of a one-element tensor (a loss), or an error naming its shape.
    pub fn scalar(self) -> Result<F> {
        self.with_value(|v| {
            if v.len() == 1 {
                Ok(v.iter().copied().next().unwrap_or_else(F::zero))
            } else {
                Err(AutogradError::LossNotScalar {
                    shape: v.shape().to_vec(),
                })
            }
        })
    }

    /// Whether a gradient will flow into this value.
    pub fn requires_grad(self) -> bool {
        self.tape.node_requires_grad(self.id)
    }

    // ---- products -------------------------------------------------------------------------

    /// `op(self) op(other)` for 2-D tensors; `ta`/`tb` transpose an operand first.
    pub fn matmul_t(self, other: Var<'t, F>, ta: bool, tb: bool) -> Result<Self> {
        self.same_tape(other, "matmul")?;
        self.tape.record(|c| matmul::forward(c, self.id, other.id, ta, tb))
    }

    /// `self other` for 2-D tensors.
    pub fn matmul(self, other: Var<'t, F>) -> Result<Self> {
        self.matmul_t(other, false, false)
    }

    /// `op(self[i]) op(other[i])` for each i of the leading axis of two 3-D tensors.
    pub fn batched_matmul(self, other: Var<'t, F>, ta: bool, tb: bool) -> Result<Self> {
        self.same_tape(other, "batched_matmul")?;
        self.tape
            .record(|c| batched_matmul::forward(c, self.id, other.id, ta, tb))
    }

    /// Fused dense layer `act(self W^T + b)`; `self` is `[n, in]`, `w` `[out, in]`, `b` `[out]`.
    pub fn linear(self, w: Var<'t, F>, b: Option<Var<'t, F>>, act: Activation) -> Result<Self> {
        self.same_tape(w, "linear")?;
        if let Some(b) = b {
            self.same_tape(b, "linear")?;
        }
        self.tape
            .record(|c| linear::forward(c, self.id, w.id, b.map(|b| b.id), act))
    }

    /// K dense layers at once: `y[k] = act(x_k W[k]^T + b[k])` with `w` `[K, out, in]`, `b`
    /// `[K, out]`, and `self` either `[K, n, in]` or `[n, K * in]` (column block k feeds layer
    /// k). Output `[K, n, out]`.
    pub fn grouped_linear(self, w: Var<'t, F>, b: Option<Var<'t, F>>, act: Activation) -> Result<Self> {
        self.same_tape(w, "grouped_linear")?;
        if let Some(b) = b {
            self.same_tape(b, "grouped_linear")?;
        }
        self.tape
            .record(|c| grouped_linear::forward(c, self.id, w.id, b.map(|b| b.id), act))
    }

    /// Fused gate: `softmax(self)` over the E logits of each row (`self` is `[n, E]`) mixes the
    /// expert outputs `experts` `[E, n, d]` into `[n, d]`.
    pub fn gate(self, experts: Var<'t, F>) -> Result<Self> {
        self.same_tape(experts, "gate")?;
        self.tape.record(|c| gate::forward(c, self.id, experts.id, true))
    }

    /// Like [`Var::gate`] but `self` already holds the mixing weights (no softmax).
    pub fn mix(self, experts: Var<'t, F>) -> Result<Self> {
        self.same_tape(experts, "mix")?;
        self.tape.record(|c| gate::forward(c, self.id, experts.id, false))
    }

    // ---- elementwise ----------------------------------------------------------------------

    fn binary(self, other: Var<'t, F>, kind: BinaryKind) -> Result<Self> {
        self.same_tape(other, "binary op")?;
        self.tape.record(|c| binary::forward(c, kind, self.id, other.id))
    }

    /// `self + other`, broadcasting.
    pub fn add(self, other: Var<'t, F>) -> Result<Self> {
        self.binary(other, BinaryKind::Add)
    }
    /// `self - other`, broadcasting.
    pub fn sub(self, other: Var<'t, F>) -> Result<Self> {
        self.binary(other, BinaryKind::Sub)
    }
    /// `self * other` elementwise, broadcasting.
    pub fn mul(self, other: Var<'t, F>) -> Result<Self> {
        self.binary(other, BinaryKind::Mul)
    }
    /// `self / other` elementwise, broadcasting.
    pub fn div(self, other: Var<'t, F>) -> Result<Self> {
        self.binary(other, BinaryKind::Div)
    }

    fn scalar_op(self, kind: ScalarKind<F>) -> Result<Self> {
        self.tape.record(|c| scalar::forward(c, kind, self.id))
    }
    /// `self + c`.
    pub fn add_scalar(self, c: F) -> Result<Self> {
        self.scalar_op(ScalarKind::Add(c))
    }
    /// `self * c`.
    pub fn mul_scalar(self, c: F) -> Result<Self> {
        self.scalar_op(ScalarKind::Mul(c))
    }
    /// `self ^ c` elementwise.
    pub fn powf(self, c: F) -> Result<Self> {
        self.scalar_op(ScalarKind::Pow(c))
    }

    fn unary(self, kind: UnaryKind) -> Result<Self> {
        self.tape.record(|c| unary::forward(c, kind, self.id))
    }
    /// `-self`.
    pub fn neg(self) -> Result<Self> {
        self.unary(UnaryKind::Neg)
    }
    /// `e^self`.
    pub fn exp(self) -> Result<Self> {
        self.unary(UnaryKind::Exp)
    }
    /// Natural logarithm.
    pub fn log(self) -> Result<Self> {
        self.unary(UnaryKind::Log)
    }
    /// Square root.
    pub fn sqrt(self) -> Result<Self> {
        self.unary(UnaryKind::Sqrt)
    }
    /// Logistic function, stable for large |x|.
    pub fn sigmoid(self) -> Result<Self> {
        self.unary(UnaryKind::Sigmoid)
    }
    /// Hyperbolic tangent.
    pub fn tanh(self) -> Result<Self> {
        self.unary(UnaryKind::Tanh)
    }
    /// `max(self, 0)`.
    pub fn relu(self) -> Result<Self> {
        self.unary(UnaryKind::Relu)
    }

    // ---- along an axis --------------------------------------------------------------------

    /// Softmax along `axis`.
    pub fn softmax(self, axis: usize) -> Result<Self> {
        self.tape.record(|c| softmax::forward(c, self.id, axis, false))
    }
    /// Log-softmax along `axis`.
    pub fn log_softmax(self, axis: usize) -> Result<Self> {
        self.tape.record(|c| softmax::forward(c, self.id, axis, true))
    }
    /// Sum of all elements (a 0-d tensor).
    pub fn sum(self) -> Result<Self> {
        self.tape.record(|c| reduce::forward(c, self.id, None, false))
    }
    /// Mean of all elements (a 0-d tensor).
    pub fn mean(self) -> Result<Self> {
        self.tape.record(|c| reduce::forward(c, self.id, None, true))
    }
    /// Sum along `axis`, which is removed.
    pub fn sum_axis(self, axis: usize) -> Result<Self> {
        self.tape.record(|c| reduce::forward(c, self.id, Some(axis), false))
    }
    /// Mean along `axis`, which is removed.
    pub fn mean_axis(self, axis: usize) -> Result<Self> {
        self.tape.record(|c| reduce::forward(c, self.id, Some(axis), true))
    }

    // ---- shape ----------------------------------------------------------------------------

    /// The same elements in row-major order under a new shape.
    pub fn reshape(self, shape: &[usize]) -> Result<Self> {
        self.tape.record(|c| reshape::forward(c, self.id, shape))
    }
    /// Reorders the axes: axis `i` of the result is axis `axes[i]` of `self`.
    pub fn permute(self, axes: &[usize]) -> Result<Self> {
        self.tape.record(|c| permute::forward(c, self.id, axes))
    }
    /// Transpose of a 2-D tensor.
    pub fn t(self) -> Result<Self> {
        self.permute(&[1, 0])
    }
    /// The slice `start..start + len` along `axis`.
    pub fn narrow(self, axis: usize, start: usize, len: usize) -> Result<Self> {
        self.tape.record(|c| narrow::forward(c, self.id, axis, start, len))
    }
    /// Splits along `axis` into pieces of the given sizes (which must add up to the axis length).
    pub fn split(self, axis: usize, sizes: &[usize]) -> Result<Vec<Self>> {
        let total: usize = sizes.iter().sum();
        let shape = self.shape();
        if axis >= shape.len() || shape[axis] != total {
            return Err(AutogradError::BadArgument {
                op: "split",
                why: format!("sizes {sizes:?} do not add up to axis {axis} of shape {shape:?}"),
            });
        }
        let mut start = 0;
        let mut out = Vec::with_capacity(sizes.len());
        for &len in sizes {
            out.push(self.narrow(axis, start, len)?);
            start += len;
        }
        Ok(out)
    }

    // ---- rows -----------------------------------------------------------------------------

    /// `y[k] = self[indices[k]]` along axis 0 (embedding lookup). The gradient of a parameter
    /// table comes back as sparse rows.
    pub fn gather_rows(self, indices: &[usize]) -> Result<Self> {
        self.tape.record(|c| gather::gather_forward(c, self.id, indices))
    }
    /// The rows at `indices` (routing rows to their scenario); same op as [`Var::gather_rows`].
    pub fn select_rows(self, indices: &[usize]) -> Result<Self> {
        self.gather_rows(indices)
    }
    /// `y = zeros(rows, ...)`, `y[indices[k]] += self[k]`: the adjoint of `gather_rows`.
    pub fn scatter_add_rows(self, indices: &[usize], rows: usize) -> Result<Self> {
        self.tape.record(|c| gather::scatter_forward(c, self.id, indices, rows))
    }
    /// Puts row k at `indices[k]` of a zero tensor with `rows` rows (scattering a scenario's
    /// rows back into the batch); indices should be distinct.
    pub fn scatter_rows(self, indices: &[usize], rows: usize) -> Result<Self> {
        self.scatter_add_rows(indices, rows)
    }

    // ---- losses and layers ----------------------------------------------------------------

    /// Elementwise binary cross-entropy of logits `self` against `targets`, times optional
    /// elementwise `weights` (0 masks an element out), with positive labels weighted by
    /// `pos_weight` (1 for plain BCE).
    pub fn bce_with_logits(self, targets: Var<'t, F>, weights: Option<Var<'t, F>>, pos_weight: F) -> Result<Self> {
        self.same_tape(targets, "bce_with_logits")?;
        if let Some(w) = weights {
            self.same_tape(w, "bce_with_logits")?;
        }
        self.tape
            .record(|c| bce::forward(c, self.id, targets.id, weights.map(|w| w.id), pos_weight))
    }

    /// Inverted dropout with drop probability `p`, masks drawn from `rng`.
    pub fn dropout<R: rand::Rng + ?Sized>(self, p: f64, rng: &mut R) -> Result<Self> {
        self.tape.record(|c| dropout::forward(c, self.id, p, rng))
    }

    /// Batch norm of `[n, d]` with batch statistics; the biased batch mean and variance are
    /// written to `mean_out` and `var_out` (length d) for the caller's running averages.
    pub fn batch_norm_train(
        self,
        gamma: Var<'t, F>,
        beta: Var<'t, F>,
        eps: f64,
        mean_out: &mut [F],
        var_out: &mut [F],
    ) -> Result<Self> {
        let mut rows = 0;
        self.batch_norm_train_synced(gamma, beta, eps, mean_out, var_out, None, &mut rows)
    }

    /// [`Var::batch_norm_train`] over the global batch of a data-parallel job: the mean and
    /// variance (forward) and the sums of the backward sweep are summed across `replicas`
    /// (sync batch norm), so N replicas with n rows each normalise as one process with N x n
    /// rows would. Writes the global batch's row count to `rows_out`.
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm_train_synced(
        self,
        gamma: Var<'t, F>,
        beta: Var<'t, F>,
        eps: f64,
        mean_out: &mut [F],
        var_out: &mut [F],
        replicas: Option<&Arc<dyn ReplicaSum<F>>>,
        rows_out: &mut usize,
    ) -> Result<Self> {
        self.same_tape(gamma, "batch_norm")?;
        self.same_tape(beta, "batch_norm")?;
        let stats = batch_norm::Stats::Batch {
            mean_out,
            var_out,
            replicas,
            rows_out,
        };
        self.tape
            .record(|c| batch_norm::forward(c, self.id, gamma.id, beta.id, stats, eps))
    }

    /// Batch norm of `[n, d]` with running statistics (inference).
    pub fn batch_norm_eval(
        self,
        running_mean: Var<'t, F>,
        running_var: Var<'t, F>,
        gamma: Var<'t, F>,
        beta: Var<'t, F>,
        eps: f64,
    ) -> Result<Self> {
        for v in [running_mean, running_var, gamma, beta] {
            self.same_tape(v, "batch_norm")?;
        }
        let stats = batch_norm::Stats::Running {
            mean: running_mean.id,
            var: running_var.id,
        };
        self.tape
            .record(|c| batch_norm::forward(c, self.id, gamma.id, beta.id, stats, eps))
    }
}

/// Concatenates tensors along `axis`.
pub fn concat<'t, F: Float>(xs: &[Var<'t, F>], axis: usize) -> Result<Var<'t, F>> {
    let Some(first) = xs.first() else {
        return Err(AutogradError::BadArgument {
            op: "concat",
            why: "no tensors to concatenate".into(),
        });
    };
    for x in xs {
        first.same_tape(*x, "concat")?;
    }
    let tape = first.tape;
    // Ids go through a pooled list so a warm loop does not allocate here either.
    let mut ids = tape.borrow_ws().pool.take_indices(xs.len());
    ids.extend(xs.iter().map(|x| x.id));
    let result = tape.record(|c| concat::forward(c, &ids, axis));
    tape.borrow_ws().pool.recycle_indices(ids);
    result
}
