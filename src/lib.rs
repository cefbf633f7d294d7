//! # hinet
//!
//! HiNet-rs: the hierarchical multi-scenario, multi-task recommender HiNet (Zhou et al.,
//! ICDE 2023) trained on CPUs. This facade re-exports the workspace's crates so one
//! dependency brings them all:
//! - [`autograd`]: tensors and the reverse-mode engine ([`hinet_autograd`]).
//! - [`kernels`]: SIMD GEMM kernels ([`hinet_kernels`]).
//! - [`layers`]: layers on the engine ([`hinet_layers`]).
//! - [`optim`]: optimisers ([`hinet_optim`]).
//! - [`model`]: HiNet, its baselines, metrics and checkpoints ([`hinet_model`]).
//! - [`data`]: schemas, CSV readers, presets and the synthetic generator ([`hinet_data`]).
//! - [`dist`]: data-parallel training across processes (MPI) or threads ([`hinet_dist`]).
//!
//! The `hinet` command (src/main.rs, docs/cli.md) trains, evaluates and benchmarks the model.
//!
//! ```
//! use hinet::autograd::{ParamStore, Tape};
//! let store = ParamStore::<f32>::new();
//! let tape = Tape::new(&store);
//! let x = tape.full(&[2, 3], 1.5);
//! assert_eq!(x.sum()?.scalar()?, 9.0);
//! # Ok::<(), hinet::autograd::AutogradError>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use hinet_autograd as autograd;
pub use hinet_data as data;
pub use hinet_dist as dist;
pub use hinet_kernels as kernels;
pub use hinet_layers as layers;
pub use hinet_model as model;
pub use hinet_optim as optim;
