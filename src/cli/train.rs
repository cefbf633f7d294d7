//! `hinet train`: data -> splits -> model -> epochs with validation, checkpoints and early
//! stopping -> test metrics, report and plots.

use super::Globals;
use super::config;
use super::data::{self, DataArgs, DataDesc};
use super::eval::stored_normalizer;
use super::files;
use super::plots;
use super::report::{self, Versions};
use anyhow::{Context, Result, anyhow, bail};
use hinet_autograd::{ParamStore, Workspace};
use hinet_data::{Batch, DENSE_WARN_ABS, Dataset, FeatureSpec, Splits};
use hinet_layers::Module as _;
use hinet_model::checkpoint::{self, CheckpointInfo};
use hinet_model::{MetricsTable, Model, ModelConfig, ModelError, ModelInput, TrainOptions, Trainer};
use hinet_optim::OptimizerKind;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, ArrayD};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    /// Update embedding tables lazily (only the rows a batch uses).
    #[arg(long)]
    pub sparse_embeddings: bool,
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
}

/// Most epochs a run may ask for.
const MAX_EPOCHS: u64 = 1_000_000;
/// Largest batch (rows) a run may ask for; a batch is never larger than the data anyway.
const MAX_BATCH: u64 = 1 << 32;

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

/// What identifies the file this run last wrote at a path, to notice another program
/// replacing or editing it (an atomic write makes a new inode; an edit changes size or time).
#[derive(Debug, Clone, PartialEq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        },
    })
}

/// The checkpoint output of a run: the path, its lock (held until the run ends), what this run
/// last wrote there, and whether a change by someone else was reported.
struct CheckpointOut {
    path: PathBuf,
    /// The file written: `path`, or the file a symbolic link there points to.
    target: PathBuf,
    _lock: files::OutputLock,
    written: Option<(Stamp, usize)>,
    warned: bool,
}

impl CheckpointOut {
    /// Warns (once) when the file is no longer what this run last wrote (or found at start).
    fn notice_change(&mut self) {
        let Some((before, epoch)) = &self.written else {
            return;
        };
        if self.warned || stamp(&self.target).as_ref() == Some(before) {
            return;
        }
        self.warned = true;
        let when = if *epoch == 0 {
            "this run started".to_string()
        } else {
            format!("this run wrote it after epoch {epoch}")
        };
        tracing::warn!(
            "checkpoint {} changed on disk since {when} (another program replaced, edited or removed it); \
             this run's best model is kept in memory and its test metrics use that, not the file",
            self.path.display()
        );
    }

    fn save(&mut self, trainer: &Trainer<f32>, extra: &BTreeMap<String, String>, epoch: usize) -> Result<()> {
        self.notice_change();
        trainer.save(&self.target, extra)?;
        self.written = stamp(&self.target).map(|s| (s, epoch));
        tracing::debug!("checkpoint written to {}", self.path.display());
        Ok(())
    }
}

/// The parameters and buffers of the best epoch so far, kept in memory so that the test
/// metrics are this run's best model whatever happens to the checkpoint file.
struct Best {
    epoch: usize,
    values: Vec<(String, ArrayD<f32>)>,
}

impl Best {
    fn of(trainer: &Trainer<f32>, epoch: usize) -> Best {
        let store = trainer.store();
        Best {
            epoch,
            values: store
                .ids()
                .map(|id| (store.name(id).to_string(), store.value(id).clone()))
                .collect(),
        }
    }

    /// Copies the trainer's current values in (reusing the buffers).
    fn update(&mut self, trainer: &Trainer<f32>, epoch: usize) {
        let store = trainer.store();
        if self.values.len() != store.len() {
            *self = Best::of(trainer, epoch);
            return;
        }
        for ((_, v), id) in self.values.iter_mut().zip(store.ids()) {
            v.clone_from(store.value(id));
        }
        self.epoch = epoch;
    }

    /// A model of `config` holding these values, for inference.
    fn restore(self, config: &ModelConfig) -> Result<Restored> {
        let mut store = ParamStore::new();
        let mut model = Model::<f32>::new(config, &mut store, 0)?;
        for (name, value) in self.values {
            let id = store.id(&name)?;
            store.set(id, value)?;
        }
        model.set_training(false);
        Ok(Restored {
            model,
            store,
            ws: Workspace::default(),
        })
    }
}

/// A model rebuilt from [`Best`].
struct Restored {
    model: Model<f32>,
    store: ParamStore<f32>,
    ws: Workspace<f32>,
}

/// The model the test metrics and the report are computed with.
enum Final {
    Trained(Box<Trainer<f32>>),
    Best(Box<Restored>),
}

impl data::Predictor for Final {
    fn predict_input(&mut self, input: &ModelInput<'_, f32>) -> Result<Array2<f32>> {
        match self {
            Final::Trained(t) => t.predict_input(input),
            Final::Best(r) => Ok(r.model.predict(&r.store, input, &mut r.ws)?),
        }
    }
}

impl Final {
    fn san_attention(&self) -> Result<Option<Array2<f32>>> {
        Ok(match self {
            Final::Trained(t) => t.model().san_attention(t.store())?,
            Final::Best(r) => r.model.san_attention(&r.store)?,
        })
    }
}

/// The files this run reads, absolute: outputs may not be any of them.
fn input_paths(args: &TrainArgs, desc: &DataDesc) -> Vec<PathBuf> {
    let mut inputs = data::input_files(desc, &args.data);
    if let Some(c) = &args.config
        && !config::BUILT_IN.contains(&c.as_str())
    {
        inputs.push(data::absolute(Path::new(c)));
    }
    inputs
}

/// Checks every output before any work: not an input, not a folder, its folder there and
/// writable, no two outputs one file; takes the checkpoint's lock. `--resume C --checkpoint C`
/// (continuing in place) is allowed: the checkpoint is read whole before training and every
/// write replaces it atomically.
fn check_outputs(args: &TrainArgs, inputs: &[PathBuf]) -> Result<Option<CheckpointOut>> {
    let resume = args.resume.as_deref();
    let all: Vec<&Path> = inputs.iter().map(PathBuf::as_path).chain(resume).collect();
    let mut taken: Vec<(&str, PathBuf)> = Vec::new();
    let mut distinct = |what: &'static str, path: &Path| -> Result<()> {
        let abs = data::absolute(path);
        if let Some((other, _)) = taken.iter().find(|(_, p)| *p == abs || files::same_file(p, path)) {
            bail!(
                "{what} {}: is also the {other} output; give each output its own path",
                path.display()
            );
        }
        taken.push((what, abs));
        Ok(())
    };
    let mut out = None;
    if let Some(path) = &args.checkpoint {
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if folder.exists() && !folder.is_dir() {
            bail!(
                "--checkpoint {}: {} is not a folder; give a path in an existing folder",
                path.display(),
                folder.display()
            );
        }
        if !path.as_os_str().is_empty() && !folder.is_dir() {
            bail!(
                "--checkpoint {}: the folder {} does not exist; create it first, or give another path \
                 (checked before training, so that no epoch is lost)",
                path.display(),
                folder.display()
            );
        }
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            bail!(
                "--checkpoint {}: is not a regular file (a device or a pipe); a checkpoint is written to a \
                 temporary file and renamed over its path, so give a file path",
                path.display()
            );
        }
        // Continuing in place: the resumed checkpoint is not an input the checkpoint must avoid.
        let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
        files::check_output(path, "--checkpoint", &inputs)?;
        distinct("--checkpoint", path)?;
        let lock = files::lock_output(path, "--checkpoint")?;
        // Written through a symbolic link: the link stays, its file is replaced.
        let target = match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
            _ => path.clone(),
        };
        let written = stamp(&target).map(|s| (s, 0));
        out = Some(CheckpointOut {
            path: path.clone(),
            target,
            _lock: lock,
            written,
            warned: false,
        });
    }
    if let Some(path) = &args.report {
        files::check_output(path, "--report", &all)?;
        distinct("--report", path)?;
    }
    if let Some(dir) = &args.plots {
        plots::check_training_plots(dir, &all)?;
        for name in plots::TRAINING_PLOTS {
            distinct("--plots", &dir.join(name))?;
        }
    }
    Ok(out)
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

/// The error for a loss that is no longer finite: the step's own report (task terms, rows),
/// the batch's data rows, and what to try.
fn diverged(e: ModelError, epoch: usize, batch: &Batch, spec: &FeatureSpec, data_rows: &[usize]) -> anyhow::Error {
    // Data row (0-based, in the order read) of each batch row.
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

/// Runs `hinet train`.
pub fn run(args: &TrainArgs, globals: Globals) -> Result<()> {
    let start = Instant::now();
    // 1. Every number, before anything is read.
    let settings = Settings::of(args)?;
    let mut options = TrainOptions {
        optimizer: optimizer_kind(&args.optimizer)?,
        lr: args.lr,
        sparse_embeddings: args.sparse_embeddings,
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

    // 5. The data.
    let split_seed = args.data.split_seed.unwrap_or(data::DEFAULT_SPLIT_SEED);
    let source = data::load_source(
        &desc,
        &args.data,
        split_seed,
        resumed.as_ref().map(|(_, info)| &info.config),
    )?;
    data::log_skips(source.report.as_ref());
    let spec = source.data.spec.clone();
    // The indices tie each split's rows to the data rows (messages name data rows).
    let [train_rows, valid_rows, test_rows] = source.data.split_indices(&source.split)?;
    let mut splits = Splits {
        train: source.data.subset(&train_rows),
        valid: source.data.subset(&valid_rows),
        test: source.data.subset(&test_rows),
    };
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
    // Inputs far out of range, as the model will see them: over every row read, with file and
    // line, for CSV data; over the training split for generated data.
    let far = match &source.report {
        Some(report) => report.dense_range_warnings(Some(&normalizer), DENSE_WARN_ABS),
        None => splits.train.dense_range_warnings(DENSE_WARN_ABS),
    };
    for mut w in far {
        w.row = w.row.and_then(|r| train_rows.get(r).copied());
        tracing::warn!("{w}");
    }
    drop((valid_rows, test_rows));
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
    let batch_size = settings.batch_size.min(splits.train.len());
    let eval_batch_size = settings
        .eval_batch_size
        .min(splits.train.len().max(splits.valid.len()).max(splits.test.len()));

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
        settings.epochs,
        batch_size,
        args.optimizer,
        args.lr,
        rayon::current_num_threads()
    );

    let mut extra = BTreeMap::new();
    extra.insert("feature_spec".to_string(), serde_json::to_string(&spec)?);
    extra.insert("dense_normalizer".to_string(), serde_json::to_string(&normalizer)?);
    extra.insert("data".to_string(), serde_json::to_string(&desc)?);
    if let Some(text) = &source.schema_toml {
        extra.insert("schema_toml".to_string(), text.clone());
    }
    if !source.files.is_empty() {
        extra.insert("data_files".to_string(), serde_json::to_string(&source.files)?);
    }
    extra.insert("split".to_string(), serde_json::to_string(&source.split)?);
    extra.insert("seed".to_string(), args.seed.to_string());
    extra.insert("hinet_version".to_string(), env!("CARGO_PKG_VERSION").to_string());

    let sample_rows: Vec<usize> = (0..splits.train.len().min(10_000)).collect();
    let train_sample = splits.train.subset(&sample_rows);
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
        let pb = progress_bar(splits.train.len(), epoch, settings.epochs, globals.quiet);
        let epoch_start = Instant::now();
        let mut iter = splits.train.batches(
            batch_size,
            Some(args.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        let (mut loss_sum, mut steps, mut running) = (0.0, 0usize, f64::NAN);
        while iter.next_into(&mut batch) {
            let input = data::input_of(&batch, &spec)?;
            let loss = match trainer.step(&input) {
                Ok(loss) => loss,
                Err(e @ (ModelError::NonFiniteLoss { .. } | ModelError::NonFinitePredictions { .. })) => {
                    return Err(diverged(e, epoch, &batch, &spec, &train_rows));
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
        train_rows_seen += splits.train.len();
        let train_m = evaluate(&mut trainer, &train_sample, eval_batch_size)?;
        let valid = evaluate(&mut trainer, &splits.valid, eval_batch_size)?;
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
            rows_per_second: splits.train.len() as f64 / seconds.max(1e-9),
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
            if has_valid {
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
    drop(train_rows);

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
    let test = match evaluate(&mut model, &splits.test, eval_batch_size)? {
        Some(t) => {
            outln!("Test metrics ({} rows):", t.overall.first().map_or(0, |c| c.rows));
            Some(t)
        }
        None => match evaluate(&mut model, &splits.valid, eval_batch_size)? {
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
            embedding_l2: args.embedding_l2,
            clip_norm: args.clip_norm,
            patience: settings.patience,
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
            train_rows_per_second: train_rows_seen as f64 / train_seconds.max(1e-9),
            train_seconds,
            total_seconds: start.elapsed().as_secs_f64(),
            peak_rss_bytes: report::peak_rss_bytes(),
        };
        report::write_json(path, &r)?;
    }
    tracing::info!("done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
