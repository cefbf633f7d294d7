//! A row predicted alone equals the same row predicted in a batch, in f32 and in bf16: one row
//! takes other kernels (the few-rows path; in bf16 with bf16 copies of the weights), but the
//! same numbers up to the order of the sums. And the bf16 copies follow the weights when they
//! change under a reused workspace.

use crate::common::tiny_config;
use hinet_autograd::{ParamKind, ParamStore, Workspace};
use hinet_layers::Module;
use hinet_model::{Model, ModelConfig, ModelInput, Precision, SparseFeature};
use ndarray::Array2;

const ROWS: usize = 40;

/// 40 rows sorted by scenario (15, 10, 15), ids and dense values spread over their ranges.
struct Rows {
    scenario: Vec<usize>,
    sparse: Vec<usize>,
    dense: Array2<f32>,
}

fn rows(config: &ModelConfig) -> Rows {
    let scenario: Vec<usize> = (0..ROWS).map(|r| usize::from(r >= 15) + usize::from(r >= 25)).collect();
    let sparse = config
        .sparse
        .iter()
        .enumerate()
        .flat_map(|(f, field)| (0..ROWS).map(move |r| (r * 7 + f * 3) % field.vocab))
        .collect();
    let dense = Array2::from_shape_fn((ROWS, config.dense.len()), |(r, d)| {
        ((r * 13 + d) % 17) as f32 / 8.0 - 1.0
    });
    Rows {
        scenario,
        sparse,
        dense,
    }
}

/// A config wide enough that bf16 rounding shows, with layers of more than 32 inputs (a whole
/// group of the bf16 weight layout).
fn config(precision: Precision) -> ModelConfig {
    let mut config = tiny_config();
    for field in &mut config.sparse {
        field.vocab = 50;
        field.dim = 20;
    }
    config.sparse.push(SparseFeature {
        name: "context".into(),
        vocab: 30,
        dim: 8,
    });
    config.expert_hidden = vec![40];
    config.cgc_hidden = vec![36];
    config.tower_hidden = vec![16];
    config.precision = precision;
    config
}

/// Predictions of every row in one batch, and of each row alone through one reused workspace.
fn batch_and_alone(
    model: &Model<f32>,
    store: &ParamStore<f32>,
    data: &Rows,
    ws: &mut Workspace<f32>,
) -> (Array2<f32>, Array2<f32>) {
    let scenarios = model.config().scenarios.len();
    let mut offsets = vec![0; scenarios + 1];
    for &s in &data.scenario {
        offsets[s + 1] += 1;
    }
    for m in 0..scenarios {
        offsets[m + 1] += offsets[m];
    }
    let batch = ModelInput {
        rows: ROWS,
        scenario: &data.scenario,
        scenario_offsets: &offsets,
        sparse: &data.sparse,
        dense: data.dense.view(),
        labels: None,
    };
    let all = model.predict(store, &batch, &mut Workspace::default()).unwrap();
    let mut alone = Array2::zeros(all.raw_dim());
    for r in 0..ROWS {
        let (offsets, sparse) = single_row(scenarios, &data.scenario, &data.sparse, r);
        let one = ModelInput {
            rows: 1,
            scenario: &data.scenario[r..=r],
            scenario_offsets: &offsets,
            sparse: &sparse,
            dense: data.dense.slice(ndarray::s![r..=r, ..]),
            labels: None,
        };
        alone.row_mut(r).assign(&model.predict(store, &one, ws).unwrap().row(0));
    }
    (all, alone)
}

/// Scenario offsets and field-major ids of row `r` of a batch of `rows` rows, as a batch of one.
fn single_row(scenarios: usize, scenario: &[usize], sparse: &[usize], r: usize) -> (Vec<usize>, Vec<usize>) {
    let rows = scenario.len();
    let offsets = (0..=scenarios).map(|m| usize::from(m > scenario[r])).collect();
    let ids = (0..sparse.len() / rows).map(|f| sparse[f * rows + r]).collect();
    (offsets, ids)
}

fn largest_difference(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn a_row_alone_is_predicted_as_in_a_batch_in_f32_and_bf16() {
    let mut predictions = Vec::new();
    for precision in [Precision::F32, Precision::Bf16] {
        let config = config(precision);
        let mut store = ParamStore::<f32>::new();
        let mut model = Model::new(&config, &mut store, 3).unwrap();
        model.set_training(false);
        let data = rows(&config);
        let mut ws = Workspace::default();
        let (all, alone) = batch_and_alone(&model, &store, &data, &mut ws);
        // Probabilities: the same products of the same (rounded) operands, summed in another
        // order (a bf16 one-row prediction that multiplied f32 weights was ~1e-3 off).
        let diff = largest_difference(&all, &alone);
        assert!(
            diff <= 2e-5,
            "{precision}: a row alone differs from the batch by {diff}"
        );
        // New weights under the same workspace: the one-row path must not keep the old ones.
        let trainable: Vec<_> = store
            .ids()
            .filter(|&id| store.kind(id) == ParamKind::Trainable)
            .collect();
        for id in trainable {
            store.value_mut(id).mapv_inplace(|v| v * 1.3 - 0.01);
        }
        let (all_new, alone_new) = batch_and_alone(&model, &store, &data, &mut ws);
        assert!(
            largest_difference(&all_new, &all) > 1e-3,
            "the new weights changed nothing"
        );
        let diff = largest_difference(&all_new, &alone_new);
        assert!(
            diff <= 2e-5,
            "{precision}, new weights: a row alone differs from the batch by {diff}"
        );
        predictions.push(all);
    }
    // The bf16 model computes measurably other numbers than the f32 one (the same weights).
    let diff = largest_difference(&predictions[0], &predictions[1]);
    assert!(
        diff > 1e-4,
        "bf16 predictions equal the f32 ones ({diff}): nothing was rounded"
    );
}

/// Through the trainer: an optimiser step between two one-row predictions of a bf16 model (the
/// trainer's one workspace holding the copies) gives the new weights' prediction, as a batch
/// prediction after the step does. Guards the path by which optimisers write parameters.
#[test]
fn a_bf16_trainers_one_row_prediction_follows_its_optimiser_steps() {
    use crate::common::data;
    use hinet_model::{TrainOptions, Trainer};
    let config = config(Precision::Bf16);
    let d = data::<f32>();
    let mut small = config.clone();
    // The hand-made batch's ids and features (vocabularies of 6 and 5, one dense column).
    small.sparse = tiny_config().sparse;
    small.dense = tiny_config().dense;
    let mut trainer = Trainer::<f32>::new(&small, 5, &TrainOptions::default()).unwrap();
    let batch = d.input();
    let alone = |trainer: &mut Trainer<f32>, r: usize| {
        let (offsets, sparse) = single_row(small.scenarios.len(), &d.scenario, &d.sparse, r);
        let one = ModelInput {
            rows: 1,
            scenario: &d.scenario[r..=r],
            scenario_offsets: &offsets,
            sparse: &sparse,
            dense: d.dense.slice(ndarray::s![r..=r, ..]),
            labels: None,
        };
        trainer.predict(&one).unwrap().row(0).to_owned()
    };
    let before = alone(&mut trainer, 4);
    for _ in 0..3 {
        trainer.step(&batch).unwrap();
    }
    let after = alone(&mut trainer, 4);
    let whole = trainer.predict(&batch).unwrap();
    let moved = (&after - &before).iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    assert!(moved > 1e-4, "three steps did not change the prediction ({moved})");
    let diff = (&after - &whole.row(4)).iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    assert!(
        diff <= 2e-5,
        "after the steps, the row alone differs from the batch by {diff}"
    );
}
