//! `hinet eval`: a checkpoint's AUC and logloss per scenario and task.

use super::Globals;
use super::config;
use super::data::{self, DataArgs, DataDesc};
use super::report::{self, Versions};
use anyhow::{Context, Result, anyhow, bail};
use hinet_data::{DenseNormalizer, SplitSpec};
use hinet_model::checkpoint::CheckpointInfo;
use hinet_model::{MetricsTable, ModelConfig, TrainOptions, Trainer};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `hinet eval`.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// A checkpoint written by `hinet train --checkpoint`.
    pub checkpoint: PathBuf,
    /// The data (default: the data the checkpoint was trained on).
    #[command(flatten)]
    pub data: DataArgs,
    /// Which rows: test, valid, train (of the data's split) or all.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Rows per prediction batch.
    #[arg(long, default_value_t = 4096)]
    pub batch_size: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write a JSON report.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
}

#[derive(Serialize)]
struct EvalOutput<'a> {
    command: &'static str,
    checkpoint: &'a Path,
    data: &'a DataDesc,
    split: &'a str,
    rows: usize,
    metrics: &'a MetricsTable,
    mean_auc: Option<f64>,
    config: &'a ModelConfig,
    versions: Versions,
    rows_per_second: f64,
    peak_rss_bytes: Option<u64>,
}

/// The dense normaliser a checkpoint carries (`None` if it has none).
pub fn stored_normalizer(info: &CheckpointInfo, path: &Path) -> Result<Option<DenseNormalizer>> {
    info.extra
        .get("dense_normalizer")
        .map(|s| serde_json::from_str(s))
        .transpose()
        .map_err(|e| anyhow!("checkpoint {}: extra.dense_normalizer: {e}", path.display()))
}

/// Loads a checkpoint for inference.
pub fn load_checkpoint(path: &Path) -> Result<(Trainer<f32>, CheckpointInfo)> {
    if !path.exists() {
        bail!("checkpoint {}: no such file", path.display());
    }
    Ok(Trainer::<f32>::resume(path, &TrainOptions::default())?)
}

/// Runs `hinet eval`.
pub fn run(args: &EvalArgs, _globals: Globals) -> Result<()> {
    let start = Instant::now();
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let (mut trainer, info) = load_checkpoint(&args.checkpoint)?;
    let origin = format!("checkpoint {}", args.checkpoint.display());
    let stored_desc: Option<DataDesc> = info.extra.get("data").and_then(|s| serde_json::from_str(s).ok());
    if args.data.is_empty() && stored_desc.is_none() {
        bail!("{origin} does not say what data it was trained on: give --data, --preset or --schema");
    }
    let desc = data::describe(&args.data, stored_desc.as_ref())?;
    let stored_split: Option<SplitSpec> = info.extra.get("split").and_then(|s| serde_json::from_str(s).ok());
    let split_seed = match (args.data.split_seed, stored_split) {
        (Some(s), _) => s,
        (None, Some(SplitSpec::Hash { seed, .. } | SplitSpec::FileValid { seed, .. })) => seed,
        _ => data::DEFAULT_SPLIT_SEED,
    };
    let mut source = data::load_source(&desc, &args.data, split_seed, Some(&info.config))?;
    data::log_skips(source.report.as_ref());
    // A validation part carved at training time (--valid-fraction) is carved the same way here.
    if let (SplitSpec::File, Some(carved @ SplitSpec::FileValid { .. }), None) =
        (source.split, stored_split, args.data.valid_fraction)
    {
        source.split = carved;
    }
    config::check_matches(&info.config, &source.data.spec, &origin)?;
    let mut rows = match args.split.as_str() {
        "all" => source.data,
        part => {
            let splits = source.data.split(&source.split)?;
            match part {
                "test" => splits.test,
                "valid" => splits.valid,
                "train" => splits.train,
                other => bail!("--split {other:?}: expected test, valid, train or all"),
            }
        }
    };
    if rows.is_empty() {
        bail!("the {} split of the data is empty (try --split all)", args.split);
    }
    match stored_normalizer(&info, &args.checkpoint)? {
        Some(n) => n
            .apply(&mut rows)
            .context("applying the checkpoint's dense normaliser")?,
        None if !rows.spec.dense.is_empty() => {
            tracing::warn!("{origin} has no dense normaliser: dense values are used as read")
        }
        None => {}
    }
    let t = Instant::now();
    let metrics = data::metrics(&mut trainer, &rows, args.batch_size)?;
    let rows_per_second = rows.len() as f64 / t.elapsed().as_secs_f64();
    let out = EvalOutput {
        command: "eval",
        checkpoint: &args.checkpoint,
        data: &desc,
        split: &args.split,
        rows: rows.len(),
        metrics: &metrics,
        mean_auc: data::mean_auc(&metrics),
        config: &info.config,
        versions: Versions::current(),
        rows_per_second,
        peak_rss_bytes: report::peak_rss_bytes(),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        outln!("{} split, {} rows:", args.split, rows.len());
        out!("{}", metrics.to_table());
        if let Some(m) = out.mean_auc {
            outln!("mean AUC over scenarios and tasks: {m:.4}");
        }
    }
    if let Some(path) = &args.report {
        report::write_json(path, &out)?;
    }
    tracing::debug!("eval done in {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
