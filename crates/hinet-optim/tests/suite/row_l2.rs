//! `ParamGroup::row_l2`: the L2 penalty on the rows a row gradient touches (docs/optim.md §4.1).
//!
//! Checked against references computed by hand: each step, every distinct touched row `r`
//! gets `row_l2 * p_r` added to its gradient, once (however often the batch used it); rows
//! without a gradient get nothing.

use crate::common::*;
use hinet_autograd::{ParamId, ParamStore};
use hinet_optim::{OptimError, Optimizer, OptimizerKind, ParamGroup};
use ndarray::{ArrayD, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const LR: f64 = 0.1;
const LAMBDA: f64 = 0.05;

fn random(rng: &mut ChaCha8Rng, shape: &[usize]) -> ArrayD<f32> {
    let n = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    arr(shape, &v)
}

fn table(seed: u64) -> (ParamStore<f32>, ParamId) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut store = ParamStore::new();
    let t = store.add("emb", random(&mut rng, &[6, 3])).unwrap();
    (store, t)
}

fn opt(kind: OptimizerKind, store: &ParamStore<f32>, t: ParamId, sparse: bool, wd: f64, l2: f64) -> Optimizer<f32> {
    let g = ParamGroup::new("emb", vec![t])
        .with_sparse(sparse)
        .with_weight_decay(wd)
        .with_row_l2(l2);
    Optimizer::new(kind, LR, vec![g], store).unwrap()
}

fn row(a: &ArrayD<f32>, r: usize) -> ArrayD<f32> {
    a.index_axis(Axis(0), r).to_owned()
}

fn kinds() -> [OptimizerKind; 6] {
    [
        OptimizerKind::sgd(),
        OptimizerKind::momentum(0.9),
        OptimizerKind::nesterov(0.9),
        OptimizerKind::adam(),
        OptimizerKind::adamw(),
        OptimizerKind::adagrad(),
    ]
}

/// Plain SGD by hand: a touched row moves by `-lr * (g_r + lambda * p_r)`, the penalty counted
/// once per distinct row (row 4 is used twice by the batch); the other rows keep every bit.
#[test]
fn sgd_touched_rows_get_exactly_lambda_times_row_once_untouched_rows_keep_their_bits() {
    for sparse in [true, false] {
        let (mut store, t) = table(1);
        let p0 = store.value(t).clone();
        let used = [4, 1, 4]; // the batch's ids, row 4 twice
        let c = arr::<f32>(&[3, 3], &[0.5, -0.25, 1.0, 0.125, 0.75, -1.5, 0.25, 0.5, -0.5]);
        let g = row_grads(&store, t, &used, &c);
        let mut o = opt(OptimizerKind::sgd(), &store, t, sparse, 0.0, LAMBDA);
        o.step(&mut store, &g).unwrap();
        let (lr, lam) = (LR as f32, LAMBDA as f32);
        let mut want = p0.clone();
        // Row 1: c[1]; row 4: c[0] + c[2] (the sweep merges the two uses); lambda once each.
        for (r, grad) in [(1, row(&c, 1)), (4, &row(&c, 0) + &row(&c, 2))] {
            for j in 0..3 {
                let p = p0[[r, j]];
                want[[r, j]] = p - lr * (grad[j] + lam * p);
            }
        }
        assert_bits(store.value(t), &want, &format!("sgd, sparse {sparse}"));
        for r in [0, 2, 3, 5] {
            assert_bits(&row(store.value(t), r), &row(&p0, r), "untouched row");
        }
        // The penalty itself: against the same step without it, exactly lr * lambda * p on the
        // touched rows (up to one rounding), nothing elsewhere.
        let (mut plain, _) = table(1);
        let mut o0 = opt(OptimizerKind::sgd(), &plain, t, sparse, 0.0, 0.0);
        o0.step(&mut plain, &g).unwrap();
        for r in 0..6 {
            for j in 0..3 {
                let diff = plain.value(t)[[r, j]] - store.value(t)[[r, j]];
                let expect = if r == 1 || r == 4 { lr * lam * p0[[r, j]] } else { 0.0 };
                assert!((diff - expect).abs() <= 1e-6, "row {r}: moved {diff}, want {expect}");
            }
        }
    }
}

/// Every rule, lazy and dense, over several steps with changing rows: the update with
/// `row_l2 = lambda` equals, bit for bit, the update without it fed the naive gradient
/// `g_r + lambda * p_r` on the touched rows (computed here from the current table) and zero
/// elsewhere. AdamW's own (decoupled) weight decay is on, to show the penalty is coupled on top.
#[test]
fn every_rule_equals_the_plain_rule_fed_the_penalised_gradient() {
    for kind in kinds() {
        for sparse in [true, false] {
            let wd = if matches!(kind, OptimizerKind::AdamW { .. }) {
                0.01
            } else {
                0.0
            };
            let (mut a, t) = table(2);
            let mut b = a.clone();
            let mut with = opt(kind, &a, t, sparse, wd, LAMBDA);
            let mut naive = opt(kind, &b, t, sparse, wd, 0.0);
            let mut rng = ChaCha8Rng::seed_from_u64(3);
            for step in 0..5 {
                let rows: Vec<usize> = match step % 3 {
                    0 => vec![0, 4],
                    1 => vec![1, 4, 5],
                    _ => vec![2],
                };
                let c = random(&mut rng, &[rows.len(), 3]);
                let g = row_grads(&a, t, &rows, &c);
                with.step(&mut a, &g).unwrap();
                let mut c2 = c.clone();
                for (k, &r) in rows.iter().enumerate() {
                    for j in 0..3 {
                        c2[[k, j]] = c[[k, j]] + LAMBDA as f32 * b.value(t)[[r, j]];
                    }
                }
                let g = row_grads(&b, t, &rows, &c2);
                naive.step(&mut b, &g).unwrap();
                let what = format!("{} sparse {sparse} step {step}", kind.name());
                assert_bits(a.value(t), b.value(t), &what);
            }
            let (sa, sb) = (with.state().unwrap(), naive.state().unwrap());
            for (name, ta) in &sa.tensors {
                assert_bits(ta, sb.tensor(name).unwrap(), name);
            }
        }
    }
}

/// Lazy updates leave every row without a gradient, and its state, bit for bit as they were,
/// for every rule, with the penalty on. (Row 3 is never touched.)
#[test]
fn lazy_updates_with_the_penalty_never_touch_other_rows() {
    for kind in kinds() {
        let (mut store, t) = table(4);
        let p0 = store.value(t).clone();
        let mut o = opt(kind, &store, t, true, 0.0, LAMBDA);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for rows in [vec![0, 1], vec![1, 5], vec![0]] {
            let c = random(&mut rng, &[rows.len(), 3]);
            let g = row_grads(&store, t, &rows, &c);
            o.step(&mut store, &g).unwrap();
        }
        for r in [2, 3, 4] {
            assert_bits(&row(store.value(t), r), &row(&p0, r), kind.name());
        }
        let state = o.state().unwrap();
        for (name, s) in &state.tensors {
            for r in [2, 3, 4] {
                let fill = match kind {
                    OptimizerKind::Adagrad {
                        initial_accumulator, ..
                    } => initial_accumulator as f32,
                    _ => 0.0,
                };
                assert!(row(s, r).iter().all(|&x| x == fill), "{name}: row {r} changed");
            }
        }
    }
}

/// `row_l2 = 0` is the code path of before: bit-identical to a group without it, with weight
/// decay on (the coefficient is `weight_decay + 0`, exactly `weight_decay`), lazy and dense.
#[test]
fn zero_row_l2_is_bit_identical_to_no_penalty() {
    for kind in kinds() {
        for sparse in [true, false] {
            let (mut a, t) = table(6);
            let mut b = a.clone();
            let mut with = opt(kind, &a, t, sparse, 0.02, 0.0);
            let g = ParamGroup::new("emb", vec![t])
                .with_sparse(sparse)
                .with_weight_decay(0.02);
            let mut without = Optimizer::new(kind, LR, vec![g], &b).unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            for rows in [vec![0, 3], vec![3, 5], vec![1]] {
                let c = random(&mut rng, &[rows.len(), 3]);
                let g = row_grads(&a, t, &rows, &c);
                with.step(&mut a, &g).unwrap();
                let g = row_grads(&b, t, &rows, &c);
                without.step(&mut b, &g).unwrap();
            }
            assert_bits(a.value(t), b.value(t), kind.name());
        }
    }
}

/// A dense gradient covers every row, so every row is penalised (SGD by hand).
#[test]
fn a_dense_gradient_penalises_every_row() {
    let (mut store, t) = table(8);
    let p0 = store.value(t).clone();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let c = random(&mut rng, &[6, 3]);
    let mut o = opt(OptimizerKind::sgd(), &store, t, true, 0.0, LAMBDA);
    let g = linear_grads(&store, &[(t, &c)]);
    o.step(&mut store, &g).unwrap();
    let (lr, lam) = (LR as f32, LAMBDA as f32);
    let want = ArrayD::from_shape_fn(p0.raw_dim(), |i| p0[&i] - lr * (c[&i] + lam * p0[&i]));
    assert_bits(store.value(t), &want, "dense gradient");
}

/// The penalty is not part of the gradient norm and is not clipped (like weight decay): with
/// clipping, `d = c * g + lambda * p`.
#[test]
fn the_penalty_is_not_clipped() {
    let (mut store, t) = table(10);
    let p0 = store.value(t).clone();
    let c = arr::<f32>(&[1, 3], &[3.0, 0.0, 4.0]); // norm 5
    let g = row_grads(&store, t, &[2], &c);
    let mut o = opt(OptimizerKind::sgd(), &store, t, true, 0.0, LAMBDA);
    o.set_clip_norm(Some(1.0)).unwrap();
    let report = o.step(&mut store, &g).unwrap();
    assert_eq!(report.grad_norm, 5.0);
    let coef = report.clip_coef as f32;
    for j in 0..3 {
        let p = p0[[2, j]];
        let want = p - LR as f32 * (c[[0, j]] * coef + LAMBDA as f32 * p);
        assert_eq!(store.value(t)[[2, j]].to_bits(), want.to_bits(), "column {j}");
    }
}

/// Split across a pool or not, the result is the same bits (the rules stay elementwise).
#[test]
fn threads_do_not_change_the_bits() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut store = ParamStore::<f32>::new();
    let t = store.add("emb", random(&mut rng, &[3000, 16])).unwrap();
    let rows: Vec<usize> = (0..1500).map(|i| 2 * i + (i % 2)).collect();
    let c = random(&mut rng, &[rows.len(), 16]);
    let g = row_grads(&store, t, &rows, &c);
    for sparse in [true, false] {
        let run = |threads: usize, threshold: usize| {
            let mut s = store.clone();
            let mut o = opt(OptimizerKind::adam(), &s, t, sparse, 0.0, LAMBDA);
            o.set_parallel_threshold(threshold);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                for _ in 0..3 {
                    o.step(&mut s, &g).unwrap();
                }
            });
            s.value(t).clone()
        };
        assert_bits(&run(1, usize::MAX), &run(2, 0), "threads");
    }
}

#[test]
fn invalid_row_l2_is_refused_naming_the_group_and_setting() {
    let (store, t) = table(12);
    for bad in [-1e-3, f64::NAN, f64::INFINITY] {
        let g = ParamGroup::new("emb", vec![t]).with_row_l2(bad);
        match Optimizer::new(OptimizerKind::adam(), LR, vec![g], &store) {
            Err(OptimError::InvalidConfig { what }) => {
                assert!(what.contains("row_l2") && what.contains("\"emb\""), "{what}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
}
