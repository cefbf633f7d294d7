//! The gradient of the whole loss with respect to every parameter, against central finite
//! differences in f64, for HiNet, each ablation and official-code option, and each baseline.

use crate::common::{data, tiny_config};
use hinet_autograd::{GradcheckOptions, ParamId, ParamKind, ParamStore, gradcheck_params};
use hinet_model::{Architecture, Model, ModelConfig};
use rand::{Rng, SeedableRng};

fn check(name: &str, config: ModelConfig) {
    let mut store = ParamStore::<f64>::new();
    let model = Model::new(&config, &mut store, 5).unwrap();
    // Biases start at 0, which can put a ReLU of a dead layer exactly on its kink.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let ids: Vec<ParamId> = store.ids().collect();
    for &id in &ids {
        if store.name(id).ends_with(".bias") {
            store.value_mut(id).mapv_inplace(|b| b + rng.random_range(0.05..0.2));
        }
    }
    let params: Vec<ParamId> = ids
        .into_iter()
        .filter(|&id| store.kind(id) == ParamKind::Trainable)
        .collect();
    let d = data::<f64>();
    let input = d.input();
    let report = gradcheck_params(
        &mut store,
        &params,
        |tape| {
            let logits = model.logits(tape, &input).map_err(to_ag)?;
            model.loss(tape, logits, d.labels.view()).map_err(to_ag)
        },
        GradcheckOptions::default(),
    )
    .unwrap();
    assert!(report.checked > 100, "{name}: only {} elements", report.checked);
    assert!(report.passed(), "{name}: {report:?}");
}

fn to_ag(e: hinet_model::ModelError) -> hinet_autograd::AutogradError {
    hinet_autograd::AutogradError::BadArgument {
        op: "model",
        why: e.to_string(),
    }
}

#[test]
fn hinet_paper_defaults() {
    check("hinet", tiny_config());
}

#[test]
fn hinet_with_input_batch_norm_l2_and_pos_weights() {
    check(
        "hinet bn l2",
        ModelConfig {
            input_batch_norm: true,
            l2: 0.01,
            pos_weights: vec![2.0, 3.0],
            loss_weights: vec![1.0, 0.5],
            ..tiny_config()
        },
    );
}

#[test]
fn hinet_ablations() {
    check(
        "without SAN",
        ModelConfig {
            san: false,
            ..tiny_config()
        },
    );
    check(
        "without hierarchy",
        ModelConfig {
            hierarchy: false,
            ..tiny_config()
        },
    );
    check(
        "without gates",
        ModelConfig {
            gates: false,
            ..tiny_config()
        },
    );
}

#[test]
fn hinet_official_code_options() {
    check(
        "official",
        ModelConfig {
            gate_relu: true,
            san_hidden: vec![3, 2],
            san_renormalise: false,
            cgc_shared_across_scenarios: true,
            ..tiny_config()
        },
    );
    check(
        "cgc sum gate",
        ModelConfig {
            cgc_sum_gate: true,
            ..tiny_config()
        },
    );
}

#[test]
fn hinet_esmm() {
    check(
        "esmm",
        ModelConfig {
            esmm: true,
            ..tiny_config()
        },
    );
}

#[test]
fn baselines() {
    check(
        "shared-bottom",
        ModelConfig {
            architecture: Architecture::SharedBottom,
            ..tiny_config()
        },
    );
    check(
        "mmoe",
        ModelConfig {
            architecture: Architecture::Mmoe,
            ..tiny_config()
        },
    );
    check(
        "ple 2 levels",
        ModelConfig {
            architecture: Architecture::Ple,
            cgc_levels: 2,
            ..tiny_config()
        },
    );
    check(
        "star",
        ModelConfig {
            architecture: Architecture::Star,
            ..tiny_config()
        },
    );
    // HMoE's gradient stop makes its gradient differ from the loss's derivative on purpose
    // (the other scenarios' predictions are held fixed); without it the model is an ordinary
    // function, and every path (experts, gates, towers, relation weights) is checked here. The
    // stop itself is checked in `hmoe_stop_gradient_keeps_other_scenarios_towers_out`.
    check(
        "hmoe without the gradient stop",
        ModelConfig {
            architecture: Architecture::Hmoe,
            hmoe_stop_gradient: false,
            ..tiny_config()
        },
    );
}

/// The gradient of one scenario's rows with HMoE's stop: the other scenarios' gates and towers
/// get none; the row's own tower, gate and relation weights get exactly what they get without
/// the stop (their paths are the same); the shared experts get less (only through the own
/// scenario's tower).
#[test]
fn hmoe_stop_gradient_keeps_other_scenarios_towers_out() {
    use hinet_autograd::{Gradients, Tape};
    let grads_of = |stop: bool| {
        let config = ModelConfig {
            architecture: Architecture::Hmoe,
            hmoe_stop_gradient: stop,
            ..tiny_config()
        };
        let mut store = ParamStore::<f64>::new();
        let model = Model::new(&config, &mut store, 5).unwrap();
        // Positive biases, so that no ReLU is dead on these few rows (as in `check`).
        let ids: Vec<ParamId> = store.ids().collect();
        for id in ids {
            if store.name(id).ends_with(".bias") {
                store.value_mut(id).mapv_inplace(|b| b + 0.1);
            }
        }
        // Rows 0..3 of the shared batch are all of scenario "a".
        let d = data::<f64>();
        let rows = 3;
        let sparse: Vec<usize> = (0..config.sparse.len())
            .flat_map(|f| d.sparse[f * 7..f * 7 + rows].to_vec())
            .collect();
        let offsets = [0, rows, rows, rows];
        let dense = d.dense.slice(ndarray::s![..rows, ..]).to_owned();
        let labels = d.labels.slice(ndarray::s![..rows, ..]).to_owned();
        let input = hinet_model::ModelInput {
            rows,
            scenario: &d.scenario[..rows],
            scenario_offsets: &offsets,
            sparse: &sparse,
            dense: dense.view(),
            labels: Some(labels.view()),
        };
        let tape = Tape::new(&store);
        let logits = model.logits(&tape, &input).unwrap();
        let loss = model.loss(&tape, logits, labels.view()).unwrap();
        let mut grads = Gradients::new();
        tape.backward(loss, &mut grads).unwrap();
        let named: Vec<(String, Option<ndarray::ArrayD<f64>>)> = store
            .ids()
            .map(|id| (store.name(id).to_string(), grads.dense(id, store.value(id).shape())))
            .collect();
        named
    };
    let (with, without) = (grads_of(true), grads_of(false));
    let norm = |g: &Option<ndarray::ArrayD<f64>>| g.as_ref().map_or(0.0, |g| g.iter().map(|v| v * v).sum::<f64>());
    for ((name, g), (_, h)) in with.iter().zip(&without) {
        let other_scenario = [".gate.1.", ".gate.2.", ".tower.1.", ".tower.2."]
            .iter()
            .any(|p| name.contains(p));
        let own = [".gate.0.", ".tower.0.", ".relation.0."]
            .iter()
            .any(|p| name.contains(p));
        if name.contains(".relation.") && !own {
            // Scenario m's weighting is used by scenario m's rows only: none here, either way.
            assert_eq!(norm(g) + norm(h), 0.0, "{name}");
            continue;
        }
        if !name.starts_with("hmoe.") {
            continue;
        }
        if other_scenario {
            assert_eq!(
                norm(g),
                0.0,
                "{name}: another scenario's part got a gradient through the stop"
            );
            assert!(norm(h) > 0.0, "{name}: without the stop it should get one");
        } else if own {
            let (g, h) = (g.as_ref().unwrap(), h.as_ref().unwrap());
            for (a, b) in g.iter().zip(h.iter()) {
                assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{name}: {a} vs {b}");
            }
        } else if name.contains(".experts.") {
            assert!(
                norm(g) > 0.0 && norm(g) != norm(h),
                "{name}: the experts' gradient should change"
            );
        }
    }
}
