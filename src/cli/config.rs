//! The model configuration of a command: a built-in (`small`, `bench-default`) or a TOML file,
//! reconciled with the features of the data it will read.

use anyhow::{Context, Result, anyhow, bail};
use hinet_data::FeatureSpec;
use hinet_model::{ModelConfig, SparseFeature};
use std::collections::BTreeSet;

/// The CLI's default model: a small HiNet that trains on two cores in well under a minute.
pub fn small_config() -> ModelConfig {
    ModelConfig {
        sparse: Vec::new(),
        dense: Vec::new(),
        scenario_embedding_dim: 8,
        sub_experts: 3,
        expert_hidden: vec![64, 32],
        cgc_shared_experts: 1,
        cgc_experts_per_task: 1,
        cgc_hidden: vec![64, 32],
        tower_hidden: vec![32],
        ..ModelConfig::default()
    }
}

/// The model configuration: built in (`small`, `bench-default`) or a TOML file, with the
/// features it does not list taken from the data; listed ones must match the data (when `check`).
pub fn model_config(arg: Option<&str>, embedding_dim: usize, spec: &FeatureSpec, check: bool) -> Result<ModelConfig> {
    let (mut config, keys, origin) = match arg {
        None | Some("small") => (small_config(), BTreeSet::new(), "the built-in config".to_string()),
        Some("bench-default") => {
            let keys = ["scenarios", "tasks", "sparse", "dense"].map(String::from).into();
            (ModelConfig::bench_default(), keys, "bench-default".to_string())
        }
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("config {path}"))?;
            let table: toml::Table = toml::from_str(&text).map_err(|e| anyhow!("config {path}: {e}"))?;
            let config: ModelConfig = toml::from_str(&text).map_err(|e| anyhow!("config {path}: {e}"))?;
            (config, table.keys().cloned().collect(), format!("config {path}"))
        }
    };
    let has = |k: &str| keys.contains(k);
    if !has("scenarios") {
        config.scenarios = spec.scenarios.clone();
        if spec.scenarios.len() < 2 && !has("san") {
            config.san = false;
        }
    }
    if !has("tasks") {
        config.tasks = spec.tasks.clone();
    }
    let t = config.tasks.len();
    if !has("loss_weights") {
        config.loss_weights = vec![1.0; t];
    }
    if !has("pos_weights") {
        config.pos_weights = vec![1.0; t];
    }
    if !has("esmm") && t != 2 {
        config.esmm = false;
    }
    if !has("sparse") {
        if embedding_dim == 0 {
            bail!("--embedding-dim must be at least 1");
        }
        config.sparse = spec
            .sparse
            .iter()
            .map(|f| SparseFeature {
                name: f.name.clone(),
                vocab: f.vocab,
                dim: embedding_dim,
            })
            .collect();
    }
    if !has("dense") {
        config.dense = spec.dense.clone();
    }
    if check {
        check_matches(&config, spec, &origin)?;
    }
    config.validate().map_err(|e| anyhow!("{origin}: {e}"))?;
    Ok(config)
}

/// Checks that a model's features are the data's; the error names the first field that is not.
pub fn check_matches(config: &ModelConfig, spec: &FeatureSpec, origin: &str) -> Result<()> {
    let mismatch = |key: &str, model: String, data: String| {
        Err(anyhow!(
            "{origin} does not match the data: key `{key}`: the model has {model}, the data has {data}"
        ))
    };
    if config.scenarios != spec.scenarios {
        return mismatch(
            "scenarios",
            format!("{:?}", config.scenarios),
            format!("{:?}", spec.scenarios),
        );
    }
    if config.tasks != spec.tasks {
        return mismatch("tasks", format!("{:?}", config.tasks), format!("{:?}", spec.tasks));
    }
    if config.sparse.len() != spec.sparse.len() {
        return mismatch(
            "sparse",
            format!("{} sparse fields", config.sparse.len()),
            format!("{}", spec.sparse.len()),
        );
    }
    for (i, (c, d)) in config.sparse.iter().zip(&spec.sparse).enumerate() {
        if c.name != d.name || c.vocab != d.vocab {
            return mismatch(
                &format!("sparse[{i}]"),
                format!("{:?} with vocab {}", c.name, c.vocab),
                format!("{:?} with vocab {}", d.name, d.vocab),
            );
        }
    }
    if config.dense != spec.dense {
        return mismatch("dense", format!("{:?}", config.dense), format!("{:?}", spec.dense));
    }
    Ok(())
}
