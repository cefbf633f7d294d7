//! HiNet's scenario extraction layer (spec section 2.2):
//! `G = E_sh(x)`, `S_m = E_m(x)` for every scenario m, `A_i = SAN_i(S)`, output
//! `C_i = [A_i, S_i, G]` for a row of scenario i.

use crate::config::ModelConfig;
use crate::error::Result;
use hinet_autograd::{Float, ParamId, ParamStore, Var, concat};
use hinet_layers::{ExpertGroup, GateMode, Module, SanConfig, ScenarioAttention};
use ndarray::ArrayD;
use rand::Rng;
use smallvec::SmallVec;

/// Parameters `scenario.shared.*`, `scenario.specific.{m}.*`, `scenario.san.*`.
#[derive(Debug)]
pub struct ScenarioLayer<F> {
    shared: ExpertGroup,
    specific: Vec<ExpertGroup>,
    san: Option<ScenarioAttention<F>>,
    /// The M x M identity: its rows, gathered by scenario id, are one-hot weights that pick each
    /// row's own `S_i` out of the stacked `[M, n, d]` outputs with the fused mix op.
    eye: ArrayD<F>,
    width: usize,
}

impl<F: Float> ScenarioLayer<F> {
    pub(crate) fn new<R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        config: &ModelConfig,
        in_features: usize,
        mode: GateMode,
        rng: &mut R,
    ) -> Result<Self> {
        let (k, hidden) = (config.sub_experts, &config.expert_hidden);
        let shared = ExpertGroup::new(store, "scenario.shared", k, in_features, hidden, mode, rng)?;
        let m = config.num_scenarios();
        let specific = (0..m)
            .map(|i| {
                ExpertGroup::new(
                    store,
                    &format!("scenario.specific.{i}"),
                    k,
                    in_features,
                    hidden,
                    mode,
                    rng,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let san = if config.san {
            let san_config = SanConfig {
                embedding_dim: config.scenario_embedding_dim,
                hidden: config.san_hidden.clone(),
                renormalise: config.san_renormalise,
            };
            Some(ScenarioAttention::new(store, "scenario.san", m, &san_config, rng)?)
        } else {
            None
        };
        let d = shared.out_features();
        let eye = ArrayD::from_shape_fn(vec![m, m], |ix| if ix[0] == ix[1] { F::one() } else { F::zero() });
        Ok(Self {
            shared,
            specific,
            san,
            eye,
            width: d * if config.san { 3 } else { 2 },
        })
    }

    /// Width of C.
    pub fn out_features(&self) -> usize {
        self.width
    }

    /// SAN's weights (None without SAN).
    pub fn attention(&self, store: &ParamStore<F>) -> Result<Option<ndarray::Array2<F>>> {
        Ok(self.san.as_ref().map(|s| s.attention_matrix(store)).transpose()?)
    }

    pub(crate) fn forward<'t>(&self, x: Var<'t, F>, scenario: &[usize]) -> Result<Var<'t, F>> {
        let tape = x.tape();
        let n = scenario.len();
        let g = self.shared.forward(x)?;
        let d = self.shared.out_features();
        let mut stacked: SmallVec<[Var<'t, F>; 16]> = SmallVec::new();
        for group in &self.specific {
            stacked.push(group.forward(x)?.reshape(&[1, n, d])?);
        }
        let s_all = concat(&stacked, 0)?;
        let own = tape.constant(self.eye.view()).gather_rows(scenario)?.mix(s_all)?;
        let c = match &self.san {
            Some(san) => {
                let a = san.forward(scenario, s_all)?;
                concat(&[a, own, g], 1)?
            }
            None => concat(&[own, g], 1)?,
        };
        Ok(c)
    }
}

impl<F: Float> Module<F> for ScenarioLayer<F> {
    fn state(&self) -> Vec<ParamId> {
        let mut s = Module::<F>::state(&self.shared);
        for g in &self.specific {
            s.extend(Module::<F>::state(g));
        }
        if let Some(san) = &self.san {
            s.extend(san.state());
        }
        s
    }

    fn set_training(&mut self, _training: bool) {}
}
