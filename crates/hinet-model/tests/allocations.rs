//! Heap allocations per warm training step of a whole model, counted by a global allocator;
//! and the most memory that corrupt checkpoints and oversized configs can make the loaders
//! allocate (live bytes at their peak), measured by the same allocator.

mod common;

use common::{data, tiny_config};
use hinet_model::{TrainOptions, Trainer};
use hinet_testkit::peak_during;

#[global_allocator]
static GLOBAL: hinet_testkit::CountingAlloc = hinet_testkit::CountingAlloc;

/// Allocations counted in each of `windows` runs of `work`.
///
/// The counter is process-wide, and rayon's threads allocate on their own now and then (epoch
/// bookkeeping of the work-stealing deques, a dropped pool's worker exiting), whatever our code
/// does; a single window catches one of those in about a quarter of runs. A step that
/// allocated would show in every window, so one clean window out of five is the test.
fn window_counts(windows: usize, mut work: impl FnMut()) -> Vec<usize> {
    (0..windows)
        .map(|_| hinet_testkit::allocations_during(&mut work).0)
        .collect()
}

// One test function: the counter is global, so a second test running in parallel (building
// its model) would be counted here.
#[test]
fn warm_training_steps_do_not_allocate() {
    tiny_hinet_one_and_two_threads();
    bench_default_two_threads();
    embedding_l2_dense_and_lazy();
    // In the same test function: the counters are process-wide.
    oversized_configs_allocate_nothing_large();
    corrupt_checkpoints_allocate_at_most_a_multiple_of_their_size();
    the_memory_estimate_bounds_a_training_step();
}

/// Configs of 10^9 ids, widths of 2^62 or 10^9: refused (by the limit or as overflows) having
/// allocated next to nothing, through TOML, `Trainer::new` and `Model::new` alike.
fn oversized_configs_allocate_nothing_large() {
    use hinet_model::{Model, ModelConfig, SparseFeature};
    let options = TrainOptions {
        max_memory_bytes: Some(1 << 30),
        batch_size: 1024,
        ..TrainOptions::default()
    };
    let configs = [
        ModelConfig {
            sparse: vec![SparseFeature {
                name: "user".into(),
                vocab: 1_000_000_000,
                dim: 16,
            }],
            ..tiny_config()
        },
        ModelConfig {
            expert_hidden: vec![1_000_000_000],
            ..tiny_config()
        },
        ModelConfig {
            expert_hidden: vec![1 << 62],
            ..tiny_config()
        },
        ModelConfig {
            scenarios: (0..50_000).map(|i| format!("s{i}")).collect(),
            ..tiny_config()
        },
    ];
    for config in configs {
        let toml = config.to_toml().unwrap();
        let (peak, r) = peak_during(|| {
            let parsed = ModelConfig::from_toml(&toml);
            let trainer = Trainer::<f32>::new(&config, 0, &options).map(|_| ());
            // Without a limit only an overflow is refused for certain (or parameters beyond
            // the memory available): `Model::new` on the overflowing config only.
            let model = if parsed.is_err() {
                Model::<f32>::new(&config, &mut hinet_autograd::ParamStore::new(), 0).map(|_| ())
            } else {
                Err(hinet_model::ModelError::Input("not tried".into()))
            };
            (parsed.map(|_| ()), trainer, model)
        });
        assert!(r.1.is_err() && r.2.is_err(), "{r:?}");
        // The 50,000 scenario names alone take a few MiB of TOML and strings.
        let bound = 64 * toml.len() + (1 << 20);
        println!(
            "oversized config ({} bytes of TOML): peak {peak} bytes, bound {bound}",
            toml.len()
        );
        assert!(peak <= bound, "{peak} bytes allocated for a refused config: {r:?}");
    }
}

/// A real checkpoint, damaged in many ways (bytes flipped, truncated, inserted, the header
/// length and the stored config rewritten to claim a vocabulary of 10^9 or a width of 2^62):
/// reading, loading for inference and resuming allocate in proportion to the file's size,
/// never to the sizes it claims.
fn corrupt_checkpoints_allocate_at_most_a_multiple_of_their_size() {
    use hinet_model::{ModelConfig, SparseFeature, checkpoint};
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.safetensors");
    let mut trainer = Trainer::<f32>::new(&tiny_config(), 3, &TrainOptions::default()).unwrap();
    let d = data::<f32>();
    trainer.step(&d.input()).unwrap();
    trainer.save(&path, &BTreeMap::new()).unwrap();
    let seed = std::fs::read(&path).unwrap();
    let header_len = u64::from_le_bytes(seed[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&seed[8..8 + header_len]).unwrap().to_string();

    let mut cases: Vec<Vec<u8>> = vec![seed.clone()];
    // The stored config claims a model far larger than the file.
    let stored = checkpoint::read_info(&path).unwrap().config.to_toml().unwrap();
    for big in [
        ModelConfig {
            sparse: vec![SparseFeature {
                name: "user".into(),
                vocab: 1_000_000_000,
                dim: 16,
            }],
            ..tiny_config()
        },
        ModelConfig {
            expert_hidden: vec![1 << 62],
            ..tiny_config()
        },
        ModelConfig {
            tower_hidden: vec![1_000_000_000],
            ..tiny_config()
        },
    ] {
        let escaped = |s: &str| serde_json::to_string(s).unwrap();
        let h = header.replacen(&escaped(&stored), &escaped(&big.to_toml().unwrap()), 1);
        let mut h = h.into_bytes();
        h.resize(h.len().next_multiple_of(8), b' ');
        let mut b = (h.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(&h);
        b.extend_from_slice(&seed[8 + header_len..]);
        cases.push(b);
    }
    // Header lengths up to safetensors' limit in a small file.
    for n in [99_999_999u64, 100_000_000, u64::MAX, seed.len() as u64] {
        let mut b = seed.clone();
        b[..8].copy_from_slice(&n.to_le_bytes());
        cases.push(b);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
    for _ in 0..150 {
        let mut b = seed.clone();
        for _ in 0..rng.random_range(1..4) {
            match rng.random_range(0..4) {
                0 => {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= rng.random_range(1..=255u8);
                }
                1 => b.truncate(rng.random_range(8..b.len())),
                2 => {
                    let i = rng.random_range(0..b.len());
                    b.insert(i, rng.random());
                }
                _ => {
                    // A digit of the JSON header (a shape, an offset, the config's sizes).
                    let digits: Vec<usize> = (8..(8 + header_len).min(b.len()))
                        .filter(|&i| b[i].is_ascii_digit())
                        .collect();
                    if !digits.is_empty() {
                        let i = digits[rng.random_range(0..digits.len())];
                        b[i] = b'9';
                    }
                }
            }
        }
        cases.push(b);
    }
    let case = dir.path().join("case.safetensors");
    let mut worst = 0.0f64;
    for bytes in &cases {
        std::fs::write(&case, bytes).unwrap();
        let (peak, r) = peak_during(|| {
            let info = checkpoint::read_info(&case).map(|_| ());
            let inference = Trainer::<f32>::load_for_inference(&case, &TrainOptions::default()).map(|_| ());
            let resume = Trainer::<f32>::resume(&case, &TrainOptions::default()).map(|_| ());
            (info, inference, resume)
        });
        // The JSON header parses into a tree about 8 times its size (safetensors' own
        // deserialisation); the data is read once and decoded once into the model, whose
        // optimiser state (resume) is as large again.
        let claimed = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        let header = usize::try_from(claimed).map_or(0, |n| if n <= bytes.len() - 8 { n } else { 0 });
        let bound = 10 * header + 3 * (bytes.len() - header) + (64 << 10);
        worst = worst.max(peak as f64 / bound as f64);
        assert!(
            peak <= bound,
            "{peak} bytes allocated for a checkpoint of {} bytes (header {header}): {r:?}",
            bytes.len()
        );
    }
    println!(
        "{} checkpoints of about {} bytes: peak at most {:.0}% of the bound \
         (10 x header + 3 x the rest + 64 KiB)",
        cases.len(),
        seed.len(),
        100.0 * worst
    );
}

/// The estimate of a training step's memory is an upper bound of what bench-default allocates
/// (model, gradients, Adam, the tape) at batch 256 on one thread and 1024 on two, and not a
/// gross over-estimate.
fn the_memory_estimate_bounds_a_training_step() {
    use hinet_model::{ModelConfig, throughput::SyntheticBatch};
    let config = ModelConfig::bench_default();
    for (rows, threads) in [(256, 1), (1024, 2)] {
        let batch = SyntheticBatch::<f32>::new(&config, rows, &[0.35, 0.25, 0.15, 0.12, 0.08, 0.05], 3);
        let options = TrainOptions {
            batch_size: rows,
            ..TrainOptions::default()
        };
        let estimate = config.memory_estimate(&options.optimizer, rows).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let (peak, trainer) = pool.install(|| {
            peak_during(|| {
                let mut trainer = Trainer::<f32>::new(&config, 1, &options).unwrap();
                for _ in 0..3 {
                    trainer.step(&batch.input()).unwrap();
                }
                trainer
            })
        });
        drop(trainer);
        println!(
            "bench-default, batch {rows}, {threads} threads: peak {peak} bytes, estimate {} ({estimate})",
            estimate.total_bytes
        );
        assert!(peak as u64 <= estimate.total_bytes, "{peak} > {estimate}");
        assert!(
            estimate.total_bytes <= 3 * peak as u64,
            "{estimate} for a peak of {peak}"
        );
    }
}

/// The lazy embedding penalty (`embedding_l2`) is applied inside the optimiser's row loop:
/// nothing allocated, with dense and with lazy embedding updates.
fn embedding_l2_dense_and_lazy() {
    for sparse in [false, true] {
        let d = data::<f32>();
        let options = TrainOptions {
            sparse_embeddings: sparse,
            embedding_l2: 1e-3,
            ..TrainOptions::default()
        };
        let mut trainer = Trainer::<f32>::new(&tiny_config(), 1, &options).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        pool.install(|| {
            for _ in 0..3 {
                trainer.step(&d.input()).unwrap();
            }
            let steps = 40;
            let counts = window_counts(5, || {
                for _ in 0..steps {
                    trainer.step(&d.input()).unwrap();
                }
            });
            println!("embedding_l2, sparse {sparse}: {counts:?} allocations in windows of {steps} warm steps");
            assert!(
                counts.contains(&0),
                "embedding_l2, sparse {sparse}: allocations in every window of {steps} warm steps: {counts:?}"
            );
        });
    }
}

fn tiny_hinet_one_and_two_threads() {
    for threads in [1, 2] {
        let d = data::<f32>();
        let mut trainer = Trainer::<f32>::new(&tiny_config(), 1, &TrainOptions::default()).unwrap();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            for _ in 0..3 {
                trainer.step(&d.input()).unwrap();
            }
            let steps = 40;
            let counts = window_counts(5, || {
                for _ in 0..steps {
                    trainer.step(&d.input()).unwrap();
                }
            });
            println!("{threads} threads: {counts:?} allocations in windows of {steps} warm steps");
            // Forward, loss, backward, Adam and the running statistics of a whole HiNet step reuse
            // their memory: nothing is allocated once the loop is warm.
            assert!(
                counts.contains(&0),
                "{threads} threads: allocations in every window of {steps} warm steps: {counts:?}"
            );
        });
    }
}

/// bench-default in f32 and with bf16 products (whose rounded operands live in the same reused
/// packing buffers).
fn bench_default_two_threads() {
    use hinet_model::{ModelConfig, Precision, throughput::SyntheticBatch};
    for precision in [Precision::F32, Precision::Bf16] {
        let config = ModelConfig {
            precision,
            ..ModelConfig::bench_default()
        };
        let batch = SyntheticBatch::<f32>::new(&config, 256, &[0.35, 0.25, 0.15, 0.12, 0.08, 0.05], 3);
        let mut trainer = Trainer::<f32>::new(&config, 1, &TrainOptions::default()).unwrap();
        // Two threads: the large products are split over rayon workers here.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            for _ in 0..3 {
                trainer.step(&batch.input()).unwrap();
            }
            let steps = 10;
            let counts = window_counts(5, || {
                for _ in 0..steps {
                    trainer.step(&batch.input()).unwrap();
                }
            });
            println!("bench-default, {precision}, 2 threads: {counts:?} allocations in windows of {steps} warm steps");
            assert!(
                counts.contains(&0),
                "{precision}: allocations in every window of {steps} warm steps: {counts:?}"
            );
        });
    }
}
