#![doc = include_str!("../README.md")]
//!
//! ## Layers
//!
//! [`Linear`], [`Mlp`] ([`MlpConfig`]), [`Embedding`], [`FieldEmbeddings`], [`BatchNorm1d`],
//! [`Dropout`], [`Gate`] ([`GateMode`]), [`ExpertStack`], [`ExpertGroup`],
//! [`ScenarioAttention`] ([`SanConfig`]), [`Cgc`] ([`CgcConfig`]) and [`Tower`], each a
//! [`Module`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod activation;
mod batch_norm;
mod cgc;
mod dropout;
mod embedding;
mod error;
mod expert_group;
mod expert_stack;
mod field_embeddings;
mod gate;
mod init;
mod linear;
mod mlp;
mod module;
mod scenario_attention;
mod tower;

pub use activation::Activation;
pub use batch_norm::BatchNorm1d;
pub use cgc::{Cgc, CgcConfig, PerTask};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use error::{LayerError, Result};
pub use expert_group::ExpertGroup;
pub use expert_stack::ExpertStack;
pub use field_embeddings::FieldEmbeddings;
pub use gate::{Gate, GateMode};
pub use init::{uniform, xavier_uniform};
pub use linear::Linear;
pub use mlp::{Mlp, MlpConfig};
pub use module::Module;
pub use scenario_attention::{SanConfig, ScenarioAttention};
pub use tower::Tower;
