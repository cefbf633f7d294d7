//! Stochastic gradient descent with optional momentum and Nesterov momentum, as PyTorch's
//! `torch.optim.SGD` defines them (Sutskever et al. 2013 in the "velocity folded into the
//! parameter" form):
//!
//! ```text
//! d_t = g_t + wd * p_{t-1}        (wd: the coupled L2 coefficient the driver passes, which
//!                                   includes the group's `row_l2` on touched rows)
//! b_1 = d_1,  b_t = mu * b_{t-1} + (1 - dampening) * d_t      (t > 1)
//! u_t = d_t + mu * b_t   (Nesterov)   or   u_t = b_t   (classical)
//! p_t = p_{t-1} - lr * u_t
//! ```
//! Without momentum `u_t = d_t` and no buffer is kept.

use crate::kernel::Kernel;
use hinet_autograd::Float;

/// One SGD step's constants. `s1` is the momentum buffer (empty without momentum).
pub(crate) struct SgdKernel<F> {
    pub lr: F,
    pub clip: F,
    pub momentum: F,
    pub one_minus_dampening: F,
    pub nesterov: bool,
    /// First step of this parameter: the buffer is set to the gradient, undamped (PyTorch).
    pub first: bool,
    pub use_momentum: bool,
}

impl<F: Float> Kernel<F> for SgdKernel<F> {
    fn apply(&self, p: &mut [F], g: &[F], buf: &mut [F], _unused: &mut [F], wd: F) {
        let (lr, clip, mu, omd) = (self.lr, self.clip, self.momentum, self.one_minus_dampening);
        if !self.use_momentum {
            for (p, &g) in p.iter_mut().zip(g) {
                let d = g * clip + wd * *p;
                *p -= lr * d;
            }
            return;
        }
        for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
            let d = g * clip + wd * *p;
            *b = if self.first { d } else { mu * *b + omd * d };
            let u = if self.nesterov { d + mu * *b } else { *b };
            *p -= lr * u;
        }
    }
}
