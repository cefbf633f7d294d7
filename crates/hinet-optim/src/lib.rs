#![doc = include_str!("../README.md")]
//!
//! ## Entry points
//!
//! An [`Optimizer`] of an [`OptimizerKind`] over [`ParamGroup`]s, driven by a [`Schedule`];
//! [`Optimizer::step`] returns a [`StepReport`] or an [`OptimError`]; [`Optimizer::state`] and
//! [`Optimizer::load_state`] save and restore an [`OptimState`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adagrad;
mod adam;
mod clip;
mod error;
mod group;
mod kernel;
mod kind;
mod norm;
mod optimizer;
mod schedule;
mod sgd;
mod state;

pub use clip::clip_coefficient;
pub use error::{OptimError, Result, check_loss};
pub use group::ParamGroup;
pub use kind::OptimizerKind;
pub use optimizer::{DEFAULT_PARALLEL_THRESHOLD, Optimizer, StepReport};
pub use schedule::Schedule;
pub use state::OptimState;
