//! Run reports (JSON) and the facts every report carries: versions, peak memory.

use super::files;
use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

/// Peak resident memory of this process in bytes (`VmHWM` of /proc/self/status); `None` where
/// that file does not exist (not Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// What a model needs in memory, by part (bytes), estimated from its config before anything
/// is allocated ([`hinet_model::MemoryEstimate`]); reports put it beside the measured peak.
#[derive(Debug, Serialize)]
pub struct MemoryParts {
    pub parameters: u64,
    pub gradients: u64,
    pub optimizer_state: u64,
    pub activations: u64,
    /// The copy of the best epoch's parameters that `hinet train` keeps (0 elsewhere).
    pub best_epoch_copy: u64,
    pub total: u64,
}

impl MemoryParts {
    /// Training `config` with `optimizer` on batches of `batch` rows; `keeps_best`: a copy of
    /// the parameters is held for the best epoch.
    pub fn training(
        config: &hinet_model::ModelConfig,
        optimizer: &hinet_optim::OptimizerKind,
        batch: usize,
        keeps_best: bool,
    ) -> Result<MemoryParts> {
        let e = config
            .memory_estimate(optimizer, batch)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let best = if keeps_best { e.parameter_bytes } else { 0 };
        Ok(MemoryParts {
            parameters: e.parameter_bytes,
            gradients: e.gradient_bytes,
            optimizer_state: e.optimizer_bytes,
            activations: e.activation_bytes,
            best_epoch_copy: best,
            total: e.total_bytes.saturating_add(best),
        })
    }

    /// Predicting with `config` on batches of `batch` rows.
    pub fn inference(config: &hinet_model::ModelConfig, batch: usize) -> Result<MemoryParts> {
        let e = config
            .memory_estimate(&hinet_optim::OptimizerKind::adam(), batch)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(MemoryParts {
            // With a bf16 model's weight copies for its one-row predictions.
            parameters: e.parameter_bytes.saturating_add(e.bf16_weight_copy_bytes),
            gradients: 0,
            optimizer_state: 0,
            activations: e.activation_bytes / 2,
            best_epoch_copy: 0,
            total: e.inference_bytes(),
        })
    }
}

/// Versions and machine facts.
#[derive(Debug, Serialize)]
pub struct Versions {
    /// The hinet crate.
    pub hinet: &'static str,
    /// The GEMM kernel picked by CPU-feature detection.
    pub gemm_kernel: &'static str,
    /// How bf16 products run on this machine: `avx512-bf16` (native `vdpbf16ps`) or
    /// `emulated` (the f32 kernel on operands rounded to bf16).
    pub bf16_products: &'static str,
    /// Operating system.
    pub os: &'static str,
    /// CPU architecture.
    pub arch: &'static str,
    /// Threads of the rayon pool.
    pub threads: usize,
}

impl Versions {
    /// Now.
    pub fn current() -> Self {
        Self {
            hinet: env!("CARGO_PKG_VERSION"),
            gemm_kernel: hinet_kernels::selected_kernel().name(),
            bf16_products: bf16_products(),
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            threads: rayon::current_num_threads(),
        }
    }
}

/// How bf16 products run here (see [`Versions::bf16_products`]).
pub fn bf16_products() -> &'static str {
    if hinet_kernels::bf16_native() {
        "avx512-bf16"
    } else {
        "emulated"
    }
}

/// The precision of a model's products as a log shows it: `f32`, or `bf16` and how it runs.
pub fn precision_label(precision: hinet_model::Precision) -> String {
    match precision {
        hinet_model::Precision::F32 => "f32".into(),
        hinet_model::Precision::Bf16 => format!("bf16 ({})", bf16_products()),
    }
}

/// Writes `value` as pretty JSON, atomically (see [`files`]): a crash or a full disk leaves the
/// previous file or none, never half of one. Callers check the path with
/// [`files::check_output`] before their work starts; this checks it again (folder, stale
/// temporaries) in case it changed meanwhile.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).with_context(|| format!("report {}", path.display()))?;
    files::check_output(path, "report", &[])?;
    files::write_atomic(path, (text + "\n").as_bytes())?;
    tracing::info!("report written to {}", path.display());
    Ok(())
}
