//! A short training run on the synthetic data makes HiNet's validation AUC beat a logistic
//! regression on the same features (plus the scenario as a feature) on every scenario, by
//! 0.01 wherever the cell's validation rows measure that (see the test for the rule).
//! Measured (`cargo test --release -p hinet-model --test suite learns -- --nocapture`): HiNet's
//! CTR AUC 0.71-0.76 per scenario against the regression's 0.64-0.68, CTCVR 0.79-0.86 against
//! 0.75-0.82 (oracle CTR 0.87-0.90).

use hinet_autograd::{Activation, Gradients, ParamStore, Tape};
use hinet_data::synthetic::{SyntheticConfig, generate};
use hinet_data::{Batch, Dataset, SplitSpec};
use hinet_layers::{FieldEmbeddings, Linear};
use hinet_model::{ModelConfig, ModelInput, Precision, SparseFeature, TrainOptions, Trainer, auc};
use hinet_optim::{Optimizer, OptimizerKind};
use ndarray::ArrayView2;
use rand::SeedableRng;

const EPOCHS: usize = 3;
const BATCH: usize = 512;
const LR: f64 = 2e-3;

fn input(b: &Batch, dense: usize, tasks: usize) -> (ArrayView2<'_, f32>, ArrayView2<'_, f32>) {
    (
        ArrayView2::from_shape((b.rows, dense), &b.dense).unwrap(),
        ArrayView2::from_shape((b.rows, tasks), &b.labels).unwrap(),
    )
}

/// The standard error of each (scenario, task) AUC in `aucs` (Hanley and McNeil, 1982), from
/// the cell's numbers of positive and negative validation rows.
fn standard_errors(data: &Dataset, aucs: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let t = data.spec.tasks.len();
    aucs.iter()
        .enumerate()
        .map(|(m, cells)| {
            cells
                .iter()
                .enumerate()
                .map(|(j, &a)| {
                    let rows = (0..data.len()).filter(|&r| data.scenario[r] as usize == m);
                    let pos = rows.clone().filter(|&r| data.labels[r * t + j] > 0.5).count() as f64;
                    let neg = rows.count() as f64 - pos;
                    let (q1, q2) = (a / (2.0 - a), 2.0 * a * a / (1.0 + a));
                    let var = (a * (1.0 - a) + (pos - 1.0) * (q1 - a * a) + (neg - 1.0) * (q2 - a * a)) / (pos * neg);
                    var.sqrt()
                })
                .collect()
        })
        .collect()
}

/// AUC per (scenario, task) of predictions `[rows, T]` in dataset row order.
fn aucs(data: &Dataset, preds: &[f32]) -> Vec<Vec<f64>> {
    let t = data.spec.tasks.len();
    (0..data.spec.scenarios.len())
        .map(|m| {
            (0..t)
                .map(|j| {
                    let rows: Vec<usize> = (0..data.len()).filter(|&r| data.scenario[r] as usize == m).collect();
                    let s: Vec<f64> = rows.iter().map(|&r| preds[r * t + j] as f64).collect();
                    let y: Vec<bool> = rows.iter().map(|&r| data.labels[r * t + j] > 0.5).collect();
                    auc(&s, &y).unwrap_or(f64::NAN)
                })
                .collect()
        })
        .collect()
}

fn train_hinet(train: &Dataset, valid: &Dataset, precision: Precision) -> Vec<f32> {
    let spec = &train.spec;
    let config = ModelConfig {
        scenarios: spec.scenarios.clone(),
        tasks: spec.tasks.clone(),
        sparse: spec
            .sparse
            .iter()
            .map(|f| SparseFeature {
                name: f.name.clone(),
                vocab: f.vocab,
                dim: 8,
            })
            .collect(),
        dense: spec.dense.clone(),
        scenario_embedding_dim: 8,
        sub_experts: 3,
        expert_hidden: vec![32, 16],
        cgc_hidden: vec![32, 16],
        tower_hidden: vec![16],
        precision,
        ..ModelConfig::default()
    };
    let options = TrainOptions {
        lr: LR,
        ..TrainOptions::default()
    };
    let mut trainer = Trainer::<f32>::new(&config, 1, &options).unwrap();
    let (d, t) = (spec.dense.len(), spec.tasks.len());
    let mut batch = Batch::new();
    for epoch in 0..EPOCHS {
        let mut it = train.batches(BATCH, Some(epoch as u64));
        while it.next_into(&mut batch) {
            let (dense, labels) = input(&batch, d, t);
            let inp = ModelInput {
                rows: batch.rows,
                scenario: &batch.scenario,
                scenario_offsets: &batch.scenario_offsets,
                sparse: &batch.sparse,
                dense,
                labels: Some(labels),
            };
            trainer.step(&inp).unwrap();
        }
    }
    let mut preds = vec![0.0f32; valid.len() * t];
    let mut it = valid.batches(4096, None);
    while it.next_into(&mut batch) {
        let (dense, _) = input(&batch, d, t);
        let inp = ModelInput {
            rows: batch.rows,
            scenario: &batch.scenario,
            scenario_offsets: &batch.scenario_offsets,
            sparse: &batch.sparse,
            dense,
            labels: None,
        };
        let p = trainer.predict(&inp).unwrap();
        for (k, &r) in batch.source_rows.iter().enumerate() {
            for j in 0..t {
                preds[r * t + j] = p[[k, j]];
            }
        }
    }
    preds
}

fn lr_logit<'t>(
    tape: &'t Tape<'t, f32>,
    b: &Batch,
    ids: &[usize],
    model: &(FieldEmbeddings, Linear),
    d: usize,
    t: usize,
) -> hinet_autograd::Var<'t, f32> {
    let (dense, _) = input(b, d, t);
    let x = model
        .0
        .forward(tape, b.rows, ids, if d > 0 { Some(dense) } else { None })
        .unwrap();
    model.1.forward(x, hinet_layers::Activation::Identity).unwrap()
}

/// Per task: one weight per id of every field, of the scenario id, and of every dense column.
fn train_logistic_regression(train: &Dataset, valid: &Dataset) -> Vec<f32> {
    let spec = &train.spec;
    let (d, t, m) = (spec.dense.len(), spec.tasks.len(), spec.scenarios.len());
    let mut fields: Vec<(usize, usize)> = spec.sparse.iter().map(|f| (f.vocab, 1)).collect();
    fields.push((m, 1));
    let mut store = ParamStore::<f32>::new();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let models: Vec<(FieldEmbeddings, Linear)> = (0..t)
        .map(|j| {
            let emb = FieldEmbeddings::new(&mut store, &format!("lr.{j}.emb"), &fields, d, &mut rng).unwrap();
            let lin = Linear::new(
                &mut store,
                &format!("lr.{j}.out"),
                emb.out_features(),
                1,
                true,
                &mut rng,
            )
            .unwrap();
            (emb, lin)
        })
        .collect();
    let mut opt = Optimizer::new(OptimizerKind::adam(), LR, Vec::new(), &store).unwrap();
    let mut grads = Gradients::new();
    let mut ids = Vec::new();
    let with_scenario = |b: &Batch, ids: &mut Vec<usize>| {
        ids.clear();
        ids.extend_from_slice(&b.sparse);
        ids.extend_from_slice(&b.scenario);
    };
    let mut batch = Batch::new();
    for epoch in 0..EPOCHS {
        let mut it = train.batches(BATCH, Some(epoch as u64));
        while it.next_into(&mut batch) {
            with_scenario(&batch, &mut ids);
            {
                let tape = Tape::new(&store);
                let (_, labels) = input(&batch, d, t);
                let y = tape.constant(labels.into_dyn());
                let mut loss = None;
                for (j, model) in models.iter().enumerate() {
                    let l = lr_logit(&tape, &batch, &ids, model, d, t)
                        .bce_with_logits(y.narrow(1, j, 1).unwrap(), None, 1.0)
                        .unwrap()
                        .mean()
                        .unwrap();
                    loss = Some(match loss {
                        Some(acc) => l.add(acc).unwrap(),
                        None => l,
                    });
                }
                tape.backward(loss.unwrap(), &mut grads).unwrap();
            }
            opt.step(&mut store, &grads).unwrap();
        }
    }
    let mut preds = vec![0.0f32; valid.len() * t];
    let mut it = valid.batches(4096, None);
    while it.next_into(&mut batch) {
        with_scenario(&batch, &mut ids);
        let tape = Tape::new(&store);
        for (j, model) in models.iter().enumerate() {
            let p = lr_logit(&tape, &batch, &ids, model, d, t).sigmoid().unwrap().value();
            for (k, &r) in batch.source_rows.iter().enumerate() {
                preds[r * t + j] = p[[k, 0]];
            }
        }
    }
    let _ = Activation::Identity;
    preds
}

#[test]
fn hinet_beats_logistic_regression_on_every_scenario() {
    // A world small enough for three short epochs to learn its user x item interactions (a dot
    // product of 4-dim factors, which a logistic regression cannot represent at all). With the
    // default world (20,000 users, 5,000 items, mostly scenario-specific interactions) neither
    // model gets far from its marginals in a test-sized run.
    let world = SyntheticConfig {
        rows: 200_000,
        users: 400,
        items: 100,
        latent_dim: 4,
        base_ctr: 0.15,
        shared_weight: 2.0,
        specific_weight: 0.3,
        ..SyntheticConfig::default()
    };
    let data = generate(&world).unwrap();
    let mut splits = data.split(&SplitSpec::hash(0.8, 0.2, 0.0, 3)).unwrap();
    splits.normalize().unwrap();
    let hinet = aucs(
        &splits.valid,
        &train_hinet(&splits.train, &splits.valid, Precision::F32),
    );
    let bf16_preds = train_hinet(&splits.train, &splits.valid, Precision::Bf16);
    let bf16 = aucs(&splits.valid, &bf16_preds);
    let lr = aucs(&splits.valid, &train_logistic_regression(&splits.train, &splits.valid));
    let valid = &splits.valid;
    let oracle = valid.oracle.as_ref().unwrap();
    let oracle_auc = |task: usize, m: usize| {
        let rows = (0..valid.len()).filter(|&r| valid.scenario[r] as usize == m);
        let (scores, labels): (Vec<f64>, Vec<bool>) = rows
            .map(|r| (f64::from(oracle[2 * r + task]), valid.labels[2 * r + task] > 0.5))
            .unzip();
        hinet_model::auc(&scores, &labels)
    };
    for m in 0..hinet.len() {
        println!("oracle scenario {m}: {:?} {:?}", oracle_auc(0, m), oracle_auc(1, m));
    }
    for (m, (h, l)) in hinet.iter().zip(&lr).enumerate() {
        println!(
            "scenario {m}: HiNet CTR {:.4} CTCVR {:.4} | LR CTR {:.4} CTCVR {:.4}",
            h[0], h[1], l[0], l[1]
        );
    }
    for (m, b) in bf16.iter().enumerate() {
        println!(
            "scenario {m}: HiNet in bf16 mixed precision CTR {:.4} CTCVR {:.4}",
            b[0], b[1]
        );
    }
    // A cell's AUC is measured on its own validation rows: scenario 5 holds 5 % of them, about
    // 60 CTCVR positives, where the AUC's standard error (printed below) is about 0.037, so a
    // 0.01 margin there is within the noise of one training run. The 0.01 margin is asked where
    // the cell measures it (standard error <= 0.02: every CTR cell, the larger scenarios'
    // CTCVR), every cell must not be worse than LR beyond twice its standard error, and each
    // task's mean over the scenarios must beat LR's by 0.02.
    let se = standard_errors(valid, &lr);
    let t = lr[0].len();
    for (j, task) in ["CTR", "CTCVR"].iter().enumerate().take(t) {
        let mean = |a: &[Vec<f64>]| a.iter().map(|cell| cell[j]).sum::<f64>() / a.len() as f64;
        for (what, aucs) in [("HiNet", &hinet), ("HiNet bf16", &bf16)] {
            assert!(
                mean(aucs) > mean(&lr) + 0.02,
                "{task}: {what}'s mean AUC {} is not above LR's {} by 0.02",
                mean(aucs),
                mean(&lr)
            );
        }
    }
    for (m, ((h, b), l)) in hinet.iter().zip(&bf16).zip(&lr).enumerate() {
        for (j, task) in ["CTR", "CTCVR"].iter().enumerate() {
            let se = se[m][j];
            println!("scenario {m} {task}: standard error of the AUC {se:.4}");
            for (what, auc) in [("HiNet", h[j]), ("HiNet bf16", b[j])] {
                if se <= 0.02 {
                    assert!(
                        auc > l[j] + 0.01,
                        "scenario {m} {task}: {what} {auc} is not above LR {} (standard error {se:.4})",
                        l[j]
                    );
                }
                assert!(
                    auc > l[j] - 2.0 * se,
                    "scenario {m} {task}: {what} {auc} is below LR {} by more than 2 standard errors ({se:.4})",
                    l[j]
                );
            }
            // bf16 operands cost little accuracy: the same run within 0.015 AUC of f32's in every
            // cell that measures it (measured: 0.0067 at most, on AVX2's emulated path), within
            // twice the standard error in the others.
            assert!(
                (b[j] - h[j]).abs() < 0.015f64.max(2.0 * se),
                "scenario {m} {task}: bf16 {} vs f32 {} (standard error {se:.4})",
                b[j],
                h[j]
            );
        }
    }
}
