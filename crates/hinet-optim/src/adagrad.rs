//! Adagrad (Duchi, Hazan & Singer 2011, diagonal version, eq. 1 / Figure 1), as PyTorch's
//! `torch.optim.Adagrad` implements it:
//!
//! ```text
//! d_t = g_t + wd * p_{t-1}                  (wd includes `row_l2` on touched rows)
//! s_t = s_{t-1} + d_t^2                     (s_0 = initial_accumulator)
//! p_t = p_{t-1} - lr * d_t / (sqrt(s_t) + eps)
//! ```
//! Sparse Adagrad is the same rule on the touched rows only: an untouched row has
//! `d_t = 0`, so the dense rule leaves its `s` and `p` unchanged as well (without weight decay).

use crate::kernel::Kernel;
use hinet_autograd::Float;

/// One Adagrad step's constants. `s1` is the running sum of squared gradients.
pub(crate) struct AdagradKernel<F> {
    pub lr: F,
    pub eps: F,
    pub clip: F,
}

impl<F: Float> Kernel<F> for AdagradKernel<F> {
    fn apply(&self, p: &mut [F], g: &[F], sum: &mut [F], _unused: &mut [F], wd: F) {
        for ((p, &g), s) in p.iter_mut().zip(g).zip(sum.iter_mut()) {
            let d = g * self.clip + wd * *p;
            *s += d * d;
            *p -= self.lr * (d / (s.sqrt() + self.eps));
        }
    }
}
