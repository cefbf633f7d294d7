//! # hinet
//!
//! HiNet-rs: the hierarchical multi-scenario, multi-task recommender HiNet (Zhou et al.,
//! ICDE 2023) trained on CPUs. This facade re-exports the workspace's crates so one
//! dependency brings them all:
//! - [`autograd`]: tensors and the reverse-mode engine ([`hinet_autograd`]).
//!
//! ```
//! use hinet::autograd::{ParamStore, Tape};
//! let store = ParamStore::<f32>::new();
//! let tape = Tape::new(&store);
//! let x = tape.full(&[2, 3], 1.5);
//! assert_eq!(x.sum()?.scalar()?, 9.0);
//! # Ok::<(), hinet::autograd::AutogradError>(())
//! ```

pub use hinet_autograd as autograd;
