//! `Tower`: an MLP ending in one logit, one per (scenario, task).

use crate::activation::Activation;
use crate::error::Result;
use crate::linear::Linear;
use crate::mlp::{Mlp, MlpConfig};
use crate::module::Module;
use hinet_autograd::{Float, ParamId, ParamStore, Var};
use rand::Rng;

/// Parameters `{name}.mlp.*` and `{name}.logit.*` (`[1, last hidden]`).
#[derive(Debug)]
pub struct Tower<F> {
    mlp: Option<Mlp<F>>,
    logit: Linear,
}

impl<F: Float> Tower<F> {
    /// An MLP of `config` (may have no hidden layers: then a logistic regression on the input),
    /// then a linear map to one logit.
    pub fn new<R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        in_features: usize,
        config: &MlpConfig,
        rng: &mut R,
    ) -> Result<Self> {
        let mlp = if config.hidden.is_empty() {
            None
        } else {
            Some(Mlp::new(store, &format!("{name}.mlp"), in_features, config, rng)?)
        };
        let width = mlp.as_ref().map_or(in_features, Mlp::out_features);
        let logit = Linear::new(store, &format!("{name}.logit"), width, 1, true, rng)?;
        Ok(Self { mlp, logit })
    }

    /// `[n, in] -> [n, 1]` logits.
    pub fn forward<'t>(&self, x: Var<'t, F>) -> Result<Var<'t, F>> {
        let h = match &self.mlp {
            Some(m) => m.forward(x)?,
            None => x,
        };
        self.logit.forward(h, Activation::Identity)
    }
}

impl<F: Float> Module<F> for Tower<F> {
    fn state(&self) -> Vec<ParamId> {
        let mut s = self.mlp.as_ref().map(Module::state).unwrap_or_default();
        s.extend(Module::<F>::state(&self.logit));
        s
    }

    fn set_training(&mut self, training: bool) {
        if let Some(m) = &mut self.mlp {
            m.set_training(training);
        }
    }

    fn commit(&self, store: &mut ParamStore<F>) {
        if let Some(m) = &self.mlp {
            m.commit(store);
        }
    }
}
