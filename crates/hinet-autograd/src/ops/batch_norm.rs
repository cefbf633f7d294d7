//! Batch normalisation of a `[rows, features]` tensor, in training mode (batch statistics)
//! and inference mode (running statistics given as constants).
//!
//! Forward: `x^ = (x - mu) * r`, `y = gamma * x^ + beta`, with `r = 1/sqrt(var + eps)`.
//! Training backward (N rows, per feature; derivation in docs/autograd.md):
//! `dx = gamma r / N * (N dy - sum(dy) - x^ * sum(dy x^))`;
//! `dgamma = sum(dy * x^)`, `dbeta = sum(dy)`. Inference backward: `dx = dy * gamma * r`.

use super::{Backward, OrBug};
use crate::error::{AutogradError, Result};
use crate::float::Float;
use crate::pool::BufferPool;
use crate::tape::{BackwardCtx, ForwardCtx, NodeId};
use ndarray::{ArrayD, ArrayViewD};
use std::sync::Arc;

/// Sums per-feature statistics across the replicas of a data-parallel job, so that batch
/// normalisation sees the statistics of the global batch (sync batch norm). Every replica
/// calls [`ReplicaSum::sum`] the same number of times, in the same order, with slices of the
/// same length; on return each holds the element-wise sum over all replicas (the same values
/// on every replica).
pub trait ReplicaSum<F>: Send + Sync + std::fmt::Debug {
    /// Replaces `values` by their element-wise sum over all replicas.
    fn sum(&self, values: &mut [F]) -> std::result::Result<(), String>;
}

/// A sync batch norm's link to the other replicas, kept for the backward sweep.
struct SyncStats<F> {
    replicas: Arc<dyn ReplicaSum<F>>,
    /// This replica's rows over the global batch's rows (`n_k / N`): the weight of its sums.
    share: F,
    /// Rows of this replica (`n_k`).
    rows: F,
}

pub(crate) struct BatchNorm<F> {
    x: NodeId,
    gamma: NodeId,
    beta: NodeId,
    /// Per-feature mean and 1/sqrt(var + eps) that were used (batch or running statistics).
    mean: ArrayD<F>,
    inv_std: ArrayD<F>,
    training: bool,
    sync: Option<SyncStats<F>>,
}

/// Where the statistics come from.
pub(crate) enum Stats<'a, F> {
    /// Batch statistics; the biased batch mean and variance are written to these slices (one
    /// value per feature) for the caller's running averages.
    Batch {
        mean_out: &'a mut [F],
        var_out: &'a mut [F],
        /// The other replicas of a data-parallel job: statistics over all of their rows.
        replicas: Option<&'a Arc<dyn ReplicaSum<F>>>,
        /// Rows of the global batch (all replicas), written for the caller's running averages.
        rows_out: &'a mut usize,
    },
    /// Running statistics (inference), as tape nodes of shape `[features]`.
    Running { mean: NodeId, var: NodeId },
}

fn dims<F>(v: &ArrayViewD<'_, F>) -> Result<(usize, usize)> {
    match v.shape() {
        &[n, d] => Ok((n, d)),
        s => Err(AutogradError::BadShape {
            op: "batch_norm",
            shape: s.to_vec(),
            why: "expected [rows, features]",
        }),
    }
}

fn features<'a, F: Float>(v: ArrayViewD<'a, F>, d: usize, what: &'static str) -> Result<&'a [F]> {
    if v.shape() != [d] {
        return Err(AutogradError::ShapeMismatch {
            op: "batch_norm",
            lhs: vec![d],
            rhs: v.shape().to_vec(),
            why: what,
        });
    }
    v.to_slice().ok_or_else(|| AutogradError::BadShape {
        op: "batch_norm",
        shape: vec![d],
        why: "not contiguous",
    })
}

fn flat<'a, F: Float>(v: &ArrayViewD<'a, F>) -> &'a [F] {
    // Node values are created in standard layout by the pool or the parameter store.
    v.to_slice().or_bug("batch_norm")
}

pub(crate) fn forward<F: Float>(
    ctx: &mut ForwardCtx<'_, F>,
    x: NodeId,
    gamma: NodeId,
    beta: NodeId,
    stats: Stats<'_, F>,
    eps: f64,
) -> Result<(ArrayD<F>, super::Op<F>)> {
    if eps.is_nan() || eps < 0.0 {
        return Err(AutogradError::BadArgument {
            op: "batch_norm",
            why: format!("eps {eps} must be >= 0"),
        });
    }
    let xv = ctx.value(x);
    let (n, d) = dims(&xv)?;
    let g = features(ctx.value(gamma), d, "gamma needs one value per feature")?;
    let b = features(ctx.value(beta), d, "beta needs one value per feature")?;
    let xs = flat(&xv);
    let eps = F::of(eps);
    let mut mean = ctx.pool.zeros(&[d]);
    let mut inv_std = ctx.pool.zeros(&[d]);
    let training = matches!(stats, Stats::Batch { .. });
    let mut sync = None;
    {
        let (Some(m), Some(r)) = (mean.as_slice_mut(), inv_std.as_slice_mut()) else {
            unreachable!("pool tensors are contiguous");
        };
        match stats {
            Stats::Batch {
                mean_out,
                var_out,
                replicas,
                rows_out,
            } => {
                if n == 0 && replicas.is_none() {
                    return Err(AutogradError::BadShape {
                        op: "batch_norm",
                        shape: vec![n, d],
                        why: "training mode needs at least one row",
                    });
                }
                if mean_out.len() != d || var_out.len() != d {
                    return Err(AutogradError::ShapeMismatch {
                        op: "batch_norm",
                        lhs: vec![d],
                        rhs: vec![mean_out.len(), var_out.len()],
                        why: "statistics outputs need one value per feature",
                    });
                }
                // Per-feature sums and the row count, summed over the replicas when there are
                // any (one extra element carries the count).
                let mut acc_buf = ctx.pool.zeros(&[d + 1]);
                let acc = acc_buf.as_slice_mut().or_bug("batch_norm");
                for row in xs.chunks_exact(d) {
                    acc.iter_mut().zip(row).for_each(|(a, &x)| *a += x);
                }
                acc[d] = F::of(n as f64);
                let reduce = |v: &mut [F]| -> Result<()> {
                    match replicas {
                        Some(rep) => rep.sum(v).map_err(|why| AutogradError::BadArgument {
                            op: "batch_norm (sync across replicas)",
                            why,
                        }),
                        None => Ok(()),
                    }
                };
                reduce(acc)?;
                let total = acc[d].f64().round();
                if total < 1.0 {
                    return Err(AutogradError::BadShape {
                        op: "batch_norm",
                        shape: vec![n, d],
                        why: "training mode needs at least one row (over all replicas)",
                    });
                }
                *rows_out = total as usize;
                let inv_n = F::one() / F::of(total);
                m.iter_mut().zip(acc.iter()).for_each(|(m, &s)| *m = s * inv_n);
                // Two passes (mean, then squared deviations) for accuracy over sum(x^2) - mu^2.
                acc.iter_mut().for_each(|a| *a = F::zero());
                for row in xs.chunks_exact(d) {
                    for ((v, &x), &mu) in acc.iter_mut().zip(row).zip(m.iter()) {
                        *v += (x - mu) * (x - mu);
                    }
                }
                reduce(&mut acc[..d])?;
                for (((rv, &dev), vo), (mo, &mu)) in r
                    .iter_mut()
                    .zip(acc.iter())
                    .zip(var_out.iter_mut())
                    .zip(mean_out.iter_mut().zip(m.iter()))
                {
                    let var = dev * inv_n;
                    *vo = var;
                    *mo = mu;
                    *rv = F::one() / (var + eps).sqrt();
                }
                sync = replicas.map(|rep| SyncStats {
                    replicas: Arc::clone(rep),
                    share: F::of(n as f64 / total),
                    rows: F::of(n as f64),
                });
                ctx.pool.recycle(acc_buf);
            }
            Stats::Running { mean: rm, var: rv } => {
                let rm = features(ctx.value(rm), d, "running mean needs one value per feature")?;
                let rv = features(ctx.value(rv), d, "running variance needs one value per feature")?;
                m.copy_from_slice(rm);
                r.iter_mut()
                    .zip(rv)
                    .for_each(|(r, &v)| *r = F::one() / (v + eps).sqrt());
            }
        }
    }
    let mut out = ctx.pool.uninit(&[n, d]);
    let bug = "batch_norm";
    let (o, m, r) = (
        out.as_slice_mut().or_bug(bug),
        mean.as_slice().or_bug(bug),
        inv_std.as_slice().or_bug(bug),
    );
    for (orow, xrow) in o.chunks_exact_mut(d.max(1)).zip(xs.chunks_exact(d.max(1))) {
        for j in 0..d {
            orow[j] = (xrow[j] - m[j]) * r[j] * g[j] + b[j];
        }
    }
    Ok((
        out,
        super::Op::BatchNorm(BatchNorm {
            x,
            gamma,
            beta,
            mean,
            inv_std,
            training,
            sync,
        }),
    ))
}

impl<F: Float> Backward<F> for BatchNorm<F> {
    fn for_each_input(&self, f: &mut dyn FnMut(NodeId)) {
        f(self.x);
        f(self.gamma);
        f(self.beta);
    }

    /// `y = gamma x^ + beta`, `x^ = (x - mean) / sqrt(var + eps)`:
    /// `dbeta = sum dy`, `dgamma = sum dy x^`, and in training (batch statistics)
    /// `dx = gamma / sqrt(var + eps) (dy - mean(dy) - x^ mean(dy x^))`; with running
    /// statistics the mean and variance are constants and `dx = gamma / sqrt(var + eps) dy`
    /// (docs/autograd.md, "Batch normalisation"). Both sums come from one pass over the rows.
    fn backward(&self, _out: NodeId, grad: &ArrayD<F>, ctx: &mut BackwardCtx<'_, F>) {
        let bug = "batch_norm backward";
        let xv = ctx.value(self.x);
        let (n, d) = dims(&xv).or_bug(bug);
        let xs = flat(&xv);
        let gamma = flat(&ctx.value(self.gamma));
        let (dy, m, r) = (
            grad.as_slice().or_bug(bug),
            self.mean.as_slice().or_bug(bug),
            self.inv_std.as_slice().or_bug(bug),
        );
        let step = d.max(1);
        // Per-feature sums of dy and dy * x^, needed by all three gradients.
        let mut sums = ctx.pool.zeros(&[2, d]);
        {
            let s = sums.as_slice_mut().or_bug(bug);
            let (s_dy, s_dyx) = s.split_at_mut(d);
            for (xrow, drow) in xs.chunks_exact(step).zip(dy.chunks_exact(step)) {
                for j in 0..d {
                    s_dy[j] += drow[j];
                    s_dyx[j] += drow[j] * (xrow[j] - m[j]) * r[j];
                }
            }
        }
        let s = sums.as_slice().or_bug(bug);
        let (s_dy, s_dyx) = s.split_at(d);
        // gamma and beta get this replica's own sums: the data-parallel trainer weights and
        // adds the replicas' parameter gradients itself.
        if let Some(mut gg) = ctx.grad_mut(self.gamma) {
            gg.iter_mut().zip(s_dyx).for_each(|(a, &b)| *a += b);
        }
        if let Some(mut gb) = ctx.grad_mut(self.beta) {
            gb.iter_mut().zip(s_dy).for_each(|(a, &b)| *a += b);
        }
        // x's gradient needs the sums over the global batch. Replica k's dy is the gradient of
        // its own mean loss, N / n_k times its share of the global loss's; so the global sums
        // are sum_k (n_k / N) s_k, and in replica k's units dx = gamma r (dy - S / n_k -
        // x^ S' / n_k) (docs/autograd.md, "Sync batch norm"). One replica: S = s, n_k = N.
        let mut global = Vec::new();
        let (s_dy, s_dyx, inv_n) = match &self.sync {
            Some(sync) if self.training => {
                global.extend(s.iter().map(|&v| v * sync.share));
                if let Err(why) = sync.replicas.sum(&mut global) {
                    panic!("batch_norm backward: summing across replicas failed: {why}");
                }
                let (a, b) = global.split_at(d);
                (a, b, F::one() / sync.rows.max(F::one()))
            }
            _ => (s_dy, s_dyx, F::one() / F::of(n.max(1) as f64)),
        };
        let training = self.training;
        if let Some(mut gx) = ctx.grad_mut(self.x) {
            let gx = gx.as_slice_mut().or_bug(bug);
            for ((grow, xrow), drow) in gx
                .chunks_exact_mut(step)
                .zip(xs.chunks_exact(step))
                .zip(dy.chunks_exact(step))
            {
                for j in 0..d {
                    let scale = gamma[j] * r[j];
                    grow[j] += if training {
                        let xhat = (xrow[j] - m[j]) * r[j];
                        scale * (drow[j] - inv_n * s_dy[j] - xhat * inv_n * s_dyx[j])
                    } else {
                        scale * drow[j]
                    };
                }
            }
        }
        ctx.pool.recycle(sums);
    }

    fn recycle(self, pool: &mut BufferPool<F>) {
        pool.recycle(self.mean);
        pool.recycle(self.inv_std);
    }
}
