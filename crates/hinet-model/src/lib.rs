#![doc = include_str!("../README.md")]
//!
//! ## Entry points
//!
//! A [`ModelConfig`] builds a [`Model`], which reads a [`ModelInput`]; `Trainer` (feature
//! `trainer`) trains and predicts; [`MetricsTable`] scores predictions. Errors are
//! [`ModelError`]s.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod baselines;
#[cfg(feature = "checkpoint")]
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
#[cfg(feature = "trainer")]
pub mod throughput;
#[cfg(feature = "trainer")]
mod trainer;

pub use config::{Architecture, ModelConfig, SparseFeature};
pub use error::{MAX_LISTED_ROWS, ModelError, NonFiniteReport, Result, RowFault};
pub use hinet_autograd::Precision;
pub use input::ModelInput;
pub use metrics::{Cell, MetricsTable, auc, logloss};
pub use model::Model;
pub use size::{MemoryEstimate, available_memory_bytes, human_bytes};
#[cfg(feature = "trainer")]
pub use trainer::{LAZY_FROM_ROWS, TrainOptions, Trainer};
