//! Each switch changes exactly what it says: which parameters exist, and the outputs.

use crate::common::{data, tiny_config};
use hinet_autograd::ParamStore;
use hinet_model::{Architecture, Model, ModelConfig};

fn names(config: &ModelConfig) -> Vec<String> {
    let mut store = ParamStore::<f64>::new();
    Model::new(config, &mut store, 1).unwrap();
    store.ids().map(|id| store.name(id).to_string()).collect()
}

fn has(names: &[String], prefix: &str) -> bool {
    names.iter().any(|n| n.starts_with(prefix))
}

fn predictions(config: &ModelConfig) -> ndarray::Array2<f64> {
    let mut store = ParamStore::<f64>::new();
    let model = Model::new(config, &mut store, 1).unwrap();
    let d = data::<f64>();
    model
        .predict(&store, &d.input(), &mut hinet_autograd::Workspace::default())
        .unwrap()
}

#[test]
fn hinet_has_every_part() {
    let n = names(&tiny_config());
    for prefix in [
        "input.embedding.field.0.weight",
        "scenario.shared.experts.layer.0.weight",
        "scenario.shared.gate.weight",
        "scenario.specific.2.experts.layer.0.weight",
        "scenario.san.scenario_embedding",
        "scenario.san.score.weight",
        "task.0.cgc.level.0.shared.layer.0.weight",
        "task.2.cgc.level.0.task.1.layer.0.weight",
        "task.1.cgc.level.0.gate.0.weight",
        "task.2.tower.1.logit.weight",
    ] {
        assert!(has(&n, prefix), "missing {prefix}");
    }
    assert!(!has(&n, "scenario.specific.3"), "only 3 scenarios");
}

#[test]
fn without_san_removes_exactly_san() {
    let full = names(&tiny_config());
    let no_san = names(&ModelConfig {
        san: false,
        ..tiny_config()
    });
    let removed: Vec<_> = full.iter().filter(|n| !no_san.contains(n)).collect();
    assert!(
        !removed.is_empty() && removed.iter().all(|n| n.starts_with("scenario.san.")),
        "{removed:?}"
    );
    // everything else is there (task-layer inputs narrow from 3d to 2d, same names)
    assert!(no_san.iter().all(|n| full.contains(n)));
}

#[test]
fn without_hierarchy_removes_the_scenario_layer() {
    let n = names(&ModelConfig {
        hierarchy: false,
        ..tiny_config()
    });
    assert!(!has(&n, "scenario."));
    assert!(has(&n, "task.0.cgc"));
}

#[test]
fn without_gates_has_no_gate_parameters_and_changes_outputs() {
    let config = ModelConfig {
        gates: false,
        ..tiny_config()
    };
    let n = names(&config);
    assert!(!n.iter().any(|n| n.contains(".gate.") || n.contains("gate.0")), "{n:?}");
    assert!(has(&n, "scenario.san."), "SAN is not an expert gate and stays");
    assert_ne!(predictions(&config), predictions(&tiny_config()));
}

#[test]
fn official_options_change_what_they_say() {
    let shared = names(&ModelConfig {
        cgc_shared_across_scenarios: true,
        ..tiny_config()
    });
    assert!(has(&shared, "task.shared_experts.layer.0.weight"));
    assert!(!has(&shared, "task.0.cgc.level.0.shared."));
    let mlp_san = names(&ModelConfig {
        san_hidden: vec![3],
        ..tiny_config()
    });
    assert!(has(&mlp_san, "scenario.san.score.0.mlp.layer.0.weight"));
    assert!(!has(&mlp_san, "scenario.san.score.weight"));
    // ReLU before the gate softmax: same parameters, different outputs
    let relu = ModelConfig {
        gate_relu: true,
        ..tiny_config()
    };
    assert_eq!(names(&relu), names(&tiny_config()));
    assert_ne!(predictions(&relu), predictions(&tiny_config()));
}

#[test]
fn esmm_makes_ctcvr_at_most_ctr() {
    let p = predictions(&ModelConfig {
        esmm: true,
        ..tiny_config()
    });
    assert!(p.rows().into_iter().all(|r| r[1] <= r[0]));
}

#[test]
fn baselines_have_their_own_structure() {
    let sb = names(&ModelConfig {
        architecture: Architecture::SharedBottom,
        ..tiny_config()
    });
    assert!(has(&sb, "task.0.cgc.level.0.shared.layer.0.weight") && !n_has_gate(&sb));
    let mmoe = names(&ModelConfig {
        architecture: Architecture::Mmoe,
        ..tiny_config()
    });
    assert!(has(&mmoe, "task.0.cgc.level.0.gate.1.weight") && !has(&mmoe, "task.0.cgc.level.0.task."));
    let ple = names(&ModelConfig {
        architecture: Architecture::Ple,
        cgc_levels: 2,
        ..tiny_config()
    });
    assert!(has(&ple, "task.0.cgc.level.0.shared_gate.weight") && has(&ple, "task.0.cgc.level.1.task.1."));
    let star = names(&ModelConfig {
        architecture: Architecture::Star,
        ..tiny_config()
    });
    assert!(has(&star, "star.1.layer.0.scenario.2.weight") && !has(&star, "task."));
    let hmoe = names(&ModelConfig {
        architecture: Architecture::Hmoe,
        ..tiny_config()
    });
    for p in [
        "hmoe.1.experts.layer.0.weight",
        "hmoe.0.gate.2.weight",
        "hmoe.1.tower.2.logit.weight",
        "hmoe.0.relation.1.weight",
    ] {
        assert!(has(&hmoe, p), "HMoE lacks {p}");
    }
    assert!(!has(&hmoe, "task."));
    for n in [&sb, &mmoe, &ple, &star, &hmoe] {
        assert!(!has(n, "scenario."), "baselines have no scenario layer");
    }
}

fn n_has_gate(n: &[String]) -> bool {
    n.iter().any(|n| n.contains("gate"))
}

#[test]
fn invalid_configs_name_the_key() {
    for (text, key) in [
        ("scenarios = []", "scenarios"),
        (
            "sub_experts = 0\nsparse = [{name = \"a\", vocab = 3, dim = 2}]",
            "sub_experts",
        ),
        (
            "loss_weights = [1.0]\nsparse = [{name = \"a\", vocab = 3, dim = 2}]",
            "loss_weights",
        ),
        (
            "dropout = 1.5\nsparse = [{name = \"a\", vocab = 3, dim = 2}]",
            "dropout",
        ),
        ("sparse = [{name = \"a\", vocab = 0, dim = 2}]", "sparse[0]"),
        (
            "expert_hidden = [128, 0]\nsparse = [{name = \"a\", vocab = 3, dim = 2}]",
            "expert_hidden",
        ),
    ] {
        let e = ModelConfig::from_toml(text).unwrap_err().to_string();
        assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
    }
    let e = ModelConfig::from_toml("sub_expert = 3").unwrap_err().to_string();
    assert!(e.contains("sub_expert"), "{e}");
    let ok = ModelConfig::from_toml("architecture = \"mmoe\"\nsparse = [{name = \"a\", vocab = 3, dim = 2}]").unwrap();
    assert_eq!(ok.architecture, Architecture::Mmoe);
}

#[test]
fn bad_batches_are_errors_not_panics() {
    let mut store = ParamStore::<f64>::new();
    let model = Model::new(&tiny_config(), &mut store, 1).unwrap();
    let d = data::<f64>();
    let mut input = d.input();
    let unsorted = [0, 1, 0, 1, 2, 2, 2];
    input.scenario = &unsorted;
    let e = model
        .predict(&store, &input, &mut hinet_autograd::Workspace::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("sorted by scenario"), "{e}");
    let mut input = d.input();
    let bad_ids = [9usize; 14];
    input.sparse = &bad_ids;
    let e = model
        .predict(&store, &input, &mut hinet_autograd::Workspace::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("input.embedding.field.0") && e.contains("id 9"), "{e}");
}
