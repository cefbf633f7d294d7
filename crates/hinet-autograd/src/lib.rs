#![doc = include_str!("../README.md")]
//!
//! ## Entry points
//!
//! [`ParamStore`] holds the parameters, a [`Tape`] records one step as [`Var`]s, and
//! [`Tape::backward`] fills [`Gradients`]; a [`Workspace`] carries buffers between tapes.
//! [`gradcheck`] and [`gradcheck_params`] check gradients with [`GradcheckOptions`].

// `deny`, not `forbid`: ndarray's `s!` macro expands to an `allow(unsafe_code)` of its own.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod bf16_weights;
mod error;
mod float;
mod grad;
mod gradcheck;
mod ops;
mod parallel;
mod param;
mod pool;
mod tape;
mod var;

pub use error::{AutogradError, Result};
pub use float::Float;
pub use grad::{Gradients, ParamGrad};
pub use gradcheck::{GradcheckOptions, GradcheckReport, gradcheck, gradcheck_params};
pub use hinet_kernels::Precision;
pub use ops::batch_norm::ReplicaSum;
pub use ops::linear::Activation;
pub use param::{ParamId, ParamKind, ParamStore};
pub use tape::{Tape, Workspace};
pub use var::{Var, concat};
