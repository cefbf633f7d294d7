//! STAR (Sheng et al., CIKM 2021), the star-topology multi-scenario model, one per task as the
//! HiNet paper trains its multi-scenario baselines.
//!
//! Each layer has shared weights `W` and per-scenario weights `W_m`; a row of scenario m uses
//! `W ⊙ W_m` and `b + b_m` (the paper's eq. 3). `W_m` starts at ones and `b_m` at zeros, so
//! training starts from the shared network. Left out: STAR's partitioned normalisation and its
//! auxiliary network.

use crate::error::Result;
use hinet_autograd::{Activation, Float, ParamId, ParamStore, Var, concat};
use hinet_layers::{Module, xavier_uniform};
use ndarray::ArrayD;
use rand::Rng;
use smallvec::SmallVec;

#[derive(Debug, Clone)]
struct StarLayer {
    shared_w: ParamId,
    shared_b: ParamId,
    scenario_w: Vec<ParamId>,
    scenario_b: Vec<ParamId>,
}

/// Parameters `star.{task}.layer.{l}.weight`, `.bias`, `.scenario.{m}.weight`, `.scenario.{m}.bias`.
#[derive(Debug, Clone)]
pub struct Star {
    tasks: Vec<Vec<StarLayer>>,
}

impl Star {
    pub(crate) fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        scenarios: usize,
        tasks: usize,
        in_features: usize,
        hidden: &[usize],
        rng: &mut R,
    ) -> Result<Self> {
        let mut all = Vec::with_capacity(tasks);
        for t in 0..tasks {
            let mut layers = Vec::new();
            let mut width = in_features;
            for (l, &out) in hidden.iter().chain(std::iter::once(&1)).enumerate() {
                let p = format!("star.{t}.layer.{l}");
                let shared_w = store.add(format!("{p}.weight"), xavier_uniform(&[out, width], width, out, rng))?;
                let shared_b = store.add(format!("{p}.bias"), ArrayD::zeros(vec![out]))?;
                let mut scenario_w = Vec::with_capacity(scenarios);
                let mut scenario_b = Vec::with_capacity(scenarios);
                for m in 0..scenarios {
                    scenario_w.push(store.add(format!("{p}.scenario.{m}.weight"), ArrayD::ones(vec![out, width]))?);
                    scenario_b.push(store.add(format!("{p}.scenario.{m}.bias"), ArrayD::zeros(vec![out]))?);
                }
                layers.push(StarLayer {
                    shared_w,
                    shared_b,
                    scenario_w,
                    scenario_b,
                });
                width = out;
            }
            all.push(layers);
        }
        Ok(Self { tasks: all })
    }

    pub(crate) fn forward<'t, F: Float>(&self, x: Var<'t, F>, offsets: &[usize]) -> Result<Var<'t, F>> {
        let tape = x.tape();
        let mut parts: SmallVec<[Var<'t, F>; 16]> = SmallVec::new();
        for m in 0..offsets.len() - 1 {
            let (start, end) = (offsets[m], offsets[m + 1]);
            if start == end {
                continue;
            }
            let rows = x.narrow(0, start, end - start)?;
            let mut logits: SmallVec<[Var<'t, F>; 4]> = SmallVec::new();
            for layers in &self.tasks {
                let mut h = rows;
                let last = layers.len() - 1;
                for (l, layer) in layers.iter().enumerate() {
                    let w = tape.param(layer.shared_w).mul(tape.param(layer.scenario_w[m]))?;
                    let b = tape.param(layer.shared_b).add(tape.param(layer.scenario_b[m]))?;
                    let act = if l == last {
                        Activation::Identity
                    } else {
                        Activation::Relu
                    };
                    h = h.linear(w, Some(b), act)?;
                }
                logits.push(h);
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

impl<F: Float> Module<F> for Star {
    fn state(&self) -> Vec<ParamId> {
        let mut s = Vec::new();
        for layers in &self.tasks {
            for l in layers {
                s.extend([l.shared_w, l.shared_b]);
                s.extend(l.scenario_w.iter().chain(&l.scenario_b));
            }
        }
        s
    }

    fn set_training(&mut self, _training: bool) {}
}
