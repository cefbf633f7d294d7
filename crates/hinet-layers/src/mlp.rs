//! `Mlp`: dense layers with an activation after each, optional batch norm between the product
//! and the activation, optional dropout after it.

use crate::activation::Activation;
use crate::batch_norm::BatchNorm1d;
use crate::dropout::Dropout;
use crate::error::{Result, config_error};
use crate::linear::Linear;
use crate::module::Module;
use hinet_autograd::{Float, ParamId, ParamStore, Var};
use rand::Rng;

/// How to build an [`Mlp`].
#[derive(Debug, Clone, PartialEq)]
pub struct MlpConfig {
    /// Output width of each layer, e.g. `[128, 64]`.
    pub hidden: Vec<usize>,
    /// Nonlinearity after every layer.
    pub activation: Activation,
    /// Dropout probability after every layer (0 = none).
    pub dropout: f64,
    /// Batch norm between each product and its activation.
    pub batch_norm: bool,
}

impl MlpConfig {
    /// ReLU layers of the given widths, no dropout, no batch norm.
    pub fn relu(hidden: &[usize]) -> Self {
        Self {
            hidden: hidden.to_vec(),
            activation: Activation::Relu,
            dropout: 0.0,
            batch_norm: false,
        }
    }
}

/// Parameters `{name}.layer.{i}.weight`, `{name}.layer.{i}.bias`, and with batch norm
/// `{name}.norm.{i}.*`.
#[derive(Debug)]
pub struct Mlp<F> {
    layers: Vec<Linear>,
    norms: Vec<BatchNorm1d<F>>,
    dropout: Option<Dropout>,
    activation: Activation,
    in_features: usize,
}

impl<F: Float> Mlp<F> {
    /// Registers the layers under `name`.
    pub fn new<R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        in_features: usize,
        config: &MlpConfig,
        rng: &mut R,
    ) -> Result<Self> {
        if config.hidden.is_empty() {
            return config_error(name, "an MLP needs at least one layer (hidden is empty)");
        }
        let mut layers = Vec::new();
        let mut norms = Vec::new();
        let mut width = in_features;
        for (i, &out) in config.hidden.iter().enumerate() {
            layers.push(Linear::new(store, &format!("{name}.layer.{i}"), width, out, true, rng)?);
            if config.batch_norm {
                norms.push(BatchNorm1d::new(store, &format!("{name}.norm.{i}"), out, 1e-5, 0.1)?);
            }
            width = out;
        }
        let dropout = if config.dropout > 0.0 {
            Some(Dropout::new(&format!("{name}.dropout"), config.dropout, rng.random())?)
        } else {
            None
        };
        Ok(Self {
            layers,
            norms,
            dropout,
            activation: config.activation,
            in_features,
        })
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output width (of the last layer).
    pub fn out_features(&self) -> usize {
        self.layers.last().map_or(self.in_features, |l| l.out_features())
    }

    /// The dense layers, in order.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// Runs `x` `[n, in]` through every layer.
    pub fn forward<'t>(&self, x: Var<'t, F>) -> Result<Var<'t, F>> {
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = match self.norms.get(i) {
                Some(norm) => {
                    let z = layer.forward(h, Activation::Identity)?;
                    let name = format!("norm.{i}");
                    self.activation.apply(norm.forward(z)?, &name)?
                }
                None => layer.forward(h, self.activation)?,
            };
            if let Some(d) = &self.dropout {
                h = d.forward(h)?;
            }
        }
        Ok(h)
    }
}

impl<F: Float> Module<F> for Mlp<F> {
    fn state(&self) -> Vec<ParamId> {
        let mut s = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            s.extend(Module::<F>::state(l));
            if let Some(n) = self.norms.get(i) {
                s.extend(n.state());
            }
        }
        s
    }

    fn set_training(&mut self, training: bool) {
        self.norms.iter_mut().for_each(|n| n.set_training(training));
        if let Some(d) = &mut self.dropout {
            Module::<F>::set_training(d, training);
        }
    }

    fn commit(&self, store: &mut ParamStore<F>) {
        self.norms.iter().for_each(|n| n.commit(store));
    }
}
