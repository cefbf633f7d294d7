//! `hinet bench`: training-step throughput (or inference speed and latency) of a configuration
//! on in-memory synthetic batches (docs/bench-default.md).

use super::Globals;
use super::config;
use super::data::count;
use super::report::{self, Versions};
use anyhow::{Result, anyhow};
use hinet_data::synthetic::SyntheticConfig;
use hinet_model::throughput::{self, SyntheticBatch, ThroughputReport};
use hinet_model::{ModelConfig, TrainOptions, Trainer};
use serde::Serialize;
use std::time::Instant;

/// Options of `hinet bench`.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct BenchArgs {
    /// `bench-default`, `small` (the default `hinet train` model) or a TOML model config.
    #[arg(long, default_value = "bench-default")]
    config: String,
    /// Override one key of the model config (repeatable; VALUE is TOML), as in `hinet train`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Rows per step.
    #[arg(long, default_value_t = 1024)]
    batch: i64,
    /// Timed steps (the median is reported).
    #[arg(long, default_value_t = 20)]
    steps: i64,
    /// Untimed steps first.
    #[arg(long, default_value_t = 5)]
    warmup: i64,
    /// Seed of the model and the batch.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Measure inference instead: rows/s at the batch size and single-row latency.
    #[arg(long)]
    predict: bool,
    /// Single-row predictions timed for the latency percentiles (with --predict).
    #[arg(long, default_value_t = 1000)]
    latency_iters: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Rows of the first sparse field's embedding table (a user-id table, say): how the step
    /// time and the memory grow with a vocabulary (the ids of the batch stay uniform over it).
    #[arg(long, value_name = "ROWS")]
    vocab: Option<i64>,
    /// Update every embedding table lazily (only the rows a batch uses).
    #[arg(long, conflicts_with = "dense_embeddings")]
    sparse_embeddings: bool,
    /// Update every embedding table densely, whatever its size (by default tables of 100,000
    /// rows or more are updated lazily; bench-default's 10,000-row tables densely, as its
    /// definition says).
    #[arg(long)]
    dense_embeddings: bool,
    /// Under mpirun: where the embedding tables live (sharded, replicated, auto), as in
    /// `hinet train`. `--batch` is then the global batch, split evenly over the ranks.
    #[arg(long, value_name = "sharded|replicated|auto", default_value = "auto")]
    embeddings: String,
    /// Operand precision of the matrix products (`f32` or `bf16`), overriding the config's.
    #[arg(long, value_name = "f32|bf16", value_parser = super::train::precision_arg)]
    precision: Option<hinet_model::Precision>,
}

/// The counts of [`BenchArgs`], checked.
#[derive(Debug, Clone, Copy)]
struct Counts {
    batch: usize,
    steps: usize,
    warmup: usize,
    latency_iters: usize,
}

/// Most timed steps, warm-up steps or latency calls (more is a typo, not a measurement).
const MAX_ITERS: u64 = 100_000_000;
/// Largest batch: 16M rows (the memory check refuses smaller ones that do not fit).
const MAX_BATCH: u64 = 1 << 24;

impl Counts {
    fn of(args: &BenchArgs) -> Result<Counts> {
        Ok(Counts {
            batch: count("--batch", args.batch, 1, MAX_BATCH)?,
            steps: count("--steps", args.steps, 1, MAX_ITERS)?,
            warmup: count("--warmup", args.warmup, 0, MAX_ITERS)?,
            latency_iters: count("--latency-iters", args.latency_iters, 1, MAX_ITERS)?,
        })
    }
}

/// Inference measurements.
#[derive(Debug, Serialize)]
struct PredictReport {
    batch: usize,
    threads: usize,
    steps: usize,
    median_batch_ms: f64,
    rows_per_second: f64,
    latency_iters: usize,
    single_row_p50_us: f64,
    single_row_p99_us: f64,
}

#[derive(Serialize)]
struct BenchOutput<'a> {
    command: &'static str,
    config: &'a str,
    versions: Versions,
    #[serde(skip_serializing_if = "Option::is_none")]
    train: Option<ThroughputReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    predict: Option<PredictReport>,
    largest_table_rows: usize,
    embedding_update: String,
    /// Operand precision of the products, and how bf16 runs here.
    precision: String,
    peak_rss_bytes: Option<u64>,
    /// What the model, its training state and the batch need, by part, as estimated from the
    /// config before anything is allocated.
    estimate: report::MemoryParts,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

fn measure_predict(
    config: &ModelConfig,
    args: &BenchArgs,
    n: Counts,
    shares: &[f64],
    threads: usize,
) -> Result<PredictReport> {
    let mut trainer = Trainer::<f32>::new(config, args.seed, &TrainOptions::default())?;
    let data = SyntheticBatch::<f32>::new(config, n.batch, shares, args.seed);
    let input = data.input();
    for _ in 0..n.warmup {
        trainer.predict(&input)?;
    }
    let mut times = Vec::with_capacity(n.steps);
    for _ in 0..n.steps {
        let t = Instant::now();
        trainer.predict(&input)?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = percentile(&times, 0.5);
    let one = SyntheticBatch::<f32>::new(config, 1, shares, args.seed.wrapping_add(1));
    let one = one.input();
    for _ in 0..n.warmup.max(1) {
        trainer.predict(&one)?;
    }
    let mut lat = Vec::with_capacity(n.latency_iters);
    for _ in 0..n.latency_iters {
        let t = Instant::now();
        trainer.predict(&one)?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);
    Ok(PredictReport {
        batch: n.batch,
        threads,
        steps: n.steps,
        median_batch_ms: median * 1e3,
        rows_per_second: n.batch as f64 / median,
        latency_iters: n.latency_iters,
        single_row_p50_us: percentile(&lat, 0.5),
        single_row_p99_us: percentile(&lat, 0.99),
    })
}

/// Data-parallel measurements (under mpirun): rank 0's view of the synchronised steps.
#[derive(Debug, Serialize)]
struct DistBenchReport {
    ranks: usize,
    threads_per_rank: usize,
    /// Global batch (all ranks).
    batch: usize,
    embeddings: &'static str,
    steps: usize,
    median_step_ms: f64,
    samples_per_second: f64,
    /// Median time per step in collectives that move data, on rank 0.
    median_comm_ms: f64,
    comm_share: f64,
    /// Median time per step rank 0 waited for the slowest rank (compute imbalance).
    median_wait_ms: f64,
    /// Bytes rank 0 sent per step: dense gradients summed, and embedding exchanges.
    allreduce_bytes_per_step: f64,
    exchange_bytes_per_step: f64,
}

fn measure_distributed(
    config: &ModelConfig,
    args: &BenchArgs,
    n: Counts,
    shares: &[f64],
    comm: std::sync::Arc<dyn hinet_dist::Communicator>,
) -> Result<DistBenchReport> {
    use hinet_dist::{DistOptions, DistTrainer};
    let (rank, ranks) = (comm.rank(), comm.size());
    let placement = super::train::embedding_placement(&args.embeddings)?;
    let options = TrainOptions {
        max_memory_bytes: hinet_model::available_memory_bytes(),
        batch_size: n.batch.div_ceil(ranks),
        ..TrainOptions::default()
    };
    let dist = DistOptions {
        placement,
        ..DistOptions::default()
    };
    let mut trainer = DistTrainer::<f32>::new(comm, config, args.seed, &options, dist)?;
    // Rank r's share of the global batch: rows of its own (another seed).
    let rows = (n.batch * (rank + 1) / ranks - n.batch * rank / ranks).max(1);
    let data = SyntheticBatch::<f32>::new(config, rows, shares, args.seed.wrapping_add(rank as u64));
    let input = data.input();
    for _ in 0..n.warmup {
        trainer.step(&input)?;
    }
    let (mut times, mut comm_times, mut waits) = (
        Vec::with_capacity(n.steps),
        Vec::with_capacity(n.steps),
        Vec::with_capacity(n.steps),
    );
    let before = trainer.stats();
    for _ in 0..n.steps {
        let s0 = trainer.stats();
        let t = Instant::now();
        trainer.step(&input)?;
        times.push(t.elapsed().as_secs_f64());
        comm_times.push(trainer.stats().comm_seconds - s0.comm_seconds);
        waits.push(trainer.stats().wait_seconds - s0.wait_seconds);
    }
    waits.sort_by(f64::total_cmp);
    let after = trainer.stats();
    times.sort_by(f64::total_cmp);
    comm_times.sort_by(f64::total_cmp);
    let median = percentile(&times, 0.5);
    let steps = n.steps as f64;
    Ok(DistBenchReport {
        ranks,
        threads_per_rank: rayon::current_num_threads(),
        batch: n.batch,
        embeddings: if trainer.sharded() { "sharded" } else { "replicated" },
        steps: n.steps,
        median_step_ms: median * 1e3,
        samples_per_second: n.batch as f64 / median,
        median_comm_ms: percentile(&comm_times, 0.5) * 1e3,
        median_wait_ms: percentile(&waits, 0.5) * 1e3,
        comm_share: (after.comm_seconds - before.comm_seconds) / (after.step_seconds - before.step_seconds).max(1e-12),
        allreduce_bytes_per_step: (after.allreduce_bytes - before.allreduce_bytes) as f64 / steps,
        exchange_bytes_per_step: (after.exchange_bytes - before.exchange_bytes) as f64 / steps,
    })
}

/// Runs `hinet bench`: on one process, or under mpirun as one rank of a data-parallel step.
pub fn run(args: &BenchArgs, globals: Globals) -> Result<()> {
    match super::world()? {
        None => run_alone(args, globals),
        Some(comm) => match run_ranks(args, globals, std::sync::Arc::clone(&comm)) {
            Ok(()) => Ok(()),
            Err(e) => {
                eprintln!("error: rank {} of {}: {e:#}", comm.rank(), comm.size());
                comm.abort(1)
            }
        },
    }
}

fn run_ranks(args: &BenchArgs, globals: Globals, comm: std::sync::Arc<dyn hinet_dist::Communicator>) -> Result<()> {
    let n = Counts::of(args)?;
    if args.predict {
        anyhow::bail!("--predict under mpirun: inference does not communicate; run it in one process");
    }
    let spec = SyntheticConfig {
        rows: 1,
        ..SyntheticConfig::default()
    }
    .feature_spec();
    let mut config = config::model_config(Some(&args.config), &args.set, 8, &spec, false)?;
    if let Some(precision) = args.precision {
        config.precision = precision;
    }
    let bench_shares = SyntheticConfig::default().scenario_shares;
    let shares: Vec<f64> = if config.num_scenarios() == bench_shares.len() {
        bench_shares
    } else {
        Vec::new()
    };
    // The global pool: its size is --threads, or this machine's cores shared by its ranks
    // (set in main). No pool of its own: MPI is initialised funneled, so the collectives must
    // run on this thread, not inside a pool's worker.
    let _ = globals;
    let lead = comm.rank() == 0;
    let ranks = comm.size();
    let r = measure_distributed(&config, args, n, &shares, comm)?;
    if !lead {
        return Ok(());
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    outln!(
        "{} training over {ranks} ranks x {} threads, global batch {} ({} embeddings): {:.0} samples/s (median \
         step {:.2} ms over {} steps); communication {:.2} ms per step ({:.1} % of the step), waiting for the \
         slowest rank {:.2} ms; {:.2} MiB summed and {:.2} MiB exchanged per step by rank 0",
        args.config,
        r.threads_per_rank,
        r.batch,
        r.embeddings,
        r.samples_per_second,
        r.median_step_ms,
        r.steps,
        r.median_comm_ms,
        100.0 * r.comm_share,
        r.median_wait_ms,
        r.allreduce_bytes_per_step / (1u64 << 20) as f64,
        r.exchange_bytes_per_step / (1u64 << 20) as f64
    );
    Ok(())
}

fn run_alone(args: &BenchArgs, globals: Globals) -> Result<()> {
    let n = Counts::of(args)?;
    let threads = globals.threads.unwrap_or(2);
    let spec = SyntheticConfig {
        rows: 1,
        ..SyntheticConfig::default()
    }
    .feature_spec();
    let mut config = config::model_config(Some(&args.config), &args.set, 8, &spec, false)?;
    if let Some(precision) = args.precision {
        config.precision = precision;
    }
    if let Some(rows) = args.vocab {
        let rows = count("--vocab", rows, 1, u64::from(u32::MAX))?;
        match config.sparse.first_mut() {
            Some(field) => field.vocab = rows,
            None => anyhow::bail!("--vocab: config {} has no sparse field", args.config),
        }
    }
    let options = TrainOptions {
        sparse_embeddings: args.sparse_embeddings,
        lazy_from_rows: (!args.dense_embeddings).then_some(hinet_model::LAZY_FROM_ROWS),
        ..TrainOptions::default()
    };
    // Refused before anything is allocated: a width of 2^62 or a batch of 10^12 rows.
    config::model_memory(&config, &options.optimizer, n.batch, "--batch", !args.predict)?.check(
        &format!("bench: the model of config {} at batch {}", args.config, n.batch),
        config::memory_limit(globals.max_memory).as_ref(),
    )?;
    let estimate = if args.predict {
        report::MemoryParts::inference(&config, n.batch)?
    } else {
        report::MemoryParts::training(&config, &options.optimizer, n.batch, false)?
    };
    let lazy = config.sparse.iter().filter(|f| options.lazy_table(f.vocab)).count();
    let update = match lazy {
        0 => "dense".to_string(),
        l if l == config.sparse.len() => "lazy".to_string(),
        l => format!(
            "lazy for {l} of {} tables (those of 100,000 rows or more)",
            config.sparse.len()
        ),
    };
    let bench_shares = SyntheticConfig::default().scenario_shares;
    let shares: Vec<f64> = if config.num_scenarios() == bench_shares.len() {
        bench_shares
    } else {
        Vec::new()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| anyhow!("cannot build a pool of {threads} threads: {e}"))?;
    tracing::info!(
        "bench {}: batch {}, {} threads, {} warm-up + {} timed steps{}",
        args.config,
        n.batch,
        threads,
        n.warmup,
        n.steps,
        if args.predict { " (inference)" } else { "" }
    );
    let (train, predict) = pool.install(|| -> Result<_> {
        if args.predict {
            Ok((None, Some(measure_predict(&config, args, n, &shares, threads)?)))
        } else {
            let r = throughput::measure_with::<f32>(&config, &options, n.batch, n.warmup, n.steps, &shares, args.seed)?;
            Ok((Some(r), None))
        }
    })?;
    let out = BenchOutput {
        command: "bench",
        config: &args.config,
        versions: pool.install(Versions::current),
        largest_table_rows: config.sparse.iter().map(|f| f.vocab).max().unwrap_or(0),
        embedding_update: update,
        precision: report::precision_label(config.precision),
        train,
        predict,
        peak_rss_bytes: report::peak_rss_bytes(),
        estimate,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mem = out
        .peak_rss_bytes
        .map_or("n/a".to_string(), |b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64));
    if let Some(r) = &out.train {
        outln!(
            "{} training, batch {}, {} threads, kernel {}, products {}, embedding update {}: {:.0} samples/s, \
             {:.1} GFLOP/s effective (median step {:.2} ms over {} steps, min {:.2}, max {:.2}); peak memory {mem}",
            args.config,
            r.batch,
            r.threads,
            out.versions.gemm_kernel,
            out.precision,
            out.embedding_update,
            r.samples_per_second,
            r.gflops,
            r.median_step_ms,
            r.steps,
            r.min_step_ms,
            r.max_step_ms
        );
    }
    if let Some(p) = &out.predict {
        outln!(
            "{} inference, batch {}, {} threads, products {}: {:.0} rows/s (median batch {:.2} ms); single row: \
             p50 {:.1} us, p99 {:.1} us over {} calls; peak memory {mem}",
            args.config,
            p.batch,
            p.threads,
            out.precision,
            p.rows_per_second,
            p.median_batch_ms,
            p.single_row_p50_us,
            p.single_row_p99_us,
            p.latency_iters
        );
    }
    let e = &out.estimate;
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    outln!(
        "memory: estimated {:.1} MiB (parameters {:.1}, gradients {:.1}, optimiser state {:.1}, activations {:.1}); \
         peak {mem}{}",
        mib(e.total),
        mib(e.parameters),
        mib(e.gradients),
        mib(e.optimizer_state),
        mib(e.activations),
        out.peak_rss_bytes
            .filter(|_| e.total > 0)
            .map_or(String::new(), |p| format!(
                " ({:.2}x the estimate)",
                p as f64 / e.total as f64
            ))
    );
    Ok(())
}
