//! # hinet-optim
//!
//! Optimisers for [`hinet_autograd`]: SGD (momentum, Nesterov), Adam, AdamW and Adagrad, with
//! - **parameter groups** ([`ParamGroup`]): per-group learning-rate scale, weight decay and
//!   `row_l2`, an L2 penalty on the rows a row gradient touches (lazy embedding regularisation);
//! - **lazy updates** for embedding tables (`sparse: true` groups): a row gradient from
//!   `gather_rows` updates only the touched rows and their state (LazyAdam, sparse Adagrad);
//! - **clipping** by global gradient norm and **schedules** ([`Schedule`]: constant, linear
//!   warm-up, cosine, step decay);
//! - **state save/restore** ([`OptimState`]) that continues training bit-identically;
//! - **guards**: a NaN/inf gradient makes [`Optimizer::step`] return
//!   [`OptimError::NonFinite`] naming the parameter, without touching anything.
//!
//! Updates are elementwise loops over contiguous slices; tensors above a size threshold are
//! split across the current rayon pool. Because every rule is elementwise and the gradient
//! norm is summed in an order fixed by tensor sizes alone, results are bit-identical whatever
//! the number of threads. State buffers are allocated on a parameter's first update, so warm
//! steps do not allocate. The update rules, with equations, are in `docs/optim.md`.
//!
//! ## Example: logistic regression with Adam
//! ```
//! use hinet_autograd::{Activation, Gradients, ParamStore, Tape};
//! use hinet_optim::{Optimizer, OptimizerKind, Schedule};
//! use ndarray::{array, ArrayD};
//!
//! let mut store = ParamStore::<f64>::new();
//! let w = store.add("w", ArrayD::zeros(vec![1, 2]))?; // [out = 1, in = 2]
//! let b = store.add("b", ArrayD::zeros(vec![1]))?;
//! let x = array![[1.0, 2.0], [3.0, -1.0], [-2.0, 0.5], [0.5, -2.0]].into_dyn();
//! let y = array![[1.0], [1.0], [0.0], [0.0]].into_dyn();
//!
//! // Every trainable parameter goes into the default group.
//! let mut opt = Optimizer::new(OptimizerKind::adam(), 0.1, vec![], &store)?;
//! opt.set_schedule(Schedule::LinearWarmup { warmup_steps: 5 })?;
//! opt.set_clip_norm(Some(1.0))?;
//!
//! let mut grads = Gradients::new();
//! let mut losses = Vec::new();
//! for _ in 0..50 {
//!     let tape = Tape::new(&store);
//!     let logits = tape.constant(x.view()).linear(tape.param(w), Some(tape.param(b)), Activation::Identity)?;
//!     let loss = logits.bce_with_logits(tape.constant(y.view()), None, 1.0)?.mean()?;
//!     losses.push(loss.scalar()?);
//!     hinet_optim::check_loss(losses[losses.len() - 1])?;
//!     grads.clear();
//!     tape.backward(loss, &mut grads)?;
//!     drop(tape);
//!     opt.step(&mut store, &grads)?;
//! }
//! assert!(losses[49] < 0.5 * losses[0]);
//!
//! // Checkpoint the optimiser: named tensors and metadata.
//! let state = opt.state()?;
//! assert!(state.tensor("w.exp_avg").is_some());
//! assert_eq!(state.meta["step"], "50");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
