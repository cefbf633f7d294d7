//! Adam (Kingma & Ba 2015, Algorithm 1) and AdamW (Loshchilov & Hutter 2019, Algorithm 2).
//!
//! ```text
//! d_t = g_t + wd * p_{t-1}                 (Adam: L2 coupled into the gradient; AdamW: d_t = g_t)
//!                                          (both: + row_l2 * p_{t-1} on rows a row gradient lists)
//! m_t = beta1 * m_{t-1} + (1 - beta1) * d_t              (Alg. 1, line 7)
//! v_t = beta2 * v_{t-1} + (1 - beta2) * d_t^2            (Alg. 1, line 8)
//! p_t = p_{t-1} * (1 - lr * wd)                          (AdamW only: decoupled decay, Alg. 2 line 12)
//!       - lr / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps)
//! ```
//! The last line is the bias-corrected update of Alg. 1 lines 9-11 in the form of Section 2
//! ("the efficiency of algorithm 1 can be improved..."), with `eps` added to
//! `sqrt(v_hat)` as PyTorch does.

use crate::kernel::Kernel;
use hinet_autograd::Float;

/// One Adam/AdamW step's constants. `s1` is `m` (exp_avg), `s2` is `v` (exp_avg_sq).
pub(crate) struct AdamKernel<F> {
    pub beta1: F,
    pub one_minus_beta1: F,
    pub beta2: F,
    pub one_minus_beta2: F,
    pub eps: F,
    /// `lr / (1 - beta1^t)`.
    pub step_size: F,
    /// `sqrt(1 - beta2^t)`.
    pub sqrt_bc2: F,
    /// `1 - lr * wd` (AdamW); exactly 1 for Adam.
    pub decay: F,
    pub clip: F,
}

impl<F: Float> AdamKernel<F> {
    /// Constants of step `t` (1-based count of this parameter's updates).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(beta1: f64, beta2: f64, eps: f64, lr: f64, wd: f64, decoupled: bool, t: u64, clip: f64) -> Self {
        let t = t.min(i32::MAX as u64) as i32;
        let bc1 = 1.0 - beta1.powi(t);
        let bc2 = 1.0 - beta2.powi(t);
        Self {
            beta1: F::of(beta1),
            one_minus_beta1: F::of(1.0 - beta1),
            beta2: F::of(beta2),
            one_minus_beta2: F::of(1.0 - beta2),
            eps: F::of(eps),
            step_size: F::of(lr / bc1),
            sqrt_bc2: F::of(bc2.sqrt()),
            decay: F::of(if decoupled { 1.0 - lr * wd } else { 1.0 }),
            clip: F::of(clip),
        }
    }
}

impl<F: Float> Kernel<F> for AdamKernel<F> {
    /// `l2`: the coupled L2 coefficient (Adam's weight decay; for both rules, plus `row_l2`
    /// on touched rows).
    fn apply(&self, p: &mut [F], g: &[F], m: &mut [F], v: &mut [F], l2: F) {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let p0 = *p;
            let d = g * self.clip + l2 * p0;
            *m = self.beta1 * *m + self.one_minus_beta1 * d;
            *v = self.beta2 * *v + self.one_minus_beta2 * (d * d);
            let denom = v.sqrt() / self.sqrt_bc2 + self.eps;
            *p = p0 * self.decay - self.step_size * (*m / denom);
        }
    }
}
