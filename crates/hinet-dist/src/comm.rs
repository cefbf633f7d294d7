//! `Communicator`: the few collectives data-parallel training needs, over any transport.
//!
//! Every rank calls the same collectives in the same order (SPMD); each call returns when this
//! rank's part is done. Two transports implement it: [`crate::ThreadGroup`] (ranks as threads
//! of one process: tests and examples, no MPI needed) and, with the `mpi` feature,
//! [`crate::MpiComm`] (ranks as processes under `mpirun`, `srun`, the MPI Operator).
//! Payloads are bytes ([`crate::wire`] encodes numbers little-endian), except the sums, which
//! MPI does natively on numbers.

use crate::error::Result;

/// A group of `size()` ranks that call collectives together.
pub trait Communicator: Send + Sync + std::fmt::Debug {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;

    /// Number of ranks.
    fn size(&self) -> usize;

    /// Replaces `values` by their element-wise sum over the ranks; every rank gets the same
    /// values.
    fn sum_f32(&self, values: &mut [f32]) -> Result<()>;

    /// [`Communicator::sum_f32`] on `f64`.
    fn sum_f64(&self, values: &mut [f64]) -> Result<()>;

    /// Personalised exchange: `send[j]` goes to rank `j` (`send.len() == size()`); returns
    /// what each rank sent to this one, by rank. Sizes may differ (MPI's alltoallv).
    fn all_to_all(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>>;

    /// Every rank's `mine`, by rank (MPI's allgatherv).
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        let send = vec![mine.to_vec(); self.size()];
        self.all_to_all(&send)
    }

    /// Waits for every rank.
    fn barrier(&self) -> Result<()>;

    /// Ends the whole job now, on every rank, with exit status `code` (after an error that
    /// this rank cannot recover from, so that no other rank waits for it forever).
    fn abort(&self, code: i32) -> !;
}
