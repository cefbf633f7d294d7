//! Shared by the equivalence tests and the MPI equivalence example: a small multi-scenario
//! config, deterministic rows, batches in the model's layout, and comparisons.
#![allow(dead_code)]

use hinet_autograd::{Float, ParamStore};
use hinet_model::{Architecture, ModelConfig, ModelInput, SparseFeature, TrainOptions, Trainer};
use hinet_optim::OptimizerKind;
use ndarray::Array2;

pub const TOL: f64 = 1e-9;

pub fn config(architecture: Architecture) -> ModelConfig {
    ModelConfig {
        architecture,
        scenarios: vec!["a".into(), "b".into(), "c".into()],
        sparse: vec![
            SparseFeature {
                name: "user".into(),
                vocab: 97,
                dim: 4,
            },
            SparseFeature {
                name: "item".into(),
                vocab: 41,
                dim: 3,
            },
        ],
        dense: vec!["price".into(), "age".into()],
        input_batch_norm: true,
        scenario_embedding_dim: 3,
        sub_experts: 2,
        expert_hidden: vec![8],
        cgc_shared_experts: 1,
        cgc_experts_per_task: 1,
        cgc_hidden: vec![6],
        tower_hidden: vec![4],
        bottom_hidden: vec![6],
        mmoe_experts: 2,
        ..ModelConfig::default()
    }
}

/// One labelled row.
#[derive(Clone)]
pub struct Row {
    pub scenario: usize,
    pub ids: [usize; 2],
    pub dense: [f64; 2],
    pub labels: [f64; 2],
}

/// Deterministic pseudo-random rows (a splitmix stream), skewed ids so that ranks share rows.
pub fn rows(n: usize, seed: u64) -> Vec<Row> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    };
    (0..n)
        .map(|_| {
            let scenario = (next() * 3.0) as usize % 3;
            let user = ((next() * next()) * 97.0) as usize % 97;
            let item = (next() * 41.0) as usize % 41;
            let dense = [next() * 4.0 - 2.0, next()];
            let p = 1.0 / (1.0 + (-(dense[0] + scenario as f64 * 0.5 - (user % 5) as f64 * 0.3)).exp());
            let click = f64::from(u8::from(next() < p));
            let order = click * f64::from(u8::from(next() < 0.4));
            Row {
                scenario,
                ids: [user, item],
                dense,
                labels: [click, order],
            }
        })
        .collect()
}

/// A batch in the model's layout (sorted by scenario, stably).
pub struct Batch<F> {
    pub scenario: Vec<usize>,
    pub offsets: Vec<usize>,
    pub sparse: Vec<usize>,
    pub dense: Array2<F>,
    pub labels: Array2<F>,
}

impl<F: Float> Batch<F> {
    pub fn of(rows: &[Row]) -> Self {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|r| r.scenario);
        let n = rows.len();
        let mut offsets = vec![0; 4];
        for r in &rows {
            offsets[r.scenario + 1] += 1;
        }
        for m in 0..3 {
            offsets[m + 1] += offsets[m];
        }
        let mut sparse = Vec::with_capacity(2 * n);
        for f in 0..2 {
            sparse.extend(rows.iter().map(|r| r.ids[f]));
        }
        Self {
            scenario: rows.iter().map(|r| r.scenario).collect(),
            offsets,
            sparse,
            dense: Array2::from_shape_fn((n, 2), |(i, j)| F::of(rows[i].dense[j])),
            labels: Array2::from_shape_fn((n, 2), |(i, j)| F::of(rows[i].labels[j])),
        }
    }

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

/// Splits a global batch's rows between `ranks` ranks (uneven when it does not divide).
pub fn share(rows: &[Row], rank: usize, ranks: usize) -> Vec<Row> {
    let n = rows.len();
    let (lo, hi) = (n * rank / ranks, n * (rank + 1) / ranks);
    rows[lo..hi].to_vec()
}

pub fn options(sparse: bool, clip: Option<f64>) -> TrainOptions {
    TrainOptions {
        optimizer: OptimizerKind::adam(),
        lr: 0.01,
        sparse_embeddings: sparse,
        clip_norm: clip,
        ..TrainOptions::default()
    }
}

pub fn assert_stores_close<F: Float>(a: &ParamStore<F>, b: &ParamStore<F>, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: tensor count");
    for id in a.ids() {
        let name = a.name(id);
        let other = b.value(b.id(name).expect("same names"));
        let mine = a.value(id);
        assert_eq!(mine.shape(), other.shape(), "{what}: {name} shape");
        for (x, y) in mine.iter().zip(other.iter()) {
            let (x, y) = (x.f64(), y.f64());
            assert!(
                (x - y).abs() <= TOL * (1.0 + x.abs().max(y.abs())),
                "{what}: {name} differs: {x} vs {y}"
            );
        }
    }
}

pub fn assert_states_close(a: &hinet_optim::OptimState<f64>, b: &hinet_optim::OptimState<f64>, what: &str) {
    assert_eq!(a.meta, b.meta, "{what}: optimiser counters");
    let mut names_a: Vec<_> = a.tensors.iter().map(|(n, _)| n.clone()).collect();
    let mut names_b: Vec<_> = b.tensors.iter().map(|(n, _)| n.clone()).collect();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b, "{what}: optimiser state names");
    for (name, t) in &a.tensors {
        let u = b.tensor(name).expect("present");
        for (x, y) in t.iter().zip(u.iter()) {
            assert!(
                (x - y).abs() <= TOL * (1.0 + x.abs().max(y.abs())),
                "{what}: state {name}: {x} vs {y}"
            );
        }
    }
}

pub fn global_batches(steps: usize, rows_per_step: usize) -> Vec<Vec<Row>> {
    (0..steps).map(|s| rows(rows_per_step, 100 + s as u64)).collect()
}

pub fn single_run(config: &ModelConfig, opts: &TrainOptions, batches: &[Vec<Row>]) -> Trainer<f64> {
    let mut t = Trainer::<f64>::new(config, 7, opts).expect("trainer");
    for rows in batches {
        let b = Batch::<f64>::of(rows);
        t.step(&b.input()).expect("step");
    }
    t
}
