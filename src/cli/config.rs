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

/// Names of the built-in configurations.
pub const BUILT_IN: &[&str] = &["small", "bench-default"];

/// A built-in configuration by name, with the keys it fixes (the rest come from the data).
fn built_in(name: &str) -> Option<(ModelConfig, BTreeSet<String>)> {
    match name {
        "small" => Some((small_config(), BTreeSet::new())),
        "bench-default" => Some((
            ModelConfig::bench_default(),
            ["scenarios", "tasks", "sparse", "dense"].map(String::from).into(),
        )),
        _ => None,
    }
}

/// Parses `KEY=VALUE` overrides (`--set`): VALUE is a TOML value (`64`, `[128, 64]`, `true`,
/// `"name"`); a bare word that is not valid TOML is taken as a string.
fn parse_overrides(overrides: &[String]) -> Result<toml::Table> {
    let mut table = toml::Table::new();
    for o in overrides {
        let Some((key, value)) = o.split_once('=') else {
            bail!("--set {o:?}: expected KEY=VALUE, e.g. --set expert_hidden=[128,64]");
        };
        let key = key.trim();
        if key.is_empty() || key == "base" {
            bail!("--set {o:?}: name a key of the model config (docs/cli.md lists them)");
        }
        let value = value.trim();
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        table.insert(key.to_string(), parsed);
    }
    Ok(table)
}

/// The model configuration: built in (`small`, the default, or `bench-default`) or a TOML file
/// (which may start from a built-in with `base = "small"`), then the `--set KEY=VALUE`
/// overrides. Features it does not list are taken from the data; listed ones must match the
/// data (when `check`).
pub fn model_config(
    arg: Option<&str>,
    overrides: &[String],
    embedding_dim: usize,
    spec: &FeatureSpec,
    check: bool,
) -> Result<ModelConfig> {
    let name = arg.unwrap_or("small");
    let (base, mut keys, mut table, mut origin) = match built_in(name) {
        Some((config, keys)) => (config, keys, toml::Table::new(), format!("config {name}")),
        None => {
            let text = std::fs::read_to_string(name).with_context(|| format!("config {name}"))?;
            let mut table: toml::Table = toml::from_str(&text).map_err(|e| anyhow!("config {name}: {e}"))?;
            let (config, keys) = match table.remove("base") {
                None => (ModelConfig::default(), BTreeSet::new()),
                Some(toml::Value::String(b)) => built_in(&b).ok_or_else(|| {
                    anyhow!(
                        "config {name}: key `base`: {b:?} is not a built-in config ({})",
                        BUILT_IN.join(", ")
                    )
                })?,
                Some(other) => bail!(
                    "config {name}: key `base`: expected a string, found {}",
                    other.type_str()
                ),
            };
            (config, keys, table, format!("config {name}"))
        }
    };
    let set = parse_overrides(overrides)?;
    if !set.is_empty() {
        origin += " with --set";
    }
    table.extend(set);
    keys.extend(table.keys().cloned());
    let mut config = if table.is_empty() {
        base
    } else {
        // The base as a TOML table, the file's keys and the overrides on top, read back through
        // serde so that a misspelt key or a wrong type is reported by name.
        let mut merged = toml::Table::try_from(&base).map_err(|e| anyhow!("{origin}: {e}"))?;
        merged.extend(table);
        merged.try_into::<ModelConfig>().map_err(|e| anyhow!("{origin}: {e}"))?
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

/// A trained model's `(field, vocabulary)` pairs, to fix a schema's `vocab = "auto"` columns
/// (`Schema::fix_auto_vocab`) before reading other data for it.
pub fn trained_vocab(config: &ModelConfig) -> impl Iterator<Item = (&str, usize)> {
    config.sparse.iter().map(|f| (f.name.as_str(), f.vocab))
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
