//! Time of a sum across ranks (`Communicator::sum_f32`) by message size, the input of the
//! scaling model in docs/distributed.md:
//!
//! ```sh
//! cargo build --release -p hinet-dist --features mpi --example allreduce_bench
//! mpirun -np 2 target/release/examples/allreduce_bench
//! ```
//!
//! Rank 0 prints the median of 20 sums per size (the ranks meet at a barrier before each).

use hinet_dist::{Communicator, MpiComm};
use std::time::Instant;

fn main() {
    let Some(comm) = MpiComm::init() else {
        eprintln!("MPI was initialised already");
        std::process::exit(2);
    };
    for n in [1usize << 10, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 3 << 20] {
        let mut v = vec![1.0f32; n];
        let mut times = Vec::with_capacity(20);
        for _ in 0..20 {
            if let Err(e) = comm.barrier() {
                eprintln!("{e}");
                comm.abort(1);
            }
            let t = Instant::now();
            if let Err(e) = comm.sum_f32(&mut v) {
                eprintln!("{e}");
                comm.abort(1);
            }
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        if comm.rank() == 0 {
            let ms = times[times.len() / 2];
            println!(
                "{} ranks, {n} floats ({:.2} MiB): median {ms:.3} ms, {:.0} MB/s of vector",
                comm.size(),
                (n * 4) as f64 / (1 << 20) as f64,
                (n * 4) as f64 / ms / 1e3
            );
        }
    }
}
