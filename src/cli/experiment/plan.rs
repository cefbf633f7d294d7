//! What `hinet experiment` runs: the two datasets, the model variants of the four studies, the
//! shared training budget, and the list of (dataset, variant, seed) jobs.
//!
//! Every variant is the same base configuration with one change, trained on the same data with
//! the same budget and the same seeds, so that a difference in AUC is the change's doing.

use hinet_model::{Architecture, ModelConfig};
use serde::{Deserialize, Serialize};

/// Sub-experts per group of the reference HiNet (the expert-count study's 4 is this run).
pub const HINET_SUB_EXPERTS: usize = 4;
/// The expert-count study's sub-experts per group (the paper's 1, 2, 4, 8).
pub const EXPERT_COUNTS: [usize; 4] = [1, 2, 4, 8];

/// One of the paper's four experiments, or the precision study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Study {
    /// HiNet against multi-task and multi-scenario baselines.
    Comparison,
    /// HiNet without SAN, without the hierarchy, without gates.
    Ablation,
    /// HiNet with 1, 2, 4, 8 sub-experts per group.
    Experts,
    /// SAN's scenario-to-scenario attention weights.
    San,
    /// HiNet with its matrix products in bf16 mixed precision against f32.
    Precision,
}

/// A model configuration of the studies: the base HiNet or one change of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// HiNet as configured by [`base_config`].
    Hinet,
    /// Shared-Bottom per scenario.
    SharedBottom,
    /// MMoE per scenario.
    Mmoe,
    /// PLE per scenario (two CGC levels).
    Ple,
    /// STAR per task.
    Star,
    /// HMoE per task.
    Hmoe,
    /// HiNet without SAN.
    NoSan,
    /// HiNet without the scenario layer (its task layer alone: one CGC level per scenario).
    NoHierarchy,
    /// HiNet with every gate replaced by the plain mean of its experts.
    NoGates,
    /// HiNet with this many sub-experts per scenario-layer group.
    Experts(usize),
    /// HiNet with bf16 operands in every matrix product (f32 sums, weights and optimiser).
    HinetBf16,
}

impl Variant {
    /// The name in tables and figures.
    pub fn label(self) -> String {
        match self {
            Variant::Hinet => "HiNet".into(),
            Variant::SharedBottom => "Shared-Bottom".into(),
            Variant::Mmoe => "MMoE".into(),
            Variant::Ple => "PLE".into(),
            Variant::Star => "STAR".into(),
            Variant::Hmoe => "HMoE".into(),
            Variant::NoSan => "HiNet w/o SAN".into(),
            Variant::NoHierarchy => "HiNet w/o hierarchy".into(),
            Variant::NoGates => "HiNet w/o gates".into(),
            Variant::Experts(1) => "HiNet, 1 sub-expert".into(),
            Variant::Experts(k) => format!("HiNet, {k} sub-experts"),
            Variant::HinetBf16 => "HiNet in bf16".into(),
        }
    }

    /// The base configuration with this variant's one change.
    pub fn configure(self, base: &ModelConfig) -> ModelConfig {
        let mut c = base.clone();
        match self {
            Variant::Hinet => {}
            Variant::SharedBottom => c.architecture = Architecture::SharedBottom,
            Variant::Mmoe => c.architecture = Architecture::Mmoe,
            Variant::Ple => {
                c.architecture = Architecture::Ple;
                // Progressive layered extraction is PLE's point; one level would be the
                // "without hierarchy" ablation again.
                c.cgc_levels = 2;
            }
            Variant::Star => c.architecture = Architecture::Star,
            Variant::Hmoe => c.architecture = Architecture::Hmoe,
            Variant::NoSan => c.san = false,
            Variant::NoHierarchy => c.hierarchy = false,
            Variant::NoGates => c.gates = false,
            Variant::Experts(k) => c.sub_experts = k,
            Variant::HinetBf16 => c.precision = hinet_model::Precision::Bf16,
        }
        c
    }

    /// Rough training cost relative to Shared-Bottom, to start the longest jobs first.
    pub fn cost(self) -> usize {
        match self {
            Variant::Hinet | Variant::NoSan | Variant::NoGates | Variant::HinetBf16 => HINET_SUB_EXPERTS + 1,
            Variant::Experts(k) => k + 1,
            Variant::SharedBottom | Variant::Star => 1,
            Variant::Mmoe | Variant::Ple | Variant::NoHierarchy => 2,
            // Every scenario's gate and tower on every row.
            Variant::Hmoe => 3,
        }
    }
}

/// The variants a study compares, the reference first.
pub fn variants_of(study: Study) -> Vec<Variant> {
    match study {
        Study::Comparison => vec![
            Variant::Hinet,
            Variant::SharedBottom,
            Variant::Mmoe,
            Variant::Ple,
            Variant::Star,
            Variant::Hmoe,
        ],
        Study::Ablation => vec![Variant::Hinet, Variant::NoSan, Variant::NoHierarchy, Variant::NoGates],
        Study::Experts => EXPERT_COUNTS.iter().map(|&k| experts(k)).collect(),
        Study::San => vec![Variant::Hinet],
        Study::Precision => vec![Variant::Hinet, Variant::HinetBf16],
    }
}

/// HiNet with `k` sub-experts: the reference run itself when `k` is its count.
pub fn experts(k: usize) -> Variant {
    if k == HINET_SUB_EXPERTS {
        Variant::Hinet
    } else {
        Variant::Experts(k)
    }
}

/// The configuration every variant starts from, for data with these features: the paper's
/// structure (sub-expert groups with a gate, SAN as one linear map renormalised over the other
/// scenarios, CGC with 2 task-shared and 2 task-specific experts per task, a tower per scenario
/// and task) at widths that let the 110 models of a full run train in under 30 minutes on two cores.
pub fn base_config(features: &ModelConfig) -> ModelConfig {
    ModelConfig {
        architecture: Architecture::Hinet,
        scenario_embedding_dim: 8,
        sub_experts: HINET_SUB_EXPERTS,
        expert_hidden: vec![64, 32],
        cgc_shared_experts: 2,
        cgc_experts_per_task: 2,
        cgc_hidden: vec![64, 32],
        cgc_levels: 1,
        tower_hidden: vec![32],
        bottom_hidden: vec![64, 32],
        mmoe_experts: 4,
        dropout: 0.0,
        ..features.clone()
    }
}

/// How much training every model of one dataset gets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Budget {
    /// Passes over the training split; the test metrics are those of the epoch with the best
    /// validation AUC.
    pub epochs: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Embedding width of every sparse field.
    pub embedding_dim: usize,
}

/// The datasets of the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// The built-in generator: 6 scenarios with a 5 % long-tail one, known oracle probabilities.
    Synthetic,
    /// MovieLens-100K as 3 age scenarios x (like, love): the largest real sample in
    /// ../shared/data with both scenarios and tasks.
    #[value(name = "movielens-100k")]
    #[serde(rename = "movielens-100k")]
    Movielens100k,
}

impl DatasetKind {
    /// Name in file names and tables.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Synthetic => "synthetic",
            DatasetKind::Movielens100k => "movielens-100k",
        }
    }
}

/// Rows, epochs and seeds of a whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scale {
    /// Rows generated for the synthetic dataset.
    pub synthetic_rows: usize,
    /// Users of the synthetic world.
    pub synthetic_users: usize,
    /// Items of the synthetic world.
    pub synthetic_items: usize,
    /// Budget on the synthetic data.
    pub synthetic: Budget,
    /// Budget on MovieLens-100K.
    pub movielens: Budget,
    /// Seeds (model initialisation and shuffling); the data and split are the same for all.
    pub seeds: Vec<u64>,
}

impl Scale {
    /// The documented run: 5 seeds, sized for under 30 minutes on two cores (about 18 on the
    /// machine of docs/results.md). Synthetic models peak after about 2 epochs (then they
    /// memorise ids), MovieLens models after 7-10.
    pub fn full() -> Self {
        Self {
            synthetic_rows: 1_000_000,
            synthetic_users: 2_000,
            synthetic_items: 500,
            synthetic: Budget {
                epochs: 3,
                batch_size: 512,
                lr: 2e-3,
                embedding_dim: 8,
            },
            movielens: Budget {
                epochs: 12,
                batch_size: 512,
                lr: 2e-3,
                embedding_dim: 8,
            },
            seeds: vec![1, 2, 3, 4, 5],
        }
    }

    /// The CI smoke run: the same code on 4 % of the synthetic rows, 2 epochs and 2 seeds
    /// (about a minute on two cores); its numbers are not evidence.
    pub fn quick() -> Self {
        let full = Self::full();
        let quick = |b: Budget| Budget { epochs: 2, ..b };
        Self {
            synthetic_rows: 40_000,
            synthetic: quick(full.synthetic),
            movielens: quick(full.movielens),
            seeds: vec![1, 2],
            ..full
        }
    }

    /// The budget of a dataset.
    pub fn budget(&self, kind: DatasetKind) -> &Budget {
        match kind {
            DatasetKind::Synthetic => &self.synthetic,
            DatasetKind::Movielens100k => &self.movielens,
        }
    }
}

/// One training run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Index into the prepared datasets.
    pub dataset: usize,
    /// The model.
    pub variant: Variant,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
}

/// The distinct values of `v`, in first-use order.
pub fn dedup<T: PartialEq + Copy>(v: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for &x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

/// The distinct variants the chosen studies need, in first-use order.
pub fn variants(studies: &[Study]) -> Vec<Variant> {
    let all: Vec<Variant> = studies.iter().flat_map(|&s| variants_of(s)).collect();
    dedup(&all)
}

/// Every (dataset, variant, seed), the most expensive first so that two workers finish together.
pub fn jobs(datasets: &[(DatasetKind, usize)], studies: &[Study], seeds: &[u64]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (d, _) in datasets.iter().enumerate() {
        for &variant in &variants(studies) {
            for &seed in seeds {
                jobs.push(Job {
                    dataset: d,
                    variant,
                    seed,
                });
            }
        }
    }
    jobs.sort_by_key(|j| std::cmp::Reverse(j.variant.cost() * datasets[j.dataset].1));
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_study_needs_twelve_distinct_models() {
        let all = [Study::Comparison, Study::Ablation, Study::Experts, Study::San];
        let v = variants(&all);
        assert_eq!(v.len(), 12, "{v:?}");
        assert_eq!(variants_of(Study::Experts)[2], Variant::Hinet);
    }

    #[test]
    fn each_variant_changes_one_thing() {
        let features = ModelConfig {
            dense: vec!["x".into()],
            ..ModelConfig::default()
        };
        let base = base_config(&features);
        for v in variants(&[Study::Comparison, Study::Ablation, Study::Experts]) {
            let c = v.configure(&base);
            c.validate().unwrap();
            let changed = [
                c.architecture != base.architecture,
                c.san != base.san,
                c.hierarchy != base.hierarchy,
                c.gates != base.gates,
                c.sub_experts != base.sub_experts,
            ]
            .iter()
            .filter(|&&b| b)
            .count();
            assert_eq!(changed, usize::from(v != Variant::Hinet), "{v:?}");
        }
    }

    #[test]
    fn jobs_cover_every_pair_once_longest_first() {
        let j = jobs(
            &[(DatasetKind::Synthetic, 10), (DatasetKind::Movielens100k, 3)],
            &[Study::Ablation],
            &[1, 2, 3],
        );
        assert_eq!(j.len(), 2 * 4 * 3);
        let costs: Vec<usize> = j.iter().map(|j| j.variant.cost() * [10, 3][j.dataset]).collect();
        assert!(costs.windows(2).all(|w| w[0] >= w[1]));
    }
}
