//! `TrainOptions::embedding_l2`: lazy L2 on the embedding rows a batch uses, through the
//! trainer (the optimiser's exact rule is tested in hinet-optim's `tests/row_l2.rs`).

use crate::common::{data, tiny_config};
use hinet_autograd::{Gradients, ParamStore, Tape};
use hinet_layers::Module;
use hinet_model::{Model, ModelConfig, ModelError, ModelInput, SparseFeature, TrainOptions, Trainer};
use hinet_optim::{Optimizer, OptimizerKind, ParamGroup};
use ndarray::{ArrayD, Axis};

/// The tiny model with tables larger than the batch needs: users 0..12, items 0..9.
fn config() -> ModelConfig {
    let mut c = tiny_config();
    c.sparse = vec![
        SparseFeature {
            name: "user".into(),
            vocab: 12,
            dim: 2,
        },
        SparseFeature {
            name: "item".into(),
            vocab: 9,
            dim: 2,
        },
    ];
    c
}

/// Rows of each table (user, item) the common batch uses (its ids are below 6 and 5).
fn used(input: &ModelInput<'_, f32>, field: usize) -> Vec<usize> {
    let n = input.rows;
    let mut ids = input.sparse[field * n..(field + 1) * n].to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn kinds() -> [OptimizerKind; 5] {
    [
        OptimizerKind::adam(),
        OptimizerKind::adamw(),
        OptimizerKind::sgd(),
        OptimizerKind::momentum(0.9),
        OptimizerKind::adagrad(),
    ]
}

fn options(kind: OptimizerKind, sparse: bool, l2: f64) -> TrainOptions {
    TrainOptions {
        optimizer: kind,
        lr: 0.05,
        sparse_embeddings: sparse,
        embedding_l2: l2,
        ..TrainOptions::default()
    }
}

fn row(a: &ArrayD<f32>, r: usize) -> ArrayD<f32> {
    a.index_axis(Axis(0), r).to_owned()
}

fn same_bits(a: &ArrayD<f32>, b: &ArrayD<f32>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn invalid_embedding_l2_is_refused_naming_the_option() {
    for bad in [-1e-4, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let o = options(OptimizerKind::adam(), false, bad);
        for err in [
            o.validate().unwrap_err(),
            Trainer::<f32>::new(&config(), 1, &o).unwrap_err(),
        ] {
            match &err {
                ModelError::Config { key, .. } => assert_eq!(key, "embedding_l2"),
                other => panic!("{bad}: {other:?}"),
            }
            assert!(err.to_string().contains("embedding_l2"), "{err}");
        }
    }
    assert!(options(OptimizerKind::adam(), true, 0.0).validate().is_ok());
    assert!(options(OptimizerKind::adam(), true, 1e-3).validate().is_ok());
}

/// `embedding_l2 = 0` trains exactly as the trainer did before the option existed: the same
/// bits as a hand-written loop with the optimiser built the old way (no group, or one lazy
/// group without a penalty).
#[test]
fn zero_is_bit_identical_to_the_loop_without_the_option() {
    let d = data::<f32>();
    for kind in kinds() {
        for sparse in [false, true] {
            let mut trainer = Trainer::<f32>::new(&config(), 3, &options(kind, sparse, 0.0)).unwrap();
            let mut store = ParamStore::new();
            let mut model = Model::<f32>::new(&config(), &mut store, 3).unwrap();
            let groups = if sparse {
                vec![ParamGroup::new("embeddings", model.embedding_tables()).with_sparse(true)]
            } else {
                Vec::new()
            };
            let mut opt = Optimizer::new(kind, 0.05, groups, &store).unwrap();
            let mut grads = Gradients::new();
            model.set_training(true);
            for _ in 0..4 {
                trainer.step(&d.input()).unwrap();
                let tape = Tape::new(&store);
                let logits = model.logits(&tape, &d.input()).unwrap();
                let loss = model.loss(&tape, logits, d.labels.view()).unwrap();
                grads.clear();
                tape.backward(loss, &mut grads).unwrap();
                drop(tape);
                opt.step(&mut store, &grads).unwrap();
                model.commit(&mut store);
            }
            for id in store.ids() {
                assert!(
                    same_bits(trainer.store().value(id), store.value(id)),
                    "{} sparse {sparse}: {} differs",
                    kind.name(),
                    store.name(id)
                );
            }
        }
    }
}

/// One SGD step: the rows the batch uses move by an extra `-lr * lambda * e_r` (once per
/// distinct row, although the batch uses some ids twice); rows of unused ids keep every bit;
/// every other parameter takes exactly the step it takes without the penalty.
#[test]
fn sgd_step_adds_lr_lambda_row_to_used_rows_only() {
    let d = data::<f32>();
    let (lr, lambda) = (0.05f32, 0.5f32);
    for sparse in [false, true] {
        let mut plain = Trainer::<f32>::new(&config(), 1, &options(OptimizerKind::sgd(), sparse, 0.0)).unwrap();
        let mut reg = Trainer::<f32>::new(&config(), 1, &options(OptimizerKind::sgd(), sparse, lambda as f64)).unwrap();
        let tables = reg.model().embedding_tables();
        let before: Vec<ArrayD<f32>> = tables.iter().map(|&t| reg.store().value(t).clone()).collect();
        plain.step(&d.input()).unwrap();
        reg.step(&d.input()).unwrap();
        for id in reg.store().ids() {
            let Some(f) = tables.iter().position(|&t| t == id) else {
                assert!(
                    same_bits(reg.store().value(id), plain.store().value(id)),
                    "{} moved differently",
                    reg.store().name(id)
                );
                continue;
            };
            let rows = used(&d.input(), f);
            let (p0, p_reg, p_plain) = (&before[f], reg.store().value(id), plain.store().value(id));
            for r in 0..p0.shape()[0] {
                if !rows.contains(&r) {
                    assert!(same_bits(&row(p_reg, r), &row(p0, r)), "table {f} row {r} moved");
                    continue;
                }
                for j in 0..p0.shape()[1] {
                    let extra = p_plain[[r, j]] - p_reg[[r, j]];
                    let want = lr * lambda * p0[[r, j]];
                    assert!(
                        (extra - want).abs() <= 1e-6 * (1.0 + p0[[r, j]].abs()),
                        "sparse {sparse}, table {f} row {r}: extra {extra}, want {want}"
                    );
                }
            }
        }
    }
}

/// With every optimiser, lazy and dense: training runs, the penalty changes the used rows and
/// shrinks them relative to the unpenalised run; with lazy updates the rows of unused ids keep
/// their bits.
#[test]
fn every_optimiser_with_lazy_and_dense_updates() {
    let d = data::<f32>();
    for kind in kinds() {
        for sparse in [false, true] {
            let mut plain = Trainer::<f32>::new(&config(), 2, &options(kind, sparse, 0.0)).unwrap();
            let mut reg = Trainer::<f32>::new(&config(), 2, &options(kind, sparse, 1.0)).unwrap();
            let tables = reg.model().embedding_tables();
            let before: Vec<ArrayD<f32>> = tables.iter().map(|&t| reg.store().value(t).clone()).collect();
            for _ in 0..5 {
                assert!(plain.step(&d.input()).unwrap().is_finite());
                assert!(reg.step(&d.input()).unwrap().is_finite());
            }
            let what = format!("{} sparse {sparse}", kind.name());
            let (mut norm_reg, mut norm_plain) = (0.0f32, 0.0f32);
            for (f, &t) in tables.iter().enumerate() {
                let rows = used(&d.input(), f);
                let (p_reg, p_plain) = (reg.store().value(t), plain.store().value(t));
                for r in 0..p_reg.shape()[0] {
                    if rows.contains(&r) {
                        norm_reg += row(p_reg, r).iter().map(|x| x * x).sum::<f32>();
                        norm_plain += row(p_plain, r).iter().map(|x| x * x).sum::<f32>();
                    } else if sparse {
                        assert!(same_bits(&row(p_reg, r), &row(&before[f], r)), "{what}: row {r} moved");
                    }
                }
            }
            assert!(
                norm_reg < norm_plain,
                "{what}: ||used rows||^2 {norm_reg} vs {norm_plain}"
            );
        }
    }
}
