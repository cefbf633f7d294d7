//! `Cgc`: customized gate control (Tang et al., RecSys 2020, the building block of PLE).
//!
//! S shared experts and P experts per task; task j's gate mixes its own P experts and the S
//! shared ones. Levels stack (PLE): every level but the last also has a gate over all experts
//! that produces the shared input of the next level.

use crate::error::{InLayer, LayerError, Result, config_error};
use crate::expert_stack::ExpertStack;
use crate::gate::{Gate, GateMode};
use crate::module::Module;
use hinet_autograd::{Float, ParamId, ParamStore, Var, concat};
use rand::Rng;
use smallvec::{SmallVec, smallvec};

/// Per-task values of one forward pass, inline for up to 4 tasks (no allocation per step).
pub type PerTask<T> = SmallVec<[T; 4]>;

/// How to build a [`Cgc`].
#[derive(Debug, Clone, PartialEq)]
pub struct CgcConfig {
    /// Number of tasks T.
    pub tasks: usize,
    /// Shared experts per level S.
    pub shared_experts: usize,
    /// Experts per task per level P.
    pub experts_per_task: usize,
    /// Each expert's MLP widths, e.g. `[128, 64]`.
    pub expert_hidden: Vec<usize>,
    /// Number of stacked levels (1 = plain CGC).
    pub levels: usize,
    /// How the gates weigh experts.
    pub gate_mode: GateMode,
    /// Experts computed outside this CGC and passed to [`Cgc::forward_with`], added to every
    /// level-0 gate (HiNet's official code shares its task-shared experts across scenarios).
    pub external_experts: usize,
}

#[derive(Debug, Clone)]
struct Level {
    shared: Option<ExpertStack>,
    tasks: Vec<Option<ExpertStack>>,
    task_gates: Vec<Gate>,
    shared_gate: Option<Gate>,
}

/// Parameters, per level l: `{name}.level.{l}.shared.*`, `{name}.level.{l}.task.{j}.*`,
/// `{name}.level.{l}.gate.{j}.*` and (non-final levels) `{name}.level.{l}.shared_gate.*`.
#[derive(Debug, Clone)]
pub struct Cgc {
    name: String,
    levels: Vec<Level>,
    out_features: usize,
}

impl Cgc {
    /// A CGC (or PLE with `levels > 1`) on an input of width `in_features`.
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        in_features: usize,
        config: &CgcConfig,
        rng: &mut R,
    ) -> Result<Self> {
        let c = config;
        if c.tasks == 0 || c.levels == 0 || c.shared_experts + c.experts_per_task + c.external_experts == 0 {
            return config_error(
                name,
                format!(
                    "needs >= 1 task, >= 1 level and >= 1 expert per gate; got {} tasks, {} levels, {} shared + {} per task + {} external",
                    c.tasks, c.levels, c.shared_experts, c.experts_per_task, c.external_experts
                ),
            );
        }
        let mut levels = Vec::with_capacity(c.levels);
        let mut width = in_features;
        for l in 0..c.levels {
            let prefix = format!("{name}.level.{l}");
            let stack =
                |store: &mut ParamStore<F>, rng: &mut R, n: usize, what: String| -> Result<Option<ExpertStack>> {
                    if n == 0 {
                        return Ok(None);
                    }
                    ExpertStack::new(store, &what, n, width, &c.expert_hidden, rng).map(Some)
                };
            let shared = stack(store, rng, c.shared_experts, format!("{prefix}.shared"))?;
            let mut tasks = Vec::with_capacity(c.tasks);
            let mut task_gates = Vec::with_capacity(c.tasks);
            for j in 0..c.tasks {
                tasks.push(stack(store, rng, c.experts_per_task, format!("{prefix}.task.{j}"))?);
                let external = if l == 0 { c.external_experts } else { 0 };
                let e = c.experts_per_task + c.shared_experts + external;
                task_gates.push(Gate::new(
                    store,
                    &format!("{prefix}.gate.{j}"),
                    width,
                    e,
                    c.gate_mode,
                    rng,
                )?);
            }
            let shared_gate = if l + 1 < c.levels {
                let external = if l == 0 { c.external_experts } else { 0 };
                let e = c.tasks * c.experts_per_task + c.shared_experts + external;
                Some(Gate::new(
                    store,
                    &format!("{prefix}.shared_gate"),
                    width,
                    e,
                    c.gate_mode,
                    rng,
                )?)
            } else {
                None
            };
            width = c.expert_hidden.last().copied().unwrap_or(width);
            levels.push(Level {
                shared,
                tasks,
                task_gates,
                shared_gate,
            });
        }
        Ok(Self {
            name: name.to_string(),
            levels,
            out_features: width,
        })
    }

    /// Width of each task output.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// `x` `[n, in]` -> one `[n, d]` output per task.
    pub fn forward<'t, F: Float>(&self, x: Var<'t, F>) -> Result<PerTask<Var<'t, F>>> {
        self.forward_with(x, None)
    }

    /// Like [`Cgc::forward`], with `external` `[E, n, d]` expert outputs computed elsewhere
    /// added to every level-0 gate (as many as `external_experts` in the config).
    pub fn forward_with<'t, F: Float>(
        &self,
        x: Var<'t, F>,
        external: Option<Var<'t, F>>,
    ) -> Result<PerTask<Var<'t, F>>> {
        let tasks = self.levels.first().map_or(0, |l| l.tasks.len());
        let mut task_inputs: PerTask<Var<'t, F>> = smallvec![x; tasks];
        let mut shared_input = x;
        for (l, level) in self.levels.iter().enumerate() {
            let mut shared = level.shared.as_ref().map(|s| s.forward(shared_input)).transpose()?;
            if l == 0
                && let Some(ext) = external
            {
                shared = Some(match shared {
                    Some(s) => concat(&[s, ext], 0).in_layer(&self.name)?,
                    None => ext,
                });
            }
            let mut own: PerTask<Option<Var<'t, F>>> = SmallVec::new();
            for (j, stack) in level.tasks.iter().enumerate() {
                own.push(stack.as_ref().map(|s| s.forward(task_inputs[j])).transpose()?);
            }
            let mut outputs: PerTask<Var<'t, F>> = SmallVec::new();
            for (j, gate) in level.task_gates.iter().enumerate() {
                let experts = self.join(own[j].iter().chain(shared.iter()).copied())?;
                outputs.push(gate.mix(task_inputs[j], experts)?);
            }
            if let Some(gate) = &level.shared_gate {
                let experts = self.join(own.iter().flatten().chain(shared.iter()).copied())?;
                shared_input = gate.mix(shared_input, experts)?;
            }
            task_inputs = outputs;
        }
        Ok(task_inputs)
    }

    /// Concatenates expert stacks `[K_i, n, d]` along the expert axis.
    fn join<'t, F: Float>(&self, parts: impl Iterator<Item = Var<'t, F>>) -> Result<Var<'t, F>> {
        let parts: SmallVec<[Var<'t, F>; 16]> = parts.collect();
        match parts.len() {
            0 => Err(LayerError::Input {
                layer: self.name.clone(),
                why: "a gate has no experts".into(),
            }),
            1 => Ok(parts[0]),
            _ => concat(&parts, 0).in_layer(&self.name),
        }
    }
}

impl<F: Float> Module<F> for Cgc {
    fn state(&self) -> Vec<ParamId> {
        let mut s = Vec::new();
        for l in &self.levels {
            for stack in l.shared.iter().chain(l.tasks.iter().flatten()) {
                s.extend(Module::<F>::state(stack));
            }
            for g in l.task_gates.iter().chain(l.shared_gate.iter()) {
                s.extend(Module::<F>::state(g));
            }
        }
        s
    }

    fn set_training(&mut self, _training: bool) {}
}
