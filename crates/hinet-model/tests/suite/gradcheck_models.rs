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
}
