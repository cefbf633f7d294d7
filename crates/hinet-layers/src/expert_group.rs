//! `ExpertGroup`: the paper's sub-expert integration, `E(x) = sum_k g_k(x) Q_k(x)` with
//! `g = softmax(W x + b)` (HiNet, section 2.1 of docs/paper.md).

use crate::error::Result;
use crate::expert_stack::ExpertStack;
use crate::gate::{Gate, GateMode};
use crate::module::Module;
use hinet_autograd::{Float, ParamId, ParamStore, Var};
use rand::Rng;

/// Parameters `{name}.experts.layer.{l}.*` (see [`ExpertStack`]) and `{name}.gate.*`.
#[derive(Debug, Clone)]
pub struct ExpertGroup {
    experts: ExpertStack,
    gate: Gate,
}

impl ExpertGroup {
    /// K sub-experts (MLPs of widths `hidden`) on an input of width `in_features`, mixed by a
    /// gate on the same input.
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        sub_experts: usize,
        in_features: usize,
        hidden: &[usize],
        gate_mode: GateMode,
        rng: &mut R,
    ) -> Result<Self> {
        let experts = ExpertStack::new(store, &format!("{name}.experts"), sub_experts, in_features, hidden, rng)?;
        let gate = Gate::new(store, &format!("{name}.gate"), in_features, sub_experts, gate_mode, rng)?;
        Ok(Self { experts, gate })
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.experts.out_features()
    }

    /// `[n, in] -> [n, d]`.
    pub fn forward<'t, F: Float>(&self, x: Var<'t, F>) -> Result<Var<'t, F>> {
        let outputs = self.experts.forward(x)?;
        self.gate.mix(x, outputs)
    }
}

impl<F: Float> Module<F> for ExpertGroup {
    fn state(&self) -> Vec<ParamId> {
        let mut s = Module::<F>::state(&self.experts);
        s.extend(Module::<F>::state(&self.gate));
        s
    }

    fn set_training(&mut self, _training: bool) {}
}
