//! `hinet predict`: probabilities per task for every row of a CSV, streamed chunk by chunk so
//! memory stays bounded for a file of any size; output rows are in input order.
//!
//! The output is written through a temporary file beside it and takes its name only when every
//! row is scored: an error, a kill or a full disk mid-way leaves no partial output, and an
//! existing file of that name as it was.

use super::Globals;
use super::config;
use super::data::{self, DataDesc};
use super::eval::{
    FoundSchema, Meta, check_feature_spec, load_checkpoint, read_schema_file, required_normalizer, stored_schema,
};
use super::files::{self, AtomicFile};
use anyhow::{Result, anyhow, bail};
use hinet_data::{Batch, InputFile, ReadOptions, stream};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `hinet predict`.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct PredictArgs {
    /// A checkpoint written by `hinet train --checkpoint`.
    pub checkpoint: PathBuf,
    /// The rows to score: CSV/TSV(.gz) with the schema's columns.
    pub input: PathBuf,
    /// The schema that reads INPUT (default: the one the checkpoint was trained with, if any).
    #[arg(long, value_name = "FILE.toml")]
    pub schema: Option<PathBuf>,
    /// Output CSV: `row` (0-based data row of INPUT) and one probability column `p_<task>` per task.
    #[arg(short, long, value_name = "OUT.csv")]
    pub output: PathBuf,
    /// Rows per prediction batch.
    #[arg(long, default_value_t = 4096)]
    pub batch_size: usize,
    /// Rows parsed per chunk (memory bound).
    #[arg(long, default_value_t = 65_536)]
    pub chunk_rows: usize,
    /// Skip bad rows (they get no output line) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Operand precision of the products (`f32` or `bf16`; default: the checkpoint's).
    #[arg(long, value_name = "f32|bf16", value_parser = super::train::precision_arg)]
    pub precision: Option<hinet_model::Precision>,
}

/// Runs `hinet predict`.
pub fn run(args: &PredictArgs, globals: Globals) -> Result<()> {
    let start = Instant::now();
    if args.batch_size == 0 || args.chunk_rows == 0 {
        bail!("--batch-size and --chunk-rows must be at least 1");
    }
    match std::fs::metadata(&args.input) {
        Err(e) => bail!("input {}: {e}", args.input.display()),
        Ok(m) if m.is_dir() => bail!("input {}: is a folder; give a CSV file", args.input.display()),
        Ok(_) => {}
    }
    let (mut model, info) = load_checkpoint(&args.checkpoint, globals, args.batch_size, args.precision)?;
    let meta = Meta::new(&info, &args.checkpoint);
    let origin = meta.origin();
    // The schema: --schema, else the one the checkpoint was trained with.
    let found = match &args.schema {
        Some(p) => FoundSchema {
            schema: read_schema_file(p, "--schema")?,
            file: Some(p.clone()),
            consulted: Some(p.clone()),
        },
        None => match meta.json::<DataDesc>("data")? {
            Some(DataDesc::Schema { path, .. }) => stored_schema(&meta, &path)?,
            Some(_) => bail!("give --schema FILE.toml: {origin} was not trained from a schema file"),
            None => {
                bail!("give --schema FILE.toml: {origin} has no extra.data, so it does not say how its data was read")
            }
        },
    };
    let mut schema = found.schema;
    let shown = found.file.as_deref().map_or_else(
        || format!("the schema stored in {origin}"),
        |p| format!("schema {}", p.display()),
    );
    // Only the columns predicting needs are read: no split key (a row's key is its position among
    // the data rows: the output's `row`), no oracle columns, and labels only when present.
    schema.split_key.clear();
    schema.oracle_columns.clear();
    // Columns whose vocabulary the training data decided keep the trained table sizes.
    schema
        .fix_auto_vocab(config::trained_vocab(&info.config))
        .map_err(|e| anyhow!("{shown} with {origin}: {e}"))?;
    let spec = schema.feature_spec();
    config::check_matches(&info.config, &spec, &origin)?;
    check_feature_spec(&meta, &spec)?;
    let normalizer = required_normalizer(&info, &args.checkpoint)?;
    // The output: not an input, its folder writable; checked before any row is read.
    let mut inputs: Vec<&Path> = vec![args.checkpoint.as_path(), args.input.as_path()];
    if let Some(f) = &found.consulted {
        inputs.push(f);
    }
    files::check_output(&args.output, "--output", &inputs)?;

    let options = ReadOptions {
        skip_bad_rows: args.skip_bad_rows,
        chunk_rows: args.chunk_rows,
        // Data to score usually has no labels; a label column that is present is still checked.
        labels_optional: true,
        ..ReadOptions::default()
    };
    let input_files = [InputFile::new(&args.input)];
    let mut chunks = stream(&schema, &input_files, &options);
    let mut out = AtomicFile::create(&args.output)?;
    let tasks = &info.config.tasks;
    let header: Vec<String> = std::iter::once("row".to_string())
        .chain(tasks.iter().map(|t| format!("p_{t}")))
        .collect();
    writeln!(out, "{}", header.join(","))?;
    let t = tasks.len();
    let mut batch = Batch::new();
    let mut written = 0usize;
    let mut line = String::new();
    for chunk in &mut chunks {
        let mut chunk = chunk?;
        if let Some(n) = &normalizer {
            n.apply(&mut chunk)
                .map_err(|e| anyhow!("applying the dense normaliser of {origin}: {e}"))?;
        }
        let mut preds = vec![0.0f32; chunk.len() * t];
        let mut iter = chunk.batches(args.batch_size, None);
        while iter.next_into(&mut batch) {
            let p = model.predict(&data::input_of(&batch, &chunk.spec)?)?;
            if p.dim() != (batch.rows, t) {
                bail!(
                    "the model predicted {:?} values for a batch of {} rows and {t} tasks",
                    p.dim(),
                    batch.rows
                );
            }
            for (r, &src) in batch.source_rows.iter().enumerate() {
                for j in 0..t {
                    if let Some(slot) = preds.get_mut(src * t + j) {
                        *slot = p[[r, j]];
                    }
                }
            }
        }
        for (r, key) in chunk.row_key.iter().enumerate() {
            line.clear();
            line += &key.to_string();
            for v in preds.get(r * t..(r + 1) * t).unwrap_or_default() {
                line += &format!(",{v:.6}");
            }
            writeln!(out, "{line}")?;
        }
        written += chunk.len();
        tracing::debug!("{written} rows scored");
    }
    out.commit()?;
    if let Some(report) = chunks.report() {
        data::log_skips(Some(report));
    }
    tracing::info!(
        "{written} rows scored into {} in {:.2} s",
        args.output.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
