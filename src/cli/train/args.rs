//! The options of `hinet train` and their checked numbers ([`Settings`]): every value is
//! validated, naming the option, before any work.

use super::super::data::{self, DataArgs};
use anyhow::{Result, bail};
use hinet_optim::OptimizerKind;
use std::path::PathBuf;

/// Options of `hinet train`. Numbers are parsed as signed (`--lr -0.1` is a value, not a flag)
/// and checked by [`Settings::of`], which names the option it refuses.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct TrainArgs {
    /// Model configuration: `small` (built in, the default), `bench-default` or a TOML file
    /// (hinet_model::ModelConfig; `base = "small"` starts it from a built-in). Features it does
    /// not list are taken from the data.
    #[arg(long, value_name = "small|bench-default|FILE.toml")]
    pub config: Option<String>,
    /// Override one key of the model config, e.g. `--set expert_hidden=[128,64]` (repeatable;
    /// VALUE is TOML).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Passes over the training split.
    #[arg(long, default_value_t = 2)]
    pub epochs: i64,
    /// Rows per training step.
    #[arg(long, default_value_t = 512)]
    pub batch_size: i64,
    /// Seed of the model's initialisation and of the shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Update rule: adam, adamw, sgd, momentum, adagrad.
    #[arg(long, default_value = "adam")]
    pub optimizer: String,
    /// Learning rate.
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Clip the global gradient norm.
    #[arg(long, value_name = "NORM")]
    pub clip_norm: Option<f64>,
    /// Embedding width of every sparse field (when the config does not list the features).
    #[arg(long, default_value_t = 8)]
    pub embedding_dim: i64,
    /// Update every embedding table lazily (only the rows a batch uses, with their optimiser
    /// state). By default tables of 100,000 rows or more are updated lazily, smaller ones
    /// densely.
    #[arg(long, conflicts_with = "dense_embeddings")]
    pub sparse_embeddings: bool,
    /// Update every embedding table densely (every row, every step), whatever its size.
    #[arg(long)]
    pub dense_embeddings: bool,
    /// L2 penalty on the embedding rows each batch uses, applied lazily: every step adds
    /// LAMBDA * row to the gradient of each distinct row used (docs/optim.md). 0: none.
    #[arg(long, value_name = "LAMBDA", default_value_t = 0.0)]
    pub embedding_l2: f64,
    /// Write the model here (atomically) after every epoch that improves the validation AUC.
    /// Its folder must exist; another run writing the same path is refused (a lock beside it).
    /// It may be the --resume checkpoint itself (continuing in place).
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    /// Fit the dense normaliser on this run's training rows even when resuming (by default a
    /// resumed run keeps the checkpoint's, so that its weights see inputs scaled as before).
    #[arg(long, requires = "resume")]
    pub refit_normalizer: bool,
    /// Continue from a checkpoint (its config, parameters, optimiser state and epoch count).
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// Stop after N epochs without a better mean validation AUC.
    #[arg(long, value_name = "N")]
    pub patience: Option<i64>,
    /// Write a JSON report of the run.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Write PNG plots (loss and AUC curves, SAN attention heat map) into this folder.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Rows per batch when predicting for validation and test metrics.
    #[arg(long, default_value_t = 4096)]
    pub eval_batch_size: i64,
    /// Stream the CSV files epoch after epoch in bounded memory instead of reading them into
    /// memory (default: chosen by the files' size against the memory available).
    #[arg(long, conflicts_with = "in_memory")]
    pub stream: bool,
    /// Read the data into memory whatever its size (exact shuffles; the fastest path).
    #[arg(long)]
    pub in_memory: bool,
    /// Rows of the shuffle buffer when streaming: each batch is drawn at random from at least
    /// this many rows.
    #[arg(long, value_name = "ROWS", default_value_t = 262_144)]
    pub shuffle_buffer: i64,
    /// Under mpirun: where the embedding tables live. `sharded` (row r on rank r mod N, with its
    /// optimiser state), `replicated` (every rank holds them all), or `auto`: sharded from one
    /// million rows in all. See docs/distributed.md.
    #[arg(long, value_name = "sharded|replicated|auto", default_value = "auto")]
    pub embeddings: String,
    /// Under mpirun: how ranks divide the rows. `files`: each rank reads only its own input
    /// files (balanced by size); `rows`: every rank reads every file and keeps every N-th row;
    /// `auto`: by file when there are at least N files with training rows and they balance
    /// within 1.25x, else by row. See docs/distributed.md.
    #[arg(long, value_name = "files|rows|auto", default_value = "auto")]
    pub data_shares: String,
    /// Operand precision of the matrix products: `f32`, or `bf16` (mixed precision: operands
    /// rounded to bfloat16, sums, weights and optimiser state in f32; native with AVX512-BF16,
    /// emulated elsewhere). Overrides the config's `precision` (a resumed checkpoint's too).
    #[arg(long, value_name = "f32|bf16", value_parser = precision_arg)]
    pub precision: Option<hinet_model::Precision>,
}

/// Parses `--precision`, naming what it takes.
pub fn precision_arg(name: &str) -> std::result::Result<hinet_model::Precision, String> {
    hinet_model::Precision::from_name(name).ok_or_else(|| format!("{name:?}: expected f32 or bf16"))
}

/// Most epochs a run may ask for.
pub(super) const MAX_EPOCHS: u64 = 1_000_000;

/// Largest batch (rows) a run may ask for; a batch is never larger than the data anyway.
pub(super) const MAX_BATCH: u64 = 1 << 32;

/// The numbers of [`TrainArgs`], checked before any work.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `--epochs`, at least 1.
    pub epochs: usize,
    /// `--batch-size`, at least 1.
    pub batch_size: usize,
    /// `--eval-batch-size`, at least 1.
    pub eval_batch_size: usize,
    /// `--embedding-dim`, at least 1.
    pub embedding_dim: usize,
    /// `--patience`, at least 1.
    pub patience: Option<usize>,
    /// `--shuffle-buffer`, at least 1.
    pub shuffle_buffer: usize,
}

impl Settings {
    /// Checks every number of `args`, naming the first option that is wrong and what it takes.
    pub fn of(args: &TrainArgs) -> Result<Settings> {
        if args.epochs == 0 {
            bail!(
                "--epochs 0: nothing would be trained and nothing written; pass --epochs N with N >= 1 (the number \
                 of passes over the training data)"
            );
        }
        let s = Settings {
            epochs: data::count("--epochs", args.epochs, 1, MAX_EPOCHS)?,
            batch_size: data::count("--batch-size", args.batch_size, 1, MAX_BATCH)?,
            eval_batch_size: data::count("--eval-batch-size", args.eval_batch_size, 1, MAX_BATCH)?,
            shuffle_buffer: data::count("--shuffle-buffer", args.shuffle_buffer, 1, MAX_BATCH)?,
            embedding_dim: data::count("--embedding-dim", args.embedding_dim, 1, u64::from(u32::MAX))?,
            patience: args
                .patience
                .map(|p| data::count("--patience", p, 1, MAX_EPOCHS))
                .transpose()?,
        };
        if !(args.lr.is_finite() && args.lr > 0.0) {
            bail!(
                "--lr {}: the learning rate must be a finite number greater than 0, e.g. --lr 0.002",
                args.lr
            );
        }
        if let Some(c) = args.clip_norm
            && !(c.is_finite() && c > 0.0)
        {
            bail!("--clip-norm {c}: must be a finite number greater than 0, e.g. --clip-norm 1");
        }
        let l = args.embedding_l2;
        if !(l.is_finite() && l >= 0.0) {
            bail!("--embedding-l2 {l}: embedding_l2 must be a finite number of at least 0 (0: no penalty)");
        }
        data::validate_args(&args.data)?;
        Ok(s)
    }
}

/// Parses an optimiser name.
pub fn optimizer_kind(name: &str) -> Result<OptimizerKind> {
    Ok(match name {
        "adam" => OptimizerKind::adam(),
        "adamw" => OptimizerKind::adamw(),
        "sgd" => OptimizerKind::sgd(),
        "momentum" => OptimizerKind::momentum(0.9),
        "adagrad" => OptimizerKind::adagrad(),
        other => bail!("--optimizer {other:?}: expected adam, adamw, sgd, momentum or adagrad"),
    })
}

impl TrainArgs {
    /// [`hinet_model::TrainOptions::lazy_from_rows`] under `--dense-embeddings` or not.
    pub fn lazy_from_rows(&self) -> Option<usize> {
        (!self.dense_embeddings).then_some(hinet_model::LAZY_FROM_ROWS)
    }
}
