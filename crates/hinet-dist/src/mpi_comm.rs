//! `MpiComm`: the ranks of a job as MPI processes (`mpirun -np N`, Slurm's `srun`, the
//! Kubernetes MPI Operator), over the system's MPI library through rsmpi.
//!
//! MPI's default error handler ends the job on a failed collective, and a process that exits
//! without finalising makes `mpirun` stop the others: no rank waits forever for a dead peer.

use crate::comm::Communicator;
use crate::error::{DistError, Result};
use mpi::Count;
use mpi::Threading;
use mpi::collective::SystemOperation;
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::point_to_point::send_receive_into;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives};
use std::mem::ManuallyDrop;
use std::thread::ThreadId;

/// The world communicator of an MPI job. Create one per process, at its start; MPI is
/// finalised when it is dropped.
///
/// MPI is initialised in its "funneled" mode: only the thread that created the communicator
/// calls MPI (the training loop's thread; the compute kernels' threads never do). Every
/// collective checks that it runs on that thread and returns an error otherwise.
pub struct MpiComm {
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    owner: ThreadId,
    // Finalises MPI when dropped on the owner thread.
    universe: ManuallyDrop<Universe>,
}

// SAFETY: MPI handles are plain values that any thread may hold; what MPI forbids in funneled
// mode is *calling* it from a thread other than the one that initialised it. Every method that
// calls MPI first checks `owner` (`MpiComm::on_owner`), `abort` excepted (ending the job is
// allowed to be best effort), and `Drop` finalises only on the owner thread.
unsafe impl Send for MpiComm {}
// SAFETY: as for `Send`: shared references only reach MPI through the owner-thread check.
unsafe impl Sync for MpiComm {}

impl Drop for MpiComm {
    fn drop(&mut self) {
        if std::thread::current().id() == self.owner {
            // SAFETY: dropped once, here, on the thread that initialised MPI.
            unsafe { ManuallyDrop::drop(&mut self.universe) };
        }
    }
}

impl std::fmt::Debug for MpiComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiComm")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .finish()
    }
}

impl MpiComm {
    /// Initialises MPI (once per process); `None` when it was initialised already.
    pub fn init() -> Option<MpiComm> {
        let (universe, _level) = mpi::initialize_with_threading(Threading::Funneled)?;
        let world = universe.world();
        let (rank, size) = (world.rank().max(0) as usize, world.size().max(1) as usize);
        Some(MpiComm {
            world,
            rank,
            size,
            owner: std::thread::current().id(),
            universe: ManuallyDrop::new(universe),
        })
    }

    fn on_owner(&self, op: &'static str) -> Result<()> {
        if std::thread::current().id() == self.owner {
            Ok(())
        } else {
            Err(DistError::Comm {
                rank: self.rank,
                op,
                why: "called from a thread other than the one that initialised MPI".into(),
            })
        }
    }

    /// Whether this process was started by an MPI launcher (its environment says so), without
    /// initialising MPI.
    pub fn launched() -> bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some())
    }

    fn count(&self, n: usize, op: &'static str) -> Result<Count> {
        Count::try_from(n).map_err(|_| DistError::Comm {
            rank: self.rank,
            op,
            why: format!("a message of {n} bytes is larger than MPI counts allow"),
        })
    }
}

/// A heap buffer of `len` bytes that is never empty: an empty `Vec<u8>`'s pointer is 1, which
/// is OpenMPI's `MPI_IN_PLACE`, so an empty message would be read as "in place" (and an
/// empty receive buffer refused). Slice it to `len` for the call.
fn buffer(len: usize) -> Vec<u8> {
    vec![0u8; len.max(1)]
}

fn offsets(counts: &[Count]) -> Vec<Count> {
    counts
        .iter()
        .scan(0, |acc, &c| {
            let at = *acc;
            *acc += c;
            Some(at)
        })
        .collect()
}

impl MpiComm {
    /// Element-wise sum as a ring: N - 1 steps of reduce-scatter (each rank sends one block to
    /// its right neighbour and adds the block from its left), then N - 1 steps of all-gather
    /// (the reduced blocks go round). Each rank sends 2 (N - 1) / N of the vector, the least any
    /// allreduce can, and each block is summed once, in ring order, then copied: every rank
    /// gets the same bits. On this project's 2-core machine OpenMPI 4's default allreduce of
    /// 3 Mi floats between two ranks takes about 30 ms over shared memory; this ring about 13
    /// (docs/distributed.md).
    fn sum_ring<T>(&self, values: &mut [T]) -> Result<()>
    where
        T: mpi::datatype::Equivalence + Copy + Default + std::ops::AddAssign,
    {
        let (n, r) = (self.size, self.rank);
        let len = values.len();
        let bounds = |i: usize| (len * i / n)..(len * (i + 1) / n);
        let right = self.world.process_at_rank(((r + 1) % n) as mpi::Rank);
        let left = self.world.process_at_rank(((r + n - 1) % n) as mpi::Rank);
        let mut buf = vec![T::default(); len.div_ceil(n) + 1];
        for step in 0..n - 1 {
            let (out, into) = (bounds((r + n - step) % n), bounds((r + 2 * n - step - 1) % n));
            let got = into.len();
            send_receive_into(&values[out], &right, &mut buf[..got], &left);
            values[into].iter_mut().zip(&buf[..got]).for_each(|(v, &b)| *v += b);
        }
        for step in 0..n - 1 {
            let (out, into) = (bounds((r + 1 + n - step) % n), bounds((r + n - step) % n));
            let got = into.len();
            send_receive_into(&values[out], &right, &mut buf[..got], &left);
            values[into].copy_from_slice(&buf[..got]);
        }
        Ok(())
    }
}

impl MpiComm {
    /// Element-wise sum: one MPI allreduce for short vectors, the ring for long ones.
    fn sum<T>(&self, values: &mut [T]) -> Result<()>
    where
        T: mpi::datatype::Equivalence + Copy + Default + std::ops::AddAssign,
    {
        self.on_owner("sum")?;
        if values.is_empty() {
            return Ok(());
        }
        if values.len() >= BLOCKED_SUM_FROM && self.size > 1 {
            return self.sum_ring(values);
        }
        let send = values.to_vec();
        self.world.all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }
}

/// Below this many values a sum is one MPI allreduce (latency-bound); from it, the ring
/// (bandwidth-bound).
const BLOCKED_SUM_FROM: usize = 1 << 15;

impl Communicator for MpiComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.sum(values)
    }

    fn sum_f64(&self, values: &mut [f64]) -> Result<()> {
        self.sum(values)
    }

    fn all_to_all(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        let op = "all-to-all";
        self.on_owner(op)?;
        if send.len() != self.size {
            return Err(DistError::Mismatch {
                rank: self.rank,
                why: format!("{op}: {} messages for {} ranks", send.len(), self.size),
            });
        }
        let send_counts = send
            .iter()
            .map(|m| self.count(m.len(), op))
            .collect::<Result<Vec<Count>>>()?;
        let mut recv_counts = vec![0 as Count; self.size];
        self.world.all_to_all_into(&send_counts[..], &mut recv_counts[..]);
        let sent: usize = send.iter().map(Vec::len).sum();
        let mut flat = buffer(sent);
        let mut at = 0;
        for m in send {
            flat[at..at + m.len()].copy_from_slice(m);
            at += m.len();
        }
        let send_offsets = offsets(&send_counts);
        let recv_offsets = offsets(&recv_counts);
        let total: usize = recv_counts.iter().map(|&c| c.max(0) as usize).sum();
        let mut recv = buffer(total);
        {
            let partition = Partition::new(&flat[..sent], &send_counts[..], &send_offsets[..]);
            let mut into = PartitionMut::new(&mut recv[..total], &recv_counts[..], &recv_offsets[..]);
            self.world.all_to_all_varcount_into(&partition, &mut into);
        }
        Ok(recv_offsets
            .iter()
            .zip(&recv_counts)
            .map(|(&at, &c)| recv[at as usize..(at + c) as usize].to_vec())
            .collect())
    }

    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>> {
        let op = "all-gather";
        self.on_owner(op)?;
        let n = self.count(mine.len(), op)?;
        let mut counts = vec![0 as Count; self.size];
        self.world.all_gather_into(&n, &mut counts[..]);
        let at = offsets(&counts);
        let total: usize = counts.iter().map(|&c| c.max(0) as usize).sum();
        let mut recv = buffer(total);
        let mut send = buffer(mine.len());
        send[..mine.len()].copy_from_slice(mine);
        {
            let mut into = PartitionMut::new(&mut recv[..total], &counts[..], &at[..]);
            self.world.all_gather_varcount_into(&send[..mine.len()], &mut into);
        }
        Ok(at
            .iter()
            .zip(&counts)
            .map(|(&a, &c)| recv[a as usize..(a + c) as usize].to_vec())
            .collect())
    }

    fn barrier(&self) -> Result<()> {
        self.on_owner("barrier")?;
        self.world.barrier();
        Ok(())
    }

    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}
