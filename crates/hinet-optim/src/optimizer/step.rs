//! The update: check every gradient first (shapes, finiteness, the global norm), then apply
//! each parameter's rule, so a bad gradient never leaves a half-updated model.

use super::{Optimizer, Slot, StepReport};
use crate::adagrad::AdagradKernel;
use crate::adam::AdamKernel;
use crate::clip::clip_coefficient;
use crate::error::{OptimError, Result};
use crate::kernel::{self, Kernel, L2};
use crate::kind::OptimizerKind;
use crate::norm::grad_sum_sq;
use hinet_autograd::{Float, Gradients, ParamGrad, ParamStore};

impl<F: Float> Optimizer<F> {
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
}

fn g_len<F>(g: &ParamGrad<'_, F>) -> usize {
    match g {
        ParamGrad::Dense(d) => d.len(),
        ParamGrad::Rows { values, .. } => values.len(),
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
