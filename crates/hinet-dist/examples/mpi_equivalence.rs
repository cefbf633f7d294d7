//! The equivalence checks of `tests/equivalence.rs`, over MPI instead of threads:
//!
//! ```sh
//! cargo build --release -p hinet-dist --features mpi --example mpi_equivalence
//! mpirun -np 2 target/release/examples/mpi_equivalence   # and -np 3: uneven shards
//! ```
//!
//! First, sums of every length (one MPI allreduce below 32 Ki values, a ring above) against
//! their exact values. Then every rank trains its share of each global batch (HiNet with input batch norm, Adam; tables
//! sharded, then replicated); rank 0 gathers the model and compares every parameter and
//! optimiser tensor with one process trained on the whole batches, writes a gathered
//! checkpoint and checks that it loads in one process, and compares the distributed metrics
//! with one process's. The job exits with status 1 when anything differs beyond 1e-9.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use hinet_dist::{Communicator, DistOptions, DistTrainer, EmbeddingPlacement, MpiComm};
use hinet_model::{Architecture, MetricsTable, Trainer};
use std::collections::BTreeMap;
use std::sync::Arc;

fn main() {
    let Some(comm) = MpiComm::init() else {
        eprintln!("MPI was initialised already");
        std::process::exit(2);
    };
    let comm: Arc<dyn Communicator> = Arc::new(comm);
    let (rank, ranks) = (comm.rank(), comm.size());
    // A failed check on any rank ends the whole job with status 1 (the other ranks may be
    // waiting in a collective).
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&comm))).is_err() {
        eprintln!("mpi_equivalence: FAILED on rank {rank} of {ranks}");
        comm.abort(1);
    }
    if comm.barrier().is_ok() && rank == 0 {
        println!(
            "mpi_equivalence: {ranks} ranks agree with one process (parameters, optimiser state, checkpoint, metrics)"
        );
    }
}

fn check(comm: &Arc<dyn Communicator>) {
    let (rank, ranks) = (comm.rank(), comm.size());
    // Sums of every size: short ones are one MPI allreduce, long ones the ring; uneven blocks.
    for len in [1usize, 7, 32_767, 32_768, 100_003] {
        let mut v: Vec<f64> = (0..len).map(|i| (i * (rank + 1)) as f64 + 0.25).collect();
        comm.sum_f64(&mut v).expect("sum");
        let mut w: Vec<f32> = (0..len).map(|i| ((i % 1000) * (rank + 1)) as f32).collect();
        comm.sum_f32(&mut w).expect("sum");
        let factor = (ranks * (ranks + 1) / 2) as f64;
        for (i, (&x, &y)) in v.iter().zip(&w).enumerate() {
            assert_eq!(
                x,
                i as f64 * factor + 0.25 * ranks as f64,
                "f64 sum of {len} values, element {i}"
            );
            assert_eq!(
                f64::from(y),
                (i % 1000) as f64 * factor,
                "f32 sum of {len} values, element {i}"
            );
        }
    }
    let config = config(Architecture::Hinet);
    let opts = options(false, Some(0.5));
    let batches = global_batches(4, 512);
    let mut single = (rank == 0).then(|| single_run(&config, &opts, &batches));
    for placement in [EmbeddingPlacement::Sharded, EmbeddingPlacement::Replicated] {
        let dist = DistOptions {
            placement,
            bucket_values: 1000,
        };
        let mut t = DistTrainer::<f64>::new(Arc::clone(comm), &config, 7, &opts, dist).expect("dist trainer");
        for rows in &batches {
            t.step(&Batch::<f64>::of(&share(rows, rank, ranks)).input())
                .expect("step");
        }
        let gathered = t.gather().expect("gather");
        if let (Some((store, opt)), Some(single)) = (gathered, &single) {
            let what = format!("MPI {ranks} ranks, {placement:?}");
            assert_stores_close(&store, single.store(), &what);
            assert_states_close(
                &opt.state().expect("state"),
                &single.optimizer().state().expect("state"),
                &what,
            );
            println!("{what}: every parameter and optimiser tensor within {TOL:e}");
        }
        // A gathered checkpoint loads in one process.
        // Only rank 0 writes; its process id names the file.
        let path = std::env::temp_dir().join(format!("hinet-mpi-equivalence-{}.ckpt", std::process::id()));
        t.save(&path, &BTreeMap::new()).expect("save");
        if let Some(single) = &single {
            let (loaded, _) = Trainer::<f64>::resume(&path, &opts).expect("the gathered checkpoint loads");
            assert_stores_close(loaded.store(), single.store(), "checkpoint");
            let _ = std::fs::remove_file(&path);
        }
        // Metrics over every rank's rows equal one process's.
        let eval = rows(900, 77);
        let mine = share(&eval, rank, ranks);
        let parts: Vec<Batch<f64>> = mine.chunks(64 + 50 * rank).map(Batch::of).collect();
        let table = t.metrics(&mut parts.iter().map(|b| b.input())).expect("metrics");
        if let Some(single) = &mut single {
            let whole = Batch::<f64>::of(&eval);
            let p = single.predict(&whole.input()).expect("predict");
            let c = &config;
            let expected = MetricsTable::compute(
                &c.scenarios,
                &c.tasks,
                &whole.scenario,
                p.as_slice().expect("contiguous"),
                whole.labels.as_slice().expect("contiguous"),
                None,
            );
            for (a, b) in table.cells.iter().flatten().zip(expected.cells.iter().flatten()) {
                assert_eq!(a.rows, b.rows);
                if let (Some(x), Some(y)) = (a.auc, b.auc) {
                    assert!((x - y).abs() < 1e-12, "AUC {x} vs {y}");
                }
            }
        }
    }
}
