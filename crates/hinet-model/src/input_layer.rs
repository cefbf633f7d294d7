//! The input layer shared by every architecture: field embeddings and dense features
//! concatenated into `x`, then (optionally) batch-normalised.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::input::ModelInput;
use hinet_autograd::{Float, ParamId, ParamStore, Tape, Var};
use hinet_layers::{BatchNorm1d, FieldEmbeddings, Module};
use rand::Rng;

/// Parameters `input.embedding.field.{f}.weight`, and with input batch norm `input.norm.*`.
#[derive(Debug)]
pub struct InputLayer<F> {
    fields: FieldEmbeddings,
    norm: Option<BatchNorm1d<F>>,
}

impl<F: Float> InputLayer<F> {
    pub(crate) fn new<R: Rng + ?Sized>(store: &mut ParamStore<F>, config: &ModelConfig, rng: &mut R) -> Result<Self> {
        let fields: Vec<_> = config.sparse.iter().map(|f| (f.vocab, f.dim)).collect();
        let fields = FieldEmbeddings::new(store, "input.embedding", &fields, config.dense.len(), rng)?;
        let norm = if config.input_batch_norm {
            Some(BatchNorm1d::new(store, "input.norm", fields.out_features(), 1e-5, 0.1)?)
        } else {
            None
        };
        Ok(Self { fields, norm })
    }

    /// Width of x.
    pub fn out_features(&self) -> usize {
        self.fields.out_features()
    }

    /// Sync batch norm across the replicas of a data-parallel job (see [`crate::Model::set_replicas`]).
    pub(crate) fn set_replicas(&mut self, replicas: Option<std::sync::Arc<dyn hinet_autograd::ReplicaSum<F>>>) {
        if let Some(n) = &mut self.norm {
            n.set_replicas(replicas);
        }
    }

    /// The embedding tables (for sparse optimiser groups).
    pub fn tables(&self) -> Vec<ParamId> {
        self.fields.fields().iter().map(|e| e.table()).collect()
    }

    pub(crate) fn forward<'t>(&self, tape: &'t Tape<'t, F>, input: &ModelInput<'_, F>) -> Result<Var<'t, F>> {
        let dense = (input.dense.ncols() > 0).then_some(input.dense);
        let x = self.fields.forward(tape, input.rows, input.sparse, dense)?;
        Ok(match &self.norm {
            Some(n) => n.forward(x)?,
            None => x,
        })
    }
}

impl<F: Float> Module<F> for InputLayer<F> {
    fn state(&self) -> Vec<ParamId> {
        let mut s = Module::<F>::state(&self.fields);
        if let Some(n) = &self.norm {
            s.extend(n.state());
        }
        s
    }

    fn set_training(&mut self, training: bool) {
        if let Some(n) = &mut self.norm {
            n.set_training(training);
        }
    }

    fn commit(&self, store: &mut ParamStore<F>) {
        if let Some(n) = &self.norm {
            n.commit(store);
        }
    }
}
