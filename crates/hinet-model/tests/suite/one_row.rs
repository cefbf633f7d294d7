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
    let fields = data.sparse.len() / ROWS;
    let mut alone = Array2::zeros(all.raw_dim());
    for r in 0..ROWS {
        let s = data.scenario[r];
        let offsets: Vec<usize> = (0..=scenarios).map(|m| usize::from(m > s)).collect();
        let sparse: Vec<usize> = (0..fields).map(|f| data.sparse[f * ROWS + r]).collect();
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
