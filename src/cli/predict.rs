//! `hinet predict`: probabilities per task for every row of a CSV, streamed chunk by chunk so
//! memory stays bounded for a file of any size; output rows are in input order.

use super::Globals;
use super::config;
use super::data::{self, DataDesc};
use super::eval::{load_checkpoint, stored_normalizer};
use anyhow::{Context, Result, bail};
use hinet_data::{Batch, InputFile, ReadOptions, stream};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Options of `hinet predict`.
#[derive(Debug, clap::Args)]
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
}

/// Runs `hinet predict`.
pub fn run(args: &PredictArgs, _globals: Globals) -> Result<()> {
    let start = Instant::now();
    if args.batch_size == 0 || args.chunk_rows == 0 {
        bail!("--batch-size and --chunk-rows must be at least 1");
    }
    let (mut trainer, info) = load_checkpoint(&args.checkpoint)?;
    let origin = format!("checkpoint {}", args.checkpoint.display());
    let schema_path = match &args.schema {
        Some(p) => p.clone(),
        None => match info
            .extra
            .get("data")
            .and_then(|s| serde_json::from_str::<DataDesc>(s).ok())
        {
            Some(DataDesc::Schema { path, .. }) => path,
            _ => bail!("give --schema FILE.toml: {origin} was not trained from a schema file"),
        },
    };
    let mut schema = hinet_data::Schema::from_toml_file(&schema_path)?;
    // With no split key a row's key is its position among the data rows: the output's `row`.
    schema.split_key.clear();
    // Columns whose vocabulary the training data decided keep the trained table sizes.
    schema
        .fix_auto_vocab(config::trained_vocab(&info.config))
        .with_context(|| format!("schema {} with {origin}", schema_path.display()))?;
    config::check_matches(&info.config, &schema.feature_spec(), &origin)?;
    let normalizer = stored_normalizer(&info, &args.checkpoint)?;
    let options = ReadOptions {
        skip_bad_rows: args.skip_bad_rows,
        chunk_rows: args.chunk_rows,
        // Data to score usually has no labels; a label column that is present is still checked.
        labels_optional: true,
        ..ReadOptions::default()
    };
    let files = [InputFile::new(&args.input)];
    let mut chunks = stream(&schema, &files, &options);
    let out_file = std::fs::File::create(&args.output).with_context(|| format!("output {}", args.output.display()))?;
    let mut out = BufWriter::new(out_file);
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
                .context("applying the checkpoint's dense normaliser")?;
        }
        let mut preds = vec![0.0f32; chunk.len() * t];
        let mut iter = chunk.batches(args.batch_size, None);
        while iter.next_into(&mut batch) {
            let p = trainer.predict(&data::input_of(&batch, &chunk.spec)?)?;
            for (r, &src) in batch.source_rows.iter().enumerate() {
                for j in 0..t {
                    preds[src * t + j] = p[[r, j]];
                }
            }
        }
        for (r, key) in chunk.row_key.iter().enumerate() {
            line.clear();
            line += &key.to_string();
            for v in &preds[r * t..(r + 1) * t] {
                line += &format!(",{v:.6}");
            }
            writeln!(out, "{line}")?;
        }
        written += chunk.len();
        tracing::debug!("{written} rows scored");
    }
    out.flush()?;
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
