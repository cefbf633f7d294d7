//! The best epoch's model, kept in memory so the test metrics are this run's best whatever
//! happens to the checkpoint file, and the model the final metrics use.

use super::super::data::{self};
use anyhow::Result;
use hinet_autograd::{ParamStore, Workspace};
use hinet_layers::Module as _;
use hinet_model::{Model, ModelConfig, ModelInput, Trainer};
use ndarray::{Array2, ArrayD};

/// The parameters and buffers of the best epoch so far, kept in memory so that the test
/// metrics are this run's best model whatever happens to the checkpoint file.
pub(super) struct Best {
    pub(super) epoch: usize,
    pub(super) values: Vec<(String, ArrayD<f32>)>,
}

impl Best {
    pub(super) fn of(trainer: &Trainer<f32>, epoch: usize) -> Best {
        let store = trainer.store();
        Best {
            epoch,
            values: store
                .ids()
                .map(|id| (store.name(id).to_string(), store.value(id).clone()))
                .collect(),
        }
    }

    /// Copies the trainer's current values in (reusing the buffers).
    pub(super) fn update(&mut self, trainer: &Trainer<f32>, epoch: usize) {
        let store = trainer.store();
        if self.values.len() != store.len() {
            *self = Best::of(trainer, epoch);
            return;
        }
        for ((_, v), id) in self.values.iter_mut().zip(store.ids()) {
            v.clone_from(store.value(id));
        }
        self.epoch = epoch;
    }

    /// A model of `config` holding these values, for inference.
    pub(super) fn restore(self, config: &ModelConfig) -> Result<Restored> {
        let mut store = ParamStore::new();
        let mut model = Model::<f32>::new(config, &mut store, 0)?;
        for (name, value) in self.values {
            let id = store.id(&name)?;
            store.set(id, value)?;
        }
        model.set_training(false);
        Ok(Restored {
            model,
            store,
            ws: Workspace::default(),
        })
    }
}

/// A model rebuilt from [`Best`].
pub(super) struct Restored {
    pub(super) model: Model<f32>,
    pub(super) store: ParamStore<f32>,
    pub(super) ws: Workspace<f32>,
}

/// The model the test metrics and the report are computed with.
pub(super) enum Final {
    Trained(Box<Trainer<f32>>),
    Best(Box<Restored>),
}

impl data::Predictor for Final {
    fn predict_input(&mut self, input: &ModelInput<'_, f32>) -> Result<Array2<f32>> {
        match self {
            Final::Trained(t) => t.predict_input(input),
            Final::Best(r) => Ok(r.model.predict(&r.store, input, &mut r.ws)?),
        }
    }
}

impl Final {
    pub(super) fn san_attention(&self) -> Result<Option<Array2<f32>>> {
        Ok(match self {
            Final::Trained(t) => t.model().san_attention(t.store())?,
            Final::Best(r) => r.model.san_attention(&r.store)?,
        })
    }
}
