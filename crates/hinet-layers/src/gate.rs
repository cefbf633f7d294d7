//! `Gate`: per-row mixing weights over E experts, `softmax(W x + b)`.

use crate::error::{InLayer, LayerError, Result, config_error};
use crate::linear::Linear;
use crate::module::Module;
use hinet_autograd::{Activation, Float, ParamId, ParamStore, Var};
use ndarray::Dimension;
use rand::Rng;

/// How a gate weighs its experts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GateMode {
    /// `softmax(W x + b)` (the paper).
    #[default]
    Softmax,
    /// `softmax(relu(W x + b))` (the official code's ReLU before the softmax).
    ReluSoftmax,
    /// The plain mean of the experts, no parameters (the paper's "without gates" ablation).
    Mean,
    /// The plain sum of the experts, no parameters (the official code's CGC, whose softmax runs
    /// over an axis of size 1).
    Sum,
}

/// Parameters `{name}.weight` `[E, in]`, `{name}.bias` `[E]` (none in `Mean` or `Sum` mode).
#[derive(Debug, Clone)]
pub struct Gate {
    name: String,
    linear: Option<Linear>,
    experts: usize,
    mode: GateMode,
}

impl Gate {
    /// A gate over `experts` experts reading an input of width `in_features`.
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        in_features: usize,
        experts: usize,
        mode: GateMode,
        rng: &mut R,
    ) -> Result<Self> {
        if experts == 0 {
            return config_error(name, "a gate needs at least one expert");
        }
        let linear = match mode {
            GateMode::Softmax | GateMode::ReluSoftmax => {
                Some(Linear::new(store, name, in_features, experts, true, rng)?)
            }
            GateMode::Mean | GateMode::Sum => None,
        };
        Ok(Self {
            name: name.to_string(),
            linear,
            experts,
            mode,
        })
    }

    /// Number of experts gated.
    pub fn experts(&self) -> usize {
        self.experts
    }

    /// The mode.
    pub fn mode(&self) -> GateMode {
        self.mode
    }

    /// Mixes `experts` `[E, n, d]` with weights computed from `x` `[n, in]`: `[n, d]`.
    pub fn mix<'t, F: Float>(&self, x: Var<'t, F>, experts: Var<'t, F>) -> Result<Var<'t, F>> {
        let dim = experts.dim();
        let shape = dim.slice();
        let rows = x.with_value(|v| v.shape().first().copied().unwrap_or(0));
        if shape.len() != 3 || shape[0] != self.experts || shape[1] != rows {
            return Err(LayerError::Input {
                layer: self.name.clone(),
                why: format!("expected expert outputs [{}, {rows}, d], got {shape:?}", self.experts),
            });
        }
        let tape = x.tape();
        match (&self.linear, self.mode) {
            (Some(lin), mode) => {
                let act = if mode == GateMode::ReluSoftmax {
                    Activation::Relu
                } else {
                    Activation::Identity
                };
                let w = tape.param(lin.weight());
                let b = lin.bias().map(|b| tape.param(b));
                x.linear(w, b, act).and_then(|z| z.gate(experts)).in_layer(&self.name)
            }
            (None, mode) => {
                let weight = if mode == GateMode::Sum {
                    1.0
                } else {
                    1.0 / self.experts as f64
                };
                tape.full(&[rows, self.experts], F::of(weight))
                    .mix(experts)
                    .in_layer(&self.name)
            }
        }
    }
}

impl<F: Float> Module<F> for Gate {
    fn state(&self) -> Vec<ParamId> {
        self.linear.as_ref().map(Module::<F>::state).unwrap_or_default()
    }

    fn set_training(&mut self, _training: bool) {}
}
