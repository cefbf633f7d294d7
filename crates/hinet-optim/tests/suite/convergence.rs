//! Every optimiser minimises a convex quadratic and fits a logistic regression built with the tape.

use crate::common::*;
use hinet_autograd::{Activation, Gradients, ParamStore, Tape};
use hinet_optim::{Optimizer, OptimizerKind, ParamGroup, Schedule};
use ndarray::{Array1, Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn all_kinds() -> Vec<(OptimizerKind, f64)> {
    vec![
        (OptimizerKind::sgd(), 0.5),
        (OptimizerKind::momentum(0.9), 0.05),
        (OptimizerKind::nesterov(0.9), 0.05),
        (OptimizerKind::adam(), 0.05),
        (OptimizerKind::adamw(), 0.05),
        (OptimizerKind::adagrad(), 0.5),
    ]
}

#[test]
fn convex_quadratic() {
    // f(p) = 1/2 sum a_i (p_i - c_i)^2 with curvatures a_i in [0.5, 2].
    let a = arr::<f64>(&[8], &[0.5, 0.7, 1.0, 1.2, 1.5, 1.7, 1.9, 2.0]);
    let c = arr::<f64>(&[8], &[1.0, -2.0, 3.0, 0.5, -0.5, 2.5, -1.5, 0.0]);
    for (kind, lr) in all_kinds() {
        let mut store = ParamStore::<f64>::new();
        let p = store.add("p", ArrayD::zeros(vec![8])).unwrap();
        let mut opt = Optimizer::new(kind, lr, vec![], &store).unwrap();
        opt.set_schedule(Schedule::Cosine {
            warmup_steps: 10,
            total_steps: 500,
            min_lr: 0.0,
        })
        .unwrap();
        let mut grads = Gradients::new();
        for _ in 0..500 {
            let tape = Tape::new(&store);
            let d = tape.param(p).sub(tape.constant(c.view())).unwrap();
            let loss = d.mul(d).unwrap().mul(tape.constant(a.view())).unwrap().sum().unwrap();
            let loss = loss.mul_scalar(0.5).unwrap();
            grads.clear();
            tape.backward(loss, &mut grads).unwrap();
            drop(tape);
            opt.step(&mut store, &grads).unwrap();
        }
        let err = (store.value(p) - &c).iter().fold(0.0f64, |m, e| m.max(e.abs()));
        assert!(err < 1e-2, "{}: max |p - c| = {err}", kind.name());
    }
}

#[test]
fn logistic_regression() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (n, d) = (256, 4);
    let w_true = Array1::from(vec![1.5, -2.0, 0.5, 1.0]);
    let x = Array2::from_shape_fn((n, d), |_| rng.random_range(-1.0..1.0));
    let y = x.dot(&w_true).mapv(|z: f64| if z + 0.2 > 0.0 { 1.0 } else { 0.0 });
    let (x, y) = (x.into_dyn(), y.into_shape_with_order((n, 1)).unwrap().into_dyn());
    for (kind, lr) in all_kinds() {
        let mut store = ParamStore::<f64>::new();
        let w = store.add("w", ArrayD::zeros(vec![1, d])).unwrap();
        let b = store.add("b", ArrayD::zeros(vec![1])).unwrap();
        let groups = vec![ParamGroup::new("weights", vec![w]).with_weight_decay(1e-4)];
        let mut opt = Optimizer::new(kind, lr, groups, &store).unwrap();
        opt.set_clip_norm(Some(5.0)).unwrap();
        let mut grads = Gradients::new();
        let mut losses = Vec::new();
        for _ in 0..300 {
            let tape = Tape::new(&store);
            let logits = tape
                .constant(x.view())
                .linear(tape.param(w), Some(tape.param(b)), Activation::Identity)
                .unwrap();
            let loss = logits
                .bce_with_logits(tape.constant(y.view()), None, 1.0)
                .unwrap()
                .mean()
                .unwrap();
            losses.push(loss.scalar().unwrap());
            grads.clear();
            tape.backward(loss, &mut grads).unwrap();
            drop(tape);
            opt.step(&mut store, &grads).unwrap();
        }
        let last = losses[losses.len() - 1];
        assert!(
            last < 0.3 && last < 0.5 * losses[0],
            "{}: loss {} -> {last}",
            kind.name(),
            losses[0]
        );
        // Accuracy on the training set.
        let wv = store.value(w);
        let bv = store.value(b)[0];
        let correct = (0..n)
            .filter(|&i| {
                let z: f64 = (0..d).map(|j| x[[i, j]] * wv[[0, j]]).sum::<f64>() + bv;
                (z > 0.0) == (y[[i, 0]] > 0.5)
            })
            .count();
        assert!(
            correct as f64 / n as f64 > 0.9,
            "{}: accuracy {correct}/{n}",
            kind.name()
        );
    }
}

#[test]
fn lazy_embedding_model_learns() {
    // Each id has a label; a lazily updated embedding table plus a tower learns them.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut store = ParamStore::<f32>::new();
    let v: Vec<f64> = (0..200).map(|_| rng.random_range(-0.1..0.1)).collect();
    let emb = store.add("emb", arr(&[50, 4], &v)).unwrap();
    let w = store.add("w", arr(&[1, 4], &[0.1, 0.1, 0.1, 0.1])).unwrap();
    let groups = vec![ParamGroup::new("emb", vec![emb]).with_sparse(true)];
    for kind in [OptimizerKind::adam(), OptimizerKind::adagrad()] {
        let mut store = store.clone();
        let mut opt = Optimizer::new(kind, 0.05, groups.clone(), &store).unwrap();
        let mut grads = Gradients::new();
        let mut first = None;
        let mut last = 0.0;
        for _ in 0..400 {
            let ids: Vec<usize> = (0..16).map(|_| rng.random_range(0..50)).collect();
            let y = Array2::from_shape_fn((16, 1), |(i, _)| ids[i].is_multiple_of(3) as u8 as f32).into_dyn();
            let tape = Tape::new(&store);
            let h = tape.param(emb).gather_rows(&ids).unwrap();
            let logits = h.linear(tape.param(w), None, Activation::Identity).unwrap();
            let loss = logits
                .bce_with_logits(tape.constant(y.view()), None, 1.0)
                .unwrap()
                .mean()
                .unwrap();
            last = loss.scalar().unwrap();
            first.get_or_insert(last);
            grads.clear();
            tape.backward(loss, &mut grads).unwrap();
            drop(tape);
            opt.step(&mut store, &grads).unwrap();
        }
        assert!(last < 0.2, "{}: loss {:?} -> {last}", kind.name(), first);
    }
}
