//! `hinet train`: data -> splits -> model -> epochs with validation, checkpoints and early
//! stopping -> test metrics, report and plots.
//!
//! The options are in `args.rs`, the outputs and their safety in `outputs.rs`, the best model
//! kept in memory in `best.rs`; this file runs the epochs and writes the report.

mod args;
mod best;
mod distributed;
mod outputs;
mod shares;
mod source;

pub use args::{Settings, TrainArgs, optimizer_kind, precision_arg};
use best::{Best, Final};
pub(crate) use distributed::placement as embedding_placement;
use outputs::{check_outputs, input_paths};
use source::{InMemory, Reading, Streamed, TrainData};

use super::Globals;
use super::config;
use super::data::{self, DataDesc};
use super::eval::stored_normalizer;
use super::plots;
use super::report::{self, Versions};
use anyhow::{Context, Result, anyhow, bail};
use hinet_data::{Batch, DENSE_WARN_ABS, Dataset, FeatureSpec, Part};
use hinet_model::checkpoint::{self, CheckpointInfo};
use hinet_model::{MetricsTable, ModelConfig, ModelError, TrainOptions, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

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
    /// Tables of at least this many rows were updated lazily (`null`: none by size).
    lazy_from_rows: Option<usize>,
    embedding_l2: f64,
    clip_norm: Option<f64>,
    patience: Option<usize>,
    data: &'a DataDesc,
    split: hinet_data::SplitSpec,
    dense_normalizer: &'a hinet_data::DenseNormalizer,
    rows: Rows,
    /// Whether the files were streamed each epoch (rather than read into memory).
    streamed: bool,
    history: &'a [EpochRecord],
    best_epoch: Option<usize>,
    test: Option<&'a MetricsTable>,
    test_mean_auc: Option<f64>,
    san_attention: Option<Vec<Vec<f64>>>,
    train_rows_per_second: f64,
    train_seconds: f64,
    total_seconds: f64,
    peak_rss_bytes: Option<u64>,
    /// The model's needs by part, estimated from the config, beside the peak.
    memory_estimate: Option<report::MemoryParts>,
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
fn evaluate<P: data::Predictor + ?Sized>(
    trainer: &mut P,
    data: &Dataset,
    batch: usize,
) -> Result<Option<MetricsTable>> {
    if data.is_empty() {
        return Ok(None);
    }
    Ok(Some(data::metrics(trainer, data, batch)?))
}

/// The epoch count stored in a checkpoint (`extra.epoch`; 0 when absent).
fn stored_epoch(info: &CheckpointInfo, path: &Path) -> Result<usize> {
    match info.extra.get("epoch") {
        None => Ok(0),
        Some(e) => e.parse().map_err(|_| {
            anyhow!(
                "checkpoint {}: extra.epoch is {e:?}, not a number of epochs",
                path.display()
            )
        }),
    }
}

/// Reads a `--resume` checkpoint's metadata (not its tensors), refusing what is not a file.
fn resume_info(path: &Path) -> Result<CheckpointInfo> {
    match std::fs::metadata(path) {
        Err(e) => bail!("--resume {}: {e}", path.display()),
        Ok(m) if !m.is_file() => bail!("--resume {}: not a checkpoint file", path.display()),
        Ok(_) => Ok(checkpoint::read_info(path)?),
    }
}

/// What a run reads and how.
struct DataPlan {
    split_seed: u64,
    /// The resumed checkpoint's dense normaliser (kept unless `--refit-normalizer`).
    stored: Option<hinet_data::DenseNormalizer>,
    /// The CSV files (none for generated data).
    files: Option<data::FileSource>,
    /// Whether they are streamed each epoch rather than read into memory.
    stream: bool,
}

impl DataPlan {
    fn of(args: &TrainArgs, desc: &DataDesc, resumed: Option<&CheckpointInfo>, globals: Globals) -> Result<DataPlan> {
        let split_seed = args.data.split_seed.unwrap_or(data::DEFAULT_SPLIT_SEED);
        let stored = resumed_normalizer(resumed, args.resume.as_deref(), args.refit_normalizer)?;
        let files = data::file_source(desc, &args.data, split_seed, resumed.map(|i| &i.config))?;
        let stream = source::stream_or_not(
            files.as_ref(),
            args.stream,
            args.in_memory,
            config::memory_limit(globals.max_memory).map(|l| l.bytes),
        )?;
        Ok(DataPlan {
            split_seed,
            stored,
            files,
            stream,
        })
    }
}

/// The dense normaliser of a resumed checkpoint (`None` when not resuming or refitting): the
/// resumed weights were trained on inputs scaled by its transform, and new data must see the
/// same one, not statistics refitted on itself.
fn resumed_normalizer(
    info: Option<&CheckpointInfo>,
    path: Option<&Path>,
    refit: bool,
) -> Result<Option<hinet_data::DenseNormalizer>> {
    let (Some(info), false) = (info, refit) else {
        return Ok(None);
    };
    let path = path.unwrap_or(Path::new(""));
    Ok(Some(stored_normalizer(info, path)?.ok_or_else(|| {
        anyhow!(
            "checkpoint {}: it stores no dense normaliser; pass --refit-normalizer to fit one on this data",
            path.display()
        )
    })?))
}

/// The error for a loss that is no longer finite: the step's own report (task terms, rows),
/// the batch's data rows, and what to try.
fn diverged(
    e: ModelError,
    epoch: usize,
    batch: &Batch,
    spec: &FeatureSpec,
    data_rows: Option<&[usize]>,
) -> anyhow::Error {
    // Data row (0-based, in the order read) of each batch row; a streamed batch's rows are not
    // tracked back to the files.
    let Some(data_rows) = data_rows else {
        return anyhow!(
            "{e}\ntraining diverged in epoch {epoch}, on a streamed batch of {} rows; normalise or fix inputs far \
             out of range, or try a lower --lr or --clip-norm 1 (--in-memory names the data rows)",
            batch.rows
        );
    };
    let rows: Vec<usize> = batch
        .source_rows
        .iter()
        .map(|&r| data_rows.get(r).copied().unwrap_or(r))
        .collect();
    let shown: Vec<String> = rows.iter().take(10).map(usize::to_string).collect();
    let more = if rows.len() > shown.len() {
        format!(" and {} more", rows.len() - shown.len())
    } else {
        String::new()
    };
    let mut far = Vec::new();
    let d = spec.dense.len();
    if d > 0 {
        for (r, values) in batch.dense.chunks_exact(d).enumerate() {
            for (c, &x) in values.iter().enumerate() {
                if (!x.is_finite() || x.abs() > DENSE_WARN_ABS) && far.len() < 5 {
                    far.push(format!(
                        "{:?} = {x:e} in data row {}",
                        spec.dense.get(c).map_or("?", String::as_str),
                        rows.get(r).copied().unwrap_or(r)
                    ));
                }
            }
        }
    }
    let inputs = if far.is_empty() {
        String::new()
    } else {
        format!("; dense inputs far out of range: {}", far.join(", "))
    };
    let e = e.with_row_ids(&rows);
    anyhow!(
        "{e}\ntraining diverged in epoch {epoch}, on a batch of {} rows (data rows {}{more}, 0-based in the order \
         read){inputs}; normalise or fix such inputs, or try a lower --lr or --clip-norm 1",
        rows.len(),
        shown.join(", ")
    )
}

/// Runs `hinet train`: on one process, or as one rank of a data-parallel job under mpirun.
pub fn run(args: &TrainArgs, globals: Globals) -> Result<()> {
    match super::world()? {
        None => run_alone(args, globals),
        Some(comm) => match distributed::run(args, globals, std::sync::Arc::clone(&comm)) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Every rank's error reaches the user with its rank, and ends the whole job:
                // no other rank waits for this one.
                eprintln!("error: rank {} of {}: {e:#}", comm.rank(), comm.size());
                comm.abort(1)
            }
        },
    }
}

fn run_alone(args: &TrainArgs, globals: Globals) -> Result<()> {
    let start = Instant::now();
    // 1. Every number, before anything is read.
    let settings = Settings::of(args)?;
    let mut options = TrainOptions {
        optimizer: optimizer_kind(&args.optimizer)?,
        lr: args.lr,
        sparse_embeddings: args.sparse_embeddings,
        lazy_from_rows: args.lazy_from_rows(),
        clip_norm: args.clip_norm,
        embedding_l2: args.embedding_l2,
        batch_size: settings.batch_size,
        ..TrainOptions::default()
    };
    // 2. The resumed checkpoint's metadata: what is left to train, what data it read.
    let resume = match &args.resume {
        Some(path) => {
            let info = resume_info(path)?;
            let done = stored_epoch(&info, path)?;
            if done >= settings.epochs {
                bail!(
                    "--resume {}: the checkpoint has trained {done} epochs already and --epochs is {}, so there is \
                     nothing left to train; --epochs counts from the start of the run, so pass --epochs {} (or \
                     more) to train one more epoch",
                    path.display(),
                    settings.epochs,
                    done.saturating_add(1)
                );
            }
            Some((path.as_path(), info, done))
        }
        None => None,
    };
    // The data a resumed checkpoint was trained on; one it cannot read is an error, not the
    // default data in its place (unless data options say what to read).
    let stored_desc = match &resume {
        Some((path, info, _)) => match info.extra.get("data").map(|s| serde_json::from_str::<DataDesc>(s)) {
            Some(Ok(d)) => Some(d),
            Some(Err(e)) if args.data.is_empty() => bail!(
                "--resume {}: its extra.data does not describe the data it was trained on ({e}); give the data \
                 with --data, --preset or --schema",
                path.display()
            ),
            _ => None,
        },
        None => None,
    };
    let desc = data::describe(&args.data, stored_desc.as_ref())?;
    if let (Some((path, ..)), DataDesc::Schema { path: schema, .. }) = (&resume, &desc)
        && args.data.is_empty()
        && !schema.exists()
    {
        bail!(
            "--resume {}: the checkpoint was trained on the schema {}, which does not exist (moved?); give the data \
             with --schema FILE.toml [--data FILE ...] (the checkpoint keeps the schema's text in extra.schema_toml)",
            path.display(),
            schema.display()
        );
    }
    // 3. Every output, against every input, before any work; the checkpoint's lock.
    let inputs = input_paths(args, &desc);
    let mut ckpt = check_outputs(args, &inputs)?;

    // 4. Memory, before anything large is allocated: a resumed model's config, the synthetic
    //    data and the model that will be built for it.
    let limit = config::memory_limit(globals.max_memory);
    let optimizer = options.optimizer;
    if let Some((path, info, _)) = &resume {
        // Its parameters and state; the activations once the batch is known (below).
        config::model_memory(&info.config, &optimizer, 0, "--batch-size", true)?
            .check(&format!("the model of checkpoint {}", path.display()), limit.as_ref())?;
    }
    if let DataDesc::Synthetic { config: synthetic } = &desc {
        let mut need = data::synthetic_memory(synthetic);
        let model = match &resume {
            Some((_, info, _)) => info.config.clone(),
            None => config::model_config(
                args.config.as_deref(),
                &args.set,
                settings.embedding_dim,
                &synthetic.feature_spec(),
                true,
            )?,
        };
        need.extend(config::model_memory(
            &model,
            &optimizer,
            settings.batch_size.min(synthetic.rows),
            "--batch-size",
            true,
        )?);
        need.check("this run (the synthetic data and the model)", limit.as_ref())?;
    }
    // hinet-model checks again as it builds the model (sizes it cannot allocate, the limit).
    options.max_memory_bytes = limit.as_ref().map(|l| l.bytes);
    options.batch_size = 0;
    let resumed = match &resume {
        Some((path, ..)) => Some(Trainer::<f32>::resume(path, &options)?),
        None => None,
    };

    // 5. The data: in memory, or streamed from the files when they are too large (or asked).
    let DataPlan {
        split_seed,
        stored,
        files,
        stream,
    } = DataPlan::of(args, &desc, resumed.as_ref().map(|(_, info)| info), globals)?;
    let trained = resumed.as_ref().map(|(_, info)| &info.config);
    let (train_data, normalizer, spec, split, report, files_abs, schema_toml) = match files {
        Some(fs) if stream => {
            let (split, files_abs, schema_toml) = (fs.split, fs.absolute_files.clone(), fs.schema_toml.clone());
            let reading = Reading::all(&fs);
            let (streamed, normalizer, report) = Streamed::open(fs, stored, settings.shuffle_buffer, reading)?;
            data::log_skips(Some(&report));
            let data = TrainData::Stream(Box::new(streamed));
            let spec = data.sample().spec.clone();
            (data, normalizer, spec, split, Some(report), files_abs, schema_toml)
        }
        files => {
            let source = match files {
                Some(fs) => data::load_file_source(fs)?,
                None => data::load_source(&desc, &args.data, split_seed, trained)?,
            };
            data::log_skips(source.report.as_ref());
            tracing::info!(
                "data in memory: {} rows, {:.0} bytes per row (ids, values, labels and keys)",
                source.data.len(),
                source.data.row_bytes() as f64 / source.data.len().max(1) as f64
            );
            let spec = source.data.spec.clone();
            // The training rows, most of the data, stay where they were read; validation and
            // test move out a column at a time. `parts` ties each training row to its data row
            // (messages name data rows).
            let (mut splits, parts) = source.data.split_in_place(&source.split)?;
            let normalizer = match stored {
                Some(n) => {
                    let path = args.resume.as_deref().unwrap_or(Path::new(""));
                    for part in [&mut splits.train, &mut splits.valid, &mut splits.test] {
                        n.apply(part)
                            .with_context(|| format!("the dense normaliser of checkpoint {}", path.display()))?;
                    }
                    n
                }
                None => splits.normalize()?,
            };
            // Generated data has no file lines: its range warnings come from the training split.
            if source.report.is_none() {
                for mut w in splits.train.dense_range_warnings(DENSE_WARN_ABS) {
                    w.row = w
                        .row
                        .and_then(|r| (0..parts.len()).filter(|&d| parts[d] == Part::Train).nth(r));
                    tracing::warn!("{w}");
                }
            }
            let sample_rows: Vec<usize> = (0..splits.train.len().min(10_000)).collect();
            let sample = splits.train.subset(&sample_rows);
            let data = TrainData::Memory(Box::new(InMemory { splits, parts, sample }));
            (
                data,
                normalizer,
                spec,
                source.split,
                source.report,
                source.files,
                source.schema_toml,
            )
        }
    };
    // Inputs far out of range, as the model will see them: over every row read, with file and
    // line, for CSV data.
    if let Some(report) = &report {
        for w in report.dense_range_warnings(Some(&normalizer), DENSE_WARN_ABS) {
            tracing::warn!("{w}");
        }
    }
    let [train_count, valid_count, test_count] = train_data.counts();
    tracing::info!(
        "data: {} scenarios, {} tasks, {} sparse fields, {} dense; rows train {}, valid {}, test {} ({:.1} s)",
        spec.scenarios.len(),
        spec.tasks.len(),
        spec.sparse.len(),
        spec.dense.len(),
        train_count,
        valid_count,
        test_count,
        start.elapsed().as_secs_f64()
    );
    if train_count == 0 {
        bail!("the training split is empty");
    }
    let has_valid = valid_count > 0;
    if !has_valid {
        if let Some(p) = settings.patience {
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
    // A batch is never larger than the data.
    let batch_size = settings.batch_size.min(train_count);
    let eval_batch_size = settings
        .eval_batch_size
        .min(train_count.max(valid_count).max(test_count));

    // 6. The model.
    let (mut trainer, first_epoch, mut best_score) = match resumed {
        Some((trainer, info)) => {
            let origin = format!(
                "checkpoint {}",
                args.resume.as_deref().unwrap_or(Path::new("")).display()
            );
            config::check_matches(&info.config, &spec, &origin)?;
            config::activation_memory(&info.config, &optimizer, batch_size, "--batch-size")?.check(
                &format!("training {origin}"),
                config::memory_limit(globals.max_memory).as_ref(),
            )?;
            let epoch = resume.as_ref().map_or(0, |(_, _, e)| *e);
            // A score that is not a number, or the +inf of a run without validation rows,
            // cannot be beaten: compare from scratch.
            let best = info
                .extra
                .get("best_valid_score")
                .and_then(|e| e.parse::<f64>().ok())
                .filter(|b| b.is_finite());
            tracing::info!("resuming after epoch {epoch} (step {})", info.step);
            (trainer, epoch, best)
        }
        None => {
            let config = config::model_config(args.config.as_deref(), &args.set, settings.embedding_dim, &spec, true)?;
            // Re-read: the data now takes its share of the machine's memory.
            let limit = config::memory_limit(globals.max_memory);
            config::model_memory(&config, &optimizer, batch_size, "--batch-size", true)?
                .check("the model", limit.as_ref())?;
            options.max_memory_bytes = limit.as_ref().map(|l| l.bytes);
            options.batch_size = batch_size;
            (Trainer::<f32>::new(&config, args.seed, &options)?, 0, None)
        }
    };
    if let Some(precision) = args.precision {
        trainer.set_precision(precision);
    }
    let config = trainer.model().config().clone();
    tracing::info!(
        "model: {:?}, input width {}, {} parameters; {} epochs of batch {} with {} lr {}, {} threads, products {}",
        config.architecture,
        config.input_width(),
        trainer
            .store()
            .ids()
            .map(|id| trainer.store().value(id).len())
            .sum::<usize>(),
        settings.epochs,
        batch_size,
        args.optimizer,
        args.lr,
        rayon::current_num_threads(),
        super::report::precision_label(config.precision)
    );

    let mut extra = BTreeMap::new();
    extra.insert("feature_spec".to_string(), serde_json::to_string(&spec)?);
    extra.insert("dense_normalizer".to_string(), serde_json::to_string(&normalizer)?);
    extra.insert("data".to_string(), serde_json::to_string(&desc)?);
    if let Some(text) = &schema_toml {
        extra.insert("schema_toml".to_string(), text.clone());
    }
    if !files_abs.is_empty() {
        extra.insert("data_files".to_string(), serde_json::to_string(&files_abs)?);
    }
    extra.insert("split".to_string(), serde_json::to_string(&split)?);
    extra.insert("seed".to_string(), args.seed.to_string());
    extra.insert("hinet_version".to_string(), env!("CARGO_PKG_VERSION").to_string());

    let mut history: Vec<EpochRecord> = Vec::new();
    // The best model so far, in memory (only needed when an epoch can be worse than an
    // earlier one: with validation rows). A resumed run starts from the checkpoint's best.
    let mut best: Option<Best> = (has_valid && best_score.is_some()).then(|| Best::of(&trainer, first_epoch));
    let mut best_epoch = best.as_ref().map(|b| b.epoch);
    let mut stale = 0usize;
    let mut batch = Batch::new();
    let mut train_seconds = 0.0;
    let mut train_rows_seen = 0usize;
    // A loss far above what predicting 50% everywhere gives says the inputs are out of range.
    let loss_scale =
        config.loss_weights.iter().sum::<f64>().max(1.0) * config.pos_weights.iter().copied().fold(1.0, f64::max);
    let mut warned_loss = false;
    for epoch in first_epoch + 1..=settings.epochs {
        let pb = progress_bar(train_count, epoch, settings.epochs, globals.quiet);
        let epoch_start = Instant::now();
        let mut iter = train_data.epoch(
            batch_size,
            args.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let (mut loss_sum, mut steps, mut running) = (0.0, 0usize, f64::NAN);
        while iter.next_into(&mut batch)? {
            let input = data::input_of(&batch, &spec)?;
            let loss = match trainer.step(&input) {
                Ok(loss) => loss,
                Err(e @ (ModelError::NonFiniteLoss { .. } | ModelError::NonFinitePredictions { .. })) => {
                    return Err(diverged(e, epoch, &batch, &spec, train_data.train_rows().as_deref()));
                }
                Err(e) => return Err(e.into()),
            };
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
        train_rows_seen += train_count;
        let train_m = evaluate(&mut trainer, train_data.sample(), eval_batch_size)?;
        let valid = train_data.evaluate(Part::Valid, &mut trainer, eval_batch_size)?;
        let valid_auc = valid.as_ref().and_then(data::mean_auc);
        let valid_loss = valid.as_ref().map(data::total_logloss);
        // Higher is better: the mean AUC, else minus the loss; no validation rows: always.
        let score = valid_auc.or(valid_loss.map(|l| -l)).unwrap_or(f64::INFINITY);
        let score = if score.is_nan() { f64::NEG_INFINITY } else { score };
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
            rows_per_second: train_count as f64 / seconds.max(1e-9),
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
            settings.epochs,
            record.train_loss,
            seconds,
            record.rows_per_second
        );
        let far_too_high = record.train_loss.is_nan() || record.train_loss > 100.0 * loss_scale;
        if !warned_loss && far_too_high {
            warned_loss = true;
            tracing::warn!(
                "epoch {epoch}: the mean training loss is {:e}, far above the ~0.7 per task of a model that predicts \
                 50% everywhere: inputs far out of range (see any warning about dense columns above) or too high a \
                 --lr; this model is probably useless",
                record.train_loss
            );
        }
        if let Some(v) = &valid {
            tracing::info!("validation:\n{}", data::brief(v));
        }
        history.push(record);
        if improved {
            best_score = Some(score);
            best_epoch = Some(epoch);
            stale = 0;
            if has_valid && epoch == settings.epochs {
                // The last epoch is the best: the trained model is that model, so no copy is
                // needed (a run of one epoch never holds its parameters twice).
                best = None;
            } else if has_valid {
                match &mut best {
                    Some(b) => b.update(&trainer, epoch),
                    None => best = Some(Best::of(&trainer, epoch)),
                }
            }
            if let Some(out) = &mut ckpt {
                extra.insert("epoch".to_string(), epoch.to_string());
                extra.insert("best_valid_score".to_string(), score.to_string());
                out.save(&trainer, &extra, epoch)?;
            }
        } else {
            stale += 1;
            if let Some(p) = settings.patience
                && stale >= p
            {
                tracing::info!("early stop: {stale} epochs without a better validation AUC");
                break;
            }
        }
    }

    if let Some(out) = &mut ckpt {
        out.notice_change();
        if out.written.as_ref().is_none_or(|(_, e)| *e == 0) {
            tracing::warn!(
                "no epoch of this run improved on the validation score of the resumed checkpoint (epoch {}); \
                 --checkpoint {} was not written{}",
                first_epoch,
                out.path.display(),
                if out.path.exists() {
                    " and holds what it held before"
                } else {
                    ""
                }
            );
        }
    }
    // The best epoch's model, from memory (never re-read from the path, which another program
    // may have replaced meanwhile).
    let last = history.last().map(|r| r.epoch);
    let mut model = match best {
        Some(b) if Some(b.epoch) != last => {
            tracing::info!("test metrics of the best epoch ({}), kept in memory", b.epoch);
            drop(trainer);
            Final::Best(Box::new(b.restore(&config)?))
        }
        _ => Final::Trained(Box::new(trainer)),
    };
    let test = match train_data.evaluate(Part::Test, &mut model, eval_batch_size)? {
        Some(t) => {
            outln!("Test metrics ({} rows):", t.overall.first().map_or(0, |c| c.rows));
            Some(t)
        }
        None => match train_data.evaluate(Part::Valid, &mut model, eval_batch_size)? {
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
        data::print_metrics(t);
    }
    let attention = model.san_attention()?;
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
            batch_size,
            epochs: settings.epochs,
            sparse_embeddings: args.sparse_embeddings,
            lazy_from_rows: args.lazy_from_rows(),
            embedding_l2: args.embedding_l2,
            clip_norm: args.clip_norm,
            patience: settings.patience,
            data: &desc,
            split,
            dense_normalizer: &normalizer,
            rows: Rows {
                train: train_count,
                valid: valid_count,
                test: test_count,
                skipped: report.as_ref().map_or(0, |r| r.rows_skipped),
            },
            streamed: stream,
            history: &history,
            best_epoch,
            test: test.as_ref(),
            test_mean_auc: test.as_ref().and_then(data::mean_auc),
            san_attention: attention,
            train_rows_per_second: train_rows_seen as f64 / train_seconds.max(1e-9),
            train_seconds,
            total_seconds: start.elapsed().as_secs_f64(),
            peak_rss_bytes: report::peak_rss_bytes(),
            memory_estimate: report::MemoryParts::training(
                &config,
                &optimizer_kind(&args.optimizer)?,
                batch_size,
                valid_count > 0 && settings.epochs > 1,
            )
            .ok(),
        };
        report::write_json(path, &r)?;
    }
    if let (Some(peak), Ok(e)) = (
        report::peak_rss_bytes(),
        report::MemoryParts::training(
            &config,
            &optimizer_kind(&args.optimizer)?,
            batch_size,
            valid_count > 0 && settings.epochs > 1,
        ),
    ) {
        let h = |b: u64| hinet_model::human_bytes(b);
        tracing::info!(
            "memory: peak {} ({:.2}x the model's estimated {}: parameters {}, optimiser state {}, gradients {}, \
             activations {}, best epoch's copy {}; the rest is data and buffers)",
            h(peak),
            peak as f64 / e.total.max(1) as f64,
            h(e.total),
            h(e.parameters),
            h(e.optimizer_state),
            h(e.gradients),
            h(e.activations),
            h(e.best_epoch_copy)
        );
    }
    tracing::info!("done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
