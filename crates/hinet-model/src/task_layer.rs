//! The task extraction layer with routing: each scenario's rows pass through that scenario's
//! CGC and towers only (rows are sorted by scenario, so a scenario's rows are one slice).
//!
//! The same structure, with different CGC settings, is Shared-Bottom (one expert, summed),
//! MMoE (shared experts only) and PLE (shared and task experts, several levels), each with
//! its own parameters per scenario, as the paper's multi-task baselines are trained per scenario.

use crate::error::Result;
use hinet_autograd::{Float, ParamId, ParamStore, Var, concat};
use hinet_layers::{Cgc, CgcConfig, ExpertStack, MlpConfig, Module, Tower};
use rand::Rng;
use smallvec::SmallVec;

#[derive(Debug)]
struct ScenarioHead<F> {
    cgc: Cgc,
    towers: Vec<Tower<F>>,
}

/// Parameters `{name}.{m}.cgc.*`, `{name}.{m}.tower.{j}.*` and, when the task-shared experts
/// are shared by all scenarios, `{name}.shared_experts.*`.
#[derive(Debug)]
pub struct TaskLayer<F> {
    heads: Vec<ScenarioHead<F>>,
    global_shared: Option<ExpertStack>,
}

impl<F: Float> TaskLayer<F> {
    /// One CGC (`cgc`) and T towers per scenario; `global_shared` experts (if any) are computed
    /// once on all rows and offered to every scenario's gates.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new<R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        scenarios: usize,
        in_features: usize,
        cgc: &CgcConfig,
        global_shared: usize,
        tower: &MlpConfig,
        rng: &mut R,
    ) -> Result<Self> {
        let global_shared = if global_shared > 0 {
            Some(ExpertStack::new(
                store,
                &format!("{name}.shared_experts"),
                global_shared,
                in_features,
                &cgc.expert_hidden,
                rng,
            )?)
        } else {
            None
        };
        let cgc_config = CgcConfig {
            external_experts: global_shared.as_ref().map_or(0, |g| g.experts()),
            ..cgc.clone()
        };
        let mut heads = Vec::with_capacity(scenarios);
        for m in 0..scenarios {
            let cgc = Cgc::new(store, &format!("{name}.{m}.cgc"), in_features, &cgc_config, rng)?;
            let towers = (0..cgc_config.tasks)
                .map(|j| Tower::new(store, &format!("{name}.{m}.tower.{j}"), cgc.out_features(), tower, rng))
                .collect::<Result<Vec<_>, _>>()?;
            heads.push(ScenarioHead { cgc, towers });
        }
        Ok(Self { heads, global_shared })
    }

    /// `h` `[n, in]` (rows sorted by scenario) -> logits `[n, T]` in the same row order.
    pub(crate) fn forward<'t>(&self, h: Var<'t, F>, offsets: &[usize]) -> Result<Var<'t, F>> {
        let global = self.global_shared.as_ref().map(|g| g.forward(h)).transpose()?;
        let mut parts: SmallVec<[Var<'t, F>; 16]> = SmallVec::new();
        for (m, head) in self.heads.iter().enumerate() {
            let (start, end) = (offsets[m], offsets[m + 1]);
            if start == end {
                continue;
            }
            let rows = h.narrow(0, start, end - start)?;
            let external = global.map(|g| g.narrow(1, start, end - start)).transpose()?;
            let outputs = head.cgc.forward_with(rows, external)?;
            let mut logits: SmallVec<[Var<'t, F>; 4]> = SmallVec::new();
            for (tower, out) in head.towers.iter().zip(outputs) {
                logits.push(tower.forward(out)?);
            }
            parts.push(if logits.len() == 1 {
                logits[0]
            } else {
                concat(&logits, 1)?
            });
        }
        Ok(if parts.len() == 1 { parts[0] } else { concat(&parts, 0)? })
    }
}

impl<F: Float> Module<F> for TaskLayer<F> {
    fn state(&self) -> Vec<ParamId> {
        let mut s = self.global_shared.as_ref().map(Module::<F>::state).unwrap_or_default();
        for h in &self.heads {
            s.extend(Module::<F>::state(&h.cgc));
            for t in &h.towers {
                s.extend(t.state());
            }
        }
        s
    }

    fn set_training(&mut self, training: bool) {
        for h in &mut self.heads {
            h.towers.iter_mut().for_each(|t| t.set_training(training));
        }
    }

    fn commit(&self, store: &mut ParamStore<F>) {
        for h in &self.heads {
            h.towers.iter().for_each(|t| t.commit(store));
        }
    }
}
