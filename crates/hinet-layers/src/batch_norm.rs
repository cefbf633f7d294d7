//! `BatchNorm1d`: normalises each feature of `[n, d]` with batch statistics while training and
//! with running averages in inference (Ioffe & Szegedy 2015, Algorithm 1 and 2).

use crate::error::{InLayer, LayerError, Result, config_error};
use crate::module::Module;
use hinet_autograd::{Float, ParamId, ParamStore, ReplicaSum, Var};
use ndarray::ArrayD;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
struct Pending<F> {
    mean: Vec<F>,
    var: Vec<F>,
    rows: usize,
    fresh: bool,
}

/// Parameters `{name}.weight` (gamma, ones) and `{name}.bias` (beta, zeros); buffers
/// `{name}.running_mean` (zeros) and `{name}.running_var` (ones), PyTorch's names.
#[derive(Debug)]
pub struct BatchNorm1d<F> {
    name: String,
    gamma: ParamId,
    beta: ParamId,
    running_mean: ParamId,
    running_var: ParamId,
    features: usize,
    eps: f64,
    momentum: f64,
    training: bool,
    /// The other replicas of a data-parallel job (sync batch norm), if any.
    replicas: Option<Arc<dyn ReplicaSum<F>>>,
    pending: Mutex<Pending<F>>,
}

impl<F: Float> BatchNorm1d<F> {
    /// A batch norm over `features` columns; PyTorch's defaults are `eps = 1e-5`, `momentum = 0.1`.
    pub fn new(store: &mut ParamStore<F>, name: &str, features: usize, eps: f64, momentum: f64) -> Result<Self> {
        if features == 0 {
            return config_error(name, "batch norm needs at least one feature");
        }
        if eps.is_nan() || eps < 0.0 || !(0.0..=1.0).contains(&momentum) {
            return config_error(
                name,
                format!("eps {eps} must be >= 0 and momentum {momentum} in [0, 1]"),
            );
        }
        let gamma = store
            .add(format!("{name}.weight"), ArrayD::ones(vec![features]))
            .in_layer(name)?;
        let beta = store
            .add(format!("{name}.bias"), ArrayD::zeros(vec![features]))
            .in_layer(name)?;
        let running_mean = store
            .add_buffer(format!("{name}.running_mean"), ArrayD::zeros(vec![features]))
            .in_layer(name)?;
        let running_var = store
            .add_buffer(format!("{name}.running_var"), ArrayD::ones(vec![features]))
            .in_layer(name)?;
        Ok(Self {
            name: name.to_string(),
            gamma,
            beta,
            running_mean,
            running_var,
            features,
            eps,
            momentum,
            training: true,
            replicas: None,
            pending: Mutex::new(Pending {
                mean: vec![F::zero(); features],
                var: vec![F::zero(); features],
                rows: 0,
                fresh: false,
            }),
        })
    }

    /// Sync batch norm: in training, the statistics are those of the global batch over every
    /// replica of a data-parallel job (`None`: this process's batch only, the default).
    pub fn set_replicas(&mut self, replicas: Option<Arc<dyn ReplicaSum<F>>>) {
        self.replicas = replicas;
    }

    /// Normalises `x` `[n, features]`.
    pub fn forward<'t>(&self, x: Var<'t, F>) -> Result<Var<'t, F>> {
        let tape = x.tape();
        let (gamma, beta) = (tape.param(self.gamma), tape.param(self.beta));
        let shape = x.with_value(|v| (v.ndim(), v.shape().last().copied()));
        if shape != (2, Some(self.features)) {
            return Err(LayerError::Input {
                layer: self.name.clone(),
                why: format!("expected [rows, {}], got shape {:?}", self.features, x.shape()),
            });
        }
        if self.training {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let p = &mut *p;
            let mut rows = 0;
            let y = x
                .batch_norm_train_synced(
                    gamma,
                    beta,
                    self.eps,
                    &mut p.mean,
                    &mut p.var,
                    self.replicas.as_ref(),
                    &mut rows,
                )
                .in_layer(&self.name)?;
            p.rows = rows;
            p.fresh = true;
            Ok(y)
        } else {
            let (rm, rv) = (tape.param(self.running_mean), tape.param(self.running_var));
            x.batch_norm_eval(rm, rv, gamma, beta, self.eps).in_layer(&self.name)
        }
    }
}

impl<F: Float> Module<F> for BatchNorm1d<F> {
    fn state(&self) -> Vec<ParamId> {
        vec![self.gamma, self.beta, self.running_mean, self.running_var]
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
    }

    /// `running = (1 - momentum) running + momentum batch`, with the unbiased batch variance
    /// (`n / (n - 1)` times the biased one), as PyTorch does.
    fn commit(&self, store: &mut ParamStore<F>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if !p.fresh {
            return;
        }
        p.fresh = false;
        let m = F::of(self.momentum);
        let keep = F::one() - m;
        let unbias = if p.rows > 1 {
            F::of(p.rows as f64 / (p.rows as f64 - 1.0))
        } else {
            F::one()
        };
        store
            .value_mut(self.running_mean)
            .iter_mut()
            .zip(&p.mean)
            .for_each(|(r, &b)| *r = keep * *r + m * b);
        store
            .value_mut(self.running_var)
            .iter_mut()
            .zip(&p.var)
            .for_each(|(r, &b)| *r = keep * *r + m * b * unbias);
    }
}
