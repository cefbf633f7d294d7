//! `hinet eval`: a checkpoint's AUC and logloss per scenario and task.
//!
//! Every piece of checkpoint metadata that decides what the numbers mean (the data, the split,
//! the dense normaliser, the feature spec) is read strictly: a key that cannot be read, or that
//! is missing where it is needed, is an error naming the checkpoint and the key, never a default
//! put in its place. `--split all` on data named with `--data/--schema/--preset` needs no split
//! metadata; `--split-seed` chooses the split instead of the checkpoint's.

use super::Globals;
use super::config;
use super::data::{self, DataArgs, DataDesc};
use super::files;
use super::report::{self, Versions};
use anyhow::{Result, anyhow, bail};
use hinet_data::{Dataset, DenseNormalizer, FeatureSpec, InputFile, Schema, SkipReport, SplitSpec};
use hinet_model::checkpoint::CheckpointInfo;
use hinet_model::{MetricsTable, ModelConfig, TrainOptions, Trainer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `hinet eval`.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
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
    /// Operand precision of the products (`f32` or `bf16`; default: the checkpoint's).
    #[arg(long, value_name = "f32|bf16", value_parser = super::train::precision_arg)]
    pub precision: Option<hinet_model::Precision>,
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

/// Which rows of the data `--split` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Test,
    Valid,
    Train,
    All,
}

impl Part {
    fn parse(s: &str) -> Result<Part> {
        Ok(match s {
            "test" => Part::Test,
            "valid" => Part::Valid,
            "train" => Part::Train,
            "all" => Part::All,
            other => bail!("--split {other:?}: expected test, valid, train or all"),
        })
    }
}

/// The `extra.*` metadata of a checkpoint, read strictly: errors name the checkpoint and the key.
pub struct Meta<'a> {
    info: &'a CheckpointInfo,
    path: &'a Path,
}

impl<'a> Meta<'a> {
    /// The metadata of the checkpoint at `path`.
    pub fn new(info: &'a CheckpointInfo, path: &'a Path) -> Self {
        Meta { info, path }
    }

    /// "checkpoint PATH", for messages.
    pub fn origin(&self) -> String {
        format!("checkpoint {}", self.path.display())
    }

    /// The raw text of `extra.KEY`.
    pub fn text(&self, key: &str) -> Option<&'a str> {
        self.info.extra.get(key).map(String::as_str)
    }

    /// `extra.KEY` parsed from JSON: `None` when the key is missing, an error when it cannot be
    /// read.
    pub fn json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.text(key)
            .map(|s| serde_json::from_str(s))
            .transpose()
            .map_err(|e| anyhow!("{}: extra.{key} cannot be read: {e}", self.origin()))
    }

    /// `extra.KEY`, which must be there: `why` says what it is needed for.
    pub fn require<T: DeserializeOwned>(&self, key: &str, why: &str) -> Result<T> {
        self.json(key)?
            .ok_or_else(|| anyhow!("{} has no extra.{key}: {why}", self.origin()))
    }
}

/// The dense normaliser a checkpoint carries (`None` if it has none; an error naming the key if
/// it cannot be read).
pub fn stored_normalizer(info: &CheckpointInfo, path: &Path) -> Result<Option<DenseNormalizer>> {
    Meta::new(info, path).json("dense_normalizer")
}

/// The dense normaliser to apply to data for a model with `config`: the checkpoint's, which must
/// be there when the model has dense inputs (they were scaled by it in training); `None` when
/// it has none.
pub fn required_normalizer(info: &CheckpointInfo, path: &Path) -> Result<Option<DenseNormalizer>> {
    if info.config.dense.is_empty() {
        return Ok(None);
    }
    let n: DenseNormalizer = Meta::new(info, path).require(
        "dense_normalizer",
        "the model's dense inputs were scaled in training by a transform the checkpoint does not record, \
         so its predictions on unscaled values would be wrong",
    )?;
    Ok(Some(n))
}

/// Refuses data whose features differ from the checkpoint's `extra.feature_spec` (when it has
/// one; the model config, checked by [`config::check_matches`], carries the same features).
pub fn check_feature_spec(meta: &Meta<'_>, data: &FeatureSpec) -> Result<()> {
    let Some(stored) = meta.json::<FeatureSpec>("feature_spec")? else {
        return Ok(());
    };
    let differs = |what: &str, a: String, b: String| {
        Err(anyhow!(
            "{}: extra.feature_spec does not match the data: {what}: the checkpoint has {a}, the data has {b}",
            meta.origin()
        ))
    };
    if stored.scenarios != data.scenarios {
        return differs(
            "scenarios",
            format!("{:?}", stored.scenarios),
            format!("{:?}", data.scenarios),
        );
    }
    if stored.tasks != data.tasks {
        return differs("tasks", format!("{:?}", stored.tasks), format!("{:?}", data.tasks));
    }
    if stored.sparse != data.sparse {
        let show =
            |s: &FeatureSpec| -> Vec<String> { s.sparse.iter().map(|f| format!("{}:{}", f.name, f.vocab)).collect() };
        return differs("sparse", format!("{:?}", show(&stored)), format!("{:?}", show(data)));
    }
    if stored.dense != data.dense {
        return differs("dense", format!("{:?}", stored.dense), format!("{:?}", data.dense));
    }
    Ok(())
}

/// Loads a checkpoint's model for inference (hinet-model's inference load path): config and
/// parameters, every check of the checkpoint reader (names, shapes, dtypes, finite values); the
/// optimiser state is neither needed nor read, so a checkpoint of any optimiser, or of none,
/// loads. The model, and activations for `batch_size` rows, must fit the memory limit
/// (`--max-memory`, else the memory available). A missing file, a folder or an unreadable file
/// is one line naming it.
/// `precision` overrides the checkpoint's ([`hinet_model::ModelConfig::precision`]).
pub fn load_checkpoint(
    path: &Path,
    globals: Globals,
    batch_size: usize,
    precision: Option<hinet_model::Precision>,
) -> Result<(Trainer<f32>, CheckpointInfo)> {
    match std::fs::metadata(path) {
        Err(e) => bail!("checkpoint {}: {e}", path.display()),
        Ok(m) if m.is_dir() => bail!("checkpoint {}: is a folder; give the checkpoint file", path.display()),
        Ok(m) if !m.is_file() => bail!("checkpoint {}: not a regular file", path.display()),
        Ok(_) => {}
    }
    let options = TrainOptions {
        max_memory_bytes: config::memory_limit(globals.max_memory).map(|l| l.bytes),
        batch_size,
        ..TrainOptions::default()
    };
    let (mut trainer, info) = Trainer::<f32>::load_for_inference(path, &options)?;
    if let Some(precision) = precision {
        trainer.set_precision(precision);
    }
    Ok((trainer, info))
}

/// Reads a schema file: one clear error naming it (the OS message once), relative `[[files]]`
/// resolved against its folder.
pub fn read_schema_file(path: &Path, what: &str) -> Result<Schema> {
    let text = data::small_regular_file(path, what)?;
    parse_schema(&text, path, folder_of(path), what)
}

/// Parses schema text that came from `origin` (a file, or a checkpoint's copy); relative
/// `[[files]]` are resolved against `dir`.
fn parse_schema(text: &str, origin: &Path, dir: &Path, what: &str) -> Result<Schema> {
    let mut schema = Schema::from_toml_str(text).map_err(|e| match e {
        hinet_data::DataError::SchemaToml { source, .. } => anyhow!("{what} {}: {source}", origin.display()),
        other => anyhow!("{what} {}: {other}", origin.display()),
    })?;
    for f in &mut schema.files {
        if f.path.is_relative() {
            f.path = dir.join(&f.path);
        }
    }
    Ok(schema)
}

fn folder_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

/// A schema found for a checkpoint.
pub struct FoundSchema {
    /// The schema, its relative `[[files]]` resolved.
    pub schema: Schema,
    /// The file it was read from; `None` when the copy stored in the checkpoint was used.
    pub file: Option<PathBuf>,
    /// The schema file read (also when it had changed and the stored copy was used instead):
    /// an input that no output may replace.
    pub consulted: Option<PathBuf>,
}

/// The schema a checkpoint was trained with, recorded in it as `recorded` (`extra.data`; a
/// relative path in older checkpoints). A relative path is looked for from the working
/// directory and from the checkpoint's folder, then the file's name beside the checkpoint; the
/// absolute `extra.schema_path` first when the checkpoint has one. A file found elsewhere than
/// recorded is named in the log. When the checkpoint stores the schema's text (`extra.schema_toml`), that
/// text is used if the file is gone or has changed since training (with a warning saying so).
/// Otherwise the error says which file is needed.
pub fn stored_schema(meta: &Meta<'_>, recorded: &Path) -> Result<FoundSchema> {
    let ckpt_dir = folder_of(meta.path);
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(abs) = meta.text("schema_path") {
        candidates.push(PathBuf::from(abs));
    }
    candidates.push(recorded.to_path_buf());
    if recorded.is_relative() {
        candidates.push(ckpt_dir.join(recorded));
    }
    // Beside the checkpoint (both moved together, or trained from another folder).
    if let Some(name) = recorded.file_name() {
        candidates.push(ckpt_dir.join(name));
    }
    let mut seen = Vec::new();
    candidates.retain(|c| {
        let key = std::path::absolute(c).unwrap_or_else(|_| c.clone());
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
    let stored_text = meta.text("schema_toml");
    for c in &candidates {
        if !c.is_file() {
            continue;
        }
        let text = data::small_regular_file(c, "schema")?;
        match stored_text {
            Some(stored) if stored != text => {
                tracing::warn!(
                    "schema {} has changed since {} was trained; using the copy stored in the checkpoint \
                     (extra.schema_toml)",
                    c.display(),
                    meta.origin()
                );
                let schema = parse_schema(stored, meta.path, folder_of(c), "extra.schema_toml of checkpoint")?;
                return Ok(FoundSchema {
                    schema,
                    file: None,
                    consulted: Some(c.clone()),
                });
            }
            _ => {
                if c.as_path() != recorded {
                    tracing::info!(
                        "{} names the schema {}; using {}",
                        meta.origin(),
                        recorded.display(),
                        c.display()
                    );
                }
                let schema = parse_schema(&text, c, folder_of(c), "schema")?;
                return Ok(FoundSchema {
                    schema,
                    file: Some(c.clone()),
                    consulted: Some(c.clone()),
                });
            }
        }
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    match stored_text {
        Some(stored) => {
            tracing::warn!(
                "schema {} of {} not found (looked for {}); using the copy stored in the checkpoint \
                 (extra.schema_toml)",
                recorded.display(),
                meta.origin(),
                looked.join(", ")
            );
            let dir = candidates.first().map_or(ckpt_dir, |c| folder_of(c));
            let schema = parse_schema(stored, meta.path, dir, "extra.schema_toml of checkpoint")?;
            Ok(FoundSchema {
                schema,
                file: None,
                consulted: None,
            })
        }
        None => bail!(
            "{} was trained with the schema {}, which is not there (looked for {}); give the schema with \
             --schema FILE.toml",
            meta.origin(),
            recorded.display(),
            looked.join(", ")
        ),
    }
}

/// Rows loaded for evaluation.
struct Rows {
    data: Dataset,
    split: SplitSpec,
    report: Option<SkipReport>,
}

/// The data to evaluate on, before it is read: what it is and which files it reads.
enum Plan {
    /// Synthetic data or a preset: `data::load_source` reads it.
    Source(DataDesc),
    /// A schema (found by path or from the checkpoint's copy) and its files.
    Schema {
        desc: DataDesc,
        schema: Box<Schema>,
        schema_file: Option<PathBuf>,
        files: Vec<InputFile>,
    },
}

impl Plan {
    /// Every file it reads (outputs are checked against them).
    fn inputs(&self, args: &DataArgs) -> Vec<PathBuf> {
        match self {
            Plan::Source(DataDesc::Preset { name }) => data::data_dir(args.data_dir.as_deref())
                .ok()
                .and_then(|dir| hinet_data::preset(name, &dir).ok())
                .map(|p| p.files.into_iter().map(|f| f.path).collect())
                .unwrap_or_default(),
            Plan::Source(_) => Vec::new(),
            Plan::Schema { schema_file, files, .. } => schema_file
                .iter()
                .cloned()
                .chain(files.iter().map(|f| f.path.clone()))
                .collect(),
        }
    }
}

/// Decides what data to read: the user's (`--data/--preset/--schema`), else the checkpoint's.
fn plan(args: &EvalArgs, meta: &Meta<'_>) -> Result<Plan> {
    let a = &args.data;
    let files: Vec<PathBuf> = a.data.iter().filter(|d| *d != "synthetic").map(PathBuf::from).collect();
    let names_data = a.preset.is_some() || a.schema.is_some();
    // The checkpoint's data description, needed unless the user names the data.
    let stored: Option<DataDesc> = if names_data {
        None
    } else {
        let stored = meta.json::<DataDesc>("data")?;
        if stored.is_none() && a.is_empty() {
            bail!(
                "{} has no extra.data: it does not say what data it was trained on; give --data, --preset or --schema",
                meta.origin()
            );
        }
        stored
    };
    if let Some(path) = &a.schema {
        let schema = read_schema_file(path, "--schema")?;
        return schema_plan(
            DataDesc::Schema {
                path: path.clone(),
                files: files.clone(),
            },
            schema,
            Some(path.clone()),
            &files,
            path,
        );
    }
    // `--data FILE` without --schema: the files, read with the checkpoint's schema.
    if let (Some(DataDesc::Schema { path, .. }), false) = (&stored, files.is_empty()) {
        let found = stored_schema(meta, path)?;
        let desc = DataDesc::Schema {
            path: path.clone(),
            files: files.clone(),
        };
        return schema_plan(desc, found.schema, found.consulted, &files, path);
    }
    let desc = data::describe(a, stored.as_ref())?;
    match &desc {
        DataDesc::Schema { path, files } => {
            let found = stored_schema(meta, path)?;
            // Files recorded relative (older checkpoints): also looked for beside the checkpoint.
            let files: Vec<PathBuf> = files.iter().map(|f| locate(f, folder_of(meta.path))).collect();
            let recorded = path.clone();
            schema_plan(desc, found.schema, found.consulted, &files, &recorded)
        }
        _ => Ok(Plan::Source(desc)),
    }
}

/// A data file recorded at training time: as recorded when it exists, else the same relative
/// path from the checkpoint's folder `dir`, else its name in `dir`, else as recorded (the error
/// then names it).
fn locate(path: &Path, dir: &Path) -> PathBuf {
    if path.exists() {
        return path.to_path_buf();
    }
    let mut tries = Vec::new();
    if path.is_relative() {
        tries.push(dir.join(path));
    }
    if let Some(name) = path.file_name() {
        tries.push(dir.join(name));
    }
    match tries.into_iter().find(|t| t.is_file()) {
        Some(found) => {
            tracing::info!("data file {} not found; using {}", path.display(), found.display());
            found
        }
        None => path.to_path_buf(),
    }
}

/// A schema plan: the files given (resolved like the schema when they were recorded relative),
/// else the schema's own `[[files]]`; each must exist.
fn schema_plan(
    desc: DataDesc,
    schema: Schema,
    schema_file: Option<PathBuf>,
    given: &[PathBuf],
    shown: &Path,
) -> Result<Plan> {
    let files: Vec<InputFile> = if given.is_empty() {
        if schema.files.is_empty() {
            bail!(
                "schema {}: it lists no [[files]]; give the data with --data FILE",
                shown.display()
            );
        }
        schema.files.clone()
    } else {
        given.iter().map(InputFile::new).collect()
    };
    for f in &files {
        if let Err(e) = std::fs::metadata(&f.path) {
            bail!("data file {} (schema {}): {e}", f.path.display(), shown.display());
        }
    }
    Ok(Plan::Schema {
        desc,
        schema: Box::new(schema),
        schema_file,
        files,
    })
}

/// Reads the rows of a plan with the split seed `seed`.
fn load(plan: Plan, args: &DataArgs, seed: u64, trained: &ModelConfig) -> Result<(DataDesc, Rows)> {
    match plan {
        Plan::Source(desc) => {
            let s = data::load_source(&desc, args, seed, Some(trained))?;
            Ok((
                desc,
                Rows {
                    data: s.data,
                    split: s.split,
                    report: s.report,
                },
            ))
        }
        Plan::Schema {
            desc,
            mut schema,
            files,
            ..
        } => {
            schema.fix_auto_vocab(config::trained_vocab(trained))?;
            let hash = SplitSpec::hash(0.8, 0.1, 0.1, seed);
            let mut split = hinet_data::split_for_files(&files, hash)?;
            if let Some(f) = args.valid_fraction {
                split = split
                    .carve_valid(f, seed)
                    .map_err(|e| anyhow!("--valid-fraction {f}: {e}"))?;
            }
            let loaded = hinet_data::load(&schema, &files, &hinet_data::ReadOptions::skipping(args.skip_bad_rows))?;
            Ok((
                desc,
                Rows {
                    data: loaded.data,
                    split,
                    report: Some(loaded.report),
                },
            ))
        }
    }
}

/// How a split divides rows, for messages.
fn split_kind(s: &SplitSpec) -> &'static str {
    match s {
        SplitSpec::Hash { .. } => "by a hash of each row",
        SplitSpec::File => "by file",
        SplitSpec::FileValid { .. } => "by file with a carved validation part",
    }
}

/// The split seed the checkpoint's split used (`None` for a split by file).
fn split_seed(s: &SplitSpec) -> Option<u64> {
    match s {
        SplitSpec::Hash { seed, .. } | SplitSpec::FileValid { seed, .. } => Some(*seed),
        SplitSpec::File => None,
    }
}

/// Runs `hinet eval`.
pub fn run(args: &EvalArgs, globals: Globals) -> Result<()> {
    let start = Instant::now();
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let part = Part::parse(&args.split)?;
    let (mut model, info) = load_checkpoint(&args.checkpoint, globals, args.batch_size, args.precision)?;
    let meta = Meta::new(&info, &args.checkpoint);
    let origin = meta.origin();
    let plan = plan(args, &meta)?;
    // The split: the checkpoint's, unless the user chooses one (--split-seed) or needs none
    // (--split all). Never a default in its place: with a default, "test" rows could be rows
    // the model was trained on.
    let explicit = args.data.split_seed;
    let stored_split: Option<SplitSpec> = match (part, explicit) {
        (Part::All, _) | (_, Some(_)) => None,
        _ => Some(meta.require(
            "split",
            &format!(
                "which rows are its {} rows is unknown; give --split all, or --split-seed N to split the data yourself",
                args.split
            ),
        )?),
    };
    // The seed that reads the data: the chosen or stored one. Otherwise no seed decides which
    // rows are evaluated (`--split all`, or a stored split by file, where a hashed split of this
    // data is refused below), so any will do.
    let seed = explicit
        .or(stored_split.as_ref().and_then(split_seed))
        .unwrap_or(data::DEFAULT_SPLIT_SEED);
    // The normaliser and the output, before any data is read.
    let normalizer = required_normalizer(&info, &args.checkpoint)?;
    if let Some(path) = &args.report {
        let inputs = plan.inputs(&args.data);
        let mut all: Vec<&Path> = vec![args.checkpoint.as_path()];
        all.extend(inputs.iter().map(PathBuf::as_path));
        files::check_output(path, "--report", &all)?;
    }
    let (desc, source) = load(plan, &args.data, seed, &info.config)?;
    data::log_skips(source.report.as_ref());
    config::check_matches(&info.config, &source.data.spec, &origin)?;
    check_feature_spec(&meta, &source.data.spec)?;
    let split = match stored_split {
        None => source.split,
        Some(stored) => match (source.split, stored) {
            (SplitSpec::Hash { .. }, s @ SplitSpec::Hash { .. }) => s,
            (SplitSpec::File, s @ (SplitSpec::File | SplitSpec::FileValid { .. })) => s,
            // Carved with --valid-fraction on this run.
            (s @ SplitSpec::FileValid { .. }, SplitSpec::File | SplitSpec::FileValid { .. }) => s,
            (here, stored) => bail!(
                "{origin}: extra.split says the model's data was split {}, and this data is split {}, so its {} \
                 rows are not the checkpoint's; give --split all, or --split-seed N to split this data yourself",
                split_kind(&stored),
                split_kind(&here),
                args.split
            ),
        },
    };
    let mut rows = match part {
        Part::All => source.data,
        part => {
            let splits = source.data.split(&split)?;
            match part {
                Part::Test => splits.test,
                Part::Valid => splits.valid,
                _ => splits.train,
            }
        }
    };
    if rows.is_empty() {
        bail!("the {} split of the data is empty (try --split all)", args.split);
    }
    if let Some(n) = &normalizer {
        n.apply(&mut rows)
            .map_err(|e| anyhow!("applying the dense normaliser of {origin}: {e}"))?;
    }
    let t = Instant::now();
    let metrics = data::metrics(&mut model, &rows, args.batch_size)?;
    let rows_per_second = rows.len() as f64 / t.elapsed().as_secs_f64();
    let out = EvalOutput {
        command: "eval",
        checkpoint: &args.checkpoint,
        data: &desc,
        split: &args.split,
        rows: rows.len(),
        metrics: &metrics,
        mean_auc: data::mean_auc(&metrics),
        config: model.model().config(),
        versions: Versions::current(),
        rows_per_second,
        peak_rss_bytes: report::peak_rss_bytes(),
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        outln!("{} split, {} rows:", args.split, rows.len());
        data::print_metrics(&metrics);
    }
    if let Some(path) = &args.report {
        report::write_json(path, &out)?;
    }
    tracing::debug!("eval done in {:.2} s", start.elapsed().as_secs_f64());
    Ok(())
}
