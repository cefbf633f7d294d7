//! One training run of the experiment, and the datasets it trains on.
//!
//! A run is `hinet train`'s loop without its side effects: a fixed number of epochs, the
//! validation AUC after each, and the test metrics of the epoch with the best validation AUC
//! (early stopping without a checkpoint on disk).

use super::plan::{Budget, DatasetKind, Scale, Variant};
use crate::cli::config;
use crate::cli::data::{self, DataArgs, DataDesc};
use anyhow::{Context, Result, anyhow};
use hinet_data::synthetic::SyntheticConfig;
use hinet_data::{Batch, Dataset, Splits};
use hinet_model::{MetricsTable, ModelConfig, TrainOptions, Trainer};
use hinet_optim::OptimizerKind;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// Facts about a dataset that the report needs (also stored in results.json).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// The dataset.
    pub kind: DatasetKind,
    /// One line on where the rows come from.
    pub description: String,
    /// Scenario names.
    pub scenarios: Vec<String>,
    /// Task names.
    pub tasks: Vec<String>,
    /// Training rows per scenario.
    pub train_rows: Vec<usize>,
    /// Validation rows per scenario.
    pub valid_rows: Vec<usize>,
    /// Test rows per scenario.
    pub test_rows: Vec<usize>,
    /// Test positives per scenario and task.
    pub test_positives: Vec<Vec<usize>>,
    /// The scenario with the fewest training rows.
    pub long_tail: usize,
    /// The generator's scenario clusters (synthetic data: scenarios of one cluster are alike).
    pub clusters: Option<Vec<usize>>,
    /// AUC of the true probabilities per scenario and task on the test rows (synthetic data).
    pub oracle_auc: Option<Vec<Vec<Option<f64>>>>,
    /// The training budget of every model.
    pub budget: Budget,
}

/// A dataset ready for training: normalised splits and the features of the models.
pub struct Prepared {
    /// Report facts.
    pub info: DatasetInfo,
    /// Train, validation and test rows.
    pub splits: Splits,
    /// A model configuration holding the data's scenarios, tasks and features.
    pub features: ModelConfig,
}

/// Loads (or generates) a dataset, splits it and fits the dense normaliser on the training rows.
pub fn prepare(kind: DatasetKind, scale: &Scale, data_dir: Option<PathBuf>) -> Result<Prepared> {
    let budget = scale.budget(kind).clone();
    let (desc, description, clusters) = match kind {
        DatasetKind::Synthetic => {
            let config = SyntheticConfig {
                rows: scale.synthetic_rows,
                users: scale.synthetic_users,
                items: scale.synthetic_items,
                ..SyntheticConfig::default()
            };
            let description = format!(
                "the built-in generator (seed {}): {} rows, {} users, {} items, scenario shares {:?}, hash split 80/10/10",
                config.seed, config.rows, config.users, config.items, config.scenario_shares
            );
            let clusters = config.scenario_clusters.clone();
            (DataDesc::Synthetic { config }, description, Some(clusters))
        }
        DatasetKind::Movielens100k => (
            DataDesc::Preset {
                name: "movielens-100k".into(),
            },
            "MovieLens-100K (the preset's ml100k_multiscenario.csv): scenarios = age groups (<25, 25-34, 35+), \
             tasks like (rating >= 4) and love (rating = 5), hash split 80/10/10"
                .to_string(),
            None,
        ),
    };
    let args = DataArgs {
        data_dir,
        ..DataArgs::default()
    };
    let source = data::load_source(&desc, &args, data::DEFAULT_SPLIT_SEED, None)
        .with_context(|| format!("dataset {}", kind.name()))?;
    let spec = source.data.spec.clone();
    let mut splits = source.data.split(&source.split)?;
    splits.normalize()?;
    let features = config::model_config(None, &[], budget.embedding_dim, &spec, true)?;
    let test = reference_metrics(&splits.test);
    let train_rows = splits.train.scenario_counts();
    let info = DatasetInfo {
        kind,
        description,
        scenarios: spec.scenarios.clone(),
        tasks: spec.tasks.clone(),
        long_tail: long_tail(&train_rows),
        train_rows,
        valid_rows: splits.valid.scenario_counts(),
        test_rows: splits.test.scenario_counts(),
        test_positives: test
            .cells
            .iter()
            .map(|r| r.iter().map(|c| c.positives).collect())
            .collect(),
        clusters,
        oracle_auc: splits.test.oracle.as_ref().map(|_| {
            test.cells
                .iter()
                .map(|r| r.iter().map(|c| c.oracle_auc).collect())
                .collect()
        }),
        budget,
    };
    Ok(Prepared { info, splits, features })
}

/// Counts and oracle AUCs of a split (the oracle as predictions: its own AUC).
fn reference_metrics(data: &Dataset) -> MetricsTable {
    let labels: Vec<f64> = data.labels.iter().map(|&v| v as f64).collect();
    let oracle: Option<Vec<f64>> = data.oracle.as_ref().map(|o| o.iter().map(|&v| v as f64).collect());
    let scenario: Vec<usize> = data.scenario.iter().map(|&s| s as usize).collect();
    let predictions = oracle.clone().unwrap_or_else(|| vec![0.5; labels.len()]);
    MetricsTable::compute(
        &data.spec.scenarios,
        &data.spec.tasks,
        &scenario,
        &predictions,
        &labels,
        oracle.as_deref(),
    )
}

/// The scenario with the fewest rows.
fn long_tail(counts: &[usize]) -> usize {
    counts.iter().enumerate().min_by_key(|&(_, &c)| c).map_or(0, |(i, _)| i)
}

/// What one (dataset, variant, seed) run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Dataset name.
    pub dataset: DatasetKind,
    /// The model.
    pub variant: Variant,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// Trainable parameters.
    pub parameters: usize,
    /// Mean validation AUC over (scenario, task) after each epoch.
    pub valid_auc: Vec<Option<f64>>,
    /// The epoch (1-based) whose test metrics are reported.
    pub best_epoch: usize,
    /// Test AUC per scenario and task at that epoch.
    pub test_auc: Vec<Vec<Option<f64>>>,
    /// Test logloss per scenario and task at that epoch.
    pub test_logloss: Vec<Vec<f64>>,
    /// SAN's M x M attention at that epoch (HiNet with SAN only).
    pub attention: Option<Vec<Vec<f64>>>,
    /// Wall seconds of the run (training and evaluation).
    pub seconds: f64,
}

impl RunRecord {
    /// Mean test AUC over the (scenario, task) cells where it is defined.
    pub fn mean_auc(&self) -> Option<f64> {
        let v: Vec<f64> = self.test_auc.iter().flatten().filter_map(|&a| a).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }
}

/// The epoch with the best validation score so far, and what the test set said then.
struct Best {
    score: f64,
    epoch: usize,
    test: MetricsTable,
    attention: Option<Vec<Vec<f64>>>,
}

/// Trains one model on one dataset with the dataset's budget.
pub fn train(data: &Prepared, variant: Variant, seed: u64, base: &ModelConfig) -> Result<RunRecord> {
    let start = Instant::now();
    let budget = &data.info.budget;
    let config = variant.configure(base);
    let options = TrainOptions {
        optimizer: OptimizerKind::adam(),
        lr: budget.lr,
        sparse_embeddings: false,
        lazy_from_rows: Some(hinet_model::LAZY_FROM_ROWS),
        clip_norm: None,
        embedding_l2: 0.0,
        max_memory_bytes: hinet_model::available_memory_bytes(),
        batch_size: budget.batch_size,
    };
    let what = || format!("{} on {} (seed {seed})", variant.label(), data.info.kind.name());
    let mut trainer = Trainer::<f32>::new(&config, seed, &options).with_context(what)?;
    let parameters = trainer.store().ids().map(|id| trainer.store().value(id).len()).sum();
    let spec = &data.splits.train.spec;
    let mut batch = Batch::new();
    let mut valid_auc = Vec::with_capacity(budget.epochs);
    let mut best: Option<Best> = None;
    for epoch in 1..=budget.epochs {
        let shuffle = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut iter = data.splits.train.batches(budget.batch_size, Some(shuffle));
        while iter.next_into(&mut batch) {
            trainer
                .step(&data::input_of(&batch, spec)?)
                .with_context(|| format!("{}, epoch {epoch}", what()))?;
        }
        let valid = data::metrics(&mut trainer, &data.splits.valid, 4096)?;
        let auc = data::mean_auc(&valid);
        valid_auc.push(auc);
        let score = auc.unwrap_or(f64::NEG_INFINITY);
        if best.as_ref().is_none_or(|b| score > b.score) {
            let test = data::metrics(&mut trainer, &data.splits.test, 4096)?;
            let attention = trainer.model().san_attention(trainer.store())?.map(|a| {
                a.rows()
                    .into_iter()
                    .map(|r| r.iter().map(|&v| v as f64).collect())
                    .collect()
            });
            best = Some(Best {
                score,
                epoch,
                test,
                attention,
            });
        }
    }
    let Best {
        epoch: best_epoch,
        test,
        attention,
        ..
    } = best.ok_or_else(|| anyhow!("{}: no epochs to run", what()))?;
    Ok(RunRecord {
        dataset: data.info.kind,
        variant,
        seed,
        parameters,
        valid_auc,
        best_epoch,
        test_auc: test.cells.iter().map(|r| r.iter().map(|c| c.auc).collect()).collect(),
        test_logloss: test
            .cells
            .iter()
            .map(|r| r.iter().map(|c| c.logloss).collect())
            .collect(),
        attention,
        seconds: start.elapsed().as_secs_f64(),
    })
}
