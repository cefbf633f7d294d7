//! The model configuration of a command: a built-in (`small`, `bench-default`) or a TOML file,
//! reconciled with the features of the data it will read.

use anyhow::{Result, anyhow, bail};
use hinet_data::FeatureSpec;
use hinet_model::{ModelConfig, SparseFeature};
use hinet_optim::OptimizerKind;
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
            let text = super::data::small_regular_file(std::path::Path::new(name), "config")?;
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

// ---------------------------------------------------------------- memory

/// The most memory a command may plan for: `--max-memory`, else the memory this machine has
/// available now (Linux), else none (other systems: only sizes beyond what a process can
/// address are refused).
#[derive(Debug, Clone)]
pub struct MemoryLimit {
    /// Bytes.
    pub bytes: u64,
    /// Where the limit comes from, for messages.
    pub origin: String,
}

/// The limit of a run: `explicit` (`--max-memory`), else the memory available now
/// ([`hinet_model::available_memory_bytes`]: MemAvailable, or less when a cgroup limits this
/// process).
pub fn memory_limit(explicit: Option<u64>) -> Option<MemoryLimit> {
    if let Some(bytes) = explicit {
        return Some(MemoryLimit {
            bytes,
            origin: format!("the limit of --max-memory {}", human_bytes(bytes.into())),
        });
    }
    hinet_model::available_memory_bytes().map(|bytes| MemoryLimit {
        bytes,
        origin: format!(
            "the {} this machine has available (MemAvailable, or the cgroup's limit)",
            human_bytes(bytes.into())
        ),
    })
}

/// Parses a memory size: a number of bytes (`1000000`), or a number with a unit `K`, `M`, `G`,
/// `T` (powers of 1024; `KiB`, `KB`, `k` ... are accepted too), e.g. `8GiB`, `1.5G`, `512M`.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024f64.powi(2),
        "g" | "gb" | "gib" => 1024f64.powi(3),
        "t" | "tb" | "tib" => 1024f64.powi(4),
        _ => bail!("{text:?}: expected a size such as 4000000000, 512MiB or 8GiB"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| anyhow!("{text:?}: expected a size such as 4000000000, 512MiB or 8GiB"))?;
    let bytes = value * scale;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        bail!("{text:?}: expected a size of at least 1 byte and below 16 EiB");
    }
    Ok(bytes as u64)
}

/// `1234567` as `1.2 MiB` (hinet-model's formatting; sums beyond u64 saturate).
fn human_bytes(bytes: u128) -> String {
    hinet_model::human_bytes(u64::try_from(bytes).unwrap_or(u64::MAX))
}

/// The memory something needs, by part.
#[derive(Debug, Clone, Default)]
pub struct MemoryNeed {
    /// `(what, bytes)`: what names the option or config key the part comes from.
    pub parts: Vec<(String, u128)>,
}

impl MemoryNeed {
    /// Adds a part.
    pub fn add(&mut self, what: impl Into<String>, bytes: u128) {
        self.parts.push((what.into(), bytes));
    }

    /// All parts together (saturating: `u128::MAX` means "more than anything").
    pub fn total(&self) -> u128 {
        self.parts.iter().fold(0u128, |a, (_, b)| a.saturating_add(*b))
    }

    /// Appends the parts of another estimate.
    pub fn extend(&mut self, other: MemoryNeed) {
        self.parts.extend(other.parts);
    }

    /// Refuses, naming the largest part, when the total exceeds `limit` or what a process can
    /// address. `what`: the subject of the message ("the model of config small", ...).
    pub fn check(&self, what: &str, limit: Option<&MemoryLimit>) -> Result<()> {
        let total = self.total();
        let largest = self.parts.iter().max_by_key(|(_, b)| *b);
        let part = match largest {
            Some((name, bytes)) if *bytes > 0 && self.parts.len() > 1 => {
                let shown = if *bytes == u128::MAX {
                    "more than 2^128 bytes".to_string()
                } else {
                    human_bytes(*bytes)
                };
                format!("; most of it is {name}: {shown}")
            }
            Some((name, _)) => format!(": {name}"),
            None => String::new(),
        };
        let shown = if total == u128::MAX {
            "more than 2^128 bytes".to_string()
        } else {
            format!("{} ({total} bytes)", human_bytes(total))
        };
        if total > isize::MAX as u128 {
            bail!("{what} would need about {shown}, more than a process can address{part}; make it smaller");
        }
        if let Some(limit) = limit
            && total > u128::from(limit.bytes)
        {
            let how = if limit.origin.contains("--max-memory") {
                "make it smaller, or raise --max-memory"
            } else {
                "make it smaller, or pass --max-memory SIZE (e.g. 64GiB) if the machine really has that much"
            };
            bail!(
                "{what} would need about {shown} of memory, more than {}{part}; {how}",
                limit.origin,
            );
        }
        Ok(())
    }
}

/// What a model of `config` needs to train with `optimizer` on batches of `batch` rows
/// (parameters, gradients, optimiser state, activations, and the copy of the best epoch's
/// parameters `hinet train` keeps), or, when `!train`, to predict: hinet-model's estimate from
/// the config alone ([`ModelConfig::memory_estimate`], checked arithmetic). A size whose
/// arithmetic overflows is an error naming its key.
pub fn model_memory(
    config: &ModelConfig,
    optimizer: &OptimizerKind,
    batch: usize,
    batch_option: &str,
    train: bool,
) -> Result<MemoryNeed> {
    let e = config.memory_estimate(optimizer, batch).map_err(|e| anyhow!("{e}"))?;
    let (total, activations) = if train {
        (e.total_bytes.saturating_add(e.parameter_bytes), e.activation_bytes)
    } else {
        (e.inference_bytes(), e.activation_bytes / 2)
    };
    let key = &e.dominant_key;
    // `sparse[3].vocab`: say which field that is.
    let field = key
        .strip_prefix("sparse[")
        .and_then(|k| k.split(']').next())
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| config.sparse.get(i))
        .map(|f| format!(" (field {:?}: vocab {} x dim {})", f.name, f.vocab, f.dim))
        .unwrap_or_default();
    let mut need = MemoryNeed::default();
    let params = e.parameters.saturating_add(e.buffers);
    let from_key = format!("`{key}`{field} ({})", human_bytes(e.dominant_bytes.min(total).into()));
    let mostly = if activations > e.dominant_bytes {
        format!(
            "the activations of a batch of {batch} rows ({batch_option}, {}), then {from_key}",
            human_bytes(activations.into())
        )
    } else {
        from_key
    };
    need.add(
        format!("the model ({params} parameters), mostly {mostly}"),
        u128::from(total),
    );
    Ok(need)
}

/// The activations alone of a training step of `config` on `batch` rows (for a model already
/// built, e.g. resumed before the data's size was known).
pub fn activation_memory(
    config: &ModelConfig,
    optimizer: &OptimizerKind,
    batch: usize,
    batch_option: &str,
) -> Result<MemoryNeed> {
    let e = config.memory_estimate(optimizer, batch).map_err(|e| anyhow!("{e}"))?;
    let mut need = MemoryNeed::default();
    need.add(
        format!("the activations of a batch of {batch} rows ({batch_option})"),
        u128::from(e.activation_bytes),
    );
    Ok(need)
}
