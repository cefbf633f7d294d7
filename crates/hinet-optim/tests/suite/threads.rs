//! Updates split across threads are bit-identical to single-threaded ones.

use crate::common::*;
use hinet_autograd::{Gradients, ParamId, ParamStore};
use hinet_optim::{Optimizer, OptimizerKind, ParamGroup, StepReport};
use ndarray::ArrayD;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(rng: &mut ChaCha8Rng, shape: &[usize]) -> ArrayD<f32> {
    ArrayD::from_shape_fn(shape, |_| rng.random_range(-1.0f32..1.0))
}

struct Setup {
    store: ParamStore<f32>,
    dense: ParamId,
    lazy: ParamId,
    table: ParamId,
}

fn setup() -> Setup {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut store = ParamStore::new();
    // Sizes that are not multiples of the split size, to exercise ragged pieces.
    let dense = store.add("dense", random(&mut rng, &[301, 1001])).unwrap();
    let lazy = store.add("emb.lazy", random(&mut rng, &[5003, 16])).unwrap();
    let table = store.add("emb.dense", random(&mut rng, &[4099, 24])).unwrap();
    Setup {
        store,
        dense,
        lazy,
        table,
    }
}

fn grads(s: &Setup, step: u64) -> Vec<Gradients<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(50 + step);
    let mut rows: Vec<usize> = (0..3500).map(|_| rng.random_range(0..4099)).collect();
    rows.sort_unstable();
    let c_dense = random(&mut rng, &[301, 1001]);
    let c_lazy = random(&mut rng, &[rows.len(), 16]);
    let c_table = random(&mut rng, &[rows.len(), 24]);
    vec![
        linear_grads(&s.store, &[(s.dense, &c_dense)]),
        row_grads(&s.store, s.lazy, &rows, &c_lazy),
        row_grads(&s.store, s.table, &rows, &c_table),
    ]
}

fn train(kind: OptimizerKind, threads: usize, threshold: usize) -> (Setup, Vec<StepReport>) {
    let mut s = setup();
    let groups = vec![
        ParamGroup::new("lazy", vec![s.lazy])
            .with_sparse(true)
            .with_weight_decay(0.01),
        ParamGroup::new("dense", vec![s.dense, s.table]).with_weight_decay(0.01),
    ];
    let mut opt = Optimizer::new(kind, 0.01, groups, &s.store).unwrap();
    opt.set_clip_norm(Some(1.0)).unwrap();
    opt.set_parallel_threshold(threshold);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let mut reports = Vec::new();
    for step in 0..3 {
        // Three sweeps, one per tensor, each followed by a step: dense, lazy and dense-from-rows.
        for g in grads(&s, step) {
            reports.push(pool.install(|| opt.step(&mut s.store, &g)).unwrap());
        }
    }
    (s, reports)
}

#[test]
fn thread_count_and_threshold_do_not_change_a_bit() {
    for kind in [
        OptimizerKind::adam(),
        OptimizerKind::nesterov(0.9),
        OptimizerKind::adagrad(),
    ] {
        let (base, base_reports) = train(kind, 1, usize::MAX);
        for (threads, threshold) in [(2, 0), (3, 1000), (2, hinet_optim::DEFAULT_PARALLEL_THRESHOLD)] {
            let (s, reports) = train(kind, threads, threshold);
            assert_eq!(reports, base_reports, "{} with {threads} threads", kind.name());
            for id in [base.dense, base.lazy, base.table] {
                assert_bits(s.store.value(id), base.store.value(id), kind.name());
            }
        }
    }
}
