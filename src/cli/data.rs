//! Data sources (synthetic, preset, schema), splits, the model config reconciled with the
//! data's features, and evaluation helpers shared by the commands.

use super::config::MemoryNeed;
use anyhow::{Context, Result, bail};
use hinet_data::synthetic::{SyntheticConfig, generate};
use hinet_data::{Batch, Dataset, FeatureSpec, InputFile, Part, ReadOptions, Schema, SkipReport, SplitSpec};
use hinet_model::{MetricsTable, ModelConfig, ModelInput, Trainer};
use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Rows of the built-in synthetic data set when `--rows` is not given.
pub const DEFAULT_ROWS: usize = 1_000_000;
/// Users of the default synthetic world.
pub const DEFAULT_USERS: usize = 2_000;
/// Items of the default synthetic world.
pub const DEFAULT_ITEMS: usize = 500;
/// Seed of hash splits when `--split-seed` is not given.
pub const DEFAULT_SPLIT_SEED: u64 = 2024;

/// Where the rows come from (shared by `train` and `eval`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DataArgs {
    /// `synthetic` (the built-in generator, the default) or a CSV/TSV(.gz) file to read with
    /// --schema instead of the schema's own [[files]] (repeatable).
    #[arg(long, value_name = "synthetic|FILE")]
    pub data: Vec<String>,
    /// A public sample in the shared data folder: ali-ccp(-sample), aliexpress(-sample), movielens-100k.
    #[arg(long, value_name = "NAME", conflicts_with = "schema")]
    pub preset: Option<String>,
    /// Your own data: a schema TOML (see docs/data.md) naming columns and files.
    #[arg(long, value_name = "FILE.toml")]
    pub schema: Option<PathBuf>,
    /// Folder holding the preset samples [default: $HINET_DATA_DIR, else ../shared/data next to
    /// the checkout].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Rows of synthetic data to generate (default 1000000).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub rows: Option<i64>,
    /// Seed of the synthetic generator (default 42).
    #[arg(long, value_name = "SEED")]
    pub data_seed: Option<u64>,
    /// Users of the synthetic world (vocabulary of `user_id`; default 2000).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub users: Option<i64>,
    /// Items of the synthetic world (vocabulary of `item_id`; default 500).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub items: Option<i64>,
    /// Seed of the 80/10/10 hash split (synthetic data, schemas without file parts; default 2024).
    #[arg(long, value_name = "SEED")]
    pub split_seed: Option<u64>,
    /// For data split by file: carve this fraction of the training files' rows out as the
    /// validation split (by a hash of each row's split key, seeded with --split-seed); test
    /// files stay as they are.
    #[arg(long, value_name = "F", allow_negative_numbers = true)]
    pub valid_fraction: Option<f64>,
    /// Skip bad CSV rows (and report their counts) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
}

impl DataArgs {
    /// Whether any option selects data (otherwise `eval` reuses the checkpoint's source).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.preset.is_none()
            && self.schema.is_none()
            && self.rows.is_none()
            && self.data_seed.is_none()
            && self.users.is_none()
            && self.items.is_none()
    }
}

/// A description of the data a model was trained on, stored in its checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataDesc {
    /// The built-in generator with this configuration.
    Synthetic {
        /// Generator configuration.
        config: SyntheticConfig,
    },
    /// A preset by name.
    Preset {
        /// Preset name.
        name: String,
    },
    /// A schema file (and, optionally, files replacing its [[files]]).
    Schema {
        /// Schema path, absolute (canonical when the file exists), so that a checkpoint read
        /// from another folder finds it; older checkpoints may hold a relative path.
        path: PathBuf,
        /// Files given with --data, absolute like `path`.
        files: Vec<PathBuf>,
    },
}

/// Rows loaded from a source, with the split it intends.
pub struct Source {
    /// All rows.
    pub data: Dataset,
    /// The split to use.
    pub split: SplitSpec,
    /// Bad rows skipped while reading (CSV sources).
    pub report: Option<SkipReport>,
    /// The files read, absolute (CSV sources).
    pub files: Vec<PathBuf>,
    /// The text of the schema file (schema sources), for the checkpoint's `extra.schema_toml`.
    pub schema_toml: Option<String>,
}

/// Maps short preset names onto hinet-data's.
pub fn preset_name(name: &str) -> &str {
    match name {
        "ali-ccp" => "ali-ccp-sample",
        "aliexpress" => "aliexpress-sample",
        "movielens" | "ml-100k" => "movielens-100k",
        other => other,
    }
}

/// The folder holding the public samples: `--data-dir`, else `HINET_DATA_DIR`, else
/// `../shared/data` next to the checkout the command runs in (the nearest folder at or above
/// the working directory that holds a `Cargo.lock` or `.git`). Resolved at run time: an installed
/// binary never looks in a folder of the machine it was built on.
pub fn data_dir(arg: Option<&Path>) -> Result<PathBuf> {
    const HOW: &str = "give the folder holding the samples with --data-dir DIR or HINET_DATA_DIR=DIR, \
                       or put them in ../shared/data next to the checkout";
    if let Some(d) = arg {
        if !d.is_dir() {
            bail!("--data-dir {}: no such folder; {HOW}", d.display());
        }
        return Ok(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os("HINET_DATA_DIR") {
        let d = PathBuf::from(d);
        if !d.is_dir() {
            bail!("HINET_DATA_DIR={}: no such folder; {HOW}", d.display());
        }
        return Ok(d);
    }
    let cwd = std::env::current_dir().context("the working directory")?;
    let checkout = cwd
        .ancestors()
        .find(|a| a.join("Cargo.lock").is_file() || a.join(".git").exists())
        .unwrap_or(&cwd);
    let d = checkout.join("../shared/data");
    if !d.is_dir() {
        bail!(
            "public data samples not found: no --data-dir, no HINET_DATA_DIR, and no {}; {HOW}",
            d.display()
        );
    }
    Ok(d)
}

fn read_options(skip: bool) -> ReadOptions {
    ReadOptions::skipping(skip)
}

/// An absolute form of a path the user typed: canonical when it exists (symlinks resolved),
/// else joined to the working directory, so that a checkpoint that stores it can be used from
/// any folder.
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// A count option (`--rows`, `--users`, ...): refused below `min` or above `max`, with a message
/// naming the option.
pub fn count(option: &str, value: i64, min: i64, max: u64) -> Result<usize> {
    if value < min {
        bail!("{option} {value}: must be at least {min}");
    }
    let v = value.unsigned_abs();
    if v > max {
        bail!("{option} {value}: must be at most {max}");
    }
    usize::try_from(v).map_err(|_| anyhow::anyhow!("{option} {value}: too large for this machine"))
}

/// Checks the data options that are numbers (before any work): counts at least 1, a
/// validation fraction strictly between 0 and 1.
pub fn validate_args(args: &DataArgs) -> Result<()> {
    for (option, v) in [("--rows", args.rows), ("--users", args.users), ("--items", args.items)] {
        if let Some(v) = v {
            count(
                option,
                v,
                1,
                if option == "--rows" {
                    u64::MAX
                } else {
                    u64::from(u32::MAX)
                },
            )?;
        }
    }
    if let Some(f) = args.valid_fraction
        && !(f > 0.0 && f < 1.0)
    {
        bail!("--valid-fraction {f}: must be a fraction strictly between 0 and 1, e.g. 0.1");
    }
    Ok(())
}

/// Resolves the arguments into a description (`base` fills what they leave open, e.g. the
/// checkpoint's synthetic configuration for `eval`). Paths become absolute.
pub fn describe(args: &DataArgs, base: Option<&DataDesc>) -> Result<DataDesc> {
    validate_args(args)?;
    if let Some(name) = &args.preset {
        return Ok(DataDesc::Preset {
            name: preset_name(name).to_string(),
        });
    }
    let files: Vec<PathBuf> = args
        .data
        .iter()
        .filter(|d| *d != "synthetic")
        .map(|d| absolute(Path::new(d)))
        .collect();
    if let Some(schema) = &args.schema {
        return Ok(DataDesc::Schema {
            path: absolute(schema),
            files,
        });
    }
    if let Some(first) = args.data.iter().find(|d| *d != "synthetic") {
        bail!("--data {first} needs --schema FILE.toml to say how to read it");
    }
    if args.is_empty()
        && let Some(b) = base
    {
        return Ok(b.clone());
    }
    let mut config = match base {
        Some(DataDesc::Synthetic { config }) => config.clone(),
        _ => default_world(),
    };
    if let Some(users) = args.users {
        config.users = count("--users", users, 1, u64::from(u32::MAX))?;
    }
    if let Some(items) = args.items {
        config.items = count("--items", items, 1, u64::from(u32::MAX))?;
    }
    if let Some(rows) = args.rows {
        config.rows = count("--rows", rows, 1, u64::MAX)?;
    } else if base.is_none() {
        config.rows = DEFAULT_ROWS;
    }
    if let Some(seed) = args.data_seed {
        config.seed = seed;
    }
    Ok(DataDesc::Synthetic { config })
}

/// The input files of a description, absolute, as far as they can be known without reading
/// data (a schema's `[[files]]`, a preset's files): outputs are checked against them. Best
/// effort: a schema or data folder that cannot be read is reported when the data is loaded.
pub fn input_files(desc: &DataDesc, args: &DataArgs) -> Vec<PathBuf> {
    match desc {
        DataDesc::Synthetic { .. } => Vec::new(),
        DataDesc::Preset { name } => data_dir(args.data_dir.as_deref())
            .ok()
            .and_then(|dir| hinet_data::preset(name, &dir).ok())
            .map(|p| p.files.iter().map(|f| absolute(&f.path)).collect())
            .unwrap_or_default(),
        DataDesc::Schema { path, files } => {
            let mut all = vec![path.clone()];
            if files.is_empty() {
                if small_regular_file(path, "--schema").is_ok()
                    && let Ok(schema) = Schema::from_toml_file(path)
                {
                    all.extend(schema.files.iter().map(|f| absolute(&f.path)));
                }
            } else {
                all.extend(files.iter().cloned());
            }
            all
        }
    }
}

/// Largest schema or config file read (a TOML of more is not one, e.g. `/dev/zero`).
pub const MAX_TOML_BYTES: u64 = 16 << 20;

/// Reads a small text file (a schema, a config) whole: refuses a folder, a device and anything
/// over [`MAX_TOML_BYTES`] instead of hanging on it.
pub fn small_regular_file(path: &Path, what: &str) -> Result<String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).with_context(|| format!("{what} {}", path.display()))?;
    if meta.is_dir() {
        bail!("{what} {}: is a folder; give a file", path.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() || t.is_block_device() || t.is_socket() {
            bail!("{what} {}: is a device, not a file", path.display());
        }
    }
    let file = std::fs::File::open(path).with_context(|| format!("{what} {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_TOML_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("{what} {}", path.display()))?;
    if bytes.len() as u64 > MAX_TOML_BYTES {
        bail!(
            "{what} {}: more than {} MiB; that is not a TOML file this command reads",
            path.display(),
            MAX_TOML_BYTES >> 20
        );
    }
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{what} {}: not UTF-8 text: {e}", path.display()))
}

/// The memory that generating `cfg` takes (a lower bound) (the world of users and items, the
/// rows generated in chunks and gathered, then copied into the splits), naming the options.
pub fn synthetic_memory(cfg: &SyntheticConfig) -> MemoryNeed {
    let mut e = MemoryNeed::default();
    let d = cfg.latent_dim as u128;
    let m = cfg.scenario_shares.len() as u128;
    let c = cfg.scenario_clusters.iter().max().map_or(1, |x| *x as u128 + 1);
    // Per user: shared, per-cluster and per-scenario factors (f32), a bias, an activity, a
    // segment; per item the same plus a second shared factor.
    let per = d.saturating_mul(1 + c + m).saturating_add(3).saturating_mul(4);
    // A world too large to store draws each user's values when a row needs them.
    if cfg.stores_users() {
        e.add(
            format!("the synthetic world's {} users (--users)", cfg.users),
            u128::from(cfg.user_world_bytes()),
        );
    }
    e.add(
        format!("the synthetic world's {} items (--items)", cfg.items),
        (cfg.items as u128).saturating_mul(per.saturating_add(d.saturating_mul(4))),
    );
    let fields = 4 + cfg.noise_fields as u128;
    let row = 4 + 4 * fields + 4 * cfg.dense as u128 + 8 + 8 + 8 + std::mem::size_of::<Option<Part>>() as u128;
    e.add(
        format!(
            "{} rows (--rows) of {row} bytes each, held twice (generated, then split)",
            cfg.rows
        ),
        (cfg.rows as u128).saturating_mul(row).saturating_mul(2),
    );
    e
}

/// The synthetic world of `hinet train` without arguments: the generator's defaults with
/// DEFAULT_USERS users and DEFAULT_ITEMS items, so that a run of under a minute sees every user
/// and item often enough to learn their factors.
pub fn default_world() -> SyntheticConfig {
    SyntheticConfig {
        rows: DEFAULT_ROWS,
        users: DEFAULT_USERS,
        items: DEFAULT_ITEMS,
        ..SyntheticConfig::default()
    }
}

/// Loads (or generates) the rows of a description. `trained`: the model the rows are for (eval,
/// resume), whose table sizes the schema's `vocab = "auto"` columns keep, so that an id beyond
/// a trained table is a bad row naming file, line and column, not a vocabulary rediscovered.
pub fn load_source(desc: &DataDesc, args: &DataArgs, split_seed: u64, trained: Option<&ModelConfig>) -> Result<Source> {
    match file_source(desc, args, split_seed, trained)? {
        None => {
            let DataDesc::Synthetic { config } = desc else {
                bail!("only generated data has no files");
            };
            let data = generate(config).context("synthetic data")?;
            Ok(Source {
                data,
                split: SplitSpec::hash(0.8, 0.1, 0.1, split_seed),
                report: None,
                files: Vec::new(),
                schema_toml: None,
            })
        }
        Some(fs) => load_file_source(fs),
    }
}

/// Reads every row of `fs` into memory.
pub fn load_file_source(fs: FileSource) -> Result<Source> {
    let all: Vec<usize> = (0..fs.files.len()).collect();
    load_some_files(fs, &all)
}

/// [`load_file_source`] of the files at the indices `which` (a rank's own files): each row
/// keeps the split it has when every file is read.
pub fn load_some_files(fs: FileSource, which: &[usize]) -> Result<Source> {
    let loaded = hinet_data::load_files(&fs.schema, &fs.files, which, &fs.options)?;
    Ok(Source {
        data: loaded.data,
        split: fs.split,
        report: Some(loaded.report),
        files: fs.absolute_files,
        schema_toml: fs.schema_toml,
    })
}

/// CSV files to read with their schema, split and read options: everything about a file
/// source before a row is read (what the in-memory and the streaming paths share).
pub struct FileSource {
    /// The schema (automatic vocabularies fixed to a trained model's, when there is one).
    pub schema: Schema,
    /// The files, in the order they are read.
    pub files: Vec<InputFile>,
    /// How to read them (`--skip-bad-rows`).
    pub options: ReadOptions,
    /// The split (with `--valid-fraction` applied).
    pub split: SplitSpec,
    /// The files, absolute, for the checkpoint.
    pub absolute_files: Vec<PathBuf>,
    /// The text of the schema file (schema sources), for the checkpoint's `extra.schema_toml`.
    pub schema_toml: Option<String>,
}

impl FileSource {
    /// Bytes of the files on disk (a compressed file counts four times its size: about what it
    /// holds once inflated).
    pub fn text_bytes(&self) -> u64 {
        (0..self.files.len()).map(|i| self.file_text_bytes(i)).sum()
    }

    /// [`FileSource::text_bytes`] of file `i` alone.
    pub fn file_text_bytes(&self, i: usize) -> u64 {
        let f = &self.files[i];
        let len = std::fs::metadata(&f.path).map_or(0, |m| m.len());
        let gz = f.path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        if gz { len.saturating_mul(4) } else { len }
    }
}

/// The files of a preset or a schema (`None` for generated data), checked to exist.
pub fn file_source(
    desc: &DataDesc,
    args: &DataArgs,
    split_seed: u64,
    trained: Option<&ModelConfig>,
) -> Result<Option<FileSource>> {
    let fix = |schema: &mut Schema| -> Result<()> {
        if let Some(c) = trained {
            schema.fix_auto_vocab(super::config::trained_vocab(c))?;
        }
        Ok(())
    };
    let hash = SplitSpec::hash(0.8, 0.1, 0.1, split_seed);
    let options = read_options(args.skip_bad_rows);
    let source = match desc {
        DataDesc::Synthetic { .. } => return Ok(None),
        DataDesc::Preset { name } => {
            let dir = data_dir(args.data_dir.as_deref())?;
            let mut preset = hinet_data::preset(name, &dir)?;
            fix(&mut preset.schema).with_context(|| format!("preset {name}"))?;
            if let Some(missing) = preset.files.iter().find(|f| !f.path.is_file()) {
                bail!(
                    "preset {name}: {} not found in the data folder {} (see docs/data.md for the files each preset reads)",
                    missing.path.display(),
                    dir.display()
                );
            }
            FileSource {
                absolute_files: preset.files.iter().map(|f| absolute(&f.path)).collect(),
                schema: preset.schema,
                files: preset.files,
                options,
                split: preset.split,
                schema_toml: None,
            }
        }
        DataDesc::Schema { path, files } => {
            let text = small_regular_file(path, "schema")?;
            let (mut schema, files) = read_schema(path, files)?;
            fix(&mut schema).with_context(|| format!("schema {}", path.display()))?;
            let split =
                hinet_data::split_for_files(&files, hash).with_context(|| format!("schema {}", path.display()))?;
            FileSource {
                absolute_files: files.iter().map(|f| absolute(&f.path)).collect(),
                schema,
                files,
                options,
                split,
                schema_toml: Some(text),
            }
        }
    };
    Ok(Some(FileSource {
        split: carve_validation(source.split, args.valid_fraction, split_seed)?,
        ..source
    }))
}

/// Applies `--valid-fraction` to a split by file; a hash split refuses it.
fn carve_validation(split: SplitSpec, fraction: Option<f64>, seed: u64) -> Result<SplitSpec> {
    match fraction {
        None => Ok(split),
        Some(f) => split
            .carve_valid(f, seed)
            .with_context(|| format!("--valid-fraction {f}")),
    }
}

/// Reads a schema and the files to read with it (`files` replace the schema's own).
pub fn read_schema(path: &Path, files: &[PathBuf]) -> Result<(Schema, Vec<InputFile>)> {
    small_regular_file(path, "schema")?;
    let schema = Schema::from_toml_file(path)?;
    let files = if files.is_empty() {
        if schema.files.is_empty() {
            bail!(
                "schema {}: it lists no [[files]]; give the data with --data FILE",
                path.display()
            );
        }
        schema.files.clone()
    } else {
        files.iter().map(InputFile::new).collect()
    };
    Ok((schema, files))
}

/// Logs what a CSV read skipped.
pub fn log_skips(report: Option<&SkipReport>) {
    if let Some(r) = report
        && r.rows_skipped > 0
    {
        tracing::warn!("skipped bad rows: {r}");
    }
}

/// A batch as model input (labels included).
pub fn input_of<'a>(b: &'a Batch, spec: &FeatureSpec) -> Result<ModelInput<'a, f32>> {
    let dense = ArrayView2::from_shape((b.rows, spec.dense.len()), &b.dense)?;
    let labels = ArrayView2::from_shape((b.rows, spec.tasks.len()), &b.labels)?;
    Ok(ModelInput {
        rows: b.rows,
        scenario: &b.scenario,
        scenario_offsets: &b.scenario_offsets,
        sparse: &b.sparse,
        dense,
        labels: Some(labels),
    })
}

/// Something that predicts probabilities `[rows, tasks]` for a batch: a [`Trainer`], or a
/// model restored from a snapshot of its parameters.
pub trait Predictor {
    /// Probabilities of `input`'s rows in inference mode.
    fn predict_input(&mut self, input: &ModelInput<'_, f32>) -> Result<Array2<f32>>;
}

impl Predictor for Trainer<f32> {
    fn predict_input(&mut self, input: &ModelInput<'_, f32>) -> Result<Array2<f32>> {
        Ok(self.predict(input)?)
    }
}

/// Predictions for every row of `data` in row order, row-major `[rows, tasks]`.
pub fn predict_dataset<P: Predictor + ?Sized>(trainer: &mut P, data: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
    let t = data.spec.tasks.len();
    let mut out = vec![0.0f32; data.len() * t];
    let mut batch = Batch::new();
    let mut iter = data.batches(batch_size, None);
    while iter.next_into(&mut batch) {
        // A non-finite prediction names the rows of `data` it is in.
        let p = trainer.predict_input(&input_of(&batch, &data.spec)?).map_err(|e| {
            match e.downcast::<hinet_model::ModelError>() {
                Ok(m) => m.with_row_ids(&batch.source_rows).into(),
                Err(e) => e,
            }
        })?;
        if p.dim() != (batch.rows, t) {
            bail!(
                "the model predicted {:?} values for a batch of {} rows and {t} tasks",
                p.dim(),
                batch.rows
            );
        }
        for (r, &src) in batch.source_rows.iter().enumerate() {
            for j in 0..t {
                if let Some(slot) = out.get_mut(src * t + j) {
                    *slot = p[[r, j]];
                }
            }
        }
    }
    Ok(out)
}

/// Metrics of the model on `data` (with the oracle AUC when the data has one).
pub fn metrics<P: Predictor + ?Sized>(trainer: &mut P, data: &Dataset, batch_size: usize) -> Result<MetricsTable> {
    metrics_over(trainer, &data.spec, std::iter::once(Ok(data)), batch_size)
}

/// Metrics of the model over rows that arrive in chunks (all of them in memory, or streamed
/// from files): each row keeps its scenario, predictions and labels until the end, as exact AUC
/// needs. Oracle AUCs only when every chunk has oracle values.
pub fn metrics_over<P, D, I>(trainer: &mut P, spec: &FeatureSpec, chunks: I, batch_size: usize) -> Result<MetricsTable>
where
    P: Predictor + ?Sized,
    D: std::borrow::Borrow<Dataset>,
    I: IntoIterator<Item = Result<D>>,
{
    let (mut scenario, mut preds, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    let mut oracle: Option<Vec<f32>> = Some(Vec::new());
    for chunk in chunks {
        let chunk = chunk?;
        let chunk = chunk.borrow();
        preds.extend(predict_dataset(trainer, chunk, batch_size)?);
        scenario.extend(chunk.scenario.iter().map(|&s| s as usize));
        labels.extend_from_slice(&chunk.labels);
        match (&mut oracle, &chunk.oracle) {
            (Some(all), Some(o)) => all.extend_from_slice(o),
            _ => oracle = None,
        }
    }
    Ok(MetricsTable::compute(
        &spec.scenarios,
        &spec.tasks,
        &scenario,
        &preds,
        &labels,
        oracle.as_deref(),
    ))
}

/// Prints a metrics table and its mean AUC (what train, eval and a distributed run end with).
pub fn print_metrics(t: &MetricsTable) {
    out!("{}", t.to_table());
    if let Some(m) = mean_auc(t) {
        outln!("mean AUC over scenarios and tasks: {m:.4}");
    }
}

/// Mean AUC over the (scenario, task) cells where it is defined.
pub fn mean_auc(m: &MetricsTable) -> Option<f64> {
    let aucs: Vec<f64> = m.cells.iter().flatten().filter_map(|c| c.auc).collect();
    (!aucs.is_empty()).then(|| aucs.iter().sum::<f64>() / aucs.len() as f64)
}

/// Sum over tasks of the overall logloss (the training loss without weights and penalties).
pub fn total_logloss(m: &MetricsTable) -> f64 {
    m.overall.iter().map(|c| c.logloss).sum()
}

/// One line per task: the AUC overall and per scenario.
pub fn brief(m: &MetricsTable) -> String {
    let f = |a: Option<f64>| a.map_or("n/a".to_string(), |v| format!("{v:.4}"));
    let mut lines = Vec::new();
    for (j, task) in m.tasks.iter().enumerate() {
        let per: Vec<String> = m
            .scenarios
            .iter()
            .enumerate()
            .map(|(s, name)| format!("{name} {}", f(m.cells[s][j].auc)))
            .collect();
        lines.push(format!("  {task} AUC {} [{}]", f(m.overall[j].auc), per.join(", ")));
    }
    lines.join("\n")
}
