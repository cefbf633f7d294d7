//! Which update rule an optimiser applies, with its hyperparameters.

use crate::error::{OptimError, Result};

/// The update rule and its hyperparameters (learning rate, weight decay and clipping are set
/// on the optimiser and its groups). Constructors give PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerKind {
    /// SGD, optionally with (Nesterov) momentum; see `docs/optim.md` §1.
    Sgd {
        /// Momentum factor `mu` (0: plain SGD, no buffer).
        momentum: f64,
        /// Dampening of the gradient in the momentum buffer (0 for Nesterov).
        dampening: f64,
        /// Nesterov momentum (needs `momentum > 0` and `dampening == 0`).
        nesterov: bool,
    },
    /// Adam with bias correction; weight decay is an L2 term added to the gradient.
    Adam {
        /// Decay of the first moment.
        beta1: f64,
        /// Decay of the second moment.
        beta2: f64,
        /// Added to the bias-corrected `sqrt(v)` (must be > 0).
        eps: f64,
    },
    /// Adam with decoupled weight decay `p -= lr * wd * p`.
    AdamW {
        /// Decay of the first moment.
        beta1: f64,
        /// Decay of the second moment.
        beta2: f64,
        /// Added to the bias-corrected `sqrt(v)` (must be > 0).
        eps: f64,
    },
    /// Adagrad; weight decay is an L2 term added to the gradient.
    Adagrad {
        /// Added to `sqrt(sum)` (must be > 0).
        eps: f64,
        /// Starting value of the sum of squared gradients.
        initial_accumulator: f64,
    },
}

impl OptimizerKind {
    /// Plain SGD.
    pub fn sgd() -> Self {
        Self::Sgd {
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
        }
    }

    /// SGD with classical momentum.
    pub fn momentum(momentum: f64) -> Self {
        Self::Sgd {
            momentum,
            dampening: 0.0,
            nesterov: false,
        }
    }

    /// SGD with Nesterov momentum.
    pub fn nesterov(momentum: f64) -> Self {
        Self::Sgd {
            momentum,
            dampening: 0.0,
            nesterov: true,
        }
    }

    /// Adam with `beta1 = 0.9, beta2 = 0.999, eps = 1e-8`.
    pub fn adam() -> Self {
        Self::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// AdamW with `beta1 = 0.9, beta2 = 0.999, eps = 1e-8`.
    pub fn adamw() -> Self {
        Self::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// Adagrad with `eps = 1e-10` and a zero initial accumulator.
    pub fn adagrad() -> Self {
        Self::Adagrad {
            eps: 1e-10,
            initial_accumulator: 0.0,
        }
    }

    /// Short name, stored in saved state: `sgd`, `adam`, `adamw`, `adagrad`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sgd { .. } => "sgd",
            Self::Adam { .. } => "adam",
            Self::AdamW { .. } => "adamw",
            Self::Adagrad { .. } => "adagrad",
        }
    }

    /// Names of the per-parameter state tensors (suffixes of `{param}.{suffix}`).
    pub fn state_names(&self) -> &'static [&'static str] {
        match self {
            Self::Sgd { momentum, .. } if *momentum == 0.0 => &[],
            Self::Sgd { .. } => &["momentum_buffer"],
            Self::Adam { .. } | Self::AdamW { .. } => &["exp_avg", "exp_avg_sq"],
            Self::Adagrad { .. } => &["sum"],
        }
    }

    /// Refuses hyperparameters outside their ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(OptimError::InvalidConfig { what });
        let unit = |x: f64| x.is_finite() && (0.0..1.0).contains(&x);
        let pos = |x: f64| x.is_finite() && x > 0.0;
        match *self {
            Self::Sgd {
                momentum,
                dampening,
                nesterov,
            } => {
                if !(momentum.is_finite() && momentum >= 0.0) {
                    return bad(format!("sgd: momentum must be finite and >= 0, got {momentum}"));
                }
                if !(dampening.is_finite() && (0.0..=1.0).contains(&dampening)) {
                    return bad(format!("sgd: dampening must be in [0, 1], got {dampening}"));
                }
                if nesterov && (momentum == 0.0 || dampening != 0.0) {
                    return bad("sgd: Nesterov momentum needs momentum > 0 and zero dampening".into());
                }
                Ok(())
            }
            Self::Adam { beta1, beta2, eps } | Self::AdamW { beta1, beta2, eps } => {
                if !(unit(beta1) && unit(beta2)) {
                    return bad(format!(
                        "{}: betas must be in [0, 1), got ({beta1}, {beta2})",
                        self.name()
                    ));
                }
                if !pos(eps) {
                    return bad(format!("{}: eps must be finite and > 0, got {eps}", self.name()));
                }
                Ok(())
            }
            Self::Adagrad {
                eps,
                initial_accumulator,
            } => {
                if !pos(eps) {
                    return bad(format!("adagrad: eps must be finite and > 0, got {eps}"));
                }
                if !(initial_accumulator.is_finite() && initial_accumulator >= 0.0) {
                    return bad(format!(
                        "adagrad: initial_accumulator must be finite and >= 0, got {initial_accumulator}"
                    ));
                }
                Ok(())
            }
        }
    }
}
