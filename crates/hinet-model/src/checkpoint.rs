//! Checkpoints: one safetensors file holding every parameter and buffer under its hierarchical
//! name (PyTorch layouts: a Linear weight is `[out, in]`), the optimiser state under `optim.`,
//! and in the metadata the format version, the model config (TOML) and the training step.
//!
//! Writes are atomic: the bytes are streamed (one small buffer, no second copy of the model)
//! to a temporary file `.NAME.tmp-PID` in the same directory, which is flushed to disk and then
//! renamed over the target, so a crash leaves either the old checkpoint or the new one, never
//! half of one. A failed write (disk full, any I/O error) removes the temporary file and names
//! the checkpoint; a model holding NaN or infinity is not written at all.
//!
//! Reads trust nothing in the file: the header is read on its own and checked against the
//! file's size before anything else is allocated, a stored config that describes more tensor
//! data than the file holds is refused before a model is built, and every tensor's name, dtype,
//! shape and values (NaN and infinity are refused, naming the tensor) are checked before the
//! model or the optimiser changes.

use crate::config::ModelConfig;
use crate::error::{ModelError, Result};
use hinet_autograd::{Float, ParamStore};
use hinet_optim::{OptimState, Optimizer};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use safetensors::tensor::{Dtype, Metadata, TensorInfo, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The layout version written into every checkpoint.
pub const FORMAT_VERSION: &str = "1";
const OPTIM_PREFIX: &str = "optim.";
/// safetensors' own bound on the JSON header.
const MAX_HEADER_BYTES: u64 = 100_000_000;
/// Problems listed in one error message (the rest are counted).
const MAX_PROBLEMS: usize = 20;
/// Bytes encoded at a time when streaming a tensor to the file.
const CHUNK_BYTES: usize = 1 << 16;

fn err(path: &Path, why: impl Into<String>) -> ModelError {
    ModelError::Checkpoint {
        path: path.display().to_string(),
        why: why.into(),
    }
}

fn dtype_of<F: Float>() -> Dtype {
    if F::NAME == "f32" { Dtype::F32 } else { Dtype::F64 }
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
    /// Whether it holds optimiser state (`optim.meta`): needed to resume training, not to
    /// evaluate or predict.
    pub has_optimizer_state: bool,
    /// The file's size in bytes.
    pub file_bytes: u64,
}

/// The first element of `values` that is NaN or infinite, as `(index, value)`.
fn first_non_finite<F: Float>(values: impl Iterator<Item = F>) -> Option<(usize, f64)> {
    values
        .enumerate()
        .find(|(_, v)| !v.is_finite())
        .map(|(i, v)| (i, v.f64()))
}

/// Writes `store` (and the optimiser's state, if given) to `path` atomically. Refuses, before
/// anything is written and naming the tensor, a parameter, buffer or state tensor holding NaN or
/// infinity (a checkpoint that could not be loaded back must not replace a good one). Without
/// an optimiser the file has no optimiser state: it can be evaluated
/// ([`crate::Trainer::load_for_inference`]) but not resumed.
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
    let mut entries: Vec<(String, ArrayViewD<'_, F>)> = store
        .ids()
        .map(|id| (store.name(id).to_string(), store.value(id).view()))
        .collect();
    if let Some(opt) = optimizer {
        let json = serde_json::to_string(&opt.state_meta()).map_err(|e| err(path, e.to_string()))?;
        meta.insert("optim.meta".to_string(), json);
        for (name, shape, values) in opt.state_buffers() {
            let view = ArrayViewD::from_shape(IxDyn(shape), values)
                .map_err(|e| err(path, format!("optimiser state {name}: {e}")))?;
            entries.push((format!("{OPTIM_PREFIX}{name}"), view));
        }
    }
    for (name, view) in &entries {
        if let Some((i, v)) = first_non_finite(view.iter().copied()) {
            return Err(err(
                path,
                format!(
                    "not written: tensor {name} holds {v} at element {i} (the model diverged; \
                     any previous checkpoint at this path is unchanged)"
                ),
            ));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let header = header_bytes::<F>(&entries, meta).map_err(|e| err(path, e))?;
    write_atomically(path, |w| write_body::<F>(w, &header, &entries))
}

/// The safetensors header (length prefix included) of `entries` written in this order.
fn header_bytes<F: Float>(
    entries: &[(String, ArrayViewD<'_, F>)],
    meta: HashMap<String, String>,
) -> Result<Vec<u8>, String> {
    let size = std::mem::size_of::<F>();
    let mut offset = 0usize;
    let mut infos = Vec::with_capacity(entries.len());
    for (name, view) in entries {
        let n = view
            .len()
            .checked_mul(size)
            .and_then(|b| offset.checked_add(b))
            .ok_or_else(|| format!("tensor {name}: size overflows"))?;
        infos.push((
            name.clone(),
            TensorInfo {
                dtype: dtype_of::<F>(),
                shape: view.shape().to_vec(),
                data_offsets: (offset, n),
            },
        ));
        offset = n;
    }
    let metadata = Metadata::new(Some(meta), infos).map_err(|e| e.to_string())?;
    let mut json = serde_json::to_string(&metadata)
        .map_err(|e| e.to_string())?
        .into_bytes();
    // safetensors aligns the data to 8 bytes with spaces after the JSON.
    json.resize(json.len().next_multiple_of(8), b' ');
    if json.len() as u64 > MAX_HEADER_BYTES {
        return Err(format!(
            "the header would be {} bytes, over safetensors' limit of {MAX_HEADER_BYTES}",
            json.len()
        ));
    }
    let mut out = Vec::with_capacity(8 + json.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// Streams the header and every tensor (little-endian, in `entries` order) to `w`, encoding a
/// small chunk at a time.
fn write_body<F: Float>(w: &mut dyn Write, header: &[u8], entries: &[(String, ArrayViewD<'_, F>)]) -> io::Result<()> {
    w.write_all(header)?;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 8);
    let f32_file = dtype_of::<F>() == Dtype::F32;
    for (_, view) in entries {
        for v in view.iter() {
            if f32_file {
                buf.extend_from_slice(&(v.f64() as f32).to_le_bytes());
            } else {
                buf.extend_from_slice(&v.f64().to_le_bytes());
            }
            if buf.len() >= CHUNK_BYTES {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    w.write_all(&buf)
}

/// The temporary file beside `path`: `.NAME.tmp-PID` (the command cleans stale ones of dead
/// processes by this pattern).
pub fn temporary_path(path: &Path) -> Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new(""));
    let file_name = path.file_name().ok_or_else(|| err(path, "not a file path"))?;
    Ok(dir.join(format!(".{}.tmp-{}", file_name.to_string_lossy(), std::process::id())))
}

/// Creates `tmp` afresh without following a link left at its name: a stale entry (ours, from
/// a process that had the same id) is removed first, so the bytes can only go to a new file.
fn create_fresh(tmp: &Path) -> io::Result<File> {
    let open = || OpenOptions::new().write(true).create_new(true).open(tmp);
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(tmp)?;
            open()
        }
        r => r,
    }
}

/// Runs `body` on a buffered writer to the temporary file beside `path`, then flushes it, syncs
/// it to disk and renames it over `path`. On any error the temporary file is removed (when this
/// call created it) and the error names the checkpoint.
pub(crate) fn write_atomically(path: &Path, body: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let tmp = temporary_path(path)?;
    let mut created = false;
    let result = (|| -> io::Result<()> {
        let file = create_fresh(&tmp)?;
        created = true;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        body(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    match result {
        Ok(()) => {
            // Persist the rename itself; not every platform can open a directory, so best effort.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        }
        Err(e) => {
            let cleanup = if !created {
                String::new()
            } else {
                match std::fs::remove_file(&tmp) {
                    Ok(()) => "; the partial temporary file was removed".to_string(),
                    Err(r) if r.kind() == io::ErrorKind::NotFound => String::new(),
                    Err(r) => format!(
                        "; the temporary file {} could not be removed ({r}): delete it by hand",
                        tmp.display()
                    ),
                }
            };
            Err(err(
                path,
                format!("cannot write: {e}{cleanup}; any previous checkpoint at this path is unchanged"),
            ))
        }
    }
}

/// An open checkpoint whose header was read and checked against the file's size.
struct Opened {
    file: File,
    len: u64,
    header_len: u64,
    metadata: Metadata,
}

/// Opens a regular file and reads only its header: the length prefix is checked against the
/// file's size and safetensors' bound before the header is read, and the header's tensors must
/// account for the rest of the file exactly. Allocates at most the header's size.
fn open(path: &Path) -> Result<Opened> {
    let cannot = |e: io::Error| err(path, format!("cannot read: {e}"));
    let kind = std::fs::metadata(path).map_err(cannot)?;
    if !kind.is_file() {
        return Err(err(path, "cannot read: not a regular file"));
    }
    let mut file = File::open(path).map_err(cannot)?;
    let len = file.metadata().map_err(cannot)?.len();
    let not = |why: String| err(path, format!("not a safetensors file: {why}"));
    if len < 8 {
        return Err(not(format!("{len} bytes, less than the 8-byte header length")));
    }
    let mut prefix = [0u8; 8];
    file.read_exact(&mut prefix).map_err(cannot)?;
    let n = u64::from_le_bytes(prefix);
    if n > MAX_HEADER_BYTES {
        return Err(not(format!(
            "header length {n} is over safetensors' limit of {MAX_HEADER_BYTES}"
        )));
    }
    if n > len - 8 {
        return Err(not(format!(
            "a header of {n} bytes does not fit in a file of {len} bytes (truncated?)"
        )));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(cannot)?;
    let metadata: Metadata = serde_json::from_slice(&header).map_err(|e| not(format!("header: {e}")))?;
    let data = len - 8 - n;
    if metadata.data_len() as u64 != data {
        return Err(not(format!(
            "the header describes {} bytes of tensor data, the file holds {data} (truncated or corrupt)",
            metadata.data_len()
        )));
    }
    Ok(Opened {
        file,
        len,
        header_len: n,
        metadata,
    })
}

fn parse_info(path: &Path, opened: &Opened) -> Result<CheckpointInfo> {
    let meta = opened
        .metadata
        .metadata()
        .as_ref()
        .ok_or_else(|| err(path, "no metadata (not a HiNet-rs checkpoint?)"))?;
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| err(path, format!("metadata has no `{k}` (not a HiNet-rs checkpoint?)")))
    };
    let version = get("format_version")?;
    if version != FORMAT_VERSION {
        return Err(err(
            path,
            format!("format version {version:?}, this build reads {FORMAT_VERSION}"),
        ));
    }
    let config = ModelConfig::from_toml(get("config")?).map_err(|e| err(path, format!("stored config: {e}")))?;
    let step = get("step")?.parse().map_err(|e| err(path, format!("step: {e}")))?;
    // The tensors of the stored config must be in the file, at 4 bytes or more each: a config
    // that claims more is refused here, before anyone builds (allocates) the model it describes.
    let estimate = config
        .memory_estimate(&hinet_optim::OptimizerKind::sgd(), 0)
        .map_err(|e| err(path, format!("stored config: {e}")))?;
    let elements = estimate.parameters.saturating_add(estimate.buffers);
    // Every tensor of the model is stored under its name: a config describing more tensors
    // than the header lists is corrupt (and would cost more to build than the file weighs).
    let listed = opened
        .metadata
        .tensors()
        .keys()
        .filter(|n| !n.starts_with(OPTIM_PREFIX))
        .count() as u64;
    if estimate.tensors > listed {
        return Err(err(
            path,
            format!(
                "the stored config describes {} tensors but the file holds {listed}: the config or \
                 the file is corrupt",
                estimate.tensors
            ),
        ));
    }
    let data = opened.len - 8 - opened.header_len;
    if elements.saturating_mul(4) > data {
        return Err(err(
            path,
            format!(
                "the stored config describes {elements} parameters (at least {} bytes) but the file \
                 holds {data} bytes of tensor data: the config or the file is corrupt",
                elements.saturating_mul(4)
            ),
        ));
    }
    let extra = meta
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("extra.").map(|k| (k.to_string(), v.clone())))
        .collect();
    Ok(CheckpointInfo {
        config,
        step,
        extra,
        has_optimizer_state: meta.contains_key("optim.meta"),
        file_bytes: opened.len,
    })
}

/// Reads only the header (to build the model a checkpoint belongs to): allocates at most the
/// header's size, and refuses a stored config describing more tensor data than the file holds.
pub fn read_info(path: &Path) -> Result<CheckpointInfo> {
    parse_info(path, &open(path)?)
}

/// Checks a stored tensor's dtype (f32 or f64) and values (finite once converted to `F`).
fn check_values<F: Float>(name: &str, v: &TensorView<'_>) -> Result<(), String> {
    let bad = |(i, x): (usize, f64)| {
        format!(
            "{name}: element {i} is {x} (NaN or infinite values are refused; the file is corrupt or the model diverged)"
        )
    };
    match v.dtype() {
        Dtype::F32 | Dtype::F64 => {
            decoded::<F>(v).map_or(Ok(()), |it| first_non_finite(it).map_or(Ok(()), |p| Err(bad(p))))
        }
        other => Err(format!("{name}: dtype {other:?}, expected F32 or F64")),
    }
}

/// The values of an f32 or f64 tensor converted to `F` (None for another dtype).
fn decoded<'a, F: Float>(v: &TensorView<'a>) -> Option<Box<dyn Iterator<Item = F> + 'a>> {
    let data: &'a [u8] = v.data();
    match v.dtype() {
        Dtype::F32 => Some(Box::new(
            data.chunks_exact(4)
                .map(|c| F::of(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)),
        )),
        Dtype::F64 => {
            Some(Box::new(data.chunks_exact(8).map(|c| {
                F::of(f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            })))
        }
        _ => None,
    }
}

/// An owned tensor of `F` (optimiser state), its dtype and values checked.
fn to_array<F: Float>(path: &Path, name: &str, v: &TensorView<'_>) -> Result<ArrayD<F>> {
    check_values::<F>(name, v).map_err(|e| err(path, e))?;
    let values: Vec<F> = decoded::<F>(v).map(Iterator::collect).unwrap_or_default();
    ArrayD::from_shape_vec(v.shape().to_vec(), values).map_err(|e| err(path, format!("tensor {name}: {e}")))
}

/// The tensors of a checkpoint read whole: the header's entries over the data section.
struct Stored<'a> {
    infos: HashMap<String, &'a TensorInfo>,
    data: &'a [u8],
}

impl<'a> Stored<'a> {
    fn tensor(&self, name: &str) -> std::result::Result<TensorView<'a>, String> {
        let info = self
            .infos
            .get(name)
            .ok_or_else(|| format!("{name}: missing from the file"))?;
        let (s, e) = info.data_offsets;
        let data = self
            .data
            .get(s..e)
            .ok_or_else(|| format!("{name}: data offsets [{s}, {e}) outside the file"))?;
        TensorView::new(info.dtype, info.shape.clone(), data).map_err(|x| format!("{name}: {x}"))
    }

    fn names(&self) -> Vec<&str> {
        self.infos.keys().map(String::as_str).collect()
    }
}

/// Loads a checkpoint into a model's store (and optimiser). Refuses, saying exactly what does
/// not match, when the stored config differs from `config`, a tensor is missing or unexpected,
/// a shape or dtype differs, or a value is NaN or infinite; with an optimiser, when the file
/// has no optimiser state or the state does not fit. Nothing is changed unless everything
/// matches. The file is read once into memory (its size, no more); optimiser tensors are
/// ignored when `optimizer` is `None`.
pub fn load<F: Float>(
    path: &Path,
    config: &ModelConfig,
    store: &mut ParamStore<F>,
    optimizer: Option<&mut Optimizer<F>>,
) -> Result<CheckpointInfo> {
    let mut opened = open(path)?;
    let info = parse_info(path, &opened)?;
    if &info.config != config {
        return Err(err(
            path,
            format!(
                "config differs from the model's in: {}",
                config_diff(&info.config, config)
            ),
        ));
    }
    let cannot = |e: String| err(path, format!("cannot read: {e}"));
    let len = usize::try_from(opened.len).map_err(|e| cannot(e.to_string()))?;
    let mut bytes: Vec<u8> = Vec::new();
    bytes
        .try_reserve_exact(len)
        .map_err(|_| cannot(format!("not enough memory to read its {len} bytes")))?;
    opened.file.rewind().map_err(|e| cannot(e.to_string()))?;
    (&mut opened.file)
        .take(opened.len)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(e.to_string()))?;
    if bytes.len() != len {
        return Err(cannot(format!(
            "the file changed while being read ({len} bytes, then {})",
            bytes.len()
        )));
    }
    // The header read by `open` describes this data (checked against the file's size); it is
    // not parsed a second time.
    let start = usize::try_from(8 + opened.header_len).map_err(|e| cannot(e.to_string()))?;
    let data = bytes.get(start..).unwrap_or_default();
    let tensors = Stored {
        infos: opened.metadata.tensors(),
        data,
    };
    let mut problems = Vec::new();
    let mut values = Vec::new();
    for id in store.ids() {
        let name = store.name(id);
        match tensors.tensor(name) {
            Ok(v) if v.shape() != store.value(id).shape() => problems.push(format!(
                "{name}: shape {:?} in the file, {:?} in the model",
                v.shape(),
                store.value(id).shape()
            )),
            Ok(v) => match check_values::<F>(name, &v) {
                Ok(()) => values.push((id, v)),
                Err(e) => problems.push(e),
            },
            Err(e) => problems.push(e),
        }
    }
    let mut names = tensors.names();
    names.sort_unstable();
    for name in names {
        if !name.starts_with(OPTIM_PREFIX) && store.id(name).is_err() {
            problems.push(format!("{name}: in the file but not in the model"));
        }
    }
    if !problems.is_empty() {
        let more = problems.len().saturating_sub(MAX_PROBLEMS);
        problems.truncate(MAX_PROBLEMS);
        if more > 0 {
            problems.push(format!("and {more} more"));
        }
        return Err(err(path, problems.join("; ")));
    }
    if let Some(opt) = optimizer {
        let meta = opened.metadata.metadata().as_ref();
        let json = meta.and_then(|m| m.get("optim.meta")).ok_or_else(|| {
            err(
                path,
                "no optimiser state in this checkpoint (it was saved without one): it can be \
                 evaluated or used for predictions, but training cannot resume from it",
            )
        })?;
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
            let v = tensors.tensor(name).map_err(|e| err(path, e))?;
            state
                .tensors
                .push((name[OPTIM_PREFIX.len()..].to_string(), to_array::<F>(path, name, &v)?));
        }
        opt.load_state(&state)
            .map_err(|e| err(path, format!("optimiser state: {e}")))?;
    }
    for (id, v) in values {
        if let Some(decoded) = decoded::<F>(&v) {
            for (dst, x) in store.value_mut(id).iter_mut().zip(decoded) {
                *dst = x;
            }
        }
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
        // By characters: a byte cut could fall inside a multi-byte character and panic.
        if s.chars().count() > 60 {
            format!("{}...", s.chars().take(60).collect::<String>())
        } else {
            s
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Model, SparseFeature};
    use safetensors::tensor::SafeTensors;

    /// A writer that accepts `left` bytes, then fails as a full disk does (ENOSPC).
    struct DiskFull<'a> {
        inner: &'a mut dyn Write,
        left: usize,
    }

    impl Write for DiskFull<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::from_raw_os_error(28));
            }
            let n = self.inner.write(&buf[..buf.len().min(self.left)])?;
            self.left -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }

    fn small() -> (ModelConfig, ParamStore<f32>) {
        let config = ModelConfig {
            scenarios: vec!["a".into(), "b".into()],
            sparse: vec![SparseFeature {
                name: "item".into(),
                vocab: 5000,
                dim: 8,
            }],
            sub_experts: 2,
            expert_hidden: vec![16],
            scenario_embedding_dim: 4,
            cgc_hidden: vec![8],
            tower_hidden: vec![4],
            ..ModelConfig::default()
        };
        let mut store = ParamStore::new();
        Model::<f32>::new(&config, &mut store, 1).unwrap();
        (config, store)
    }

    /// The real writer (header, then the tensors in chunks) on a disk that fills up after
    /// `limit` bytes, at every stage of the file: the error names the checkpoint and the cause,
    /// the partial temporary file is removed and the previous checkpoint is unchanged. (A disk
    /// that fills up during the final flush or `sync_all` takes the same cleanup path; it is
    /// not simulated here.)
    #[test]
    fn a_full_disk_names_the_checkpoint_and_removes_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, b"previous checkpoint").unwrap();
        let (config, store) = small();
        let mut meta = HashMap::new();
        meta.insert("config".to_string(), config.to_toml().unwrap());
        let entries: Vec<(String, ArrayViewD<'_, f32>)> = store
            .ids()
            .map(|id| (store.name(id).to_string(), store.value(id).view()))
            .collect();
        let header = header_bytes::<f32>(&entries, meta).unwrap();
        let total = header.len() + 4 * entries.iter().map(|e| e.1.len()).sum::<usize>();
        assert!(total > 2 * CHUNK_BYTES, "{total}");
        let tmp = temporary_path(&path).unwrap();
        for limit in [0, 7, header.len(), header.len() + 1, CHUNK_BYTES + 3, total - 1] {
            let e = write_atomically(&path, |w| {
                assert!(tmp.exists(), "the temporary file is written beside the target");
                let mut full = DiskFull { inner: w, left: limit };
                write_body::<f32>(&mut full, &header, &entries)?;
                full.flush()
            })
            .unwrap_err()
            .to_string();
            assert!(
                e.contains(&path.display().to_string())
                    && e.contains("No space left on device")
                    && e.contains("the partial temporary file was removed"),
                "{limit}: {e}"
            );
            assert!(!tmp.exists());
            assert_eq!(std::fs::read(&path).unwrap(), b"previous checkpoint");
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, vec![std::ffi::OsString::from("model.safetensors")]);
        }
        // Without the failure, the same writer produces a checkpoint that loads.
        write_atomically(&path, |w| write_body::<f32>(w, &header, &entries)).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, total);
        let (_, metadata) = SafeTensors::read_metadata(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(metadata.tensors().len(), entries.len());
    }

    /// The streamed file holds what safetensors itself would serialise: the same metadata and
    /// the same tensors, byte for byte (the JSON's key order follows a hash map, so the files
    /// are compared parsed).
    #[test]
    fn the_streamed_file_equals_safetensors_serialize() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let (config, store) = small();
        save(&path, &config, &store, None, 4, &BTreeMap::new()).unwrap();
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "hinet-rs".to_string());
        meta.insert("format_version".to_string(), FORMAT_VERSION.to_string());
        meta.insert("config".to_string(), config.to_toml().unwrap());
        meta.insert("step".to_string(), "4".to_string());
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = store
            .ids()
            .map(|id| {
                let v = store.value(id);
                let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (store.name(id).to_string(), v.shape().to_vec(), b)
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(n, s, b)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), b).unwrap()));
        let expected = safetensors::serialize(views, Some(meta)).unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len(), expected.len());
        let parse = |b: &[u8]| {
            let (_, m) = SafeTensors::read_metadata(b).unwrap();
            let st = SafeTensors::deserialize(b).unwrap();
            let mut t: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
                .tensors()
                .into_iter()
                .map(|(n, v)| (n, v.dtype(), v.shape().to_vec(), v.data().to_vec()))
                .collect();
            t.sort_by(|a, b| a.0.cmp(&b.0));
            (m.metadata().clone(), t)
        };
        let (a, b) = (parse(&written), parse(&expected));
        assert!(a == b, "the streamed checkpoint differs from safetensors::serialize");
    }
}
