//! Training-step throughput of a configuration on in-memory synthetic batches
//! (docs/bench-default.md: i.i.d. rows, scenario drawn with the given shares, ids
//! uniform, Bernoulli labels; no I/O in the timed loop).
//!
//! For users sizing a model: how many rows per second a configuration trains at on this
//! machine, before any data exists. `hinet bench` reports this measurement; [`measure`] gives
//! it to a program, [`SyntheticBatch`] a batch of the configuration's shape to time other code.

use crate::config::ModelConfig;
use crate::error::Result;
use crate::input::ModelInput;
use crate::trainer::{TrainOptions, Trainer};
use hinet_autograd::Float;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputReport {
    /// Rows per batch.
    pub batch: usize,
    /// Rayon threads in the pool the steps ran on.
    pub threads: usize,
    /// Timed steps.
    pub steps: usize,
    /// Median step time in milliseconds.
    pub median_step_ms: f64,
    /// Fastest and slowest step, in milliseconds.
    pub min_step_ms: f64,
    /// Slowest step.
    pub max_step_ms: f64,
    /// Training rows per second at the median step time.
    pub samples_per_second: f64,
    /// Dense-layer FLOPs per row (forward + backward = 3 x forward), counted from the config.
    pub flops_per_row: f64,
    /// Effective GFLOP/s at the median.
    pub gflops: f64,
}

/// Owned synthetic batch.
pub struct SyntheticBatch<F> {
    scenario: Vec<usize>,
    offsets: Vec<usize>,
    sparse: Vec<usize>,
    dense: Array2<F>,
    labels: Array2<F>,
}

impl<F: Float> SyntheticBatch<F> {
    /// A batch of `rows` rows of `config`'s shape, scenario drawn by `shares` (uniform if empty).
    pub fn new(config: &ModelConfig, rows: usize, shares: &[f64], seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let m = config.num_scenarios();
        let shares: Vec<f64> = if shares.len() == m {
            shares.to_vec()
        } else {
            vec![1.0; m]
        };
        let total: f64 = shares.iter().sum();
        let mut scenario: Vec<usize> = (0..rows)
            .map(|_| {
                let mut u = rng.random::<f64>() * total;
                shares
                    .iter()
                    .position(|&s| {
                        u -= s;
                        u < 0.0
                    })
                    .unwrap_or(m.saturating_sub(1))
            })
            .collect();
        scenario.sort_unstable();
        let mut offsets = vec![0; m + 1];
        for &s in &scenario {
            offsets[s + 1] += 1;
        }
        for i in 0..m {
            offsets[i + 1] += offsets[i];
        }
        let mut sparse = Vec::with_capacity(rows * config.sparse.len());
        for f in &config.sparse {
            // `max(1)`: an unvalidated config with an empty vocabulary gives ids the model
            // refuses, not a panic here.
            sparse.extend((0..rows).map(|_| rng.random_range(0..f.vocab.max(1))));
        }
        let dense = Array2::from_shape_fn((rows, config.dense.len()), |_| F::of(rng.random::<f64>()));
        let labels = Array2::from_shape_fn((rows, config.num_tasks()), |_| {
            F::of(f64::from(u8::from(rng.random::<f64>() < 0.1)))
        });
        Self {
            scenario,
            offsets,
            sparse,
            dense,
            labels,
        }
    }

    /// The batch as model input.
    pub fn input(&self) -> ModelInput<'_, F> {
        ModelInput {
            rows: self.scenario.len(),
            scenario: &self.scenario,
            scenario_offsets: &self.offsets,
            sparse: &self.sparse,
            dense: self.dense.view(),
            labels: Some(self.labels.view()),
        }
    }
}

/// Dense-layer multiply-adds per row of one forward pass, as bench-default counts them.
pub fn forward_macs_per_row(config: &ModelConfig) -> f64 {
    let mlp = |input: usize, hidden: &[usize]| -> f64 {
        let mut w = input;
        let mut macs = 0.0;
        for &h in hidden {
            macs += (w * h) as f64;
            w = h;
        }
        macs
    };
    let x = config.input_width();
    let m = config.num_scenarios() as f64;
    let t = config.num_tasks() as f64;
    let d = *config.expert_hidden.last().unwrap_or(&0);
    let scenario_layer = if config.hierarchy {
        (m + 1.0) * config.sub_experts as f64 * mlp(x, &config.expert_hidden)
    } else {
        0.0
    };
    let c = if config.hierarchy {
        d * if config.san { 3 } else { 2 }
    } else {
        x
    };
    let cgc_experts =
        (config.cgc_shared_experts as f64 + t * config.cgc_experts_per_task as f64) * config.cgc_levels as f64;
    let cgc = cgc_experts * mlp(c, &config.cgc_hidden);
    let tower_in = *config.cgc_hidden.last().unwrap_or(&c);
    let towers = t * (mlp(tower_in, &config.tower_hidden) + *config.tower_hidden.last().unwrap_or(&tower_in) as f64);
    scenario_layer + cgc + towers
}

/// Trains `warmup + steps` steps on one synthetic batch and reports the median step time.
/// Runs on the current rayon pool; wrap it in `pool.install` to choose the thread count.
/// A config whose model, training state and batch would not fit in the memory available is
/// refused ([`crate::ModelError::TooLarge`]) before anything is allocated.
pub fn measure<F: Float>(
    config: &ModelConfig,
    batch: usize,
    warmup: usize,
    steps: usize,
    shares: &[f64],
    seed: u64,
) -> Result<ThroughputReport> {
    measure_with::<F>(config, &TrainOptions::default(), batch, warmup, steps, shares, seed)
}

/// [`measure`] with other training options (the optimiser, which tables update lazily); the
/// memory limit and the batch size for the estimate are set here.
pub fn measure_with<F: Float>(
    config: &ModelConfig,
    options: &TrainOptions,
    batch: usize,
    warmup: usize,
    steps: usize,
    shares: &[f64],
    seed: u64,
) -> Result<ThroughputReport> {
    // The model first: the config is validated and its memory (within what the machine has
    // available) checked before the batch or the model is allocated.
    let options = TrainOptions {
        max_memory_bytes: crate::size::available_memory_bytes(),
        batch_size: batch,
        ..options.clone()
    };
    let mut trainer = Trainer::<F>::new(config, seed, &options)?;
    let data = SyntheticBatch::<F>::new(config, batch, shares, seed);
    let input = data.input();
    for _ in 0..warmup {
        trainer.step(&input)?;
    }
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let start = Instant::now();
        trainer.step(&input)?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = if times.is_empty() {
        f64::NAN
    } else {
        times[times.len() / 2]
    };
    let flops_per_row = 6.0 * forward_macs_per_row(config);
    Ok(ThroughputReport {
        batch,
        threads: rayon::current_num_threads(),
        steps,
        median_step_ms: median * 1e3,
        min_step_ms: times.first().copied().unwrap_or(f64::NAN) * 1e3,
        max_step_ms: times.last().copied().unwrap_or(f64::NAN) * 1e3,
        samples_per_second: batch as f64 / median,
        flops_per_row,
        gflops: flops_per_row * batch as f64 / median / 1e9,
    })
}
