//! `ThreadGroup`: the ranks of a job as threads of one process, exchanging through shared
//! memory. It runs every distributed algorithm of this crate without MPI (the equivalence tests
//! use it), and is a fair way to try data parallelism on one machine.
//!
//! Every collective is one exchange: each rank writes its messages into an N x N mailbox,
//! waits for all (a generation barrier), takes its column, waits again. A rank whose handle is
//! dropped before the job ends (it returned early or panicked) is marked as gone, and every
//! rank waiting at a barrier then returns [`DistError::PeerLeft`] instead of waiting forever.

use crate::comm::Communicator;
use crate::error::{DistError, Result};
use crate::wire::WireFloat;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

#[derive(Debug)]
struct State {
    /// `mailbox[from][to]`.
    mailbox: Vec<Vec<Vec<u8>>>,
    arrived: usize,
    generation: u64,
    /// A rank whose handle was dropped (returned or panicked) before the others finished.
    gone: Option<usize>,
}

#[derive(Debug)]
struct Shared {
    size: usize,
    state: Mutex<State>,
    turn: Condvar,
}

/// One rank of an in-process group of threads ([`ThreadGroup::new`] makes all of them).
#[derive(Debug)]
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Shared>,
}

impl ThreadGroup {
    /// `size` ranks, one handle each, to move into `size` threads (rank `i` is element `i`).
    pub fn new(size: usize) -> Vec<ThreadGroup> {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            size,
            state: Mutex::new(State {
                mailbox: vec![vec![Vec::new(); size]; size],
                arrived: 0,
                generation: 0,
                gone: None,
            }),
            turn: Condvar::new(),
        });
        (0..size)
            .map(|rank| ThreadGroup {
                rank,
                shared: Arc::clone(&shared),
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A rank that panicked while holding the lock is reported as gone by its Drop; the
        // mailbox itself is always consistent between statements.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until every rank has arrived at this barrier (or one is gone).
    fn wait_all<'a>(&'a self, mut st: MutexGuard<'a, State>, op: &'static str) -> Result<MutexGuard<'a, State>> {
        if let Some(peer) = st.gone {
            return Err(self.left(peer, op));
        }
        let generation = st.generation;
        st.arrived += 1;
        if st.arrived == self.shared.size {
            st.arrived = 0;
            st.generation += 1;
            self.shared.turn.notify_all();
            return Ok(st);
        }
        while st.generation == generation {
            if let Some(peer) = st.gone {
                return Err(self.left(peer, op));
            }
            st = self.shared.turn.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        Ok(st)
    }

    fn left(&self, peer: usize, op: &'static str) -> DistError {
        DistError::PeerLeft {
            rank: self.rank,
            peer,
            op,
        }
    }

    fn exchange(&self, send: &[Vec<u8>], op: &'static str) -> Result<Vec<Vec<u8>>> {
        let n = self.shared.size;
        if send.len() != n {
            return Err(DistError::Mismatch {
                rank: self.rank,
                why: format!("{op}: {} messages for {n} ranks", send.len()),
            });
        }
        let mut st = self.lock();
        for (to, msg) in send.iter().enumerate() {
            st.mailbox[self.rank][to].clone_from(msg);
        }
        let mut st = self.wait_all(st, op)?;
        let recv: Vec<Vec<u8>> = (0..n)
            .map(|from| std::mem::take(&mut st.mailbox[from][self.rank]))
            .collect();
        // Nobody writes the next round's messages before everyone has read this one.
        drop(self.wait_all(st, op)?);
        Ok(recv)
    }

    fn sum<F: WireFloat>(&self, values: &mut [F], op: &'static str) -> Result<()> {
        let mut mine = Vec::new();
        F::put(values, &mut mine);
        let all = self.exchange(&vec![mine; self.shared.size], op)?;
        // Summed in rank order on every rank: every rank gets the same bits.
        let mut acc = vec![F::zero(); values.len()];
        let mut buf = Vec::with_capacity(values.len());
        for bytes in &all {
            buf.clear();
            F::get(bytes, &mut buf);
            if buf.len() != values.len() {
                return Err(DistError::Mismatch {
                    rank: self.rank,
                    why: format!("{op}: {} values here, {} on another rank", values.len(), buf.len()),
                });
            }
            acc.iter_mut().zip(&buf).for_each(|(a, &b)| *a += b);
        }
        values.copy_from_slice(&acc);
        Ok(())
    }
}

impl Communicator for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.sum(values, "sum")
    }

    fn sum_f64(&self, values: &mut [f64]) -> Result<()> {
        self.sum(values, "sum")
    }

    fn all_to_all(&self, send: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        self.exchange(send, "all-to-all")
    }

    fn barrier(&self) -> Result<()> {
        let st = self.lock();
        drop(self.wait_all(st, "barrier")?);
        Ok(())
    }

    /// Marks this rank as gone (the others' collectives fail) and panics this thread: a thread
    /// cannot end the process that the other ranks share.
    fn abort(&self, code: i32) -> ! {
        self.lock().gone.get_or_insert(self.rank);
        self.shared.turn.notify_all();
        panic!("rank {} aborted the job (status {code})", self.rank);
    }
}

impl Drop for ThreadGroup {
    /// A rank that leaves (an early return, a panic) is gone: any wait for it ends with an
    /// error. At the end of a job this is harmless: a rank drops its handle only after its last
    /// collective, which every other rank has then reached too.
    fn drop(&mut self) {
        let mut st = self.lock();
        st.gone.get_or_insert(self.rank);
        drop(st);
        self.shared.turn.notify_all();
    }
}

/// Runs `f(rank)` on `size` threads, one rank each, and returns their results by rank.
pub fn run_ranks<T: Send>(size: usize, f: impl Fn(ThreadGroup) -> T + Sync) -> Vec<std::thread::Result<T>> {
    let groups = ThreadGroup::new(size);
    std::thread::scope(|s| {
        let handles: Vec<_> = groups.into_iter().map(|g| s.spawn(|| f(g))).collect();
        handles.into_iter().map(|h| h.join()).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_exchanges_reach_every_rank() {
        let out = run_ranks(3, |g| {
            let mut v = vec![g.rank() as f64, 1.0];
            g.sum_f64(&mut v).map(|_| v).and_then(|v| {
                let send: Vec<Vec<u8>> = (0..3).map(|to| vec![g.rank() as u8, to as u8]).collect();
                Ok((v, g.all_to_all(&send)?))
            })
        });
        for (rank, r) in out.into_iter().enumerate() {
            let (v, recv) = r.expect("no panic").expect("collectives");
            assert_eq!(v, vec![3.0, 3.0]);
            for (from, msg) in recv.iter().enumerate() {
                assert_eq!(msg, &vec![from as u8, rank as u8]);
            }
        }
    }

    #[test]
    fn a_rank_that_leaves_ends_the_others_waits_with_an_error() {
        let out = run_ranks(3, |g| {
            if g.rank() == 1 {
                return Ok(()); // leaves without taking part
            }
            g.barrier()
        });
        for r in [&out[0], &out[2]] {
            match r.as_ref().expect("no panic") {
                Err(DistError::PeerLeft { peer: 1, .. }) => {}
                other => panic!("expected rank 1 to be reported gone, got {other:?}"),
            }
        }
    }
}
