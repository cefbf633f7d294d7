//! Learning-rate schedules: the rate of step `t` (0-based, the step about to be taken).

use crate::error::{OptimError, Result};

/// How the learning rate changes with the step number.
///
/// `t` counts steps from 0: the first call of `step` uses `lr_at(base, 0)`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Schedule {
    /// The base rate at every step.
    #[default]
    Constant,
    /// Linear ramp `base * (t + 1) / warmup_steps`, then the base rate.
    LinearWarmup {
        /// Steps of the ramp (0: no ramp).
        warmup_steps: u64,
    },
    /// Linear warm-up, then cosine annealing (Loshchilov & Hutter, SGDR, eq. 5, one cycle)
    /// from `base` down to `min_lr` at `total_steps`, and `min_lr` after.
    Cosine {
        /// Steps of the linear ramp.
        warmup_steps: u64,
        /// Step at which the rate reaches `min_lr` (counted from 0, warm-up included).
        total_steps: u64,
        /// Final rate (absolute, not a fraction of the base).
        min_lr: f64,
    },
    /// `base * gamma^floor(t / step_size)`.
    StepDecay {
        /// Steps between decays (at least 1).
        step_size: u64,
        /// Factor applied at each decay.
        gamma: f64,
    },
}

impl Schedule {
    /// The learning rate of step `t` (0-based) for a base rate.
    pub fn lr_at(&self, base: f64, t: u64) -> f64 {
        match *self {
            Schedule::Constant => base,
            Schedule::LinearWarmup { warmup_steps } => base * warmup(warmup_steps, t),
            Schedule::Cosine {
                warmup_steps,
                total_steps,
                min_lr,
            } => {
                if t < warmup_steps {
                    return base * warmup(warmup_steps, t);
                }
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                let progress = ((t - warmup_steps) as f64 / span).min(1.0);
                min_lr + (base - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Schedule::StepDecay { step_size, gamma } => {
                let k = t / step_size.max(1);
                base * gamma.powi(k.min(i32::MAX as u64) as i32)
            }
        }
    }

    /// Refuses settings that would give a negative or undefined rate.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(OptimError::InvalidConfig { what });
        match *self {
            Schedule::Constant | Schedule::LinearWarmup { .. } => Ok(()),
            Schedule::Cosine { min_lr, .. } if !(min_lr.is_finite() && min_lr >= 0.0) => {
                bad(format!("cosine schedule: min_lr must be finite and >= 0, got {min_lr}"))
            }
            Schedule::Cosine { .. } => Ok(()),
            Schedule::StepDecay { step_size: 0, .. } => bad("step decay: step_size must be at least 1".into()),
            Schedule::StepDecay { gamma, .. } if !(gamma.is_finite() && gamma > 0.0) => {
                bad(format!("step decay: gamma must be finite and > 0, got {gamma}"))
            }
            Schedule::StepDecay { .. } => Ok(()),
        }
    }
}

/// The warm-up factor `min(1, (t + 1) / n)`; 1 when there is no warm-up.
fn warmup(n: u64, t: u64) -> f64 {
    if n == 0 || t >= n {
        1.0
    } else {
        (t + 1) as f64 / n as f64
    }
}
