//! `hinet gen-data`: the synthetic dataset as CSV plus its schema.

use anyhow::{Context, Result, bail};
use hinet_data::synthetic::{SyntheticConfig, generate};
use std::path::PathBuf;

/// Options of `hinet gen-data`.
#[derive(Debug, clap::Args)]
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
    std::fs::create_dir_all(&args.out).with_context(|| format!("output folder {}", args.out.display()))?;
    let start = std::time::Instant::now();
    let data = generate(&config)?;
    let csv = args
        .out
        .join(format!("{}.csv{}", args.name, if args.gzip { ".gz" } else { "" }));
    let schema = args.out.join(format!("{}.toml", args.name));
    hinet_data::write_csv(&data, &csv, Some(&schema))?;
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
