//! Lazy (sparse) updates against dense ones, where the semantics say they must agree.

use crate::common::*;
use hinet_autograd::{ParamId, ParamStore};
use hinet_optim::{Optimizer, OptimizerKind, ParamGroup};
use ndarray::{ArrayD, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(rng: &mut ChaCha8Rng, shape: &[usize]) -> ArrayD<f32> {
    let n = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    arr(shape, &v)
}

fn table_store(rng: &mut ChaCha8Rng) -> (ParamStore<f32>, ParamId) {
    let mut store = ParamStore::new();
    let t = store.add("emb", random(rng, &[6, 3])).unwrap();
    (store, t)
}

/// Expands row gradients `c[k]` at `rows[k]` into a dense `[6, 3]` gradient.
fn expand(rows: &[usize], c: &ArrayD<f32>) -> ArrayD<f32> {
    let mut out = ArrayD::zeros(vec![6, 3]);
    for (k, &r) in rows.iter().enumerate() {
        out.index_axis_mut(Axis(0), r).assign(&c.index_axis(Axis(0), k));
    }
    out
}

fn opt(kind: OptimizerKind, store: &ParamStore<f32>, t: ParamId, sparse: bool, wd: f64) -> Optimizer<f32> {
    let g = ParamGroup::new("emb", vec![t])
        .with_sparse(sparse)
        .with_weight_decay(wd);
    Optimizer::new(kind, 0.1, vec![g], store).unwrap()
}

#[test]
fn sparse_adagrad_equals_dense_on_touched_rows_and_leaves_others() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (store0, t) = table_store(&mut rng);
    let kind = OptimizerKind::Adagrad {
        eps: 1e-10,
        initial_accumulator: 0.1,
    };
    let (mut sparse_store, mut dense_store) = (store0.clone(), store0.clone());
    let mut sparse = opt(kind, &store0, t, true, 0.0);
    let mut dense = opt(kind, &store0, t, false, 0.0);
    for step in 0..4 {
        let rows: Vec<usize> = if step % 2 == 0 { vec![1, 4] } else { vec![1, 3] };
        let c = random(&mut rng, &[2, 3]);
        let g = row_grads(&sparse_store, t, &rows, &c);
        sparse.step(&mut sparse_store, &g).unwrap();
        let full = expand(&rows, &c);
        let g = linear_grads(&dense_store, &[(t, &full)]);
        dense.step(&mut dense_store, &g).unwrap();
    }
    // Without decay an untouched row has d = 0, so dense Adagrad leaves it too: all bits agree.
    assert_bits(sparse_store.value(t), dense_store.value(t), "table");
    for r in [0, 2, 5] {
        assert_bits(
            &sparse_store.value(t).index_axis(Axis(0), r).to_owned(),
            &store0.value(t).index_axis(Axis(0), r).to_owned(),
            "untouched row",
        );
    }
    let (ss, ds) = (sparse.state().unwrap(), dense.state().unwrap());
    assert_bits(ss.tensor("emb.sum").unwrap(), ds.tensor("emb.sum").unwrap(), "sum");
    assert_eq!(ss.tensor("emb.sum").unwrap()[[0, 0]], 0.1f32);
}

#[test]
fn lazy_adam_equals_dense_adam_when_every_row_has_a_gradient() {
    for kind in [
        OptimizerKind::adam(),
        OptimizerKind::adamw(),
        OptimizerKind::momentum(0.9),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let (store0, t) = table_store(&mut rng);
        let (mut sparse_store, mut dense_store) = (store0.clone(), store0.clone());
        let mut sparse = opt(kind, &store0, t, true, 0.01);
        let mut dense = opt(kind, &store0, t, false, 0.01);
        let rows: Vec<usize> = (0..6).collect();
        for _ in 0..5 {
            let c = random(&mut rng, &[6, 3]);
            let g = row_grads(&sparse_store, t, &rows, &c);
            sparse.step(&mut sparse_store, &g).unwrap();
            let g = linear_grads(&dense_store, &[(t, &c)]);
            dense.step(&mut dense_store, &g).unwrap();
        }
        assert_bits(sparse_store.value(t), dense_store.value(t), kind.name());
        let (ss, ds) = (sparse.state().unwrap(), dense.state().unwrap());
        assert_eq!(ss, ds, "{}: state", kind.name());
    }
}

#[test]
fn dense_group_with_row_gradients_is_exactly_the_dense_update() {
    for kind in [
        OptimizerKind::adam(),
        OptimizerKind::adamw(),
        OptimizerKind::nesterov(0.9),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (store0, t) = table_store(&mut rng);
        let (mut rows_store, mut dense_store) = (store0.clone(), store0.clone());
        let mut by_rows = opt(kind, &store0, t, false, 0.01);
        let mut by_dense = opt(kind, &store0, t, false, 0.01);
        let mut after_first = None;
        for step in 0..3 {
            let rows: Vec<usize> = if step == 0 { vec![0, 2, 5] } else { vec![2] };
            let c = random(&mut rng, &[rows.len(), 3]);
            let g = row_grads(&rows_store, t, &rows, &c);
            by_rows.step(&mut rows_store, &g).unwrap();
            let full = expand(&rows, &c);
            let g = linear_grads(&dense_store, &[(t, &full)]);
            by_dense.step(&mut dense_store, &g).unwrap();
            if step == 0 {
                after_first = Some(rows_store.value(t).clone());
            }
        }
        assert_bits(rows_store.value(t), dense_store.value(t), kind.name());
        assert_eq!(by_rows.state().unwrap(), by_dense.state().unwrap());
        // Row 0 had no gradient in steps 2 and 3 but still moved: its momentum / moments decay.
        let first = after_first.unwrap();
        assert_ne!(rows_store.value(t)[[0, 0]], first[[0, 0]], "{}", kind.name());
    }
}

#[test]
fn lazy_adam_touches_only_rows_with_gradient() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (mut store, t) = table_store(&mut rng);
    let mut lazy = opt(OptimizerKind::adamw(), &store, t, true, 0.1);
    let c = random(&mut rng, &[2, 3]);
    let g = row_grads(&store, t, &[0, 2], &c);
    lazy.step(&mut store, &g).unwrap();
    let after1 = store.value(t).clone();
    let m1 = lazy.state().unwrap().tensor("emb.exp_avg").unwrap().clone();
    let c = random(&mut rng, &[1, 3]);
    let g = row_grads(&store, t, &[1], &c);
    lazy.step(&mut store, &g).unwrap();
    let m2 = lazy.state().unwrap().tensor("emb.exp_avg").unwrap().clone();
    for r in [0, 2, 3, 4, 5] {
        let row = |a: &ArrayD<f32>| a.index_axis(Axis(0), r).to_owned();
        assert_bits(&row(store.value(t)), &row(&after1), "parameter row (decay too is lazy)");
        assert_bits(&row(&m2), &row(&m1), "exp_avg row");
    }
    assert_ne!(store.value(t)[[1, 0]], after1[[1, 0]]);
    // Bias correction uses the table's own step count: 2 after two updates.
    assert_eq!(lazy.state().unwrap().meta["emb.step"], "2");
}

#[test]
fn sparse_group_with_dense_gradient_applies_the_dense_update() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (store0, t) = table_store(&mut rng);
    let (mut a, mut b) = (store0.clone(), store0.clone());
    let mut sparse = opt(OptimizerKind::adam(), &store0, t, true, 0.0);
    let mut dense = opt(OptimizerKind::adam(), &store0, t, false, 0.0);
    for _ in 0..3 {
        let c = random(&mut rng, &[6, 3]);
        let g = linear_grads(&a, &[(t, &c)]);
        sparse.step(&mut a, &g).unwrap();
        let g = linear_grads(&b, &[(t, &c)]);
        dense.step(&mut b, &g).unwrap();
    }
    assert_bits(a.value(t), b.value(t), "table");
}
