//! `ExpertStack`: K expert MLPs fed the same input, computed as batched work.
//!
//! Layer 0 of all K experts is one GEMM over the concatenated weights (`[K * h1, in]`): the
//! input is read once for all experts. Deeper layers are one grouped product (one tape node,
//! one GEMM per expert with bias and ReLU fused), reading each expert's block in place. The output is `[K, n, d]`, each expert's rows contiguous, which is what the fused gate
//! mixes.

use crate::error::{InLayer, Result, config_error};
use crate::init::xavier_uniform;
use crate::module::Module;
use hinet_autograd::{Activation, Float, ParamId, ParamStore, Var};
use ndarray::ArrayD;
use rand::Rng;

#[derive(Debug, Clone)]
struct StackedLayer {
    weight: ParamId,
    bias: ParamId,
    in_features: usize,
    out_features: usize,
}

/// Parameters `{name}.layer.{l}.weight` `[K, out, in]` (expert k's PyTorch-layout weight is
/// slice k) and `{name}.layer.{l}.bias` `[K, out]`. Every layer is followed by a ReLU.
#[derive(Debug, Clone)]
pub struct ExpertStack {
    name: String,
    experts: usize,
    layers: Vec<StackedLayer>,
}

impl ExpertStack {
    /// K experts, each an MLP `in -> hidden[0] -> hidden[1] ...` with ReLU after every layer.
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        experts: usize,
        in_features: usize,
        hidden: &[usize],
        rng: &mut R,
    ) -> Result<Self> {
        if experts == 0 || hidden.is_empty() || in_features == 0 || hidden.contains(&0) {
            return config_error(
                name,
                format!(
                    "needs >= 1 expert, >= 1 layer and positive widths; got {experts} experts, input {in_features}, layers {hidden:?}"
                ),
            );
        }
        let mut layers = Vec::with_capacity(hidden.len());
        let mut width = in_features;
        for (l, &out) in hidden.iter().enumerate() {
            let w = xavier_uniform(&[experts, out, width], width, out, rng);
            let weight = store.add(format!("{name}.layer.{l}.weight"), w).in_layer(name)?;
            let bias = store
                .add(format!("{name}.layer.{l}.bias"), ArrayD::zeros(vec![experts, out]))
                .in_layer(name)?;
            layers.push(StackedLayer {
                weight,
                bias,
                in_features: width,
                out_features: out,
            });
            width = out;
        }
        Ok(Self {
            name: name.to_string(),
            experts,
            layers,
        })
    }

    /// Number of experts K.
    pub fn experts(&self) -> usize {
        self.experts
    }

    /// Output width of each expert.
    pub fn out_features(&self) -> usize {
        self.layers.last().map_or(0, |l| l.out_features)
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.layers.first().map_or(0, |l| l.in_features)
    }

    /// All K experts on `x` `[n, in]`: `[K, n, d]`.
    pub fn forward<'t, F: Float>(&self, x: Var<'t, F>) -> Result<Var<'t, F>> {
        let tape = x.tape();
        let name = &self.name;
        let k = self.experts;
        let n = x.with_value(|v| v.shape().first().copied().unwrap_or(0));
        let first = &self.layers[0];
        // Layer 0 of all experts at once: x [n, in] times the [K * h1, in] stacked weights,
        // bias and ReLU fused: [n, K * h1], x read once for all experts.
        let h = x
            .linear(tape.param(first.weight), Some(tape.param(first.bias)), Activation::Relu)
            .in_layer(name)?;
        if self.layers.len() == 1 {
            // [n, K * h1] -> [K, n, h1]: each expert's rows contiguous, as the gate expects.
            return h
                .reshape(&[n, k, first.out_features])
                .and_then(|h| h.permute(&[1, 0, 2]))
                .in_layer(name);
        }
        // Deeper layers: one grouped product; the first reads expert k's column block of h
        // directly (a strided view), so the [n, K * h1] output is never regrouped.
        let mut h = h;
        for layer in &self.layers[1..] {
            h = h
                .grouped_linear(tape.param(layer.weight), Some(tape.param(layer.bias)), Activation::Relu)
                .in_layer(name)?;
        }
        Ok(h)
    }
}

impl<F: Float> Module<F> for ExpertStack {
    fn state(&self) -> Vec<ParamId> {
        self.layers.iter().flat_map(|l| [l.weight, l.bias]).collect()
    }

    fn set_training(&mut self, _training: bool) {}
}
