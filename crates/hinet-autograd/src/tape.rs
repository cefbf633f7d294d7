//! The tape: a list of nodes recorded in execution order, walked once in reverse by `backward`.
//!
//! Every node holds its value and the op that produced it (with the inputs' node ids and
//! whatever the op saved for its backward rule). Because nodes are appended in execution
//! order, the reverse of the recording order is already a topological order: no graph sort.

use crate::bf16_weights::Bf16WeightCache;
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::grad::Gradients;
use crate::ops::Op;
use crate::param::{ParamId, ParamKind, ParamStore};
use crate::pool::BufferPool;
use crate::var::Var;
use hinet_kernels::Precision;
use ndarray::{ArrayD, ArrayView2, ArrayViewD, ArrayViewMutD, Axis, Dimension};
use std::cell::{RefCell, RefMut};

/// Index of a node on its tape.
pub(crate) type NodeId = usize;

/// Where a node's value lives: on the tape, or in the parameter store (read without copying).
pub(crate) enum Value<F> {
    Owned(ArrayD<F>),
    Param(ParamId),
}

pub(crate) struct Node<F: Float> {
    pub(crate) value: Value<F>,
    pub(crate) op: Op<F>,
    pub(crate) requires_grad: bool,
}

/// Memory a tape reuses from one step to the next: the buffer pool, the node list and the
/// per-node gradient slots. Hand it from one tape to the next (`Tape::with_workspace`,
/// `Tape::into_workspace`) and a warm training loop allocates no tensor memory.
pub struct Workspace<F: Float> {
    pub(crate) pool: BufferPool<F>,
    pub(crate) nodes: Vec<Node<F>>,
    pub(crate) grads: Vec<Option<ArrayD<F>>>,
    /// bf16 copies of weights for the one-row products of bf16 inference tapes (kept across
    /// tapes: that is their point; each is refreshed when its parameter changes).
    pub(crate) bf16_weights: Bf16WeightCache,
}

impl<F: Float> std::fmt::Debug for Workspace<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("nodes", &self.nodes.len())
            .field("fresh_allocations", &self.pool.fresh_allocations())
            .finish()
    }
}

impl<F: Float> Default for Workspace<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Float> Workspace<F> {
    /// An empty workspace.
    pub fn new() -> Self {
        Self {
            pool: BufferPool::new(),
            nodes: Vec::new(),
            grads: Vec::new(),
            bf16_weights: Bf16WeightCache::default(),
        }
    }

    /// Buffers the pool has had to allocate so far (constant once a loop is warm).
    pub fn fresh_allocations(&self) -> usize {
        self.pool.fresh_allocations()
    }

    /// Returns every node's buffers to the pool and empties the node list (keeping capacity).
    fn reset(&mut self) {
        for node in self.nodes.drain(..) {
            if let Value::Owned(a) = node.value {
                self.pool.recycle(a);
            }
            node.op.recycle(&mut self.pool);
        }
        for g in self.grads.drain(..).flatten() {
            self.pool.recycle(g);
        }
    }
}

pub(crate) fn value_of<'a, F: Float>(nodes: &'a [Node<F>], store: &'a ParamStore<F>, id: NodeId) -> ArrayViewD<'a, F> {
    match &nodes[id].value {
        Value::Owned(a) => a.view(),
        Value::Param(p) => store.value(*p).view(),
    }
}

/// What an op's forward function sees: the values recorded so far and the pool.
pub(crate) struct ForwardCtx<'a, F: Float> {
    pub(crate) nodes: &'a [Node<F>],
    pub(crate) store: &'a ParamStore<F>,
    pub(crate) pool: &'a mut BufferPool<F>,
    /// The operand precision of matrix products (the tape's).
    pub(crate) precision: Precision,
    /// bf16 copies of weights, on a bf16 tape that records no backward (`None` otherwise).
    pub(crate) bf16_weights: Option<&'a mut Bf16WeightCache>,
}

impl<'a, F: Float> ForwardCtx<'a, F> {
    /// The weight `w` in bf16, as `parts` blocks of `[rows, cols]`: on a bf16 tape that
    /// records no backward, when `w` is a parameter of that size; `None` otherwise (the op
    /// then reads the `f32` value as usual).
    pub(crate) fn bf16_weights(
        &mut self,
        w: NodeId,
        parts: usize,
        rows: usize,
        cols: usize,
    ) -> Option<&[hinet_kernels::Bf16Weights]> {
        let Value::Param(p) = self.nodes[w].value else {
            return None;
        };
        self.bf16_weights
            .as_deref_mut()?
            .weights(self.store, p, parts, rows, cols)
    }

    pub(crate) fn value(&self, id: NodeId) -> ArrayViewD<'a, F> {
        value_of(self.nodes, self.store, id)
    }
    pub(crate) fn requires_grad(&self, id: NodeId) -> bool {
        self.nodes[id].requires_grad
    }
}

/// What an op's backward rule sees: input values, and accumulators for input gradients.
pub(crate) struct BackwardCtx<'a, F: Float> {
    nodes: &'a [Node<F>],
    store: &'a ParamStore<F>,
    grads: &'a mut [Option<ArrayD<F>>],
    pub(crate) pool: &'a mut BufferPool<F>,
    param_grads: &'a mut Gradients<F>,
    /// The operand precision of matrix products (the tape's).
    pub(crate) precision: Precision,
}

impl<'a, F: Float> BackwardCtx<'a, F> {
    pub(crate) fn value(&self, id: NodeId) -> ArrayViewD<'a, F> {
        value_of(self.nodes, self.store, id)
    }

    pub(crate) fn requires_grad(&self, id: NodeId) -> bool {
        self.nodes[id].requires_grad
    }

    /// The gradient accumulator of an input, created as zeros on first use; `None` when the
    /// input needs no gradient (a constant), so the op can skip that work entirely.
    pub(crate) fn grad_mut(&mut self, id: NodeId) -> Option<ArrayViewMutD<'_, F>> {
        if !self.nodes[id].requires_grad {
            return None;
        }
        if self.grads[id].is_none() {
            let shape = self.value(id);
            let z = self.pool.zeros(shape.shape());
            self.grads[id] = Some(z);
        }
        self.grads[id].as_mut().map(|g| g.view_mut())
    }

    /// The gradient accumulator of an input for an op that writes it with one product per
    /// element: with the `beta` to pass to the GEMM. On first use the buffer is not zeroed and
    /// `beta` is 0 (the kernels never read C then), which saves a memset and a read of every
    /// element; afterwards `beta` is 1 and the product accumulates.
    pub(crate) fn grad_for_gemm(&mut self, id: NodeId) -> Option<(ArrayViewMutD<'_, F>, F)> {
        if !self.nodes[id].requires_grad {
            return None;
        }
        let beta = if self.grads[id].is_none() {
            let shape = self.value(id);
            let buffer = self.pool.uninit(shape.shape());
            self.grads[id] = Some(buffer);
            F::zero()
        } else {
            F::one()
        };
        self.grads[id].as_mut().map(|g| (g.view_mut(), beta))
    }

    /// Adds `src` (shaped like the input) to the input's gradient: a copy on first use, so the
    /// buffer needs no memset, an addition afterwards; split over rows for large tensors.
    pub(crate) fn add_grad(&mut self, id: NodeId, src: ArrayViewD<'_, F>) {
        let Some((g, beta)) = self.grad_for_gemm(id) else {
            return;
        };
        let first = beta == F::zero();
        let work = g.len();
        let add = |start: usize, mut piece: ArrayViewMutD<'_, F>| {
            let s = crate::parallel::rows_of(src.view(), start, piece.shape());
            if first {
                piece.assign(&s);
            } else {
                piece.zip_mut_with(&s, |g, &d| *g += d);
            }
        };
        crate::parallel::for_each_piece(g, Axis(0), work, &add);
    }

    /// Adds gradient rows `values[k]` to row `rows[k]` of a 2-D input. A trainable parameter
    /// receives them as sparse rows (lazy optimisers touch only those); any other node densely.
    pub(crate) fn add_rows(&mut self, id: NodeId, rows: &[usize], values: ArrayView2<'_, F>) {
        if !self.nodes[id].requires_grad {
            return;
        }
        if let Value::Param(p) = self.nodes[id].value
            && self.grads[id].is_none()
        {
            self.param_grads.add_rows(p, rows, values);
            return;
        }
        if let Some(mut g) = self.grad_mut(id) {
            for (k, &r) in rows.iter().enumerate() {
                let mut dst = g.index_axis_mut(Axis(0), r);
                for (d, &v) in dst.iter_mut().zip(values.row(k)) {
                    *d += v;
                }
            }
        }
    }
}

/// A recording of one forward computation. Build one per step, call [`Tape::backward`], drop it.
///
/// Variables ([`Var`]) borrow the tape, so the borrow checker guarantees none outlives it.
pub struct Tape<'s, F: Float> {
    store: &'s ParamStore<F>,
    ws: RefCell<Workspace<F>>,
    grad_enabled: bool,
    precision: Precision,
}

impl<'s, F: Float> Tape<'s, F> {
    /// A tape that records backward information, with a fresh workspace.
    pub fn new(store: &'s ParamStore<F>) -> Self {
        Self::with_workspace(store, Workspace::new())
    }

    /// A tape that reuses the buffers of an earlier one.
    pub fn with_workspace(store: &'s ParamStore<F>, ws: Workspace<F>) -> Self {
        Self {
            store,
            ws: RefCell::new(ws),
            grad_enabled: true,
            precision: Precision::F32,
        }
    }

    /// A tape for inference: values only, no backward information, parameters need no grad.
    pub fn no_grad(store: &'s ParamStore<F>, ws: Workspace<F>) -> Self {
        Self {
            store,
            ws: RefCell::new(ws),
            grad_enabled: false,
            precision: Precision::F32,
        }
    }

    /// The same tape with its matrix products (forward and backward) in `precision`:
    /// [`Precision::Bf16`] rounds the operands of every product to bfloat16 and accumulates in
    /// `f32`; values, gradients and every other op stay `f32` (mixed precision). Only `f32`
    /// tapes have a bf16 path; an `f64` tape computes in `f64` whatever is asked.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The operand precision of this tape's matrix products.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Whether this tape records backward information.
    pub fn grad_enabled(&self) -> bool {
        self.grad_enabled
    }

    /// The parameter store this tape reads.
    pub fn store(&self) -> &'s ParamStore<F> {
        self.store
    }

    /// Ends the tape and returns its workspace with every buffer back in the pool.
    pub fn into_workspace(self) -> Workspace<F> {
        let mut ws = self.ws.into_inner();
        ws.reset();
        ws
    }

    /// Number of nodes recorded so far.
    pub fn len(&self) -> usize {
        self.ws.borrow().nodes.len()
    }

    /// True before anything is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn var(&self, id: NodeId) -> Var<'_, F> {
        Var::new(self, id)
    }

    /// A copy of `var`'s value that the backward sweep does not go through (a stop-gradient):
    /// the loss may depend on it, but no gradient flows from it to `var`'s inputs.
    pub fn detach<'t>(&'t self, var: Var<'t, F>) -> Var<'t, F> {
        let mut guard = self.ws.borrow_mut();
        let ws = &mut *guard;
        let source = value_of(&ws.nodes, self.store, var.id());
        let mut a = ws.pool.uninit(source.shape());
        a.assign(&source);
        let id = push(ws, Value::Owned(a), Op::Leaf, false);
        drop(guard);
        self.var(id)
    }

    /// A constant input (data, labels): copied into a pooled buffer, never given a gradient.
    pub fn constant(&self, value: ArrayViewD<'_, F>) -> Var<'_, F> {
        let mut ws = self.ws.borrow_mut();
        let mut a = ws.pool.uninit(value.shape());
        a.assign(&value);
        let id = push(&mut ws, Value::Owned(a), Op::Leaf, false);
        self.var(id)
    }

    /// A constant of the given shape, every element `fill`.
    pub fn full(&self, shape: &[usize], fill: F) -> Var<'_, F> {
        let mut ws = self.ws.borrow_mut();
        let mut a = ws.pool.uninit(shape);
        a.fill(fill);
        let id = push(&mut ws, Value::Owned(a), Op::Leaf, false);
        self.var(id)
    }

    /// A parameter from the store, read in place. Trainable parameters receive gradients
    /// (unless the tape is in no-grad mode); buffers never do.
    pub fn param(&self, id: ParamId) -> Var<'_, F> {
        let trainable = self.grad_enabled && self.store.kind(id) == ParamKind::Trainable;
        let mut ws = self.ws.borrow_mut();
        let node = push(&mut ws, Value::Param(id), Op::Leaf, trainable);
        self.var(node)
    }

    /// Runs an op's forward function and records its node. The node requires a gradient when
    /// any input does; otherwise (and in no-grad mode) the op's saved state is dropped at once.
    pub(crate) fn record(
        &self,
        forward: impl FnOnce(&mut ForwardCtx<'_, F>) -> Result<(ArrayD<F>, Op<F>)>,
    ) -> Result<Var<'_, F>> {
        let mut guard = self.ws.borrow_mut();
        let ws = &mut *guard;
        let (value, op) = {
            // One-row products of a bf16 model read bf16 copies of the weights, in inference
            // only: training keeps reading the f32 weights it updates.
            let bf16_weights =
                (!self.grad_enabled && self.precision == Precision::Bf16).then_some(&mut ws.bf16_weights);
            let mut ctx = ForwardCtx {
                nodes: &ws.nodes,
                store: self.store,
                pool: &mut ws.pool,
                precision: self.precision,
                bf16_weights,
            };
            forward(&mut ctx)?
        };
        let mut requires = false;
        op.for_each_input(&mut |i| requires |= ws.nodes[i].requires_grad);
        let requires = requires && self.grad_enabled;
        let op = if requires {
            op
        } else {
            op.recycle(&mut ws.pool);
            Op::Leaf
        };
        let id = push(ws, Value::Owned(value), op, requires);
        Ok(self.var(id))
    }

    pub(crate) fn borrow_ws(&self) -> RefMut<'_, Workspace<F>> {
        self.ws.borrow_mut()
    }

    pub(crate) fn with_value<R>(&self, id: NodeId, f: impl FnOnce(ArrayViewD<'_, F>) -> R) -> R {
        let ws = self.ws.borrow();
        f(value_of(&ws.nodes, self.store, id))
    }

    pub(crate) fn node_requires_grad(&self, id: NodeId) -> bool {
        self.ws.borrow().nodes[id].requires_grad
    }

    /// One reverse sweep from `loss` (a one-element tensor): fills `grads` with the gradient
    /// of every trainable parameter the loss depends on. Intermediate gradients are returned
    /// to the pool as soon as their node has pushed them to its inputs.
    pub fn backward(&self, loss: Var<'_, F>, grads: &mut Gradients<F>) -> Result<()> {
        if !self.grad_enabled {
            return Err(AutogradError::NoGradTape);
        }
        if !std::ptr::eq(loss.tape(), self) {
            return Err(AutogradError::ForeignVar { op: "backward" });
        }
        let mut guard = self.ws.borrow_mut();
        let ws = &mut *guard;
        let root = loss.id();
        {
            let v = value_of(&ws.nodes, self.store, root);
            if v.len() != 1 {
                return Err(AutogradError::LossNotScalar {
                    shape: v.shape().to_vec(),
                });
            }
        }
        grads.clear();
        for g in ws.grads.drain(..).flatten() {
            ws.pool.recycle(g);
        }
        ws.grads.resize_with(ws.nodes.len(), || None);
        if !ws.nodes[root].requires_grad {
            return Ok(());
        }
        let seed_shape = value_of(&ws.nodes, self.store, root).raw_dim();
        let mut seed = ws.pool.uninit(seed_shape.slice());
        seed.fill(F::one());
        ws.grads[root] = Some(seed);

        for id in (0..=root).rev() {
            let Some(g) = ws.grads[id].take() else {
                continue;
            };
            if let Value::Param(p) = ws.nodes[id].value {
                grads.add_dense(p, g.view());
            } else {
                let mut ctx = BackwardCtx {
                    nodes: &ws.nodes,
                    store: self.store,
                    grads: &mut ws.grads,
                    pool: &mut ws.pool,
                    param_grads: grads,
                    precision: self.precision,
                };
                ws.nodes[id].op.backward(id, &g, &mut ctx);
            }
            ws.pool.recycle(g);
        }
        grads.finish();
        Ok(())
    }
}

fn push<F: Float>(ws: &mut Workspace<F>, value: Value<F>, op: Op<F>, requires_grad: bool) -> NodeId {
    ws.nodes.push(Node {
        value,
        op,
        requires_grad,
    });
    ws.nodes.len() - 1
}
