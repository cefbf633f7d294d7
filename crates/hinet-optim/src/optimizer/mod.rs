//! The optimiser: groups, per-parameter state, and the two-phase step (check everything, then
//! update), so that a bad gradient never leaves a half-updated model.
//!
//! One concept per file: this one holds the optimiser's parts (groups, per-parameter slots,
//! settings); `step.rs` the update itself; `saved.rs` the state a checkpoint saves and restores.

mod saved;
mod step;

use crate::error::{OptimError, Result};
use crate::group::ParamGroup;
use crate::kind::OptimizerKind;
use crate::schedule::Schedule;
use hinet_autograd::{Float, ParamGrad, ParamId, ParamKind, ParamStore};
use std::collections::HashMap;

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

    /// Stops updating `params` (their state is dropped, and they leave their groups): for
    /// parameters that something else updates, such as embedding tables sharded across the
    /// processes of a data-parallel job, whose stand-ins in this store change shape each step.
    pub fn detach(&mut self, params: &[ParamId]) {
        self.slots.retain(|s| !params.contains(&s.id));
        for g in &mut self.groups {
            g.params.retain(|p| !params.contains(p));
        }
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
