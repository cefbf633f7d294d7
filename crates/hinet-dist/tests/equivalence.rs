//! N ranks with batch b train exactly as one process with batch N x b: every parameter and
//! every optimiser state tensor agrees after several Adam steps, for HiNet (with input batch
//! norm, so sync batch norm is exercised) and a baseline, with sharded and replicated tables,
//! dense and lazy embedding updates, clipping; checkpoints gathered from ranks load in one
//! process and resume on another number of ranks; distributed metrics equal one process's.
//!
//! In f64 the two differ only by the order of floating-point sums (per-rank partial sums added
//! across ranks, instead of one sum over all rows): the tolerance is 1e-9 relative.

mod common;

use common::*;
use hinet_autograd::ParamStore;
use hinet_dist::{Communicator, DistOptions, DistTrainer, EmbeddingPlacement, run_ranks};
use hinet_model::{Architecture, ModelConfig, TrainOptions, Trainer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Trains on `ranks` threads and returns rank 0's gathered store and optimiser state, with
/// every rank's losses.
fn dist_run(
    ranks: usize,
    config: &ModelConfig,
    opts: &TrainOptions,
    placement: EmbeddingPlacement,
    batches: &[Vec<Row>],
) -> (ParamStore<f64>, hinet_optim::OptimState<f64>, Vec<Vec<f64>>) {
    let out = run_ranks(ranks, |g| {
        let rank = g.rank();
        let comm: Arc<dyn Communicator> = Arc::new(g);
        let dist = DistOptions {
            placement,
            bucket_values: 300, // several buckets, one tensor larger than a bucket
        };
        let mut t = DistTrainer::<f64>::new(comm, config, 7, opts, dist).expect("dist trainer");
        assert_eq!(t.sharded(), placement == EmbeddingPlacement::Sharded);
        let mut losses = Vec::new();
        for rows in batches {
            let b = Batch::<f64>::of(&share(rows, rank, ranks));
            losses.push(t.step(&b.input()).expect("dist step"));
        }
        let gathered = t.gather().expect("gather");
        (gathered.map(|(s, o)| (s, o.state().expect("state"))), losses)
    });
    let mut out: Vec<_> = out.into_iter().map(|r| r.expect("no rank panicked")).collect();
    let losses = out.iter().map(|(_, l)| l.clone()).collect();
    let (store, state) = out.remove(0).0.expect("rank 0 gathers");
    (store, state, losses)
}

fn check_equivalence(architecture: Architecture, opts: TrainOptions, placement: EmbeddingPlacement) {
    let config = config(architecture);
    let batches = global_batches(4, 512);
    let single = single_run(&config, &opts, &batches);
    let (store, state, losses) = dist_run(2, &config, &opts, placement, &batches);
    let what = format!("{architecture:?} {placement:?}");
    assert_stores_close(&store, single.store(), &what);
    assert_states_close(&state, &single.optimizer().state().expect("state"), &what);
    // Every rank reports the global batch's loss.
    assert_eq!(losses[0], losses[1]);
}

#[test]
fn hinet_on_two_ranks_of_256_equals_one_process_of_512_sharded() {
    check_equivalence(Architecture::Hinet, options(false, None), EmbeddingPlacement::Sharded);
}

#[test]
fn hinet_on_two_ranks_equals_one_process_replicated_lazy_and_clipped() {
    check_equivalence(
        Architecture::Hinet,
        options(true, Some(0.05)),
        EmbeddingPlacement::Replicated,
    );
}

#[test]
fn hinet_sharded_lazy_and_clipped_equals_one_process() {
    check_equivalence(
        Architecture::Hinet,
        options(true, Some(0.05)),
        EmbeddingPlacement::Sharded,
    );
}

#[test]
fn mmoe_baseline_on_two_ranks_equals_one_process() {
    check_equivalence(Architecture::Mmoe, options(false, None), EmbeddingPlacement::Sharded);
}

#[test]
fn sharded_and_replicated_tables_train_the_same_parameters() {
    let config = config(Architecture::Hinet);
    let opts = options(false, None);
    let batches = global_batches(3, 300);
    let (sharded, s_state, _) = dist_run(3, &config, &opts, EmbeddingPlacement::Sharded, &batches);
    let (replicated, r_state, _) = dist_run(3, &config, &opts, EmbeddingPlacement::Replicated, &batches);
    assert_stores_close(&sharded, &replicated, "sharded vs replicated");
    assert_states_close(&s_state, &r_state, "sharded vs replicated");
}

#[test]
fn a_checkpoint_from_two_ranks_loads_in_one_process_and_resumes_on_three() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(Architecture::Hinet);
    let opts = options(false, None);
    let batches = global_batches(5, 240);
    let (first, rest) = batches.split_at(3);
    // One process: 3 steps, save, 2 more steps.
    let mut single = single_run(&config, &opts, first);
    let single_path = dir.path().join("single.ckpt");
    single.save(&single_path, &BTreeMap::new()).expect("save");
    for rows in rest {
        single.step(&Batch::<f64>::of(rows).input()).expect("step");
    }
    // Two ranks: 3 steps and a gathered checkpoint.
    let dist_path = dir.path().join("dist.ckpt");
    let results = run_ranks(2, |g| {
        let rank = g.rank();
        let comm: Arc<dyn Communicator> = Arc::new(g);
        let dist = DistOptions {
            placement: EmbeddingPlacement::Sharded,
            ..DistOptions::default()
        };
        let mut t = DistTrainer::<f64>::new(comm, &config, 7, &opts, dist).expect("dist trainer");
        for rows in first {
            t.step(&Batch::<f64>::of(&share(rows, rank, 2)).input()).expect("step");
        }
        t.save(&dist_path, &BTreeMap::new()).expect("save")
    });
    assert!(results.iter().all(|r| r.is_ok()));
    // It loads in one process and equals the one-process checkpoint.
    let (a, _) = Trainer::<f64>::resume(&single_path, &opts).expect("load single");
    let (b, info) = Trainer::<f64>::resume(&dist_path, &opts).expect("load dist");
    assert_eq!(info.step, 3);
    assert_stores_close(b.store(), a.store(), "2-rank checkpoint vs 1-process");
    assert_states_close(
        &b.optimizer().state().expect("state"),
        &a.optimizer().state().expect("state"),
        "2-rank checkpoint vs 1-process",
    );
    // Resumed on 3 ranks (uneven shares of 240 / 3 rows? 80 each; tables reshard 97 = 33+32+32).
    let out = run_ranks(3, |g| {
        let rank = g.rank();
        let comm: Arc<dyn Communicator> = Arc::new(g);
        let dist = DistOptions {
            placement: EmbeddingPlacement::Sharded,
            ..DistOptions::default()
        };
        let (mut t, _) = DistTrainer::<f64>::resume(comm, &dist_path, &opts, dist).expect("resume on 3");
        for rows in rest {
            t.step(&Batch::<f64>::of(&share(rows, rank, 3)).input()).expect("step");
        }
        t.gather().expect("gather").map(|(s, _)| s)
    });
    let resumed = out
        .into_iter()
        .next()
        .expect("rank 0")
        .expect("no panic")
        .expect("rank 0 gathers");
    assert_stores_close(&resumed, single.store(), "resumed on 3 ranks vs 1 process");
}

#[test]
fn distributed_metrics_equal_one_process_metrics_over_the_same_rows() {
    let config = config(Architecture::Hinet);
    let opts = options(false, None);
    let train = global_batches(2, 300);
    let eval = rows(1000, 999);
    let mut single = single_run(&config, &opts, &train);
    let whole = Batch::<f64>::of(&eval);
    let p = single.predict(&whole.input()).expect("predict");
    let c = &config;
    let expected = hinet_model::MetricsTable::compute(
        &c.scenarios,
        &c.tasks,
        &whole.scenario,
        p.as_slice().expect("contiguous"),
        whole.labels.as_slice().expect("contiguous"),
        None,
    );
    let out = run_ranks(3, |g| {
        let rank = g.rank();
        let comm: Arc<dyn Communicator> = Arc::new(g);
        let mut t = DistTrainer::<f64>::new(
            comm,
            &config,
            7,
            &opts,
            DistOptions {
                placement: EmbeddingPlacement::Sharded,
                ..DistOptions::default()
            },
        )
        .expect("dist trainer");
        for rows in &train {
            t.step(&Batch::<f64>::of(&share(rows, rank, 3)).input()).expect("step");
        }
        // Uneven: rank r evaluates its share in batches of 100 + 70 r rows.
        let mine = share(&eval, rank, 3);
        let size = 100 + 70 * rank;
        let batches: Vec<Batch<f64>> = mine.chunks(size).map(Batch::of).collect();
        let mut inputs = batches.iter().map(|b| b.input());
        t.metrics(&mut inputs).expect("metrics")
    });
    for table in out {
        let table = table.expect("no panic");
        for (m, row) in table.cells.iter().enumerate() {
            for (j, cell) in row.iter().enumerate() {
                let e = &expected.cells[m][j];
                assert_eq!(cell.rows, e.rows);
                match (cell.auc, e.auc) {
                    (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "AUC {a} vs {b}"),
                    (a, b) => assert_eq!(a, b),
                }
            }
        }
    }
}

#[test]
fn f32_two_ranks_agree_with_one_process_to_single_precision() {
    let config = config(Architecture::Hinet);
    let opts = options(false, None);
    let batches = global_batches(3, 512);
    let mut single = Trainer::<f32>::new(&config, 7, &opts).expect("trainer");
    for rows in &batches {
        single.step(&Batch::<f32>::of(rows).input()).expect("step");
    }
    let out = run_ranks(2, |g| {
        let rank = g.rank();
        let comm: Arc<dyn Communicator> = Arc::new(g);
        let mut t = DistTrainer::<f32>::new(comm, &config, 7, &opts, DistOptions::default()).expect("dist");
        for rows in &batches {
            t.step(&Batch::<f32>::of(&share(rows, rank, 2)).input()).expect("step");
        }
        t.gather().expect("gather").map(|(s, _)| s)
    });
    let store = out
        .into_iter()
        .next()
        .expect("rank 0")
        .expect("no panic")
        .expect("gathered");
    let mut worst = 0.0f64;
    for id in store.ids() {
        let other = single.store().value(single.store().id(store.name(id)).expect("name"));
        for (x, y) in store.value(id).iter().zip(other.iter()) {
            worst = worst.max((f64::from(*x) - f64::from(*y)).abs() / (1.0 + f64::from(y.abs())));
        }
    }
    // Three Adam steps at lr 0.01 move parameters by ~0.03; f32 sums in another order differ in
    // the last bits, which Adam's normalised step can amplify to ~1e-6 of a step.
    assert!(worst < 2e-5, "f32: worst relative difference {worst:e}");
}

/// The rank that leaves is reported to the others, which stop instead of waiting.
#[test]
fn a_rank_that_fails_mid_step_stops_the_others_with_its_rank_named() {
    let config = config(Architecture::Hinet);
    let opts = options(false, None);
    let batches = global_batches(3, 64);
    let out = run_ranks(2, |g| {
        let rank = g.rank();
        let comm: Arc<dyn Communicator> = Arc::new(g);
        let mut t = DistTrainer::<f64>::new(comm, &config, 7, &opts, DistOptions::default()).expect("dist");
        for (s, rows) in batches.iter().enumerate() {
            if rank == 1 && s == 1 {
                return Err("rank 1 gave up".to_string());
            }
            t.step(&Batch::<f64>::of(&share(rows, rank, 2)).input())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    let msg = out[0]
        .as_ref()
        .expect("no panic")
        .as_ref()
        .expect_err("rank 0 must stop");
    assert!(msg.contains("rank 1 left"), "{msg}");
}

/// Ranks that would train different models (another seed on one rank) are refused at the start.
#[test]
fn ranks_built_from_different_seeds_are_refused() {
    let config = config(Architecture::Hinet);
    let opts = options(false, None);
    let out = run_ranks(2, |g| {
        let seed = 7 + g.rank() as u64;
        let comm: Arc<dyn Communicator> = Arc::new(g);
        DistTrainer::<f64>::new(comm, &config, seed, &opts, DistOptions::default()).map(|_| ())
    });
    for r in out {
        let e = r.expect("no panic").expect_err("different models must be refused");
        assert!(e.to_string().contains("different models"), "{e}");
    }
}
