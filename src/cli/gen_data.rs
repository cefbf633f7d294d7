//! `hinet gen-data`: the synthetic dataset as CSV plus its schema.

use super::files;
use anyhow::{Result, anyhow, bail};
use hinet_data::DataError;
use hinet_data::synthetic::{SyntheticConfig, generate};
use std::path::PathBuf;

/// Options of `hinet gen-data`.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct GenDataArgs {
    /// Rows to generate.
    #[arg(long, default_value_t = 200_000)]
    rows: usize,
    /// Output folder (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// File name stem: writes STEM.csv (or STEM.csv.gz) and STEM.toml.
    #[arg(long, default_value = "synthetic")]
    name: String,
    /// Compress the CSV with gzip.
    #[arg(long)]
    gzip: bool,
    /// `default` (the world of `hinet train`'s default data) or `bench-default` (its 20-field benchmark shape).
    #[arg(long, default_value = "default")]
    shape: String,
}

/// Runs `hinet gen-data`.
pub fn run(args: &GenDataArgs) -> Result<()> {
    let config = match args.shape.as_str() {
        "default" => SyntheticConfig {
            rows: args.rows,
            seed: args.seed,
            ..super::data::default_world()
        },
        "bench-default" => SyntheticConfig {
            seed: args.seed,
            ..SyntheticConfig::bench_default(args.rows)
        },
        other => bail!("--shape {other:?}: expected `default` or `bench-default`"),
    };
    let name = &args.name;
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) || name.starts_with('.') {
        bail!("--name {name:?}: give a plain file name stem, e.g. `synthetic` (no folder, not hidden)");
    }
    let csv_name = format!("{name}.csv{}", if args.gzip { ".gz" } else { "" });
    let schema_name = format!("{name}.toml");
    let csv = args.out.join(&csv_name);
    let schema = args.out.join(&schema_name);
    // Both outputs are checked before any row is generated.
    files::check_output_dir(&args.out, "--out")?;
    files::check_output(&csv, "--out", &[])?;
    files::check_output(&schema, "--out", &[])?;
    let start = std::time::Instant::now();
    let data = generate(&config)?;
    // Written into a temporary folder beside them, then moved into place: an error, a kill or a
    // full disk leaves the previous files (or none), never a truncated CSV.
    let temp = files::TempDir::beside(&csv)?;
    hinet_data::write_csv(
        &data,
        &temp.path().join(&csv_name),
        Some(&temp.path().join(&schema_name)),
    )
    .map_err(|e| match e {
        DataError::Io { path, source } => {
            let target = if path.file_name() == Some(schema_name.as_ref()) {
                &schema
            } else {
                &csv
            };
            anyhow!("{}: cannot write: {source}", target.display())
        }
        other => anyhow!(other),
    })?;
    temp.persist(&csv_name, &csv)?;
    temp.persist(&schema_name, &schema)?;
    drop(temp);
    tracing::info!(
        "{} rows written to {} with schema {} in {:.2} s",
        data.len(),
        csv.display(),
        schema.display(),
        start.elapsed().as_secs_f64()
    );
    outln!("{}", csv.display());
    outln!("{}", schema.display());
    Ok(())
}
