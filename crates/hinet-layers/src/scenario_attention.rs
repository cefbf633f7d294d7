//! `ScenarioAttention` (SAN): for a row of scenario i, mixes the *other* scenarios' expert
//! outputs with weights that depend only on i (HiNet, section 2.2 of docs/paper.md):
//! `a_i = softmax over m != i of (W_a^i e_i + b_a^i)_m`, `A_i = sum_{m != i} a_i[m] S_m(x)`.
//!
//! Because the weights depend only on the scenario, they form an M x M matrix (row i: how much
//! scenario i borrows from each other scenario), computed once per batch and then picked per row.

use crate::error::{InLayer, LayerError, Result, config_error};
use crate::init::{uniform, xavier_uniform};
use crate::linear::Linear;
use crate::mlp::{Mlp, MlpConfig};
use crate::module::Module;
use hinet_autograd::{Float, ParamId, ParamStore, Tape, Var, concat};
use ndarray::{Array2, ArrayD, Dimension};
use rand::Rng;

/// How SAN scores scenarios.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SanConfig {
    /// Width of the scenario-indicator embedding `e_i`.
    pub embedding_dim: usize,
    /// Hidden widths of a per-scenario MLP before the scoring layer (empty: one linear map, the
    /// paper; `[128, 64]`: the official code).
    pub hidden: Vec<usize>,
    /// Softmax over the other scenarios only (the paper), or over all M with the own scenario
    /// zeroed afterwards so the weights sum to less than 1 (the official code).
    pub renormalise: bool,
}

#[derive(Debug)]
enum Scorer<F> {
    /// `W_a` `[M, M, d_e]`, `b_a` `[M, M]`: scenario i's scores are `W_a[i] e_i + b_a[i]`.
    Linear { weight: ParamId, bias: ParamId },
    /// One MLP and scoring layer per scenario.
    Mlp(Vec<(Mlp<F>, Linear)>),
}

/// Parameters `{name}.scenario_embedding` `[M, d_e]`, then either `{name}.score.weight`
/// `[M, M, d_e]` and `{name}.score.bias` `[M, M]`, or `{name}.score.{i}.mlp.*` and
/// `{name}.score.{i}.out.*` per scenario i.
#[derive(Debug)]
pub struct ScenarioAttention<F> {
    name: String,
    scenarios: usize,
    embedding: ParamId,
    scorer: Scorer<F>,
    renormalise: bool,
    /// Removes each scenario's own score: added to the scores (0 off the diagonal, -inf on it)
    /// when renormalising, multiplied with the weights (1 off the diagonal, 0 on it) otherwise.
    /// Built once, so a step allocates nothing for it.
    mask: ArrayD<F>,
}

impl<F: Float> ScenarioAttention<F> {
    /// SAN over `scenarios` scenarios (at least 2: with one there is no other scenario).
    pub fn new<R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        scenarios: usize,
        config: &SanConfig,
        rng: &mut R,
    ) -> Result<Self> {
        if scenarios < 2 {
            return config_error(
                name,
                format!("scenario attention needs at least 2 scenarios, got {scenarios}"),
            );
        }
        if config.embedding_dim == 0 {
            return config_error(name, "the scenario embedding dimension must be positive");
        }
        let d = config.embedding_dim;
        let embedding = store
            .add(
                format!("{name}.scenario_embedding"),
                uniform(&[scenarios, d], 0.05, rng),
            )
            .in_layer(name)?;
        let scorer = if config.hidden.is_empty() {
            let w = xavier_uniform(&[scenarios, scenarios, d], d, scenarios, rng);
            Scorer::Linear {
                weight: store.add(format!("{name}.score.weight"), w).in_layer(name)?,
                bias: store
                    .add(format!("{name}.score.bias"), ArrayD::zeros(vec![scenarios, scenarios]))
                    .in_layer(name)?,
            }
        } else {
            let mut per = Vec::with_capacity(scenarios);
            for i in 0..scenarios {
                let mlp = Mlp::new(
                    store,
                    &format!("{name}.score.{i}.mlp"),
                    d,
                    &MlpConfig::relu(&config.hidden),
                    rng,
                )?;
                let out = Linear::new(
                    store,
                    &format!("{name}.score.{i}.out"),
                    mlp.out_features(),
                    scenarios,
                    true,
                    rng,
                )?;
                per.push((mlp, out));
            }
            Scorer::Mlp(per)
        };
        let mask = ArrayD::from_shape_fn(vec![scenarios, scenarios], |ix| {
            match (ix[0] == ix[1], config.renormalise) {
                (true, true) => F::neg_infinity(),
                (false, true) | (true, false) => F::zero(),
                (false, false) => F::one(),
            }
        });
        Ok(Self {
            name: name.to_string(),
            scenarios,
            embedding,
            scorer,
            renormalise: config.renormalise,
            mask,
        })
    }

    /// Number of scenarios M.
    pub fn scenarios(&self) -> usize {
        self.scenarios
    }

    /// The M x M attention weights on the tape (row i: scenario i's weights; diagonal 0).
    pub fn attention<'t>(&self, tape: &'t Tape<'t, F>) -> Result<Var<'t, F>> {
        let m = self.scenarios;
        let name = &self.name;
        let e = tape.param(self.embedding);
        let scores = match &self.scorer {
            Scorer::Linear { weight, bias } => {
                let d = e.with_value(|v| v.shape()[1]);
                let e3 = e.reshape(&[m, d, 1]).in_layer(name)?;
                tape.param(*weight)
                    .batched_matmul(e3, false, false)
                    .and_then(|s| s.reshape(&[m, m]))
                    .and_then(|s| s.add(tape.param(*bias)))
                    .in_layer(name)?
            }
            Scorer::Mlp(per) => {
                let mut rows = Vec::with_capacity(m);
                for (i, (mlp, out)) in per.iter().enumerate() {
                    let ei = e.narrow(0, i, 1).in_layer(name)?;
                    rows.push(out.forward(mlp.forward(ei)?, crate::Activation::Identity)?);
                }
                concat(&rows, 0).in_layer(name)?
            }
        };
        let mask = tape.constant(self.mask.view());
        if self.renormalise {
            // A -inf score gets weight exactly 0 and passes no gradient.
            scores.add(mask).and_then(|s| s.softmax(1)).in_layer(name)
        } else {
            scores.softmax(1).and_then(|a| a.mul(mask)).in_layer(name)
        }
    }

    /// `A` `[n, d]`: row r mixes the scenario outputs `experts` `[M, n, d]` with the weights of
    /// its scenario `scenario[r]`.
    pub fn forward<'t>(&self, scenario: &[usize], experts: Var<'t, F>) -> Result<Var<'t, F>> {
        let dim = experts.dim();
        let shape = dim.slice();
        if shape.len() != 3 || shape[0] != self.scenarios || shape[1] != scenario.len() {
            return Err(LayerError::Input {
                layer: self.name.clone(),
                why: format!(
                    "expected scenario outputs [{}, {}, d], got {shape:?}",
                    self.scenarios,
                    scenario.len()
                ),
            });
        }
        if let Some(&bad) = scenario.iter().find(|&&s| s >= self.scenarios) {
            return Err(LayerError::Input {
                layer: self.name.clone(),
                why: format!("scenario id {bad} is outside 0..{}", self.scenarios),
            });
        }
        let attention = self.attention(experts.tape())?;
        attention
            .gather_rows(scenario)
            .and_then(|w| w.mix(experts))
            .in_layer(&self.name)
    }

    /// The current M x M weights, for the scenario-correlation heat-map.
    pub fn attention_matrix(&self, store: &ParamStore<F>) -> Result<Array2<F>> {
        let tape = Tape::no_grad(store, Default::default());
        let a = self.attention(&tape)?.value();
        a.into_dimensionality().map_err(|_| LayerError::Input {
            layer: self.name.clone(),
            why: "attention is not M x M".into(),
        })
    }
}

impl<F: Float> Module<F> for ScenarioAttention<F> {
    fn state(&self) -> Vec<ParamId> {
        let mut s = vec![self.embedding];
        match &self.scorer {
            Scorer::Linear { weight, bias } => s.extend([*weight, *bias]),
            Scorer::Mlp(per) => {
                for (mlp, out) in per {
                    s.extend(mlp.state());
                    s.extend(Module::<F>::state(out));
                }
            }
        }
        s
    }

    fn set_training(&mut self, _training: bool) {}
}
