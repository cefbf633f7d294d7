//! HMoE (Li et al., "Improving Multi-Scenario Learning to Rank in E-commerce by Exploiting Task
//! Relationships in the Label Space", CIKM 2020), the multi-scenario mixture of experts, one
//! per task as the HiNet paper trains its multi-scenario baselines.
//!
//! Per task, on the input x of a row of scenario i (docs/model.md, "HMoE"):
//! - K experts shared by every scenario: `E_k(x)` (MLPs of `expert_hidden`, ReLU);
//! - per scenario m, a gate and a tower: `s_m = tower_m(sum_k softmax(G_m x + g_m)_k E_k(x))`,
//!   the logit scenario m's model gives the row, computed for *every* scenario m;
//! - the scenarios' predictions combined in the label space with weights of the row's own
//!   scenario: `z = sum_m softmax(R_i x + r_i)_m ŝ_m`, where `ŝ_i = s_i` and `ŝ_m = stop_gradient(s_m)`
//!   for `m != i`: scenario i's loss trains its own tower, the shared experts through its gate
//!   and the weighting, while the other scenarios' predictions enter as fixed evidence.
//!
//! The combination is of logits (then the sigmoid of the loss), not of probabilities: the same
//! weighting in a numerically safer space (the BCE stays on logits). Left out: HMoE's variant
//! with scenario-specific feature inputs.

use crate::error::Result;
use hinet_autograd::{Float, ParamId, ParamStore, Var, concat};
use hinet_layers::{ExpertStack, Gate, GateMode, Linear, MlpConfig, Module, Tower};
use rand::Rng;
use smallvec::SmallVec;

/// One task's HMoE.
#[derive(Debug)]
struct TaskHmoe<F> {
    experts: ExpertStack,
    gates: Vec<Gate>,
    towers: Vec<Tower<F>>,
    relations: Vec<Linear>,
}

/// Parameters `hmoe.{task}.experts.layer.{l}.{weight,bias}`, `hmoe.{task}.gate.{m}.{weight,bias}`,
/// `hmoe.{task}.tower.{m}.*` and `hmoe.{task}.relation.{m}.{weight,bias}` (`[M, in]`, `[M]`).
#[derive(Debug)]
pub struct Hmoe<F> {
    tasks: Vec<TaskHmoe<F>>,
    /// The other scenarios' predictions without a gradient (HMoE's; `hmoe_stop_gradient`).
    stop_gradient: bool,
}

impl<F: Float> Hmoe<F> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new<R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        scenarios: usize,
        tasks: usize,
        in_features: usize,
        experts: usize,
        expert_hidden: &[usize],
        gate: GateMode,
        tower: &MlpConfig,
        stop_gradient: bool,
        rng: &mut R,
    ) -> Result<Self> {
        let mut all = Vec::with_capacity(tasks);
        for t in 0..tasks {
            let p = format!("hmoe.{t}");
            let stack = ExpertStack::new(store, &format!("{p}.experts"), experts, in_features, expert_hidden, rng)?;
            let width = stack.out_features();
            let mut gates = Vec::with_capacity(scenarios);
            let mut towers = Vec::with_capacity(scenarios);
            let mut relations = Vec::with_capacity(scenarios);
            for m in 0..scenarios {
                gates.push(Gate::new(
                    store,
                    &format!("{p}.gate.{m}"),
                    in_features,
                    experts,
                    gate,
                    rng,
                )?);
                towers.push(Tower::new(store, &format!("{p}.tower.{m}"), width, tower, rng)?);
            }
            for m in 0..scenarios {
                relations.push(Linear::new(
                    store,
                    &format!("{p}.relation.{m}"),
                    in_features,
                    scenarios,
                    true,
                    rng,
                )?);
            }
            all.push(TaskHmoe {
                experts: stack,
                gates,
                towers,
                relations,
            });
        }
        Ok(Self {
            tasks: all,
            stop_gradient,
        })
    }

    /// Logits `[n, T]` of rows sorted by scenario (`offsets`: M + 1 boundaries).
    pub(crate) fn forward<'t>(&self, x: Var<'t, F>, offsets: &[usize]) -> Result<Var<'t, F>> {
        let tape = x.tape();
        let scenarios = offsets.len() - 1;
        let mut columns: SmallVec<[Var<'t, F>; 4]> = SmallVec::new();
        for task in &self.tasks {
            // The experts once, on every row: [K, n, d].
            let experts = task.experts.forward(x)?;
            let mut parts: SmallVec<[Var<'t, F>; 16]> = SmallVec::new();
            for i in 0..scenarios {
                let (start, end) = (offsets[i], offsets[i + 1]);
                if start == end {
                    continue;
                }
                let rows = x.narrow(0, start, end - start)?;
                let mine = experts.narrow(1, start, end - start)?;
                // Every scenario's prediction for these rows, [1, n_i, 1] each; the others'
                // without a gradient.
                let mut preds: SmallVec<[Var<'t, F>; 16]> = SmallVec::new();
                for m in 0..scenarios {
                    let s = task.towers[m].forward(task.gates[m].mix(rows, mine)?)?;
                    let s = if m != i && self.stop_gradient {
                        tape.detach(s)
                    } else {
                        s
                    };
                    preds.push(s.reshape(&[1, end - start, 1])?);
                }
                let preds = if preds.len() == 1 { preds[0] } else { concat(&preds, 0)? };
                // Weighted by the row's own scenario: softmax(R_i x + r_i) over the M predictions.
                let weights = task.relations[i].forward(rows, hinet_layers::Activation::Identity)?;
                parts.push(weights.gate(preds)?);
            }
            columns.push(if parts.len() == 1 { parts[0] } else { concat(&parts, 0)? });
        }
        Ok(if columns.len() == 1 {
            columns[0]
        } else {
            concat(&columns, 1)?
        })
    }
}

impl<F: Float> Module<F> for Hmoe<F> {
    fn state(&self) -> Vec<ParamId> {
        let mut s = Vec::new();
        for t in &self.tasks {
            s.extend(Module::<F>::state(&t.experts));
            for g in &t.gates {
                s.extend(Module::<F>::state(g));
            }
            for tower in &t.towers {
                s.extend(tower.state());
            }
            for r in &t.relations {
                s.extend(Module::<F>::state(r));
            }
        }
        s
    }

    fn set_training(&mut self, training: bool) {
        for t in &mut self.tasks {
            for tower in &mut t.towers {
                tower.set_training(training);
            }
        }
    }
}
