//! Sizes before allocation (class 3 of the data-safety brief): the parameter count computed
//! from a config equals what the model registers, overflowing sizes are config errors naming
//! the key, and a model over the memory limit is refused before anything is allocated.

use crate::common::configs::small_config;
use crate::common::tiny_config;
use hinet_autograd::{ParamKind, ParamStore};
use hinet_model::{Architecture, Model, ModelConfig, ModelError, Precision, SparseFeature, TrainOptions, Trainer};
use hinet_optim::OptimizerKind;
use proptest::prelude::*;

/// (trainable, buffer) elements the built model registered, and its number of tensors.
fn built_sizes(config: &ModelConfig) -> (u64, u64, u64) {
    let mut store = ParamStore::<f32>::new();
    Model::new(config, &mut store, 0).unwrap();
    let mut sizes = (0u64, 0u64, store.len() as u64);
    for id in store.ids() {
        let n = store.value(id).len() as u64;
        match store.kind(id) {
            ParamKind::Trainable => sizes.0 += n,
            ParamKind::Buffer => sizes.1 += n,
        }
    }
    sizes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    /// The count walks the same tensors `Model::new` registers, for every architecture and
    /// switch; the estimate's components follow from it.
    #[test]
    fn parameter_count_matches_the_built_model(config in small_config()) {
        let (trainable, buffers, tensors) = built_sizes(&config);
        prop_assert_eq!(config.parameter_count().unwrap(), trainable + buffers);
        for (kind, states) in [
            (OptimizerKind::adam(), 2),
            (OptimizerKind::adamw(), 2),
            (OptimizerKind::adagrad(), 1),
            (OptimizerKind::momentum(0.9), 1),
            (OptimizerKind::sgd(), 0),
        ] {
            let e = config.memory_estimate(&kind, 0).unwrap();
            prop_assert_eq!((e.parameters, e.buffers, e.tensors), (trainable, buffers, tensors));
            prop_assert_eq!(e.parameter_bytes, 4 * (trainable + buffers));
            prop_assert_eq!(e.optimizer_bytes, 4 * states * trainable);
            prop_assert_eq!(e.gradient_bytes, 4 * trainable);
            prop_assert_eq!(e.activation_bytes, 0);
            prop_assert_eq!(e.total_bytes, e.parameter_bytes + e.gradient_bytes + e.optimizer_bytes);
            let e8 = config.memory_estimate_with(&kind, 16, 8).unwrap();
            prop_assert_eq!(e8.parameter_bytes, 2 * e.parameter_bytes);
            prop_assert!(e8.activation_bytes > 0);
        }
        // A bf16 model's inference also holds bf16 copies of its dense weights: 2 bytes per
        // trainable element outside the embedding tables (none in f32, none for f64).
        let mut store = ParamStore::<f32>::new();
        Model::new(&config, &mut store, 0).unwrap();
        let tables: u64 = store
            .ids()
            .filter(|&id| store.name(id).starts_with("input.embedding.field."))
            .map(|id| store.value(id).len() as u64)
            .sum();
        let estimate = |precision| {
            ModelConfig { precision, ..config.clone() }.memory_estimate(&OptimizerKind::adam(), 16).unwrap()
        };
        let (f, b) = (estimate(Precision::F32), estimate(Precision::Bf16));
        let bf16 = ModelConfig { precision: Precision::Bf16, ..config.clone() };
        prop_assert_eq!(f.bf16_weight_copy_bytes, 0);
        prop_assert_eq!(b.bf16_weight_copy_bytes, 2 * (trainable - tables));
        prop_assert_eq!(b.inference_bytes(), f.inference_bytes() + b.bf16_weight_copy_bytes);
        prop_assert_eq!(bf16.memory_estimate_with(&OptimizerKind::adam(), 16, 8).unwrap().bf16_weight_copy_bytes, 0);
    }
}

/// A width of 2^62 is a config error naming its key, from validation, `Model::new` and the
/// trainer alike, never a panic in ndarray.
#[test]
fn overflowing_sizes_are_config_errors_naming_the_key() {
    let cases: Vec<(ModelConfig, &str)> = vec![
        (
            ModelConfig {
                expert_hidden: vec![1 << 62, 64],
                ..tiny_config()
            },
            "expert_hidden",
        ),
        (
            ModelConfig {
                cgc_hidden: vec![usize::MAX],
                ..tiny_config()
            },
            "cgc_hidden",
        ),
        (
            ModelConfig {
                tower_hidden: vec![1 << 40, 1 << 40],
                ..tiny_config()
            },
            "tower_hidden",
        ),
        (
            ModelConfig {
                sparse: vec![SparseFeature {
                    name: "user".into(),
                    vocab: usize::MAX,
                    dim: 16,
                }],
                ..tiny_config()
            },
            "sparse[0].vocab",
        ),
        (
            ModelConfig {
                sparse: vec![
                    SparseFeature {
                        name: "a".into(),
                        vocab: 1,
                        dim: usize::MAX,
                    },
                    SparseFeature {
                        name: "b".into(),
                        vocab: 1,
                        dim: usize::MAX,
                    },
                ],
                ..tiny_config()
            },
            "sparse[1].dim",
        ),
        (
            ModelConfig {
                sub_experts: 1 << 62,
                ..tiny_config()
            },
            "sub_experts",
        ),
        (
            ModelConfig {
                cgc_experts_per_task: usize::MAX,
                ..tiny_config()
            },
            "cgc_experts_per_task",
        ),
        (
            ModelConfig {
                architecture: Architecture::Mmoe,
                mmoe_experts: 1 << 62,
                ..tiny_config()
            },
            "mmoe_experts",
        ),
        (
            ModelConfig {
                cgc_levels: usize::MAX,
                ..tiny_config()
            },
            "cgc_levels",
        ),
    ];
    for (config, key) in cases {
        let check = |e: ModelError, via: &str| match e {
            ModelError::Config { key: k, why } => {
                assert_eq!(k, key, "{via}: {why}");
                assert!(why.contains("overflow"), "{via}: {why}");
            }
            other => panic!("{via}, {key}: {other}"),
        };
        check(config.validate().unwrap_err(), "validate");
        check(config.parameter_count().unwrap_err(), "parameter_count");
        check(
            Model::<f32>::new(&config, &mut ParamStore::new(), 0).unwrap_err(),
            "Model::new",
        );
        check(
            Trainer::<f32>::new(&config, 0, &TrainOptions::default()).unwrap_err(),
            "Trainer::new",
        );
        let toml = config.to_toml().unwrap();
        check(ModelConfig::from_toml(&toml).unwrap_err(), "from_toml");
    }
}

fn limited(bytes: u64) -> TrainOptions {
    TrainOptions {
        max_memory_bytes: Some(bytes),
        batch_size: 256,
        ..TrainOptions::default()
    }
}

/// A vocabulary of 10^9 or a width of 10^9 would abort the process when the allocation
/// fails; with a limit they are refused before anything is allocated, naming the estimate, the
/// limit and the key that dominates.
#[test]
fn models_over_the_memory_limit_are_refused_naming_the_dominant_key() {
    let gib = 1u64 << 30;
    let cases: Vec<(ModelConfig, &str)> = vec![
        (
            ModelConfig {
                sparse: vec![
                    SparseFeature {
                        name: "user".into(),
                        vocab: 1_000_000_000,
                        dim: 16,
                    },
                    SparseFeature {
                        name: "item".into(),
                        vocab: 5,
                        dim: 2,
                    },
                ],
                ..tiny_config()
            },
            "sparse[0].vocab",
        ),
        (
            ModelConfig {
                expert_hidden: vec![1_000_000_000],
                ..tiny_config()
            },
            "expert_hidden",
        ),
        (
            ModelConfig {
                scenarios: (0..100_000).map(|i| format!("s{i}")).collect(),
                ..tiny_config()
            },
            "scenarios",
        ),
        (
            ModelConfig {
                tower_hidden: vec![100_000, 100_000],
                ..tiny_config()
            },
            "tower_hidden",
        ),
    ];
    for (config, key) in cases {
        let e = Trainer::<f32>::new(&config, 0, &limited(4 * gib)).unwrap_err();
        let msg = e.to_string();
        match e {
            ModelError::TooLarge {
                estimate,
                needed,
                limit,
            } => {
                assert_eq!(limit, 4 * gib);
                assert!(needed > limit, "{msg}");
                assert_eq!(needed, estimate.total_bytes);
                assert_eq!(estimate.dominant_key, key, "{msg}");
                assert!(msg.contains(&format!("`{key}`")) && msg.contains("4.0 GiB"), "{msg}");
            }
            other => panic!("{key}: {other}"),
        }
    }
}

/// The limit is compared with the estimate exactly, and the estimate of bench-default is the
/// size of the model it builds plus Adam's two moments and the gradients.
#[test]
fn the_limit_is_the_estimate() {
    let config = ModelConfig::bench_default();
    let options = limited(u64::MAX);
    let e = config.memory_estimate(&options.optimizer, options.batch_size).unwrap();
    let trainer = Trainer::<f32>::new(&config, 0, &options).unwrap();
    let built: u64 = trainer
        .store()
        .ids()
        .map(|id| trainer.store().value(id).len() as u64)
        .sum();
    assert_eq!(e.parameters + e.buffers, built);
    assert_eq!(e.optimizer_bytes, 8 * e.parameters);
    // Embedding gradients are the touched rows only: at most 256 of each table's 10,000.
    assert!(e.gradient_bytes < e.parameter_bytes, "{e:?}");
    // Per key: each of the 20 tables (160,000 weights) is smaller than all the scenario
    // layer's expert weights together (7 groups x 5 experts, ~1.7 M).
    assert_eq!(e.dominant_key, "expert_hidden");
    assert!(e.activation_bytes > 0);
    assert!(Trainer::<f32>::new(&config, 0, &limited(e.total_bytes)).is_ok());
    assert!(matches!(
        Trainer::<f32>::new(&config, 0, &limited(e.total_bytes - 1)),
        Err(ModelError::TooLarge { .. })
    ));
    // f64 doubles it.
    assert!(matches!(
        Trainer::<f64>::new(&config, 0, &limited(e.total_bytes)),
        Err(ModelError::TooLarge { .. })
    ));
}

/// One size field of a config set to `v`.
fn set_size(c: &mut ModelConfig, field: usize, v: usize) {
    match field {
        0 => {
            if let Some(f) = c.sparse.first_mut() {
                f.vocab = v
            }
        }
        1 => {
            if let Some(f) = c.sparse.last_mut() {
                f.dim = v
            }
        }
        2 => c.sub_experts = v,
        3 => c.expert_hidden[0] = v,
        4 => *c.cgc_hidden.last_mut().unwrap() = v,
        5 => c.tower_hidden.push(v),
        6 => c.cgc_levels = v,
        7 => c.mmoe_experts = v,
        8 => c.scenario_embedding_dim = v,
        9 => c.cgc_shared_experts = v,
        10 => c.cgc_experts_per_task = v,
        11 => c.bottom_hidden[0] = v,
        12 => c.san_hidden.push(v),
        _ => c.tower_hidden.insert(0, v),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    /// Any size field of any architecture set to 10^9, 2^31, 2^32 + 1, 2^62 or 2^64 - 1: the
    /// config is refused by validation (overflow, naming a key) or by the memory limit before
    /// anything is allocated, or, when the field does not matter to that architecture, it
    /// builds within the limit. Never a panic, never an abort.
    #[test]
    fn huge_sizes_are_refused_before_allocating(
        config in small_config(),
        field in 0usize..14,
        v in prop_oneof![Just(1_000_000_000usize), Just(1 << 31), Just((1 << 32) + 1), Just(1 << 62), Just(usize::MAX)],
    ) {
        let mut config = config;
        set_size(&mut config, field, v);
        let limit = 256u64 << 20;
        let options = TrainOptions { max_memory_bytes: Some(limit), batch_size: 32, ..TrainOptions::default() };
        match Trainer::<f32>::new(&config, 0, &options) {
            Ok(t) => {
                let bytes: u64 = t.store().ids().map(|id| 4 * t.store().value(id).len() as u64).sum();
                prop_assert!(bytes <= limit);
            }
            Err(ModelError::Config { key, why }) => {
                prop_assert!(!key.is_empty() && !why.is_empty());
                prop_assert!(config.validate().is_err());
            }
            Err(ModelError::TooLarge { estimate, needed, limit: l }) => {
                prop_assert_eq!(l, limit);
                prop_assert!(needed > limit && needed == estimate.total_bytes);
                prop_assert!(!estimate.dominant_key.is_empty());
            }
            Err(e) => prop_assert!(false, "untyped: {e}"),
        }
    }
}
