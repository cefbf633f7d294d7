//! Gradient checking: the engine's gradient against central finite differences, in f64.
//!
//! The function under test may return a tensor of any shape. It is reduced to the scalar
//! `L = sum(out * R)` with a fixed random `R`, so every output element is checked (a plain sum
//! would hide a backward rule that is wrong in a way that cancels across elements). Each input
//! element is perturbed by `+-eps` and `(L(x + eps) - L(x - eps)) / (2 eps)` compared with the
//! analytic gradient.

use crate::error::Result;
use crate::grad::Gradients;
use crate::param::{ParamId, ParamStore};
use crate::tape::Tape;
use crate::var::Var;
use ndarray::ArrayD;
use rand::{Rng, SeedableRng};

/// How to check.
#[derive(Debug, Clone, Copy)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Largest accepted error `|analytic - numeric| / max(1, |analytic|, |numeric|)`.
    pub tolerance: f64,
    /// Seed of the random projection `R`.
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        Self {
            eps: 1e-6,
            tolerance: 1e-6,
            seed: 0x5eed,
        }
    }
}

/// The outcome: the largest error seen and where.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Largest error over all checked elements.
    pub max_error: f64,
    /// (input, flat element index, analytic, numeric) of the largest error.
    pub worst: Option<(usize, usize, f64, f64)>,
    /// Number of input elements checked.
    pub checked: usize,
    /// The tolerance the report was judged against.
    pub tolerance: f64,
}

impl GradcheckReport {
    /// True when every element is within tolerance.
    pub fn passed(&self) -> bool {
        self.max_error <= self.tolerance
    }
}

/// Checks the gradient of `f` with respect to every element of every input.
///
/// `f` receives the inputs as variables on a fresh tape and returns any tensor.
/// Errors from `f` (a shape mismatch, say) are returned as they are.
pub fn gradcheck<Fun>(inputs: &[ArrayD<f64>], f: Fun, opts: GradcheckOptions) -> Result<GradcheckReport>
where
    Fun: for<'t> Fn(&'t Tape<'t, f64>, &[Var<'t, f64>]) -> Result<Var<'t, f64>>,
{
    let mut store = ParamStore::new();
    let mut ids = Vec::with_capacity(inputs.len());
    for (i, x) in inputs.iter().enumerate() {
        ids.push(store.add(format!("input.{i}"), x.clone())?);
    }
    gradcheck_params(
        &mut store,
        &ids.clone(),
        |tape| {
            let vars: Vec<_> = ids.iter().map(|&id| tape.param(id)).collect();
            f(tape, &vars)
        },
        opts,
    )
}

/// Checks the gradient of `f` with respect to the parameters `params` of an existing store
/// (a layer's weights, say). `f` builds its computation on the tape it is given, reading the
/// parameters with `tape.param(id)`; the store is restored exactly before returning.
pub fn gradcheck_params<Fun>(
    store: &mut ParamStore<f64>,
    params: &[ParamId],
    f: Fun,
    opts: GradcheckOptions,
) -> Result<GradcheckReport>
where
    Fun: for<'t> Fn(&'t Tape<'t, f64>) -> Result<Var<'t, f64>>,
{
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);

    // Analytic gradients of L = sum(out * R).
    let projection: ArrayD<f64>;
    let mut grads = Gradients::new();
    {
        let tape = Tape::new(store);
        let out = f(&tape)?;
        projection = ArrayD::from_shape_fn(out.shape(), |_| rng.random_range(-1.0..1.0));
        let r = tape.constant(projection.view());
        let loss = out.mul(r)?.sum()?;
        tape.backward(loss, &mut grads)?;
    }

    let eval = |store: &ParamStore<f64>| -> Result<f64> {
        let tape = Tape::new(store);
        let out = f(&tape)?;
        Ok(out.with_value(|v| v.iter().zip(projection.iter()).map(|(a, b)| a * b).sum()))
    };

    let mut report = GradcheckReport {
        max_error: 0.0,
        worst: None,
        checked: 0,
        tolerance: opts.tolerance,
    };
    for (i, &id) in params.iter().enumerate() {
        let shape = store.value(id).shape().to_vec();
        let analytic = grads.dense(id, &shape).unwrap_or_else(|| ArrayD::zeros(shape.clone()));
        for (k, &a) in analytic.iter().enumerate() {
            let orig = flat_get(store.value(id), k);
            flat_set(store.value_mut(id), k, orig + opts.eps);
            let plus = eval(store);
            flat_set(store.value_mut(id), k, orig - opts.eps);
            let minus = eval(store);
            flat_set(store.value_mut(id), k, orig);
            let numeric = (plus? - minus?) / (2.0 * opts.eps);
            let err = (a - numeric).abs() / 1f64.max(a.abs()).max(numeric.abs());
            if err > report.max_error || err.is_nan() {
                report.max_error = if err.is_nan() { f64::INFINITY } else { err };
                report.worst = Some((i, k, a, numeric));
            }
            report.checked += 1;
        }
    }
    Ok(report)
}

// Store values are standard layout, so the k-th element in logical order is the k-th in memory.
fn flat_get(a: &ArrayD<f64>, k: usize) -> f64 {
    a.as_slice().and_then(|s| s.get(k)).copied().unwrap_or(0.0)
}

fn flat_set(a: &mut ArrayD<f64>, k: usize, v: f64) {
    if let Some(x) = a.as_slice_mut().and_then(|s| s.get_mut(k)) {
        *x = v;
    }
}
