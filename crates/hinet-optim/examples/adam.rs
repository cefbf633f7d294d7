//! Adam on your own parameters: a linear regression `y = X w + b` whose weights live in a
//! `ParamStore`, with gradients from the tape and the update from `hinet_optim::Optimizer`.
//!
//! `cargo run --release -p hinet-optim --example adam`

use hinet_autograd::{Activation, Gradients, ParamStore, Tape};
use hinet_optim::{Optimizer, OptimizerKind, Schedule};
use ndarray::{Array1, Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 512;
const TRUE_WEIGHTS: [f64; 3] = [2.0, -3.0, 0.5];
const TRUE_BIAS: f64 = 1.0;
const STEPS: u64 = 300;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Data: y = X w + b + noise, with the w and b the fit should recover.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let features = Array2::from_shape_fn((ROWS, TRUE_WEIGHTS.len()), |_| rng.random_range(-1.0..1.0));
    let noise = Array1::from_shape_fn(ROWS, |_| rng.random_range(-0.05..0.05));
    let targets = (features.dot(&Array1::from(TRUE_WEIGHTS.to_vec())) + TRUE_BIAS + noise)
        .into_shape_with_order((ROWS, 1))?
        .into_dyn();
    let features = features.into_dyn();

    // The model's parameters, in PyTorch's layout: weight [out = 1, in = 3], bias [1].
    let mut store = ParamStore::<f64>::new();
    let weight = store.add("weight", ArrayD::zeros(vec![1, TRUE_WEIGHTS.len()]))?;
    let bias = store.add("bias", ArrayD::zeros(vec![1]))?;

    // Adam with PyTorch's defaults over every trainable parameter (no groups: all go into
    // "default"); the rate decays along a cosine to a tenth of its start.
    let mut adam = Optimizer::new(OptimizerKind::adam(), 0.1, vec![], &store)?;
    adam.set_schedule(Schedule::Cosine {
        warmup_steps: 0,
        total_steps: STEPS,
        min_lr: 0.01,
    })?;

    let mut grads = Gradients::new();
    let mut losses = Vec::new();
    for step in 0..STEPS {
        let tape = Tape::new(&store);
        let predictions =
            tape.constant(features.view())
                .linear(tape.param(weight), Some(tape.param(bias)), Activation::Identity)?;
        let residuals = predictions.sub(tape.constant(targets.view()))?;
        let loss = residuals.mul(residuals)?.mean()?; // mean squared error
        let value = loss.scalar()?;
        grads.clear();
        tape.backward(loss, &mut grads)?;
        drop(tape); // the tape borrows the store; the step writes to it

        let report = adam.step(&mut store, &grads)?;
        if step % 50 == 0 || step == STEPS - 1 {
            println!(
                "step {step:>3}: loss {value:.6}  lr {:.4}  gradient norm {:.4}",
                report.lr, report.grad_norm
            );
        }
        losses.push(value);
    }

    let fitted_weights = store.value(weight).iter().copied().collect::<Vec<_>>();
    let fitted_bias = store.value(bias)[0];
    println!("fitted w = {fitted_weights:.3?} (true {TRUE_WEIGHTS:?}), b = {fitted_bias:.3} (true {TRUE_BIAS:?})");

    assert!(
        losses[losses.len() - 1] < 0.01 * losses[0],
        "the loss should fall by 100x"
    );
    for (fitted, truth) in fitted_weights
        .iter()
        .chain([&fitted_bias])
        .zip(TRUE_WEIGHTS.iter().chain([&TRUE_BIAS]))
    {
        assert!((fitted - truth).abs() < 0.05, "fitted {fitted}, true {truth}");
    }
    Ok(())
}
