//! `ModelConfig`: every switch of HiNet and its baselines, read from TOML.
//!
//! Defaults follow the paper as restated in docs/paper.md; `gate_relu`, `cgc_sum_gate`,
//! `san_hidden`, `san_renormalise = false` and `cgc_shared_across_scenarios` reproduce the
//! official TensorFlow code where it differs.

use crate::error::{ModelError, Result, config_err};
use hinet_autograd::Precision;
use serde::{Deserialize, Serialize};

/// Which model to build from the shared input layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// HiNet: scenario extraction layer (shared group, scenario groups, SAN), then a CGC and
    /// towers per scenario.
    #[default]
    Hinet,
    /// One bottom MLP per scenario, towers per task (trained per scenario, as in the paper).
    SharedBottom,
    /// MMoE per scenario: shared experts, one gate per task.
    Mmoe,
    /// PLE per scenario: CGC levels with shared and task-specific experts.
    Ple,
    /// STAR per task: star-topology MLP (shared weights times scenario weights) and a tower per
    /// scenario.
    Star,
    /// HMoE per task: `mmoe_experts` experts shared by the scenarios, a gate and a tower per
    /// scenario, and the scenarios' predictions combined with weights of the row's scenario
    /// (the others' predictions without a gradient).
    Hmoe,
}

/// A categorical input field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseFeature {
    /// Column name.
    pub name: String,
    /// Number of distinct ids (ids are `0..vocab`).
    pub vocab: usize,
    /// Embedding width.
    pub dim: usize,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Model family.
    pub architecture: Architecture,
    /// Scenario names (M of them), in id order.
    pub scenarios: Vec<String>,
    /// Task names (T of them); CTR and CTCVR by default.
    pub tasks: Vec<String>,
    /// Categorical inputs.
    pub sparse: Vec<SparseFeature>,
    /// Dense numeric input columns.
    pub dense: Vec<String>,
    /// Batch normalisation of the input vector x (training statistics).
    pub input_batch_norm: bool,

    /// Width of the scenario-indicator embedding (SAN's input).
    pub scenario_embedding_dim: usize,
    /// Sub-experts per expert group (K_s) in the scenario layer.
    pub sub_experts: usize,
    /// MLP widths of each scenario-layer sub-expert.
    pub expert_hidden: Vec<usize>,
    /// The scenario-aware attentive network (ablation: "without SAN").
    pub san: bool,
    /// SAN scoring MLP widths (empty: one linear map, the paper; [128, 64]: the official code).
    pub san_hidden: Vec<usize>,
    /// Renormalise SAN's softmax over the other scenarios (the paper) instead of zeroing the own
    /// scenario after a softmax over all (the official code).
    pub san_renormalise: bool,
    /// The scenario extraction layer (ablation "without the hierarchy": task layer only).
    pub hierarchy: bool,
    /// Softmax gates (ablation "without gates": the plain mean of experts).
    pub gates: bool,
    /// ReLU before every gate's softmax (the official code).
    pub gate_relu: bool,

    /// Task-shared experts per scenario in the CGC (per level).
    pub cgc_shared_experts: usize,
    /// Task-specific experts per task in the CGC (per level).
    pub cgc_experts_per_task: usize,
    /// MLP widths of each CGC expert.
    pub cgc_hidden: Vec<usize>,
    /// CGC levels (PLE stacking; 1 = HiNet).
    pub cgc_levels: usize,
    /// The CGC's task-shared experts are shared by all scenarios (the official code) instead of
    /// one set per scenario.
    pub cgc_shared_across_scenarios: bool,
    /// The official code's CGC gate: a softmax over an axis of size 1, i.e. experts summed.
    pub cgc_sum_gate: bool,

    /// Tower MLP widths (then one logit).
    pub tower_hidden: Vec<usize>,
    /// Dropout after every hidden layer of the towers (the experts have none).
    pub dropout: f64,

    /// Loss weight per task.
    pub loss_weights: Vec<f64>,
    /// Positive-label weight per task.
    pub pos_weights: Vec<f64>,
    /// L2 penalty on every weight matrix (not biases, embeddings or norms).
    pub l2: f64,
    /// ESMM-style CTCVR: task 1's tower predicts CVR and pCTCVR = pCTR * pCVR.
    pub esmm: bool,
    /// Bottom MLP widths for Shared-Bottom.
    pub bottom_hidden: Vec<usize>,
    /// Experts for MMoE (per scenario) and HMoE (per task, shared by the scenarios).
    pub mmoe_experts: usize,
    /// HMoE: the other scenarios' predictions enter a row's weighted sum without a gradient
    /// (HMoE's gradient stop, the default); `false` lets every scenario's loss train every tower.
    pub hmoe_stop_gradient: bool,

    /// Operand precision of every matrix product, in training and inference: `"f32"` (the
    /// default) or `"bf16"` (mixed precision: operands rounded to bfloat16, products summed in
    /// f32; parameters, gradients, optimiser state and every other op stay f32). A setting of
    /// the computation, not of the weights: a checkpoint trained in one precision can be
    /// evaluated in the other.
    #[serde(with = "precision_name")]
    pub precision: Precision,
}

/// `Precision` as its name in TOML and JSON (`"f32"`, `"bf16"`).
mod precision_name {
    use hinet_autograd::Precision;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(p: &Precision, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Precision, D::Error> {
        let name = String::deserialize(d)?;
        Precision::from_name(&name)
            .ok_or_else(|| D::Error::custom(format!("precision {name:?}: expected \"f32\" or \"bf16\"")))
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            architecture: Architecture::Hinet,
            scenarios: (0..3).map(|i| format!("s{i}")).collect(),
            tasks: vec!["ctr".into(), "ctcvr".into()],
            sparse: Vec::new(),
            dense: Vec::new(),
            input_batch_norm: false,
            scenario_embedding_dim: 64,
            sub_experts: 5,
            expert_hidden: vec![128, 64],
            san: true,
            san_hidden: Vec::new(),
            san_renormalise: true,
            hierarchy: true,
            gates: true,
            gate_relu: false,
            cgc_shared_experts: 2,
            cgc_experts_per_task: 2,
            cgc_hidden: vec![128, 64],
            cgc_levels: 1,
            cgc_shared_across_scenarios: false,
            cgc_sum_gate: false,
            tower_hidden: vec![128, 64],
            dropout: 0.0,
            loss_weights: vec![1.0, 1.0],
            pos_weights: vec![1.0, 1.0],
            l2: 0.0,
            esmm: false,
            bottom_hidden: vec![128, 64],
            mmoe_experts: 4,
            hmoe_stop_gradient: true,
            precision: Precision::F32,
        }
    }
}

impl ModelConfig {
    /// Parses TOML; unknown keys and wrong types are errors naming the key.
    pub fn from_toml(text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| ModelError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Serialises to TOML (stored in checkpoints).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| ModelError::Parse(e.to_string()))
    }

    /// `bench-default` (docs/bench-default.md): 6 scenarios, 2 tasks, 20 fields of 10,000 ids x
    /// 16, input batch norm, scenario embedding 16, 5 sub-experts 320 -> 128 -> 64, SAN without
    /// renormalisation, CGC 2 + 2 x 2 experts 192 -> 128 -> 64, towers 128 -> 64.
    ///
    /// Scenario and field names are those of the synthetic generator's bench-default shape
    /// (`hinet gen-data --shape bench-default`), so that data trains with this config as it is.
    pub fn bench_default() -> Self {
        let fields = ["user_id", "item_id", "user_segment", "item_category"]
            .map(String::from)
            .into_iter()
            .chain((0..16).map(|k| format!("noise_{k}")));
        Self {
            scenarios: (0..6).map(|i| format!("s{i}")).collect(),
            sparse: fields
                .map(|name| SparseFeature {
                    name,
                    vocab: 10_000,
                    dim: 16,
                })
                .collect(),
            input_batch_norm: true,
            scenario_embedding_dim: 16,
            san_renormalise: false,
            ..Self::default()
        }
    }

    /// Number of scenarios M.
    pub fn num_scenarios(&self) -> usize {
        self.scenarios.len()
    }

    /// Number of tasks T.
    pub fn num_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Width of the input vector x (saturating: [`ModelConfig::validate`] refuses a config
    /// whose sizes overflow).
    pub fn input_width(&self) -> usize {
        self.sparse
            .iter()
            .fold(self.dense.len(), |acc, f| acc.saturating_add(f.dim))
    }

    /// Checks every value, naming the key of the first that is wrong, including sizes whose
    /// product overflows 64 bits (see [`ModelConfig::parameter_count`]).
    pub fn validate(&self) -> Result<()> {
        let positive = |key: &str, v: &[usize]| -> Result<()> {
            if v.contains(&0) {
                return config_err(key, format!("every width must be positive, got {v:?}"));
            }
            Ok(())
        };
        if self.scenarios.is_empty() {
            return config_err("scenarios", "at least one scenario is needed");
        }
        if self.tasks.is_empty() {
            return config_err("tasks", "at least one task is needed");
        }
        if self.sparse.is_empty() && self.dense.is_empty() {
            return config_err(
                "sparse",
                "no sparse and no dense features: the model would have no input",
            );
        }
        for (i, f) in self.sparse.iter().enumerate() {
            if f.vocab == 0 || f.dim == 0 {
                return config_err(
                    &format!("sparse[{i}]"),
                    format!("field {:?}: vocab and dim must be positive", f.name),
                );
            }
        }
        for (key, v) in [
            ("expert_hidden", &self.expert_hidden),
            ("cgc_hidden", &self.cgc_hidden),
            ("tower_hidden", &self.tower_hidden),
            ("bottom_hidden", &self.bottom_hidden),
            ("san_hidden", &self.san_hidden),
        ] {
            positive(key, v)?;
        }
        if self.expert_hidden.is_empty() {
            return config_err("expert_hidden", "an expert needs at least one layer");
        }
        if self.cgc_hidden.is_empty() {
            return config_err("cgc_hidden", "an expert needs at least one layer");
        }
        if self.sub_experts == 0 {
            return config_err("sub_experts", "must be at least 1");
        }
        if self.cgc_levels == 0 {
            return config_err("cgc_levels", "must be at least 1");
        }
        if self.cgc_shared_experts == 0 && self.cgc_experts_per_task == 0 {
            return config_err(
                "cgc_experts_per_task",
                "CGC gates would have no experts (cgc_shared_experts is 0 too)",
            );
        }
        if self.cgc_shared_across_scenarios
            && self.cgc_levels > 1
            && self.cgc_experts_per_task == 0
            && matches!(self.architecture, Architecture::Hinet | Architecture::Ple)
        {
            return config_err(
                "cgc_experts_per_task",
                "with cgc_shared_across_scenarios, CGC levels after the first see only the \
                 task experts: cgc_experts_per_task must be at least 1 when cgc_levels > 1",
            );
        }
        if self.architecture == Architecture::Hinet && self.hierarchy && self.scenario_embedding_dim == 0 {
            return config_err("scenario_embedding_dim", "must be positive");
        }
        if self.architecture == Architecture::Hinet && self.hierarchy && self.san && self.scenarios.len() < 2 {
            return config_err(
                "san",
                "SAN needs at least 2 scenarios; set san = false for a single scenario",
            );
        }
        if matches!(self.architecture, Architecture::Mmoe | Architecture::Hmoe) && self.mmoe_experts == 0 {
            return config_err("mmoe_experts", "must be at least 1");
        }
        if self.architecture == Architecture::SharedBottom && self.bottom_hidden.is_empty() {
            return config_err("bottom_hidden", "the bottom needs at least one layer");
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return config_err("dropout", format!("{} must be in [0, 1)", self.dropout));
        }
        if self.loss_weights.len() != self.tasks.len() {
            return config_err(
                "loss_weights",
                format!("{} weights for {} tasks", self.loss_weights.len(), self.tasks.len()),
            );
        }
        if self.pos_weights.len() != self.tasks.len() {
            return config_err(
                "pos_weights",
                format!("{} weights for {} tasks", self.pos_weights.len(), self.tasks.len()),
            );
        }
        if self
            .loss_weights
            .iter()
            .chain(&self.pos_weights)
            .any(|w| !w.is_finite() || *w < 0.0)
        {
            return config_err("loss_weights", "weights must be finite and >= 0");
        }
        if !self.l2.is_finite() || self.l2 < 0.0 {
            return config_err("l2", format!("{} must be finite and >= 0", self.l2));
        }
        if self.esmm && self.tasks.len() != 2 {
            return config_err("esmm", "ESMM needs exactly two tasks (CTR, CTCVR)");
        }
        // Every size, with checked arithmetic: an overflow names its key (nothing is allocated).
        self.count_unvalidated()?;
        Ok(())
    }
}
