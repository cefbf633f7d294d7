//! The optimiser's state as named tensors and metadata ([`OptimState`]): what a checkpoint
//! saves, and the checked restore that refuses a state of another optimiser, shape or value.

use super::Optimizer;
use crate::error::{OptimError, Result};
use crate::state::OptimState;
use hinet_autograd::Float;
use ndarray::{ArrayD, IxDyn};
use std::collections::{BTreeMap, HashMap};

impl<F: Float> Optimizer<F> {
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
