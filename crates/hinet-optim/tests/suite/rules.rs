//! One or two steps of each rule against numbers written out from the papers' formulas.
//! Gradients come from `loss = sum(p * c)`, whose gradient is exactly `c`.

// Expected values keep the gradient literal (`* -1.0`) so they read as the formula.
#![allow(clippy::neg_multiply)]

use crate::common::*;
use hinet_autograd::ParamStore;
use hinet_optim::{OptimError, Optimizer, OptimizerKind, ParamGroup, Schedule};

fn setup() -> (ParamStore<f64>, hinet_autograd::ParamId) {
    let mut store = ParamStore::new();
    let w = store.add("w", arr(&[3], &[1.0, -2.0, 0.5])).unwrap();
    (store, w)
}

const G: [f64; 3] = [0.5, 0.25, -1.0];

#[test]
fn sgd_plain_with_weight_decay() {
    let (mut store, w) = setup();
    let g = linear_grads(&store, &[(w, &arr(&[3], &G))]);
    let group = ParamGroup::new("all", vec![w]).with_weight_decay(0.01);
    let mut opt = Optimizer::new(OptimizerKind::sgd(), 0.1, vec![group], &store).unwrap();
    opt.step(&mut store, &g).unwrap();
    // p - lr * (g + wd * p)
    let want = [
        1.0 - 0.1 * (0.5 + 0.01 * 1.0),
        -2.0 - 0.1 * (0.25 + 0.01 * -2.0),
        0.5 - 0.1 * (-1.0 + 0.01 * 0.5),
    ];
    assert_close(store.value(w), &want);
}

#[test]
fn sgd_momentum_with_dampening_two_steps() {
    let (mut store, w) = setup();
    let g = linear_grads(&store, &[(w, &arr(&[3], &G))]);
    let kind = OptimizerKind::Sgd {
        momentum: 0.9,
        dampening: 0.1,
        nesterov: false,
    };
    let mut opt = Optimizer::new(kind, 0.1, vec![], &store).unwrap();
    opt.step(&mut store, &g).unwrap();
    opt.step(&mut store, &g).unwrap();
    // PyTorch: b1 = g (no dampening on the first step); b2 = 0.9 b1 + (1 - 0.1) g; p -= lr b.
    let p0 = [1.0, -2.0, 0.5];
    let want: Vec<f64> = (0..3)
        .map(|i| {
            let b1 = G[i];
            let p1 = p0[i] - 0.1 * b1;
            let b2 = 0.9 * b1 + 0.9 * G[i];
            p1 - 0.1 * b2
        })
        .collect();
    // Written out for element 0: b1 = 0.5, p1 = 0.95, b2 = 0.45 + 0.45 = 0.9, p2 = 0.86.
    assert!((want[0] - 0.86).abs() < 1e-15);
    assert_close(store.value(w), &want);
    let st = opt.state().unwrap();
    assert_close(st.tensor("w.momentum_buffer").unwrap(), &[0.9, 0.45, -1.8]);
}

#[test]
fn sgd_nesterov_two_steps() {
    let (mut store, w) = setup();
    let g = linear_grads(&store, &[(w, &arr(&[3], &G))]);
    let mut opt = Optimizer::new(OptimizerKind::nesterov(0.9), 0.1, vec![], &store).unwrap();
    opt.step(&mut store, &g).unwrap();
    opt.step(&mut store, &g).unwrap();
    // b1 = g, u1 = g + 0.9 b1 = 1.9 g; b2 = 0.9 g + g = 1.9 g, u2 = g + 0.9 * 1.9 g = 2.71 g.
    let want = [
        1.0 - 0.1 * 1.9 * 0.5 - 0.1 * 2.71 * 0.5,
        -2.0 - 0.1 * 1.9 * 0.25 - 0.1 * 2.71 * 0.25,
        0.5 - 0.1 * 1.9 * -1.0 - 0.1 * 2.71 * -1.0,
    ];
    assert_close(store.value(w), &want);
}

#[test]
fn adam_two_steps_with_bias_correction() {
    let (mut store, w) = setup();
    let g = linear_grads(&store, &[(w, &arr(&[3], &G))]);
    let group = ParamGroup::new("all", vec![w]).with_weight_decay(0.1);
    let mut opt = Optimizer::new(OptimizerKind::adam(), 0.01, vec![group], &store).unwrap();
    opt.step(&mut store, &g).unwrap();
    let after1 = store.value(w).clone();
    opt.step(&mut store, &g).unwrap();
    // Kingma & Ba Alg. 1 with L2 folded into the gradient: d = g + 0.1 p.
    let (b1, b2, eps, lr) = (0.9f64, 0.999f64, 1e-8, 0.01);
    let mut want1 = [0.0; 3];
    let mut want2 = [0.0; 3];
    for i in 0..3 {
        let p0 = [1.0, -2.0, 0.5][i];
        let d1 = G[i] + 0.1 * p0;
        let m1 = (1.0 - b1) * d1;
        let v1 = (1.0 - b2) * d1 * d1;
        let (mh, vh) = (m1 / (1.0 - b1), v1 / (1.0 - b2));
        let p1 = p0 - lr * mh / (vh.sqrt() + eps);
        // First step: m_hat = d, v_hat = d^2, so the move is lr * sign(d) (up to eps).
        assert!((p1 - (p0 - lr * d1.signum())).abs() < 1e-8);
        let d2 = G[i] + 0.1 * p1;
        let m2 = b1 * m1 + (1.0 - b1) * d2;
        let v2 = b2 * v1 + (1.0 - b2) * d2 * d2;
        let (mh, vh) = (m2 / (1.0 - b1 * b1), v2 / (1.0 - b2 * b2));
        want1[i] = p1;
        want2[i] = p1 - lr * mh / (vh.sqrt() + eps);
    }
    assert_close(&after1, &want1);
    assert_close(store.value(w), &want2);
}

#[test]
fn adamw_decouples_weight_decay() {
    let (mut store, w) = setup();
    let g = linear_grads(&store, &[(w, &arr(&[3], &G))]);
    let group = ParamGroup::new("all", vec![w]).with_weight_decay(0.1);
    let mut opt = Optimizer::new(OptimizerKind::adamw(), 0.01, vec![group], &store).unwrap();
    opt.step(&mut store, &g).unwrap();
    opt.step(&mut store, &g).unwrap();
    // Loshchilov & Hutter Alg. 2: moments from g alone; p <- p - lr (m_hat / (sqrt(v_hat) + eps) + wd p).
    let (b1, b2, eps, lr, wd) = (0.9f64, 0.999f64, 1e-8, 0.01, 0.1);
    let want: Vec<f64> = (0..3)
        .map(|i| {
            let p0 = [1.0, -2.0, 0.5][i];
            let m1 = (1.0 - b1) * G[i];
            let v1 = (1.0 - b2) * G[i] * G[i];
            let p1 = p0 - lr * wd * p0 - lr * (m1 / (1.0 - b1)) / ((v1 / (1.0 - b2)).sqrt() + eps);
            let m2 = b1 * m1 + (1.0 - b1) * G[i];
            let v2 = b2 * v1 + (1.0 - b2) * G[i] * G[i];
            p1 - lr * wd * p1 - lr * (m2 / (1.0 - b1 * b1)) / ((v2 / (1.0 - b2 * b2)).sqrt() + eps)
        })
        .collect();
    assert_close(store.value(w), &want);
    let st = opt.state().unwrap();
    // m2 = (1 - 0.9^2) g = 0.19 g exactly in real arithmetic.
    assert_close(st.tensor("w.exp_avg").unwrap(), &[0.19 * 0.5, 0.19 * 0.25, -0.19]);
}

#[test]
fn adagrad_two_steps() {
    let (mut store, w) = setup();
    let g = linear_grads(&store, &[(w, &arr(&[3], &G))]);
    let kind = OptimizerKind::Adagrad {
        eps: 1e-10,
        initial_accumulator: 0.1,
    };
    let mut opt = Optimizer::new(kind, 0.5, vec![], &store).unwrap();
    opt.step(&mut store, &g).unwrap();
    opt.step(&mut store, &g).unwrap();
    // Duchi et al.: s_t = s_0 + sum g^2; p -= lr g / (sqrt(s_t) + eps).
    let want: Vec<f64> = (0..3)
        .map(|i| {
            let p0 = [1.0, -2.0, 0.5][i];
            let s1 = 0.1 + G[i] * G[i];
            let s2 = s1 + G[i] * G[i];
            p0 - 0.5 * G[i] / (s1.sqrt() + 1e-10) - 0.5 * G[i] / (s2.sqrt() + 1e-10)
        })
        .collect();
    assert_close(store.value(w), &want);
    assert_close(opt.state().unwrap().tensor("w.sum").unwrap(), &[0.6, 0.225, 2.1]);
}

#[test]
fn clipping_scales_by_global_norm() {
    let mut store = ParamStore::<f64>::new();
    let a = store.add("a", arr(&[2], &[0.0, 0.0])).unwrap();
    let b = store.add("b", arr(&[1], &[0.0])).unwrap();
    let g = linear_grads(&store, &[(a, &arr(&[2], &[3.0, 0.0])), (b, &arr(&[1], &[4.0]))]);
    let mut opt = Optimizer::new(OptimizerKind::sgd(), 1.0, vec![], &store).unwrap();
    opt.set_clip_norm(Some(1.0)).unwrap();
    let rep = opt.step(&mut store, &g).unwrap();
    // ||g|| = 5; coefficient 1 / (5 + 1e-6) (PyTorch clip_grad_norm_).
    assert_eq!(rep.grad_norm, 5.0);
    let c = 1.0 / (5.0 + 1e-6);
    assert_eq!(rep.clip_coef, c);
    assert_close(store.value(a), &[-3.0 * c, 0.0]);
    assert_close(store.value(b), &[-4.0 * c]);
    // Below the bound nothing is scaled.
    opt.set_clip_norm(Some(10.0)).unwrap();
    assert_eq!(opt.step(&mut store, &g).unwrap().clip_coef, 1.0);
}

#[test]
fn groups_scale_lr_and_decay_separately() {
    let mut store = ParamStore::<f64>::new();
    let a = store.add("a", arr(&[1], &[1.0])).unwrap();
    let b = store.add("b", arr(&[1], &[1.0])).unwrap();
    let c = store.add("c", arr(&[1], &[1.0])).unwrap();
    let g = linear_grads(
        &store,
        &[
            (a, &arr(&[1], &[1.0])),
            (b, &arr(&[1], &[1.0])),
            (c, &arr(&[1], &[1.0])),
        ],
    );
    let groups = vec![
        ParamGroup::new("fast", vec![a]).with_lr_scale(10.0),
        ParamGroup::new("decayed", vec![b]).with_weight_decay(0.5),
    ];
    let mut opt = Optimizer::new(OptimizerKind::sgd(), 0.01, groups, &store).unwrap();
    assert_eq!(opt.groups().len(), 3, "c lands in the default group");
    assert_eq!(opt.groups()[2].name, "default");
    opt.step(&mut store, &g).unwrap();
    assert_close(store.value(a), &[1.0 - 0.1 * 1.0]);
    assert_close(store.value(b), &[1.0 - 0.01 * (1.0 + 0.5 * 1.0)]);
    assert_close(store.value(c), &[1.0 - 0.01]);
}

#[test]
fn schedules() {
    let s = Schedule::LinearWarmup { warmup_steps: 4 };
    assert_eq!(s.lr_at(1.0, 0), 0.25);
    assert_eq!(s.lr_at(1.0, 3), 1.0);
    assert_eq!(s.lr_at(1.0, 100), 1.0);
    let s = Schedule::Cosine {
        warmup_steps: 2,
        total_steps: 12,
        min_lr: 0.1,
    };
    assert_eq!(s.lr_at(1.0, 0), 0.5);
    assert_eq!(s.lr_at(1.0, 2), 1.0);
    // Halfway through the cosine part: min + (base - min) * (1 + cos(pi/2)) / 2.
    assert!((s.lr_at(1.0, 7) - (0.1 + 0.9 * 0.5)).abs() < 1e-15);
    assert!((s.lr_at(1.0, 12) - 0.1).abs() < 1e-15);
    assert!((s.lr_at(1.0, 1000) - 0.1).abs() < 1e-15);
    let s = Schedule::StepDecay {
        step_size: 10,
        gamma: 0.5,
    };
    assert_eq!(s.lr_at(2.0, 9), 2.0);
    assert_eq!(s.lr_at(2.0, 10), 1.0);
    assert_eq!(s.lr_at(2.0, 25), 0.5);
    assert!(
        Schedule::StepDecay {
            step_size: 0,
            gamma: 0.5
        }
        .validate()
        .is_err()
    );

    // The optimiser applies the schedule at its own step count.
    let (mut store, w) = setup();
    let g = linear_grads(&store, &[(w, &arr(&[3], &G))]);
    let mut opt = Optimizer::new(OptimizerKind::sgd(), 0.4, vec![], &store).unwrap();
    opt.set_schedule(Schedule::LinearWarmup { warmup_steps: 4 }).unwrap();
    assert_eq!(opt.lr(), 0.1);
    assert_eq!(opt.step(&mut store, &g).unwrap().lr, 0.1);
    assert_eq!(opt.step(&mut store, &g).unwrap().lr, 0.2);
    assert_eq!(opt.lr(), 0.30000000000000004);
}

#[test]
fn non_finite_gradient_is_refused_and_nothing_changes() {
    let mut store = ParamStore::<f32>::new();
    let a = store.add("a", arr(&[2], &[1.0, 2.0])).unwrap();
    let b = store.add("layer.bias", arr(&[2], &[1.0, 2.0])).unwrap();
    let g = linear_grads(
        &store,
        &[(a, &arr(&[2], &[1.0, 1.0])), (b, &arr(&[2], &[1.0, f64::NAN]))],
    );
    let mut opt = Optimizer::new(OptimizerKind::adam(), 0.1, vec![], &store).unwrap();
    let before = store.clone();
    let err = opt.step(&mut store, &g).unwrap_err();
    assert_eq!(
        err,
        OptimError::NonFinite {
            param: "layer.bias".into()
        }
    );
    assert_eq!(opt.step_count(), 0);
    for id in store.ids() {
        assert_bits(store.value(id), before.value(id), "untouched");
    }
    assert!(opt.state().unwrap().tensors.is_empty());
    let g = linear_grads(&store, &[(a, &arr(&[2], &[f64::INFINITY, 1.0]))]);
    assert!(matches!(opt.step(&mut store, &g), Err(OptimError::NonFinite { .. })));
    assert!(hinet_optim::check_loss(f64::INFINITY).is_err());
}

#[test]
fn configuration_errors_name_the_culprit() {
    let mut store = ParamStore::<f32>::new();
    let w = store.add("w", arr(&[2, 2], &[0.0; 4])).unwrap();
    let bias = store.add("bias", arr(&[2], &[0.0; 2])).unwrap();
    let run = store.add_buffer("bn.running_mean", arr(&[2], &[0.0; 2])).unwrap();
    let new = |groups| Optimizer::new(OptimizerKind::adam(), 0.1, groups, &store).map(|_| ());
    assert!(matches!(
        new(vec![ParamGroup::new("a", vec![w]), ParamGroup::new("b", vec![w])]),
        Err(OptimError::DuplicateParam { ref param, ref first, ref second }) if param == "w" && first == "a" && second == "b"
    ));
    assert!(matches!(
        new(vec![ParamGroup::new("a", vec![run])]),
        Err(OptimError::NotTrainable { .. })
    ));
    assert!(matches!(
        new(vec![ParamGroup::new("emb", vec![bias]).with_sparse(true)]),
        Err(OptimError::SparseNotMatrix { ref param, .. }) if param == "bias"
    ));
    assert!(new(vec![ParamGroup::new("a", vec![w]).with_weight_decay(-1.0)]).is_err());
    let bad = OptimizerKind::Adam {
        beta1: 1.0,
        beta2: 0.999,
        eps: 1e-8,
    };
    assert!(matches!(
        Optimizer::new(bad, 0.1, vec![], &store),
        Err(OptimError::InvalidConfig { .. })
    ));
    assert!(Optimizer::new(OptimizerKind::sgd(), f64::NAN, vec![], &store).is_err());
    let mut opt = Optimizer::new(OptimizerKind::sgd(), 0.1, vec![], &store).unwrap();
    assert!(opt.set_clip_norm(Some(0.0)).is_err());
    // A store that is not the one the optimiser was built for.
    let mut other = ParamStore::<f32>::new();
    other.add("v", arr(&[2, 2], &[0.0; 4])).unwrap();
    let g = hinet_autograd::Gradients::new();
    assert!(matches!(
        opt.step(&mut other, &g),
        Err(OptimError::StoreMismatch { .. })
    ));
}
