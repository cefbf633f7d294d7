//! `Linear`: `y = x W^T + b`, weight stored `[out, in]` as PyTorch does.

use crate::activation::Activation;
use crate::error::{InLayer, Result, config_error};
use crate::init::xavier_uniform;
use crate::module::Module;
use hinet_autograd::{Float, ParamId, ParamStore, Var};
use ndarray::ArrayD;
use rand::Rng;

/// A dense layer. Parameters: `{name}.weight` `[out, in]` (Xavier uniform), `{name}.bias`
/// `[out]` (zeros).
#[derive(Debug, Clone)]
pub struct Linear {
    name: String,
    weight: ParamId,
    bias: Option<ParamId>,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    /// Registers the layer's parameters under `name`.
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        in_features: usize,
        out_features: usize,
        bias: bool,
        rng: &mut R,
    ) -> Result<Self> {
        if in_features == 0 || out_features == 0 {
            return config_error(
                name,
                format!("sizes must be positive, got in = {in_features}, out = {out_features}"),
            );
        }
        let w = xavier_uniform(&[out_features, in_features], in_features, out_features, rng);
        let weight = store.add(format!("{name}.weight"), w).in_layer(name)?;
        let bias = if bias {
            Some(
                store
                    .add(format!("{name}.bias"), ArrayD::zeros(vec![out_features]))
                    .in_layer(name)?,
            )
        } else {
            None
        };
        Ok(Self {
            name: name.to_string(),
            weight,
            bias,
            in_features,
            out_features,
        })
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// The weight's id.
    pub fn weight(&self) -> ParamId {
        self.weight
    }

    /// The bias's id, if the layer has one.
    pub fn bias(&self) -> Option<ParamId> {
        self.bias
    }

    /// `act(x W^T + b)` for `x` of shape `[n, in]`; ReLU is fused into the product.
    pub fn forward<'t, F: Float>(&self, x: Var<'t, F>, act: Activation) -> Result<Var<'t, F>> {
        let tape = x.tape();
        let w = tape.param(self.weight);
        let b = self.bias.map(|b| tape.param(b));
        let y = x.linear(w, b, act.fused()).in_layer(&self.name)?;
        act.finish(y, &self.name)
    }
}

impl<F: Float> Module<F> for Linear {
    fn state(&self) -> Vec<ParamId> {
        std::iter::once(self.weight).chain(self.bias).collect()
    }

    fn set_training(&mut self, _training: bool) {}
}
