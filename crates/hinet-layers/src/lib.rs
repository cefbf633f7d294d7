//! # hinet-layers
//!
//! The building blocks of multi-scenario, multi-task recommenders (HiNet, PLE, MMoE, STAR...)
//! on the [`hinet_autograd`] engine. Every layer registers its parameters in a
//! [`ParamStore`](hinet_autograd::ParamStore) under hierarchical names when it is built, runs
//! forward on a tape, and implements [`Module`] (training/inference mode, state for
//! checkpoints, folding batch-norm statistics after a step).
//!
//! | layer | computes |
//! |---|---|
//! | [`Linear`], [`Mlp`] | `act(x W^T + b)`, stacked |
//! | [`Embedding`], [`FieldEmbeddings`] | table lookups (sparse gradients), concatenated with dense features |
//! | [`BatchNorm1d`], [`Dropout`] | normalisation, regularisation |
//! | [`Gate`] | `softmax(W x + b)` over E experts (or mean/sum for ablations) |
//! | [`ExpertStack`], [`ExpertGroup`] | K expert MLPs as batched work; mixed by a gate |
//! | [`ScenarioAttention`] | HiNet's SAN: M x M scenario-to-scenario attention |
//! | [`Cgc`] | PLE's customized gate control, stackable into levels |
//! | [`Tower`] | an MLP ending in one logit |
//!
//! ## Example: an expert group and a tower, one gradient
//! ```
//! use hinet_autograd::{Gradients, ParamStore, Tape};
//! use hinet_layers::{ExpertGroup, GateMode, MlpConfig, Tower};
//! use rand::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
//! let mut store = ParamStore::<f32>::new();
//! let group = ExpertGroup::new(&mut store, "shared", 4, 8, &[16, 8], GateMode::Softmax, &mut rng)?;
//! let tower = Tower::new(&mut store, "tower", 8, &MlpConfig::relu(&[4]), &mut rng)?;
//!
//! let x = ndarray::Array2::<f32>::from_elem((5, 8), 0.5).into_dyn();
//! let tape = Tape::new(&store);
//! let logits = tower.forward(group.forward(tape.constant(x.view()))?)?;
//! assert_eq!(logits.shape(), vec![5, 1]);
//! let mut grads = Gradients::new();
//! tape.backward(logits.sum().expect("sum"), &mut grads).expect("backward");
//! assert!(grads.get(store.id("shared.gate.weight").expect("registered")).is_some());
//! # Ok::<(), hinet_layers::LayerError>(())
//! ```

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
