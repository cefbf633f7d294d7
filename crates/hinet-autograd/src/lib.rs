//! # hinet-autograd
//!
//! Tensors on [`ndarray`] and a tape-based reverse-mode automatic differentiation engine,
//! small enough to read in an afternoon and fast enough to train HiNet at full speed.
//!
//! ## Concepts
//! - **Parameters** live in a [`ParamStore`], outside any tape, under stable ids ([`ParamId`])
//!   and hierarchical names (`scenario.shared.expert.3.layer.0.weight`).
//! - A **[`Tape`]** records one forward computation. Each op appends a node holding its value
//!   and the little its backward rule needs. [`Var`] is a handle to a node.
//! - **[`Tape::backward`]** walks the nodes once in reverse (recording order is already a
//!   topological order) and hands every trainable parameter's gradient to a [`Gradients`],
//!   keyed by id, for an optimiser. Embedding tables read through
//!   [`Var::gather_rows`] get sparse row gradients. Intermediate gradients are freed as soon
//!   as they are consumed; a value used twice accumulates both contributions.
//! - A **[`Workspace`]** carries the buffer pool from one tape to the next, so a warm training
//!   loop allocates no tensor memory. [`Tape::no_grad`] records values only (inference).
//! - Every op's backward rule is hand-written next to its forward function (`src/ops/`), and
//!   derived in `docs/autograd.md`; [`gradcheck`] checks any of them against central finite
//!   differences in f64. One generic code path serves f32 (training) and f64 (checking).
//!
//! ## Example: one gradient step of logistic regression
//! ```
//! use hinet_autograd::{Activation, Gradients, ParamStore, Tape};
//! use ndarray::{array, ArrayD};
//!
//! let mut store = ParamStore::<f64>::new();
//! let w = store.add("w", array![[0.5, -0.25]].into_dyn())?; // [out = 1, in = 2]
//! let b = store.add("b", ArrayD::zeros(vec![1]))?;
//! let x = array![[1.0, 2.0], [3.0, -1.0]].into_dyn();
//! let y = array![[1.0], [0.0]].into_dyn();
//!
//! let mut grads = Gradients::new();
//! let loss_before = {
//!     let tape = Tape::new(&store);
//!     let logits = tape.constant(x.view()).linear(tape.param(w), Some(tape.param(b)), Activation::Identity)?;
//!     let loss = logits.bce_with_logits(tape.constant(y.view()), None, 1.0)?.mean()?;
//!     tape.backward(loss, &mut grads)?;
//!     loss.scalar()?
//! };
//! // Plain gradient descent by id.
//! for id in [w, b] {
//!     let g = grads.dense(id, store.value(id).shape()).expect("the loss depends on both");
//!     *store.value_mut(id) -= &(g * 0.5);
//! }
//! let tape = Tape::new(&store);
//! let logits = tape.constant(x.view()).linear(tape.param(w), Some(tape.param(b)), Activation::Identity)?;
//! let loss_after = logits.bce_with_logits(tape.constant(y.view()), None, 1.0)?.mean()?.scalar()?;
//! assert!(loss_after < loss_before);
//! # Ok::<(), hinet_autograd::AutogradError>(())
//! ```

#![warn(missing_docs)]

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
pub use ops::linear::Activation;
pub use param::{ParamId, ParamKind, ParamStore};
pub use pool::BufferPool;
pub use tape::{Tape, Workspace};
pub use var::{Var, concat};
