//! Checkpoints: one safetensors file holding every parameter and buffer under its hierarchical
//! name (PyTorch layouts: a Linear weight is `[out, in]`), the optimiser state under `optim.`,
//! and in the metadata the format version, the model config (TOML) and the training step.
//!
//! Writes are atomic: the bytes go to a temporary file in the same directory, which is flushed
//! to disk and then renamed over the target, so a crash leaves either the old checkpoint or the
//! new one, never half of one.

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use hinet_autograd::{Float, ParamStore};
use hinet_optim::{OptimState, Optimizer};
use ndarray::ArrayD;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// The layout version written into every checkpoint.
pub const FORMAT_VERSION: &str = "1";
const OPTIM_PREFIX: &str = "optim.";

fn err(path: &Path, why: impl Into<String>) -> ModelError {
    ModelError::Checkpoint {
        path: path.display().to_string(),
        why: why.into(),
    }
}

fn to_bytes<F: Float>(a: &ArrayD<F>) -> (Dtype, Vec<u8>) {
    if F::NAME == "f32" {
        (
            Dtype::F32,
            a.iter().flat_map(|v| (v.f64() as f32).to_le_bytes()).collect(),
        )
    } else {
        (Dtype::F64, a.iter().flat_map(|v| v.f64().to_le_bytes()).collect())
    }
}

fn from_view<F: Float>(path: &Path, name: &str, v: &TensorView<'_>) -> Result<ArrayD<F>> {
    let data = v.data();
    let values: Vec<F> = match v.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| F::of(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| F::of(f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])))
            .collect(),
        other => return Err(err(path, format!("tensor {name}: dtype {other:?} is not f32 or f64"))),
    };
    ArrayD::from_shape_vec(v.shape().to_vec(), values).map_err(|e| err(path, format!("tensor {name}: {e}")))
}

/// What a checkpoint says besides its tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointInfo {
    /// The model configuration it was trained with.
    pub config: ModelConfig,
    /// Training steps taken when it was written.
    pub step: u64,
    /// Free-form metadata the trainer stored (`extra.*` keys, prefix removed).
    pub extra: BTreeMap<String, String>,
}

/// Writes `store` (and the optimiser's state) to `path` atomically.
pub fn save<F: Float>(
    path: &Path,
    config: &ModelConfig,
    store: &ParamStore<F>,
    optimizer: Option<&Optimizer<F>>,
    step: u64,
    extra: &BTreeMap<String, String>,
) -> Result<()> {
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "hinet-rs".to_string());
    meta.insert("format_version".to_string(), FORMAT_VERSION.to_string());
    meta.insert("config".to_string(), config.to_toml()?);
    meta.insert("step".to_string(), step.to_string());
    for (k, v) in extra {
        meta.insert(format!("extra.{k}"), v.clone());
    }
    let mut named: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for id in store.ids() {
        let value = store.value(id);
        let (dtype, bytes) = to_bytes(value);
        named.push((store.name(id).to_string(), dtype, value.shape().to_vec(), bytes));
    }
    if let Some(opt) = optimizer {
        let state: OptimState<F> = opt.state()?;
        let json = serde_json::to_string(&state.meta).map_err(|e| err(path, e.to_string()))?;
        meta.insert("optim.meta".to_string(), json);
        for (name, value) in &state.tensors {
            let (dtype, bytes) = to_bytes(value);
            named.push((format!("{OPTIM_PREFIX}{name}"), dtype, value.shape().to_vec(), bytes));
        }
    }
    let views = named
        .iter()
        .map(|(n, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(path, e.to_string()))?;
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| err(path, e.to_string()))?;
    write_atomically(path, &bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path.file_name().ok_or_else(|| err(path, "not a file path"))?;
    let tmp = dir.join(format!(".{}.tmp-{}", file_name.to_string_lossy(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Persist the rename itself; not every platform can open a directory, so best effort.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(path, format!("cannot write: {e}"))
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))
}

fn parse_info(path: &Path, bytes: &[u8]) -> Result<(CheckpointInfo, HashMap<String, String>)> {
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| err(path, format!("not a safetensors file: {e}")))?;
    let meta = metadata.metadata().clone().unwrap_or_default();
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| err(path, format!("metadata has no `{k}` (not a HiNet-rs checkpoint?)")))
    };
    let version = get("format_version")?;
    if version != FORMAT_VERSION {
        return Err(err(
            path,
            format!("format version {version}, this build reads {FORMAT_VERSION}"),
        ));
    }
    let config = ModelConfig::from_toml(get("config")?).map_err(|e| err(path, format!("stored config: {e}")))?;
    let step = get("step")?.parse().map_err(|e| err(path, format!("step: {e}")))?;
    let extra = meta
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("extra.").map(|k| (k.to_string(), v.clone())))
        .collect();
    Ok((CheckpointInfo { config, step, extra }, meta))
}

/// Reads only the metadata (to build the model a checkpoint belongs to).
pub fn read_info(path: &Path) -> Result<CheckpointInfo> {
    let bytes = read(path)?;
    Ok(parse_info(path, &bytes)?.0)
}

/// Loads a checkpoint into a model's store (and optimiser). Refuses, saying exactly what does
/// not match, when the stored config differs from `config`, a tensor is missing or unexpected,
/// or a shape differs. Nothing is changed unless everything matches.
pub fn load<F: Float>(
    path: &Path,
    config: &ModelConfig,
    store: &mut ParamStore<F>,
    optimizer: Option<&mut Optimizer<F>>,
) -> Result<CheckpointInfo> {
    let bytes = read(path)?;
    let (info, meta) = parse_info(path, &bytes)?;
    if &info.config != config {
        return Err(err(
            path,
            format!(
                "config differs from the model's in: {}",
                config_diff(&info.config, config)
            ),
        ));
    }
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| err(path, e.to_string()))?;
    let mut problems = Vec::new();
    let mut values = Vec::new();
    for id in store.ids() {
        let name = store.name(id);
        match tensors.tensor(name) {
            Ok(v) if v.shape() == store.value(id).shape() => values.push((id, from_view::<F>(path, name, &v)?)),
            Ok(v) => problems.push(format!(
                "{name}: shape {:?} in the file, {:?} in the model",
                v.shape(),
                store.value(id).shape()
            )),
            Err(_) => problems.push(format!("{name}: missing from the file")),
        }
    }
    for name in tensors.names() {
        if !name.starts_with(OPTIM_PREFIX) && store.id(name).is_err() {
            problems.push(format!("{name}: in the file but not in the model"));
        }
    }
    if !problems.is_empty() {
        return Err(err(path, problems.join("; ")));
    }
    let optim_state = match optimizer.as_ref() {
        Some(_) => {
            let json = meta
                .get("optim.meta")
                .ok_or_else(|| err(path, "no optimiser state in this checkpoint"))?;
            let meta: BTreeMap<String, String> =
                serde_json::from_str(json).map_err(|e| err(path, format!("optim.meta: {e}")))?;
            let mut state = OptimState {
                tensors: Vec::new(),
                meta,
            };
            let mut names: Vec<&str> = tensors
                .names()
                .into_iter()
                .filter(|n| n.starts_with(OPTIM_PREFIX))
                .collect();
            names.sort_unstable();
            for name in names {
                let v = tensors.tensor(name).map_err(|e| err(path, e.to_string()))?;
                state
                    .tensors
                    .push((name[OPTIM_PREFIX.len()..].to_string(), from_view::<F>(path, name, &v)?));
            }
            Some(state)
        }
        None => None,
    };
    if let (Some(opt), Some(state)) = (optimizer, optim_state.as_ref()) {
        opt.load_state(state)
            .map_err(|e| err(path, format!("optimiser state: {e}")))?;
    }
    for (id, v) in values {
        store.set(id, v)?;
    }
    Ok(info)
}

/// The top-level keys whose values differ, for a readable mismatch message.
fn config_diff(a: &ModelConfig, b: &ModelConfig) -> String {
    let (Ok(ta), Ok(tb)) = (toml::Value::try_from(a), toml::Value::try_from(b)) else {
        return "(configs differ)".into();
    };
    let (Some(ta), Some(tb)) = (ta.as_table(), tb.as_table()) else {
        return "(configs differ)".into();
    };
    let mut keys: Vec<&String> = ta.keys().chain(tb.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| ta.get(*k) != tb.get(*k))
        .map(|k| format!("`{k}` (file: {}, model: {})", show(ta.get(k)), show(tb.get(k))))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(v: Option<&toml::Value>) -> String {
    v.map_or("absent".into(), |v| {
        let s = v.to_string();
        if s.len() > 60 { format!("{}...", &s[..60]) } else { s }
    })
}
