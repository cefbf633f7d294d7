//! A two-layer MLP built from scratch on the tape, trained on XOR with a hand-written SGD
//! update, then its gradients confirmed against central finite differences.
//!
//! `cargo run --release -p hinet-autograd --example micrograd_mlp`

use hinet_autograd::{
    Activation, AutogradError, GradcheckOptions, Gradients, ParamId, ParamStore, Tape, Var, gradcheck,
};
use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const HIDDEN: usize = 16;
const POINTS: usize = 64;
const STEPS: usize = 500;
const LEARNING_RATE: f64 = 0.5;

/// XOR on noisy points of the square [-1, 1]^2: the label is 1 when x and y have opposite
/// signs. No straight line separates the classes, so the hidden layer has to do the work.
fn xor_points(rng: &mut ChaCha8Rng) -> (ArrayD<f64>, ArrayD<f64>) {
    let mut inputs = Array2::zeros((POINTS, 2));
    let mut labels = Array2::zeros((POINTS, 1));
    for i in 0..POINTS {
        let (a, b): (f64, f64) = (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0));
        inputs[[i, 0]] = a;
        inputs[[i, 1]] = b;
        labels[[i, 0]] = if a * b < 0.0 { 1.0 } else { 0.0 };
    }
    (inputs.into_dyn(), labels.into_dyn())
}

/// A weight `[out, in]` drawn uniformly from +-1/sqrt(in), PyTorch's default scale.
fn init_weight(rng: &mut ChaCha8Rng, out: usize, inp: usize) -> ArrayD<f64> {
    let bound = 1.0 / (inp as f64).sqrt();
    ArrayD::from_shape_fn(vec![out, inp], |_| rng.random_range(-bound..bound))
}

/// The network's logits: `relu(x W1^T + b1) W2^T + b2`, the ReLU fused into the first product.
/// The same function runs on parameters (training) and on `gradcheck`'s inputs (checking).
fn logits<'t>(x: Var<'t, f64>, [w1, b1, w2, b2]: [Var<'t, f64>; 4]) -> Result<Var<'t, f64>, AutogradError> {
    let hidden = x.linear(w1, Some(b1), Activation::Relu)?;
    hidden.linear(w2, Some(b2), Activation::Identity)
}

/// Mean binary cross-entropy of the logits against the 0/1 labels.
fn bce_loss<'t>(logits: Var<'t, f64>, labels: &ArrayD<f64>) -> Result<Var<'t, f64>, AutogradError> {
    let targets = logits.tape().constant(labels.view());
    logits.bce_with_logits(targets, None, 1.0)?.mean()
}

fn main() -> Result<(), AutogradError> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (inputs, labels) = xor_points(&mut rng);

    let mut store = ParamStore::<f64>::new();
    let params: [ParamId; 4] = [
        store.add("hidden.weight", init_weight(&mut rng, HIDDEN, 2))?,
        store.add("hidden.bias", ArrayD::zeros(vec![HIDDEN]))?,
        store.add("output.weight", init_weight(&mut rng, 1, HIDDEN))?,
        store.add("output.bias", ArrayD::zeros(vec![1]))?,
    ];

    let mut grads = Gradients::new();
    let mut losses = Vec::with_capacity(STEPS);
    for step in 0..STEPS {
        // One tape per step: it borrows the store, so it must end before the update writes.
        let value = {
            let tape = Tape::new(&store);
            let loss = bce_loss(
                logits(tape.constant(inputs.view()), params.map(|id| tape.param(id)))?,
                &labels,
            )?;
            grads.clear();
            tape.backward(loss, &mut grads)?;
            loss.scalar()?
        };
        losses.push(value);
        if step % 100 == 0 || step == STEPS - 1 {
            println!("step {step:>3}: loss {value:.4}");
        }
        // Hand-written SGD: p -= lr * dL/dp.
        for &id in &params {
            let gradient = grads
                .dense(id, store.value(id).shape())
                .expect("every parameter feeds the loss");
            *store.value_mut(id) -= &(gradient * LEARNING_RATE);
        }
    }

    // Accuracy of the trained network on its training points (a tape without gradients).
    let tape = Tape::no_grad(&store, Default::default());
    let scores = logits(tape.constant(inputs.view()), params.map(|id| tape.param(id)))?.value();
    let correct = scores
        .iter()
        .zip(labels.iter())
        .filter(|&(&score, &label)| (score > 0.0) == (label > 0.5))
        .count();
    println!("accuracy: {correct}/{POINTS}");

    let (first, last) = (losses[0], losses[STEPS - 1]);
    assert!(
        last < 0.25 * first,
        "the loss should fall well below its start: {first} -> {last}"
    );

    // The engine's gradients of the trained network, with respect to the inputs as well as
    // every weight, against central differences in f64. `gradcheck` registers its inputs as
    // parameters of a fresh store and calls the closure with them as variables.
    let mut checked_inputs = vec![inputs.clone()];
    checked_inputs.extend(params.iter().map(|&id| store.value(id).clone()));
    let report = gradcheck(
        &checked_inputs,
        |_tape, vars| bce_loss(logits(vars[0], [vars[1], vars[2], vars[3], vars[4]])?, &labels),
        GradcheckOptions::default(),
    )?;
    println!(
        "gradcheck: {} elements, largest relative error {:.1e} (tolerance {:.0e})",
        report.checked, report.max_error, report.tolerance
    );
    assert!(
        report.passed(),
        "gradients disagree with finite differences: {report:?}"
    );
    Ok(())
}
