//! The optimiser: groups, per-parameter state, and the two-phase step (check everything, then
//! update), so that a bad gradient never leaves a half-updated model.

use crate::adagrad::AdagradKernel;
use crate::adam::AdamKernel;
use crate::clip::clip_coefficient;
use crate::error::{OptimError, Result};
use crate::group::ParamGroup;
use crate::kernel::{self, Kernel, L2};
use crate::kind::OptimizerKind;
use crate::norm::grad_sum_sq;
use crate::schedule::Schedule;
use crate::state::OptimState;
use hinet_autograd::{Float, Gradients, ParamGrad, ParamId, ParamKind, ParamStore};
use ndarray::{ArrayD, IxDyn};
use std::collections::{BTreeMap, HashMap};

/// Tensors with at least this many elements (or lazy updates touching at least this many) are
/// split across the current rayon pool by default. Two 16 Ki-element chunks: HiNet's deeper
/// expert layers ([5, 64, 128] = 40,960 weights) then split too; at 64 Ki they stayed on one
/// thread and left the second idle for a sixth of the optimiser pass.
pub const DEFAULT_PARALLEL_THRESHOLD: usize = 1 << 15;

/// What one step did, for logs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Steps taken so far, this one included (1 after the first step).
    pub step: u64,
    /// Scheduled learning rate of this step (before each group's `lr_scale`).
    pub lr: f64,
    /// Global L2 norm of the gradients, before clipping.
    pub grad_norm: f64,
    /// Factor the gradients were multiplied by (1 when not clipped).
    pub clip_coef: f64,
    /// Parameters that had a gradient and were updated.
    pub params_updated: usize,
}

/// Per-parameter state. Buffers are allocated on the parameter's first update and reused.
#[derive(Debug, Clone)]
struct Slot<F> {
    id: ParamId,
    name: String,
    shape: Vec<usize>,
    group: usize,
    /// Updates applied to this parameter (Adam's `t`).
    step: u64,
    s1: Vec<F>,
    s2: Vec<F>,
    /// A zero row, for row gradients of tables in dense groups.
    zeros: Vec<F>,
    /// A contiguous copy of a gradient that is not (never the case for `Gradients` today).
    scratch: Vec<F>,
}

/// An optimiser over the trainable parameters of a [`ParamStore`].
#[derive(Debug, Clone)]
pub struct Optimizer<F> {
    kind: OptimizerKind,
    base_lr: f64,
    groups: Vec<ParamGroup>,
    slots: Vec<Slot<F>>,
    schedule: Schedule,
    clip_norm: Option<f64>,
    step_count: u64,
    parallel_threshold: usize,
}

fn check_lr(lr: f64) -> Result<()> {
    if lr.is_finite() && lr >= 0.0 {
        Ok(())
    } else {
        Err(OptimError::InvalidConfig {
            what: format!("learning rate must be finite and >= 0, got {lr}"),
        })
    }
}

impl<F: Float> Optimizer<F> {
    /// Builds an optimiser with base learning rate `lr`. Every trainable parameter of `store`
    /// that is in no group goes into a group `"default"` (dense, `lr_scale` 1, no weight
    /// decay). Errors name the group and parameter at fault.
    pub fn new(kind: OptimizerKind, lr: f64, groups: Vec<ParamGroup>, store: &ParamStore<F>) -> Result<Self> {
        kind.validate()?;
        check_lr(lr)?;
        let mut groups = groups;
        let mut owner: HashMap<usize, usize> = HashMap::new();
        let mut slots = Vec::new();
        for (gi, g) in groups.iter().enumerate() {
            for (what, x) in [
                ("lr_scale", g.lr_scale),
                ("weight_decay", g.weight_decay),
                ("row_l2", g.row_l2),
            ] {
                if !(x.is_finite() && x >= 0.0) {
                    return Err(OptimError::InvalidConfig {
                        what: format!("group {:?}: {what} must be finite and >= 0, got {x}", g.name),
                    });
                }
            }
            for &id in &g.params {
                if id.index() >= store.len() {
                    return Err(OptimError::UnknownParam {
                        group: g.name.clone(),
                        index: id.index(),
                        len: store.len(),
                    });
                }
                let name = store.name(id).to_string();
                if store.kind(id) != ParamKind::Trainable {
                    return Err(OptimError::NotTrainable {
                        group: g.name.clone(),
                        param: name,
                    });
                }
                if let Some(&first) = owner.get(&id.index()) {
                    return Err(OptimError::DuplicateParam {
                        param: name,
                        first: groups[first].name.clone(),
                        second: g.name.clone(),
                    });
                }
                let shape = store.value(id).shape().to_vec();
                if g.sparse && shape.len() != 2 {
                    return Err(OptimError::SparseNotMatrix {
                        group: g.name.clone(),
                        param: name,
                        shape,
                    });
                }
                owner.insert(id.index(), gi);
                slots.push(Slot::new(id, name, shape, gi));
            }
        }
        let rest: Vec<ParamId> = store
            .ids()
            .filter(|id| store.kind(*id) == ParamKind::Trainable && !owner.contains_key(&id.index()))
            .collect();
        if !rest.is_empty() {
            let gi = groups.len();
            for &id in &rest {
                slots.push(Slot::new(
                    id,
                    store.name(id).to_string(),
                    store.value(id).shape().to_vec(),
                    gi,
                ));
            }
            groups.push(ParamGroup::new("default", rest));
        }
        Ok(Self {
            kind,
            base_lr: lr,
            groups,
            slots,
            schedule: Schedule::Constant,
            clip_norm: None,
            step_count: 0,
            parallel_threshold: DEFAULT_PARALLEL_THRESHOLD,
        })
    }

    /// The update rule.
    pub fn kind(&self) -> &OptimizerKind {
        &self.kind
    }

    /// The groups, the default group last if one was made.
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }

    /// The base learning rate (before the schedule).
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// Changes the base learning rate.
    pub fn set_base_lr(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.base_lr = lr;
        Ok(())
    }

    /// The learning rate the next step will use (schedule applied, before group scales).
    pub fn lr(&self) -> f64 {
        self.schedule.lr_at(self.base_lr, self.step_count)
    }

    /// Steps taken.
    pub fn step_count(&self) -> u64 {
        self.step_count
    }

    /// The learning-rate schedule.
    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    /// Sets the learning-rate schedule (evaluated at the optimiser's step count).
    pub fn set_schedule(&mut self, schedule: Schedule) -> Result<()> {
        schedule.validate()?;
        self.schedule = schedule;
        Ok(())
    }

    /// The global-norm clipping bound, if any.
    pub fn clip_norm(&self) -> Option<f64> {
        self.clip_norm
    }

    /// Clips gradients to this global L2 norm before each update (`None`: no clipping).
    pub fn set_clip_norm(&mut self, max_norm: Option<f64>) -> Result<()> {
        if let Some(m) = max_norm
            && !(m.is_finite() && m > 0.0)
        {
            return Err(OptimError::InvalidConfig {
                what: format!("clip norm must be finite and > 0, got {m}"),
            });
        }
        self.clip_norm = max_norm;
        Ok(())
    }

    /// Size (elements) from which one tensor's update is split across the current rayon pool.
    /// Results are bit-identical whatever the threshold and the number of threads.
    pub fn set_parallel_threshold(&mut self, elements: usize) {
        self.parallel_threshold = elements;
    }

    /// See [`Optimizer::set_parallel_threshold`].
    pub fn parallel_threshold(&self) -> usize {
        self.parallel_threshold
    }

    /// Applies one update with the gradients of the last backward sweep.
    ///
    /// Parameters without a gradient are skipped (their state is untouched). Before anything is
    /// written, every gradient is checked: a NaN or infinity gives
    /// [`OptimError::NonFinite`] naming the parameter, a shape that does not fit gives
    /// [`OptimError::GradShape`] / [`OptimError::BadRows`]; the model and the optimiser are
    /// then left exactly as they were and the step is not counted.
    pub fn step(&mut self, store: &mut ParamStore<F>, grads: &Gradients<F>) -> Result<StepReport> {
        // Phase 1: check the store, every gradient's shape and finiteness; sum squares.
        let mut sq = 0.0f64;
        for slot in &self.slots {
            slot.check_store(store)?;
            let Some(g) = grads.get(slot.id) else { continue };
            slot.check_grad(&g)?;
            let s = grad_sum_sq(&g, g_len(&g) >= self.parallel_threshold);
            if !s.is_finite() {
                return Err(OptimError::NonFinite {
                    param: slot.name.clone(),
                });
            }
            sq += s;
        }
        let grad_norm = sq.sqrt();
        let clip = clip_coefficient(grad_norm, self.clip_norm);
        let lr = self.lr();

        // Phase 2: update. Nothing below can fail on checked input.
        let mut updated = 0;
        for slot in &mut self.slots {
            let Some(g) = grads.get(slot.id) else { continue };
            let group = &self.groups[slot.group];
            let glr = lr * group.lr_scale;
            let wd = group.weight_decay;
            // Coupled L2 of this parameter: the group's weight decay (AdamW's is decoupled and
            // goes into its kernel instead) on every element, plus `row_l2` on the elements
            // that have a gradient (touched rows). The penalty lives here, in the row-gradient
            // path, because this is the one place that already holds the distinct touched rows
            // (sorted, merged) next to their values: adding `row_l2 * p_r` inside the update
            // loop costs O(touched rows x width), allocates nothing and reaches every rule and
            // both the lazy and the dense driver. It is not part of the gradient norm and is
            // not clipped, like weight decay (PyTorch's order).
            let coupled = match self.kind {
                OptimizerKind::AdamW { .. } => 0.0,
                _ => wd,
            };
            let l2 = L2 {
                touched: F::of(coupled + group.row_l2),
                untouched: F::of(coupled),
            };
            // Saturating: a step count restored from a file may be as large as u64 allows.
            let t = slot.step.saturating_add(1);
            let n = store.value(slot.id).len();
            slot.init_state(&self.kind, n);
            let Some(p) = store.value_mut(slot.id).as_slice_mut() else {
                continue; // unreachable: `check_store` verified the layout
            };
            let th = self.parallel_threshold;
            match self.kind {
                OptimizerKind::Sgd {
                    momentum,
                    dampening,
                    nesterov,
                } => {
                    let k = crate::sgd::SgdKernel {
                        lr: F::of(glr),
                        clip: F::of(clip),
                        momentum: F::of(momentum),
                        one_minus_dampening: F::of(1.0 - dampening),
                        nesterov,
                        first: t == 1,
                        use_momentum: momentum != 0.0,
                    };
                    apply(&k, p, &g, slot, l2, group.sparse, th);
                }
                OptimizerKind::Adam { beta1, beta2, eps } => {
                    let k = AdamKernel::new(beta1, beta2, eps, glr, wd, false, t, clip);
                    apply(&k, p, &g, slot, l2, group.sparse, th);
                }
                OptimizerKind::AdamW { beta1, beta2, eps } => {
                    let k = AdamKernel::new(beta1, beta2, eps, glr, wd, true, t, clip);
                    apply(&k, p, &g, slot, l2, group.sparse, th);
                }
                OptimizerKind::Adagrad { eps, .. } => {
                    let k = AdagradKernel {
                        lr: F::of(glr),
                        eps: F::of(eps),
                        clip: F::of(clip),
                    };
                    apply(&k, p, &g, slot, l2, group.sparse, th);
                }
            }
            slot.step = t;
            updated += 1;
        }
        self.step_count = self.step_count.saturating_add(1);
        Ok(StepReport {
            step: self.step_count,
            lr,
            grad_norm,
            clip_coef: clip,
            params_updated: updated,
        })
    }

    /// The optimiser's state (copies), named as described in [`OptimState`].
    pub fn state(&self) -> Result<OptimState<F>> {
        let mut tensors = Vec::new();
        for (name, shape, buf) in self.state_buffers() {
            let t = ArrayD::from_shape_vec(IxDyn(shape), buf.to_vec()).map_err(|_| OptimError::StateShape {
                name: name.clone(),
                expected: shape.to_vec(),
                found: vec![buf.len()],
            })?;
            tensors.push((name, t));
        }
        Ok(OptimState {
            tensors,
            meta: self.state_meta(),
        })
    }

    /// The metadata of [`Optimizer::state`] (kind and step counters) without copying any tensor.
    pub fn state_meta(&self) -> BTreeMap<String, String> {
        let mut meta = BTreeMap::new();
        meta.insert("optimizer".to_string(), self.kind.name().to_string());
        meta.insert("step".to_string(), self.step_count.to_string());
        for slot in self.slots.iter().filter(|s| s.step > 0) {
            meta.insert(format!("{}.step", slot.name), slot.step.to_string());
        }
        meta
    }

    /// The state tensors of [`Optimizer::state`] as borrowed `(name, shape, values)` in the same
    /// order, values row-major: what a checkpoint writer needs to stream the state to a file
    /// without a second copy of it in memory.
    pub fn state_buffers(&self) -> Vec<(String, &[usize], &[F])> {
        let mut out = Vec::new();
        for slot in self.slots.iter().filter(|s| s.step > 0) {
            for (suffix, buf) in self.kind.state_names().iter().zip([&slot.s1, &slot.s2]) {
                out.push((format!("{}.{suffix}", slot.name), slot.shape.as_slice(), buf.as_slice()));
            }
        }
        out
    }

    /// Restores state saved by [`Optimizer::state`] of an optimiser of the same kind over the
    /// same parameters. Checks the kind, every name, every shape and every value first (a NaN or
    /// infinity anywhere, or a negative second moment or Adagrad sum, is refused naming the
    /// tensor: it would turn every later update into NaN); on error nothing changes. Parameters
    /// absent from the state start fresh at their next update.
    pub fn load_state(&mut self, state: &OptimState<F>) -> Result<()> {
        let parse = |key: &str| -> Result<Option<u64>> {
            state
                .meta
                .get(key)
                .map(|v| {
                    v.parse::<u64>().map_err(|e| OptimError::StateMeta {
                        key: key.to_string(),
                        why: format!("{v:?} is not a step count ({e})"),
                    })
                })
                .transpose()
        };
        let found = state.meta.get("optimizer").ok_or_else(|| OptimError::StateMeta {
            key: "optimizer".into(),
            why: "missing".into(),
        })?;
        if found != self.kind.name() {
            return Err(OptimError::StateKind {
                expected: self.kind.name().into(),
                found: found.clone(),
            });
        }
        let step = parse("step")?.ok_or_else(|| OptimError::StateMeta {
            key: "step".into(),
            why: "missing".into(),
        })?;
        let mut by_name: HashMap<&str, &ArrayD<F>> = HashMap::new();
        for (name, t) in &state.tensors {
            if by_name.insert(name.as_str(), t).is_some() {
                return Err(OptimError::StateMeta {
                    key: name.clone(),
                    why: "tensor saved twice".into(),
                });
            }
        }
        // Plan: (slot, step, tensors) for every parameter with saved state.
        let mut plan: Vec<(usize, u64, Vec<&ArrayD<F>>)> = Vec::new();
        let mut used_meta = 2;
        let mut used_tensors = 0;
        for (si, slot) in self.slots.iter().enumerate() {
            let key = format!("{}.step", slot.name);
            let Some(t) = parse(&key)? else { continue };
            used_meta += 1;
            let mut bufs = Vec::new();
            for suffix in self.kind.state_names() {
                let name = format!("{}.{suffix}", slot.name);
                let tensor = by_name
                    .get(name.as_str())
                    .ok_or_else(|| OptimError::StateMissing { name: name.clone() })?;
                if tensor.shape() != slot.shape.as_slice() {
                    return Err(OptimError::StateShape {
                        name,
                        expected: slot.shape.clone(),
                        found: tensor.shape().to_vec(),
                    });
                }
                check_state_values(&name, suffix, tensor)?;
                used_tensors += 1;
                bufs.push(*tensor);
            }
            plan.push((si, t, bufs));
        }
        if used_meta != state.meta.len() || used_tensors != state.tensors.len() {
            return Err(OptimError::StateUnexpected {
                name: self.first_unexpected(state),
            });
        }
        // Apply.
        self.step_count = step;
        for slot in &mut self.slots {
            slot.step = 0;
        }
        for (si, t, bufs) in plan {
            let slot = &mut self.slots[si];
            slot.step = t;
            for (dst, src) in [&mut slot.s1, &mut slot.s2].into_iter().zip(bufs) {
                dst.clear();
                dst.extend(src.iter().copied());
            }
        }
        Ok(())
    }

    fn first_unexpected(&self, state: &OptimState<F>) -> String {
        let mut known: Vec<String> = vec!["optimizer".into(), "step".into()];
        for slot in &self.slots {
            known.push(format!("{}.step", slot.name));
            for suffix in self.kind.state_names() {
                known.push(format!("{}.{suffix}", slot.name));
            }
        }
        state
            .meta
            .keys()
            .chain(state.tensors.iter().map(|(n, _)| n))
            .find(|k| !known.contains(k))
            .cloned()
            .unwrap_or_default()
    }
}

/// Refuses a saved state tensor holding NaN or infinity, or (for the sums of squares that go
/// under a square root: Adam's `exp_avg_sq`, Adagrad's `sum`) a negative value.
fn check_state_values<F: Float>(name: &str, suffix: &str, tensor: &ArrayD<F>) -> Result<()> {
    let non_negative = matches!(suffix, "exp_avg_sq" | "sum");
    for (index, v) in tensor.iter().enumerate() {
        if !v.is_finite() {
            return Err(OptimError::StateNonFinite {
                name: name.to_string(),
                index,
                value: v.f64(),
            });
        }
        if non_negative && *v < F::zero() {
            return Err(OptimError::StateNegative {
                name: name.to_string(),
                index,
                value: v.f64(),
            });
        }
    }
    Ok(())
}

fn g_len<F>(g: &ParamGrad<'_, F>) -> usize {
    match g {
        ParamGrad::Dense(d) => d.len(),
        ParamGrad::Rows { values, .. } => values.len(),
    }
}

impl<F: Float> Slot<F> {
    fn new(id: ParamId, name: String, shape: Vec<usize>, group: usize) -> Self {
        Self {
            id,
            name,
            shape,
            group,
            step: 0,
            s1: Vec::new(),
            s2: Vec::new(),
            zeros: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn check_store(&self, store: &ParamStore<F>) -> Result<()> {
        let i = self.id.index();
        let mismatch = |found: String| OptimError::StoreMismatch {
            index: i,
            expected: self.name.clone(),
            found,
        };
        if i >= store.len() {
            return Err(mismatch("nothing".into()));
        }
        if store.name(self.id) != self.name {
            return Err(mismatch(store.name(self.id).to_string()));
        }
        let v = store.value(self.id);
        if v.shape() != self.shape.as_slice() {
            return Err(mismatch(format!("{} with shape {:?}", self.name, v.shape())));
        }
        if !v.is_standard_layout() {
            return Err(OptimError::NotContiguous {
                param: self.name.clone(),
            });
        }
        Ok(())
    }

    fn check_grad(&self, g: &ParamGrad<'_, F>) -> Result<()> {
        match g {
            ParamGrad::Dense(d) if d.shape() != self.shape.as_slice() => Err(OptimError::GradShape {
                param: self.name.clone(),
                expected: self.shape.clone(),
                found: d.shape().to_vec(),
            }),
            ParamGrad::Dense(_) => Ok(()),
            ParamGrad::Rows { rows, values } => {
                let bad = |why: String| {
                    Err(OptimError::BadRows {
                        param: self.name.clone(),
                        shape: self.shape.clone(),
                        why,
                    })
                };
                if self.shape.len() != 2 {
                    return bad("row gradients need a 2-D table".into());
                }
                if values.nrows() != rows.len() || values.ncols() != self.shape[1] {
                    return bad(format!(
                        "{} rows of values shaped {:?} for {} indices",
                        values.nrows(),
                        values.shape(),
                        rows.len()
                    ));
                }
                if rows.windows(2).any(|w| w[0] >= w[1]) {
                    return bad("row indices are not sorted and unique".into());
                }
                if let Some(&last) = rows.last()
                    && last >= self.shape[0]
                {
                    return bad(format!("row {last} is out of range"));
                }
                Ok(())
            }
        }
    }

    /// Allocates (first update) or re-initialises (after a reset) the state buffers.
    fn init_state(&mut self, kind: &OptimizerKind, n: usize) {
        if self.step > 0 {
            return;
        }
        let (n1, n2, fill) = match *kind {
            OptimizerKind::Sgd { momentum, .. } => (if momentum != 0.0 { n } else { 0 }, 0, 0.0),
            OptimizerKind::Adam { .. } | OptimizerKind::AdamW { .. } => (n, n, 0.0),
            OptimizerKind::Adagrad {
                initial_accumulator, ..
            } => (n, 0, initial_accumulator),
        };
        self.s1.clear();
        self.s1.resize(n1, F::of(fill));
        self.s2.clear();
        self.s2.resize(n2, F::zero());
    }
}

/// Runs a kernel on one parameter, choosing the dense, dense-from-rows or lazy driver.
fn apply<F: Float, K: Kernel<F>>(
    k: &K,
    p: &mut [F],
    g: &ParamGrad<'_, F>,
    slot: &mut Slot<F>,
    l2: L2<F>,
    sparse: bool,
    threshold: usize,
) {
    let Slot {
        s1, s2, zeros, scratch, ..
    } = slot;
    match g {
        ParamGrad::Dense(d) => {
            let gs = match d.as_slice() {
                Some(s) => s,
                None => {
                    scratch.clear();
                    scratch.extend(d.iter().copied());
                    scratch.as_slice()
                }
            };
            let par = p.len() >= threshold;
            kernel::dense(k, p, gs, s1, s2, l2.touched, par);
        }
        ParamGrad::Rows { rows, values } => {
            let width = values.ncols();
            let vals = match values.as_slice() {
                Some(s) => s,
                None => {
                    scratch.clear();
                    scratch.extend(values.iter().copied());
                    scratch.as_slice()
                }
            };
            if sparse {
                let par = values.len() >= threshold;
                kernel::lazy_rows(k, p, s1, s2, width, rows, vals, l2, 0, par);
            } else {
                if zeros.len() != width {
                    zeros.clear();
                    zeros.resize(width, F::zero());
                }
                let par = p.len() >= threshold;
                kernel::dense_from_rows(k, p, s1, s2, width, rows, vals, zeros, l2, 0, par);
            }
        }
    }
}
