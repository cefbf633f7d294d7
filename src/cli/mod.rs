//! Command-line front end: argument parsing, logging and dispatch to the subcommands.

/// `println!` that ignores a closed stdout (e.g. `hinet eval ... | head -1`) instead of
/// panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($t)*);
    }};
}

mod bench;
mod config;
mod data;
mod eval;
mod experiment;
mod files;
mod gen_data;
mod plots;
mod predict;
mod report;
mod train;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing::Level;

/// HiNet (hierarchical multi-scenario, multi-task recommender) trained on CPUs.
#[derive(Debug, Parser)]
// `args_override_self`: an option given twice takes its last value (`hinet --threads 2 ...
// --threads 4`), as in most commands; repeatable options (`--set`, `--data`) still collect.
#[command(name = "hinet", version, about, propagate_version = true, args_override_self = true)]
pub struct Cli {
    /// Only warnings and errors (also hides the progress bar).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Worker threads of the global rayon pool (default: all cores; `bench`: 2); at most 4 per
    /// core (at least 64, at most 1024).
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    threads: Option<i64>,
    /// The most memory a command may plan to use (e.g. 8GiB, 512MiB, 4000000000): models,
    /// vocabularies and synthetic data that would need more are refused before anything is
    /// allocated. Default: the memory available when the command starts (MemAvailable).
    #[arg(long, global = true, value_name = "BYTES|NGiB", allow_negative_numbers = true)]
    max_memory: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a model (default: a small HiNet on the built-in synthetic data).
    Train(Box<train::TrainArgs>),
    /// Evaluate a checkpoint: AUC and logloss per scenario and task.
    Eval(Box<eval::EvalArgs>),
    /// Write predicted probabilities for a CSV, streamed chunk by chunk.
    Predict(Box<predict::PredictArgs>),
    /// Write the synthetic dataset as CSV plus the schema that reads it.
    GenData(gen_data::GenDataArgs),
    /// Training-step (or inference) throughput of a configuration.
    Bench(bench::BenchArgs),
    /// Rerun the paper's experiments (baselines, ablation, expert count, SAN) and write results.md.
    Experiment(Box<experiment::ExperimentArgs>),
}

/// Global settings every command sees.
#[derive(Debug, Clone, Copy)]
pub struct Globals {
    /// `--quiet`.
    pub quiet: bool,
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--max-memory` in bytes.
    pub max_memory: Option<u64>,
}

/// The most threads `--threads` accepts: 4 per core, at least 64 and at most 1024. More only
/// thrash: each is a busy worker.
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_mul(4).clamp(64, 1024)
}

/// Checks `--threads`.
fn threads_of(n: i64) -> anyhow::Result<usize> {
    let max = max_threads();
    if n < 1 {
        anyhow::bail!("--threads {n}: must be at least 1");
    }
    match usize::try_from(n) {
        Ok(n) if n <= max => Ok(n),
        _ => anyhow::bail!(
            "--threads {n}: at most {max} on this machine ({} cores; 4 per core, at least 64, at most 1024)",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ),
    }
}

/// The other ranks when this process is one of several started by an MPI launcher.
#[cfg(feature = "mpi")]
pub(crate) fn world() -> anyhow::Result<Option<std::sync::Arc<dyn hinet_dist::Communicator>>> {
    use hinet_dist::{Communicator, MpiComm};
    if !MpiComm::launched() {
        return Ok(None);
    }
    let comm = MpiComm::init().ok_or_else(|| anyhow::anyhow!("MPI could not be initialised"))?;
    Ok((comm.size() > 1).then(|| std::sync::Arc::new(comm) as std::sync::Arc<dyn Communicator>))
}

/// Without the `mpi` feature, N copies started by mpirun would each train alone (and write the
/// same outputs): refused.
#[cfg(not(feature = "mpi"))]
pub(crate) fn world() -> anyhow::Result<Option<std::sync::Arc<dyn hinet_dist::Communicator>>> {
    match launcher_ranks() {
        Some((_, n)) if n > 1 => anyhow::bail!(
            "started as one of {n} MPI ranks, but this hinet was built without MPI: build it with `cargo build --release --features mpi` (docs/distributed.md)"
        ),
        _ => Ok(None),
    }
}

/// `(rank, ranks)` when an MPI launcher (mpirun, srun) started this process, from its
/// environment (read before MPI is initialised).
pub fn launcher_ranks() -> Option<(usize, usize)> {
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().and_then(|v| v.parse::<usize>().ok()))
    };
    let size = var(&["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"])?;
    let rank = var(&["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"]).unwrap_or(0);
    Some((rank, size))
}

/// Ranks of this job on this machine, from the launcher's environment.
fn local_ranks() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"]
        .iter()
        .find_map(|n| std::env::var(n).ok().and_then(|v| v.parse::<usize>().ok()))
        .unwrap_or(1)
        .max(1)
}

fn init_logging(quiet: bool, verbose: u8) {
    // Under mpirun only rank 0 logs (errors excepted): N copies of each line help nobody.
    let follower = launcher_ranks().is_some_and(|(rank, size)| size > 1 && rank > 0);
    let level = match (quiet, verbose) {
        _ if follower => Level::ERROR,
        (true, _) => Level::WARN,
        (false, 0) => Level::INFO,
        (false, 1) => Level::DEBUG,
        _ => Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.quiet, cli.verbose);
    let result = (|| -> anyhow::Result<()> {
        let mut threads = cli.threads.map(threads_of).transpose()?;
        // Ranks sharing a machine share its cores: by default each takes its part.
        let local = local_ranks();
        if threads.is_none() && local > 1 && launcher_ranks().is_some() {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            threads = Some((cores / local).max(1));
        }
        let max_memory = cli
            .max_memory
            .as_deref()
            .map(|m| config::parse_bytes(m).map_err(|e| anyhow::anyhow!("--max-memory {e}")))
            .transpose()?;
        let globals = Globals {
            quiet: cli.quiet,
            threads,
            max_memory,
        };
        if let Some(n) = threads {
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build_global()
                .map_err(|e| anyhow::anyhow!("cannot build a pool of {n} threads: {e}"))?;
        }
        match cli.command {
            Command::Train(a) => train::run(&a, globals),
            Command::Eval(a) => eval::run(&a, globals),
            Command::Predict(a) => predict::run(&a, globals),
            Command::GenData(a) => gen_data::run(&a),
            Command::Bench(a) => bench::run(&a, globals),
            Command::Experiment(a) => experiment::run(&a, globals),
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
