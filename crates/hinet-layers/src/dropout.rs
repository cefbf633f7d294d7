//! `Dropout`: inverted dropout in training mode, the identity in inference mode.

use crate::error::{InLayer, Result, config_error};
use crate::module::Module;
use hinet_autograd::{Float, ParamId, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

/// Drops each element with probability `p` while training. Its mask generator is seeded at
/// construction, so a run is reproducible; the generator's position is not checkpointed.
#[derive(Debug)]
pub struct Dropout {
    name: String,
    p: f64,
    training: bool,
    rng: Mutex<ChaCha8Rng>,
}

impl Dropout {
    /// A dropout layer with drop probability `p` in `[0, 1)`.
    pub fn new(name: &str, p: f64, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&p) {
            return config_error(name, format!("dropout probability {p} must be in [0, 1)"));
        }
        Ok(Self {
            name: name.to_string(),
            p,
            training: true,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Applies dropout (training, `p > 0`) or passes `x` through.
    pub fn forward<'t, F: Float>(&self, x: Var<'t, F>) -> Result<Var<'t, F>> {
        if !self.training || self.p == 0.0 {
            return Ok(x);
        }
        // A poisoned lock only means another thread panicked mid-draw; the generator is still valid.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        x.dropout(self.p, &mut *rng).in_layer(&self.name)
    }
}

impl<F: Float> Module<F> for Dropout {
    fn state(&self) -> Vec<ParamId> {
        Vec::new()
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }
}
