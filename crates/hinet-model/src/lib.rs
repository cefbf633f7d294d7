//! # hinet-model
//!
//! HiNet (Zhou et al., ICDE 2023) as docs/paper.md restates it, with its baselines and
//! ablations on the same engine and inputs, the loss, exact AUC metrics and checkpoints.
//!
//! - [`ModelConfig`] (TOML via serde): scenarios, tasks, features, every width and expert
//!   count, the ablation switches (`san`, `hierarchy`, `gates`) and the official-code options
//!   (`gate_relu`, `san_hidden`, `san_renormalise`, `cgc_shared_across_scenarios`, `cgc_sum_gate`).
//! - [`Model`]: field embeddings (+ dense) -> optional input batch norm -> HiNet's scenario
//!   extraction layer (shared group G, scenario groups S_m, SAN A_i; `C_i = [A_i, S_i, G]`) ->
//!   per-scenario CGC -> per-(scenario, task) towers. Rows are routed: a batch's rows are sorted
//!   by scenario and each scenario's slice goes through its own CGC and towers only. The same
//!   structure gives Shared-Bottom, MMoE and PLE per scenario; STAR is its own body.
//! - [`Trainer`]: the training step, prediction, checkpoints ([`checkpoint`]).
//! - [`MetricsTable`]: AUC (tie-aware, exact) and logloss per (scenario, task) and overall.
//!
//! ## Example
//! ```
//! use hinet_model::{ModelConfig, ModelInput, SparseFeature, Trainer, TrainOptions};
//! use ndarray::Array2;
//!
//! let config = ModelConfig {
//!     scenarios: vec!["home".into(), "search".into()],
//!     sparse: vec![SparseFeature { name: "item".into(), vocab: 10, dim: 4 }],
//!     sub_experts: 2,
//!     expert_hidden: vec![8],
//!     scenario_embedding_dim: 4,
//!     cgc_hidden: vec![8],
//!     tower_hidden: vec![4],
//!     ..ModelConfig::default()
//! };
//! let mut trainer = Trainer::<f32>::new(&config, 42, &TrainOptions::default())?;
//! // 4 rows sorted by scenario: rows 0..3 are "home", row 3 is "search".
//! let labels = Array2::from_shape_vec((4, 2), vec![1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]).unwrap();
//! let dense = Array2::<f32>::zeros((4, 0));
//! let input = ModelInput {
//!     rows: 4,
//!     scenario: &[0, 0, 0, 1],
//!     scenario_offsets: &[0, 3, 4],
//!     sparse: &[1, 2, 3, 4],
//!     dense: dense.view(),
//!     labels: Some(labels.view()),
//! };
//! let first = trainer.step(&input)?;
//! for _ in 0..50 {
//!     trainer.step(&input)?;
//! }
//! assert!(trainer.evaluate_loss(&input)? < first);
//! let p = trainer.predict(&input)?;
//! assert_eq!(p.dim(), (4, 2));
//! # Ok::<(), hinet_model::ModelError>(())
//! ```

#![warn(missing_docs)]

mod baselines;
pub mod checkpoint;
mod config;
mod diagnose;
mod error;
mod input;
mod input_layer;
mod loss;
mod metrics;
mod model;
mod scenario_layer;
mod size;
mod task_layer;
pub mod throughput;
mod trainer;

pub use config::{Architecture, ModelConfig, SparseFeature};
pub use error::{MAX_LISTED_ROWS, ModelError, NonFiniteReport, Result, RowFault};
pub use input::ModelInput;
pub use metrics::{Cell, MetricsTable, auc, logloss};
pub use model::Model;
pub use size::{MemoryEstimate, available_memory_bytes, human_bytes};
pub use trainer::{TrainOptions, Trainer};
