//! Activations applied after a dense layer.

use crate::error::{InLayer, Result};
use hinet_autograd::{Activation as Fused, Float, Var};

/// The nonlinearity after each layer of an MLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// `max(x, 0)` (the paper's and the official code's choice), fused into the GEMM epilogue.
    #[default]
    Relu,
    /// No nonlinearity.
    Identity,
    /// `tanh x`.
    Tanh,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
}

impl Activation {
    /// The part the fused linear op can apply itself.
    pub(crate) fn fused(self) -> Fused {
        match self {
            Activation::Relu => Fused::Relu,
            _ => Fused::Identity,
        }
    }

    /// Applies what the fused op did not.
    pub(crate) fn finish<'t, F: Float>(self, x: Var<'t, F>, layer: &str) -> Result<Var<'t, F>> {
        match self {
            Activation::Relu | Activation::Identity => Ok(x),
            Activation::Tanh => x.tanh().in_layer(layer),
            Activation::Sigmoid => x.sigmoid().in_layer(layer),
        }
    }

    /// Applies the whole activation to an unfused value.
    pub(crate) fn apply<'t, F: Float>(self, x: Var<'t, F>, layer: &str) -> Result<Var<'t, F>> {
        match self {
            Activation::Relu => x.relu().in_layer(layer),
            other => other.finish(x, layer),
        }
    }
}
