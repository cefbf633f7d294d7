//! `hinet train`: data -> splits -> model -> epochs with validation, checkpoints and early
//! stopping -> test metrics, report and plots.

use super::Globals;
use super::config;
use super::data::{self, DataArgs, DataDesc};
use super::eval::stored_normalizer;
use super::plots;
use super::report::{self, Versions};
use anyhow::{Context, Result, anyhow, bail};
use hinet_data::{Batch, Dataset};
use hinet_model::{MetricsTable, ModelConfig, ModelError, TrainOptions, Trainer};
use hinet_optim::OptimizerKind;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `hinet train`.
#[derive(Debug, clap::Args)]
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
    pub epochs: usize,
    /// Rows per training step.
    #[arg(long, default_value_t = 512)]
    pub batch_size: usize,
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
    pub embedding_dim: usize,
    /// Update embedding tables lazily (only the rows a batch uses).
    #[arg(long)]
    pub sparse_embeddings: bool,
    /// L2 penalty on the embedding rows each batch uses, applied lazily: every step adds
    /// LAMBDA * row to the gradient of each distinct row used (docs/optim.md). 0: none.
    #[arg(long, value_name = "LAMBDA", default_value_t = 0.0, allow_negative_numbers = true)]
    pub embedding_l2: f64,
    /// Write the model here (atomically) after every epoch that improves the validation AUC.
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
    pub patience: Option<usize>,
    /// Write a JSON report of the run.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
    /// Write PNG plots (loss and AUC curves, SAN attention heat map) into this folder.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Rows per batch when predicting for validation and test metrics.
    #[arg(long, default_value_t = 4096)]
    pub eval_batch_size: usize,
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

/// One epoch's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Sum over tasks of the logloss on a training subsample (after the epoch).
    pub train_logloss: f64,
    /// Mean AUC over (scenario, task) on that subsample.
    pub train_auc: Option<f64>,
    /// Sum over tasks of the validation logloss.
    pub valid_loss: Option<f64>,
    /// Mean validation AUC over (scenario, task).
    pub valid_auc: Option<f64>,
    /// Per (scenario, task) validation metrics.
    pub valid_metrics: Option<MetricsTable>,
    /// Seconds spent on training steps.
    pub train_seconds: f64,
    /// Training rows per second.
    pub rows_per_second: f64,
    /// Whether the validation score improved (the checkpoint was written).
    pub improved: bool,
}

#[derive(Serialize)]
struct Rows {
    train: usize,
    valid: usize,
    test: usize,
    skipped: u64,
}

#[derive(Serialize)]
struct TrainReport<'a> {
    command: &'static str,
    versions: Versions,
    seed: u64,
    config: &'a ModelConfig,
    optimizer: String,
    lr: f64,
    batch_size: usize,
    epochs: usize,
    sparse_embeddings: bool,
    embedding_l2: f64,
    clip_norm: Option<f64>,
    patience: Option<usize>,
    data: &'a DataDesc,
    split: hinet_data::SplitSpec,
    dense_normalizer: &'a hinet_data::DenseNormalizer,
    rows: Rows,
    history: &'a [EpochRecord],
    best_epoch: Option<usize>,
    test: Option<&'a MetricsTable>,
    test_mean_auc: Option<f64>,
    san_attention: Option<Vec<Vec<f64>>>,
    train_rows_per_second: f64,
    train_seconds: f64,
    total_seconds: f64,
    peak_rss_bytes: Option<u64>,
}

fn progress_bar(rows: usize, epoch: usize, epochs: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(rows as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "epoch {prefix} [{bar:30}] {human_pos}/{human_len} rows, {per_sec}, ETA {eta}, loss {msg}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(format!("{epoch}/{epochs}"));
    pb
}

/// Loss, AUC and metrics of the model on `data` (`None` for an empty set).
fn evaluate(trainer: &mut Trainer<f32>, data: &Dataset, batch: usize) -> Result<Option<MetricsTable>> {
    if data.is_empty() {
        return Ok(None);
    }
    Ok(Some(data::metrics(trainer, data, batch)?))
}

fn save(trainer: &Trainer<f32>, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
    trainer.save(path, extra)?;
    tracing::debug!("checkpoint written to {}", path.display());
    Ok(())
}

/// Runs `hinet train`.
pub fn run(args: &TrainArgs, globals: Globals) -> Result<()> {
    let start = Instant::now();
    if args.batch_size == 0 || args.eval_batch_size == 0 {
        bail!("--batch-size and --eval-batch-size must be at least 1");
    }
    let options = TrainOptions {
        optimizer: optimizer_kind(&args.optimizer)?,
        lr: args.lr,
        sparse_embeddings: args.sparse_embeddings,
        clip_norm: args.clip_norm,
        embedding_l2: args.embedding_l2,
    };
    let resumed = match &args.resume {
        Some(path) => Some(Trainer::<f32>::resume(path, &options)?),
        None => None,
    };
    let stored_desc = match &resumed {
        Some((_, info)) => info
            .extra
            .get("data")
            .and_then(|s| serde_json::from_str::<DataDesc>(s).ok()),
        None => None,
    };
    let desc = data::describe(&args.data, stored_desc.as_ref())?;
    let split_seed = args.data.split_seed.unwrap_or(data::DEFAULT_SPLIT_SEED);
    let source = data::load_source(
        &desc,
        &args.data,
        split_seed,
        resumed.as_ref().map(|(_, info)| &info.config),
    )?;
    data::log_skips(source.report.as_ref());
    let spec = source.data.spec.clone();
    let mut splits = source.data.split(&source.split)?;
    drop(source.data);
    let normalizer = match (&resumed, args.refit_normalizer) {
        // The resumed weights were trained on inputs scaled by the checkpoint's transform: new
        // data must see the same one, not statistics refitted on itself.
        (Some((_, info)), false) => {
            let path = args.resume.as_deref().unwrap_or(Path::new(""));
            let n = stored_normalizer(info, path)?.ok_or_else(|| {
                anyhow!(
                    "checkpoint {}: it stores no dense normaliser; pass --refit-normalizer to fit one on this data",
                    path.display()
                )
            })?;
            for part in [&mut splits.train, &mut splits.valid, &mut splits.test] {
                n.apply(part)
                    .with_context(|| format!("the dense normaliser of checkpoint {}", path.display()))?;
            }
            n
        }
        _ => splits.normalize()?,
    };
    tracing::info!(
        "data: {} scenarios, {} tasks, {} sparse fields, {} dense; rows train {}, valid {}, test {} ({:.1} s)",
        spec.scenarios.len(),
        spec.tasks.len(),
        spec.sparse.len(),
        spec.dense.len(),
        splits.train.len(),
        splits.valid.len(),
        splits.test.len(),
        start.elapsed().as_secs_f64()
    );
    if splits.train.is_empty() {
        bail!("the training split is empty");
    }
    let has_valid = !splits.valid.is_empty();
    if !has_valid {
        if let Some(p) = args.patience {
            bail!(
                "--patience {p} needs validation rows, and this data has none; carve some from the training \
                 files with --valid-fraction F, or drop --patience"
            );
        }
        tracing::info!(
            "no validation rows: early stopping is off and the checkpoint holds the last epoch's model \
             (--valid-fraction F carves validation rows from the training files)"
        );
    }

    let (mut trainer, first_epoch, mut best_score) = match resumed {
        Some((trainer, info)) => {
            let origin = format!(
                "checkpoint {}",
                args.resume.as_deref().unwrap_or(Path::new("")).display()
            );
            config::check_matches(&info.config, &spec, &origin)?;
            let epoch = info.extra.get("epoch").and_then(|e| e.parse().ok()).unwrap_or(0);
            let best = info.extra.get("best_valid_score").and_then(|e| e.parse().ok());
            tracing::info!("resuming after epoch {epoch} (step {})", info.step);
            (trainer, epoch, best)
        }
        None => {
            let config = config::model_config(args.config.as_deref(), &args.set, args.embedding_dim, &spec, true)?;
            (Trainer::<f32>::new(&config, args.seed, &options)?, 0, None)
        }
    };
    let config = trainer.model().config().clone();
    tracing::info!(
        "model: {:?}, input width {}, {} parameters; {} epochs of batch {} with {} lr {}, {} threads",
        config.architecture,
        config.input_width(),
        trainer
            .store()
            .ids()
            .map(|id| trainer.store().value(id).len())
            .sum::<usize>(),
        args.epochs,
        args.batch_size,
        args.optimizer,
        args.lr,
        rayon::current_num_threads()
    );

    let mut extra = BTreeMap::new();
    extra.insert("feature_spec".to_string(), serde_json::to_string(&spec)?);
    extra.insert("dense_normalizer".to_string(), serde_json::to_string(&normalizer)?);
    extra.insert("data".to_string(), serde_json::to_string(&desc)?);
    extra.insert("split".to_string(), serde_json::to_string(&source.split)?);
    extra.insert("seed".to_string(), args.seed.to_string());
    extra.insert("hinet_version".to_string(), env!("CARGO_PKG_VERSION").to_string());

    let sample_rows: Vec<usize> = (0..splits.train.len().min(10_000)).collect();
    let train_sample = splits.train.subset(&sample_rows);
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut best_epoch = None;
    let mut stale = 0usize;
    let mut batch = Batch::new();
    let mut train_seconds = 0.0;
    let mut train_rows = 0usize;
    for epoch in first_epoch + 1..=args.epochs {
        let pb = progress_bar(splits.train.len(), epoch, args.epochs, globals.quiet);
        let epoch_start = Instant::now();
        let mut iter = splits.train.batches(
            args.batch_size,
            Some(args.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        let (mut loss_sum, mut steps, mut running) = (0.0, 0usize, f64::NAN);
        while iter.next_into(&mut batch) {
            let input = data::input_of(&batch, &spec)?;
            let loss = trainer.step(&input).map_err(|e| match e {
                ModelError::NonFiniteLoss(..) => anyhow!("{e}: training diverged; try a lower --lr or --clip-norm"),
                e => e.into(),
            })?;
            loss_sum += loss;
            steps += 1;
            running = if running.is_nan() {
                loss
            } else {
                0.98 * running + 0.02 * loss
            };
            pb.inc(batch.rows as u64);
            if steps % 16 == 1 {
                pb.set_message(format!("{running:.4}"));
            }
        }
        pb.finish_and_clear();
        let seconds = epoch_start.elapsed().as_secs_f64();
        train_seconds += seconds;
        train_rows += splits.train.len();
        let train_m = evaluate(&mut trainer, &train_sample, args.eval_batch_size)?;
        let valid = evaluate(&mut trainer, &splits.valid, args.eval_batch_size)?;
        let valid_auc = valid.as_ref().and_then(data::mean_auc);
        let valid_loss = valid.as_ref().map(data::total_logloss);
        // Higher is better: the mean AUC, else minus the loss; no validation rows: always.
        let score = valid_auc.or(valid_loss.map(|l| -l)).unwrap_or(f64::INFINITY);
        let improved = best_score.is_none_or(|b| score > b || score == f64::INFINITY);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / steps.max(1) as f64,
            train_logloss: train_m.as_ref().map_or(f64::NAN, data::total_logloss),
            train_auc: train_m.as_ref().and_then(data::mean_auc),
            valid_loss,
            valid_auc,
            valid_metrics: valid.clone(),
            train_seconds: seconds,
            rows_per_second: splits.train.len() as f64 / seconds,
            improved,
        };
        let valid_part = if has_valid {
            format!(
                ", valid loss {}, valid mean AUC {}{}",
                valid_loss.map_or("n/a".into(), |v| format!("{v:.4}")),
                valid_auc.map_or("n/a".into(), |v| format!("{v:.4}")),
                if improved && best_score.is_some() {
                    " (best)"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        };
        tracing::info!(
            "epoch {epoch}/{}: train loss {:.4}{valid_part} ({:.1} s, {:.0} rows/s)",
            args.epochs,
            record.train_loss,
            seconds,
            record.rows_per_second
        );
        if let Some(v) = &valid {
            tracing::info!("validation:\n{}", data::brief(v));
        }
        history.push(record);
        if improved {
            best_score = Some(score);
            best_epoch = Some(epoch);
            stale = 0;
            if let Some(path) = &args.checkpoint {
                extra.insert("epoch".to_string(), epoch.to_string());
                extra.insert("best_valid_score".to_string(), score.to_string());
                save(&trainer, path, &extra)?;
            }
        } else {
            stale += 1;
            if let Some(p) = args.patience
                && stale >= p
            {
                tracing::info!("early stop: {stale} epochs without a better validation AUC");
                break;
            }
        }
    }

    if let (Some(path), Some(best)) = (&args.checkpoint, best_epoch)
        && history.last().is_some_and(|r| r.epoch != best)
    {
        tracing::info!(
            "test metrics of the best epoch ({best}), reloaded from {}",
            path.display()
        );
        trainer = Trainer::<f32>::resume(path, &options)
            .with_context(|| format!("reloading the best checkpoint {}", path.display()))?
            .0;
    }
    let test = match evaluate(&mut trainer, &splits.test, args.eval_batch_size)? {
        Some(t) => {
            outln!("Test metrics ({} rows):", t.overall.first().map_or(0, |c| c.rows));
            Some(t)
        }
        None => match evaluate(&mut trainer, &splits.valid, args.eval_batch_size)? {
            Some(v) => {
                outln!(
                    "Validation metrics ({} rows; the data has no test rows):",
                    v.overall.first().map_or(0, |c| c.rows)
                );
                Some(v)
            }
            None => {
                outln!(
                    "Nothing to evaluate: the data has no test or validation rows{}.",
                    match &args.checkpoint {
                        Some(p) => format!(" (the trained model is in {})", p.display()),
                        None => String::new(),
                    }
                );
                None
            }
        },
    };
    if let Some(t) = &test {
        out!("{}", t.to_table());
        if let Some(m) = data::mean_auc(t) {
            outln!("mean AUC over scenarios and tasks: {m:.4}");
        }
    }
    let attention = trainer.model().san_attention(trainer.store())?;
    let attention: Option<Vec<Vec<f64>>> = attention.map(|a| {
        a.rows()
            .into_iter()
            .map(|r| r.iter().map(|&v| v as f64).collect())
            .collect()
    });
    if let Some(dir) = &args.plots {
        plots::training_plots(dir, &history, attention.as_deref(), &config.scenarios)?;
    }
    if let Some(path) = &args.report {
        let r = TrainReport {
            command: "train",
            versions: Versions::current(),
            seed: args.seed,
            config: &config,
            optimizer: args.optimizer.clone(),
            lr: args.lr,
            batch_size: args.batch_size,
            epochs: args.epochs,
            sparse_embeddings: args.sparse_embeddings,
            embedding_l2: args.embedding_l2,
            clip_norm: args.clip_norm,
            patience: args.patience,
            data: &desc,
            split: source.split,
            dense_normalizer: &normalizer,
            rows: Rows {
                train: splits.train.len(),
                valid: splits.valid.len(),
                test: splits.test.len(),
                skipped: source.report.as_ref().map_or(0, |r| r.rows_skipped),
            },
            history: &history,
            best_epoch,
            test: test.as_ref(),
            test_mean_auc: test.as_ref().and_then(data::mean_auc),
            san_attention: attention,
            train_rows_per_second: train_rows as f64 / train_seconds.max(1e-9),
            train_seconds,
            total_seconds: start.elapsed().as_secs_f64(),
            peak_rss_bytes: report::peak_rss_bytes(),
        };
        report::write_json(path, &r)?;
    }
    tracing::info!("done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
