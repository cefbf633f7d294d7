//! Errors of distributed training: a collective that failed (naming the rank), a peer that left,
//! and the model's and optimiser's own errors.

use hinet_model::ModelError;
use hinet_optim::OptimError;

/// Result of this crate.
pub type Result<T> = std::result::Result<T, DistError>;

/// What went wrong in a data-parallel job.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// A collective operation failed on this rank.
    #[error("rank {rank}: {op} failed: {why}")]
    Comm {
        /// This process's rank.
        rank: usize,
        /// The collective.
        op: &'static str,
        /// What the transport said.
        why: String,
    },
    /// Another rank left the job (exited, panicked or failed) before a collective completed.
    #[error("rank {rank}: rank {peer} left the job during {op}; stopping (no rank waits for it)")]
    PeerLeft {
        /// This process's rank.
        rank: usize,
        /// The rank that left.
        peer: usize,
        /// The collective that could not complete.
        op: &'static str,
    },
    /// Ranks disagree about something that must be the same on all of them.
    #[error("rank {rank}: {why}")]
    Mismatch {
        /// This process's rank.
        rank: usize,
        /// What differs.
        why: String,
    },
    /// The model (a forward pass, a checkpoint, a bad input).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The optimiser (a non-finite gradient, a state that does not fit).
    #[error(transparent)]
    Optim(#[from] OptimError),
}
