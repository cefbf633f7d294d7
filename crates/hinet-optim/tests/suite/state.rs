//! Save and restore: training N steps equals training k, saving, restoring into a fresh
//! optimiser and training N - k, bit for bit.

use crate::common::*;
use hinet_autograd::{Activation, Gradients, ParamId, ParamStore, Tape};
use hinet_optim::{OptimError, OptimState, Optimizer, OptimizerKind, ParamGroup, Schedule};
use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct Model {
    store: ParamStore<f32>,
    emb: ParamId,
    w: ParamId,
    b: ParamId,
}

fn model() -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut store = ParamStore::new();
    let v: Vec<f64> = (0..40).map(|_| rng.random_range(-0.5..0.5)).collect();
    let emb = store.add("emb.0", arr(&[10, 4], &v)).unwrap();
    let w = store.add("tower.weight", arr(&[1, 4], &[0.1, -0.2, 0.3, 0.0])).unwrap();
    let b = store.add("tower.bias", arr(&[1], &[0.0])).unwrap();
    Model { store, emb, w, b }
}

/// Gradients of a logistic loss on a batch drawn for `step`: embedding rows -> linear -> BCE.
fn grads(m: &Model, step: u64) -> Gradients<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(100 + step);
    let ids: Vec<usize> = (0..6).map(|_| rng.random_range(0..10)).collect();
    let y = Array2::from_shape_fn((6, 1), |(i, _)| (ids[i] % 2) as f32).into_dyn();
    let tape = Tape::new(&m.store);
    let x = tape.param(m.emb).gather_rows(&ids).unwrap();
    let logits = x
        .linear(tape.param(m.w), Some(tape.param(m.b)), Activation::Identity)
        .unwrap();
    let loss = logits
        .bce_with_logits(tape.constant(y.view()), None, 1.0)
        .unwrap()
        .mean()
        .unwrap();
    let mut g = Gradients::new();
    tape.backward(loss, &mut g).unwrap();
    g
}

fn make(kind: OptimizerKind, m: &Model) -> Optimizer<f32> {
    let groups = vec![
        ParamGroup::new("emb", vec![m.emb])
            .with_sparse(true)
            .with_weight_decay(0.01)
            .with_lr_scale(2.0),
        ParamGroup::new("tower", vec![m.w, m.b]).with_weight_decay(0.05),
    ];
    let mut opt = Optimizer::new(kind, 0.05, groups, &m.store).unwrap();
    opt.set_schedule(Schedule::Cosine {
        warmup_steps: 2,
        total_steps: 10,
        min_lr: 0.001,
    })
    .unwrap();
    opt.set_clip_norm(Some(0.5)).unwrap();
    opt
}

fn kinds() -> Vec<OptimizerKind> {
    vec![
        OptimizerKind::sgd(),
        OptimizerKind::Sgd {
            momentum: 0.9,
            dampening: 0.1,
            nesterov: false,
        },
        OptimizerKind::nesterov(0.9),
        OptimizerKind::adam(),
        OptimizerKind::adamw(),
        OptimizerKind::Adagrad {
            eps: 1e-10,
            initial_accumulator: 0.1,
        },
    ]
}

#[test]
fn restore_continues_bit_identically() {
    const N: u64 = 9;
    const K: u64 = 4;
    for kind in kinds() {
        let mut straight = model();
        let mut opt = make(kind, &straight);
        for s in 0..N {
            let g = grads(&straight, s);
            opt.step(&mut straight.store, &g).unwrap();
        }

        let mut resumed = model();
        let mut first = make(kind, &resumed);
        for s in 0..K {
            let g = grads(&resumed, s);
            first.step(&mut resumed.store, &g).unwrap();
        }
        let saved: OptimState<f32> = first.state().unwrap();
        drop(first);
        let mut second = make(kind, &resumed);
        second.load_state(&saved).unwrap();
        assert_eq!(second.step_count(), K);
        assert_eq!(second.lr(), opt.clone_lr_at(K));
        for s in K..N {
            let g = grads(&resumed, s);
            second.step(&mut resumed.store, &g).unwrap();
        }
        for id in [straight.emb, straight.w, straight.b] {
            assert_bits(straight.store.value(id), resumed.store.value(id), kind.name());
        }
        assert_eq!(opt.state().unwrap(), second.state().unwrap(), "{}", kind.name());
    }
}

trait LrAt {
    fn clone_lr_at(&self, step: u64) -> f64;
}
impl LrAt for Optimizer<f32> {
    fn clone_lr_at(&self, step: u64) -> f64 {
        self.schedule().lr_at(self.base_lr(), step)
    }
}

#[test]
fn state_names_follow_the_documented_scheme() {
    let mut m = model();
    let mut opt = make(OptimizerKind::adam(), &m);
    let g = grads(&m, 0);
    opt.step(&mut m.store, &g).unwrap();
    let st = opt.state().unwrap();
    let names: Vec<&str> = st.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "emb.0.exp_avg",
            "emb.0.exp_avg_sq",
            "tower.weight.exp_avg",
            "tower.weight.exp_avg_sq",
            "tower.bias.exp_avg",
            "tower.bias.exp_avg_sq"
        ]
    );
    let keys: Vec<&str> = st.meta.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "emb.0.step",
            "optimizer",
            "step",
            "tower.bias.step",
            "tower.weight.step"
        ]
    );
    assert_eq!(st.meta["optimizer"], "adam");
}

#[test]
fn load_state_errors_say_what_is_wrong() {
    let mut m = model();
    let mut opt = make(OptimizerKind::adam(), &m);
    let g = grads(&m, 0);
    opt.step(&mut m.store, &g).unwrap();
    let good = opt.state().unwrap();
    let mut fresh = make(OptimizerKind::adam(), &m);

    let mut st = good.clone();
    st.tensors.retain(|(n, _)| n != "tower.weight.exp_avg_sq");
    assert_eq!(
        fresh.load_state(&st),
        Err(OptimError::StateMissing {
            name: "tower.weight.exp_avg_sq".into()
        })
    );

    let mut st = good.clone();
    st.tensors[2].1 = ArrayD::zeros(vec![4, 1]);
    assert_eq!(
        fresh.load_state(&st),
        Err(OptimError::StateShape {
            name: "tower.weight.exp_avg".into(),
            expected: vec![1, 4],
            found: vec![4, 1]
        })
    );

    let mut st = good.clone();
    st.tensors.push(("old.layer.exp_avg".into(), ArrayD::zeros(vec![2])));
    assert_eq!(
        fresh.load_state(&st),
        Err(OptimError::StateUnexpected {
            name: "old.layer.exp_avg".into()
        })
    );

    let mut st = good.clone();
    st.meta.insert("step".into(), "many".into());
    assert!(matches!(fresh.load_state(&st), Err(OptimError::StateMeta { ref key, .. }) if key == "step"));

    let mut sgd = make(OptimizerKind::momentum(0.9), &m);
    assert_eq!(
        sgd.load_state(&good),
        Err(OptimError::StateKind {
            expected: "sgd".into(),
            found: "adam".into()
        })
    );

    // Failed loads changed nothing; a good one works.
    assert_eq!(fresh.step_count(), 0);
    assert!(fresh.state().unwrap().tensors.is_empty());
    fresh.load_state(&good).unwrap();
    assert_eq!(fresh.state().unwrap(), good);
}

/// Saved state is a file's content: a NaN, an infinity or a negative sum of squares in it is
/// refused naming the tensor and the element, before anything changes (restored, any of them
/// would turn every later update of that parameter into NaN).
#[test]
fn load_state_refuses_non_finite_and_negative_values() {
    let mut m = model();
    for kind in [
        OptimizerKind::adam(),
        OptimizerKind::adagrad(),
        OptimizerKind::momentum(0.9),
    ] {
        let mut opt = make(kind, &m);
        let g = grads(&m, 0);
        opt.step(&mut m.store, &g).unwrap();
        let good = opt.state().unwrap();
        let mut fresh = make(kind, &m);
        for (t, (name, _)) in good.tensors.iter().enumerate() {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                let mut st = good.clone();
                let last = st.tensors[t].1.len() - 1;
                *st.tensors[t].1.iter_mut().nth(last).unwrap() = bad;
                match fresh.load_state(&st) {
                    Err(OptimError::StateNonFinite { name: n, index, .. }) => {
                        assert_eq!((n.as_str(), index), (name.as_str(), last));
                    }
                    other => panic!("{kind:?} {name} = {bad}: {other:?}"),
                }
            }
            let mut st = good.clone();
            *st.tensors[t].1.iter_mut().next().unwrap() = -1.0;
            let sum_of_squares = name.ends_with(".exp_avg_sq") || name.ends_with(".sum");
            match fresh.load_state(&st) {
                Err(OptimError::StateNegative { name: n, index: 0, .. }) if sum_of_squares => assert_eq!(&n, name),
                Ok(()) if !sum_of_squares => fresh = make(kind, &m),
                other => panic!("{kind:?} {name} = -1: {other:?}"),
            }
        }
        // Nothing changed by a refused load.
        assert_eq!(fresh.step_count(), 0);
        assert!(fresh.state().unwrap().tensors.is_empty());
        let e = {
            let mut st = good.clone();
            *st.tensors[0].1.iter_mut().next().unwrap() = f32::NAN;
            fresh.load_state(&st).unwrap_err().to_string()
        };
        assert!(e.contains(&good.tensors[0].0) && e.contains("NaN"), "{e}");
    }
}

/// `state_meta` and `state_buffers` are `state()` without the copies, in the same order.
#[test]
fn borrowed_state_equals_the_copied_state() {
    let mut m = model();
    for kind in [OptimizerKind::adamw(), OptimizerKind::adagrad(), OptimizerKind::sgd()] {
        let mut opt = make(kind, &m);
        for s in 0..3 {
            let g = grads(&m, s);
            opt.step(&mut m.store, &g).unwrap();
        }
        let copied = opt.state().unwrap();
        assert_eq!(opt.state_meta(), copied.meta);
        let borrowed = opt.state_buffers();
        assert_eq!(borrowed.len(), copied.tensors.len());
        for ((name, shape, values), (n, t)) in borrowed.iter().zip(&copied.tensors) {
            assert_eq!((name, *shape), (n, t.shape()));
            assert_eq!(*values, t.as_slice().unwrap());
        }
    }
}

/// A step count restored from a file may be as large as u64 allows: the next step saturates
/// instead of overflowing.
#[test]
fn huge_restored_step_counts_saturate() {
    let mut m = model();
    let mut opt = make(OptimizerKind::adam(), &m);
    let g = grads(&m, 0);
    opt.step(&mut m.store, &g).unwrap();
    let mut st = opt.state().unwrap();
    for v in st.meta.values_mut() {
        if v.parse::<u64>().is_ok() {
            *v = u64::MAX.to_string();
        }
    }
    let mut resumed = make(OptimizerKind::adam(), &m);
    resumed.load_state(&st).unwrap();
    let g = grads(&m, 1);
    let report = resumed.step(&mut m.store, &g).unwrap();
    assert_eq!(report.step, u64::MAX);
    assert!(m.store.ids().all(|id| m.store.value(id).iter().all(|v| v.is_finite())));
}
