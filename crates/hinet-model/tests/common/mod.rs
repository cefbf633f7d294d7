#![allow(dead_code)]
//! A tiny configuration and a hand-made batch shared by the model tests.

use hinet_model::{ModelConfig, ModelInput, SparseFeature};
use ndarray::Array2;

pub fn tiny_config() -> ModelConfig {
    ModelConfig {
        scenarios: vec!["a".into(), "b".into(), "c".into()],
        sparse: vec![
            SparseFeature {
                name: "user".into(),
                vocab: 6,
                dim: 2,
            },
            SparseFeature {
                name: "item".into(),
                vocab: 5,
                dim: 2,
            },
        ],
        dense: vec!["price".into()],
        scenario_embedding_dim: 2,
        sub_experts: 2,
        expert_hidden: vec![3],
        cgc_shared_experts: 1,
        cgc_experts_per_task: 1,
        cgc_hidden: vec![3],
        tower_hidden: vec![2],
        bottom_hidden: vec![3],
        mmoe_experts: 2,
        ..ModelConfig::default()
    }
}

/// Owned data of a batch of 7 rows sorted by scenario (3 in a, 1 in b, 3 in c).
pub struct Data<F> {
    pub scenario: Vec<usize>,
    pub offsets: Vec<usize>,
    pub sparse: Vec<usize>,
    pub dense: Array2<F>,
    pub labels: Array2<F>,
}

pub fn data<F: hinet_autograd::Float>() -> Data<F> {
    let rows = 7;
    let f = |v: f64| F::of(v);
    Data {
        scenario: vec![0, 0, 0, 1, 2, 2, 2],
        offsets: vec![0, 3, 4, 7],
        // field-major: users of rows 0..7, then items
        sparse: vec![0, 1, 2, 3, 4, 5, 1, 4, 3, 2, 1, 0, 0, 2],
        dense: Array2::from_shape_fn((rows, 1), |(r, _)| f(0.3 * r as f64 - 1.0)),
        labels: Array2::from_shape_vec(
            (rows, 2),
            [1., 1., 0., 0., 1., 0., 0., 0., 1., 1., 0., 0., 1., 0.]
                .iter()
                .map(|&v| f(v))
                .collect(),
        )
        .unwrap(),
    }
}

impl<F: hinet_autograd::Float> Data<F> {
    pub fn input(&self) -> ModelInput<'_, F> {
        ModelInput {
            rows: self.scenario.len(),
            scenario: &self.scenario,
            scenario_offsets: &self.offsets,
            sparse: &self.sparse,
            dense: self.dense.view(),
            labels: Some(self.labels.view()),
        }
    }
}

pub mod configs;
