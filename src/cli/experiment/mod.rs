//! `hinet experiment`: the paper's four experiments (comparison with baselines, ablation, number
//! of sub-experts, SAN's scenario correlations) rerun on the synthetic data and MovieLens-100K,
//! with the same data, features, budget and seeds for every model; writes results.md, its
//! figures and the raw runs (results.json).
//!
//! Runs are independent, so they go to `--jobs` worker threads, each with a one-thread rayon
//! pool of its own: on two cores two models train at once, which is faster than one model on
//! two threads (the kernels scale 1.4-1.6x, two runs 2x). Every run is deterministic and does not
//! depend on the number of threads, so the numbers do not depend on `--jobs`.

mod analysis;
mod figures;
mod plan;
mod report;
mod runner;
mod stats;

use super::Globals;
use super::files;
use super::report::{Versions, write_json};
use anyhow::{Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use plan::{DatasetKind, Scale, Study};
use runner::{DatasetInfo, Prepared, RunRecord};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Options of `hinet experiment`.
#[derive(Debug, clap::Args)]
#[command(allow_negative_numbers = true)]
pub struct ExperimentArgs {
    /// The CI smoke run: less data, 2 epochs, 2 seeds, under 2 minutes on two cores. Its numbers
    /// are not evidence; it writes to target/experiment-quick unless --out says otherwise.
    #[arg(long)]
    pub quick: bool,
    /// Folder for results.md and results/ (figures, results.json) [default:
    /// target/experiment; quick: target/experiment-quick]. `--out docs` rewrites the project's
    /// docs/results.md.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Experiments to run.
    #[arg(long, value_delimiter = ',', default_values = ["comparison", "ablation", "experts", "san"])]
    pub studies: Vec<Study>,
    /// Datasets to run them on.
    #[arg(long, value_delimiter = ',', default_values = ["synthetic", "movielens-100k"])]
    pub datasets: Vec<DatasetKind>,
    /// Seeds 1..=N [default: 3; quick: 2].
    #[arg(long, value_name = "N")]
    pub seeds: Option<usize>,
    /// Models trained at once, one thread each [default: --threads, else the available cores].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Folder holding the public data samples [default: $HINET_DATA_DIR, else ../shared/data next
    /// to the checkout].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Write results.md and the figures from an earlier run's results.json instead of training.
    #[arg(long, value_name = "RESULTS.json")]
    pub from: Option<PathBuf>,
}

/// Everything a run measured: what results.md and the figures are made from.
#[derive(Debug, Serialize, Deserialize)]
pub struct Results {
    /// The command line (after `hinet`).
    pub command: String,
    /// Whether this was the quick smoke run.
    pub quick: bool,
    /// Rows, budgets and seeds.
    pub scale: Scale,
    /// Experiments run.
    pub studies: Vec<Study>,
    /// Datasets, in order.
    pub datasets: Vec<DatasetInfo>,
    /// Every run.
    pub runs: Vec<RunRecord>,
    /// Wall seconds of the whole command.
    pub wall_seconds: f64,
    /// Models trained at once.
    pub jobs: usize,
    /// The GEMM kernel, OS, architecture.
    pub machine: String,
    /// Logical CPUs of the machine.
    pub cpus: usize,
}

/// Runs `hinet experiment`.
pub fn run(args: &ExperimentArgs, globals: Globals) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(if args.quick {
            "target/experiment-quick"
        } else {
            "target/experiment"
        })
    });
    // A regular file only: a device or a pipe (/dev/zero) would be read forever.
    if let Some(from) = &args.from {
        match std::fs::metadata(from) {
            Err(e) => bail!("--from {}: {e}", from.display()),
            Ok(m) if !m.is_file() => bail!("--from {}: not a regular file; give a results.json", from.display()),
            Ok(_) => {}
        }
    }
    // Every output is checked before anything is trained or read (a full run takes half an hour).
    let inputs: Vec<&Path> = args.from.iter().map(PathBuf::as_path).collect();
    check_outputs(&out, args.from.is_none(), &inputs)?;
    if let Some(from) = &args.from {
        let text = std::fs::read_to_string(from).map_err(|e| anyhow!("results {}: {e}", from.display()))?;
        let results: Results = serde_json::from_str(&text).map_err(|e| anyhow!("results {}: {e}", from.display()))?;
        return write_outputs(&out, &results, false);
    }
    let start = Instant::now();
    if args.studies.is_empty() || args.datasets.is_empty() {
        bail!("--studies and --datasets need at least one value each");
    }
    let mut scale = if args.quick { Scale::quick() } else { Scale::full() };
    if let Some(n) = args.seeds {
        if n == 0 {
            bail!("--seeds must be at least 1");
        }
        scale.seeds = (1..=n as u64).collect();
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.or(globals.threads).unwrap_or(cpus);
    if jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let mut datasets = Vec::new();
    for &kind in &plan::dedup(&args.datasets) {
        let p = runner::prepare(kind, &scale, args.data_dir.clone())?;
        tracing::info!(
            "{}: train {} / valid {} / test {} rows, scenarios {:?}, long tail {}",
            kind.name(),
            p.splits.train.len(),
            p.splits.valid.len(),
            p.splits.test.len(),
            p.info.scenarios,
            p.info.scenarios[p.info.long_tail]
        );
        datasets.push(p);
    }
    let studies = plan::dedup(&args.studies);
    let sizes: Vec<(DatasetKind, usize)> = datasets
        .iter()
        .map(|d| (d.info.kind, d.splits.train.len() * d.info.budget.epochs))
        .collect();
    let plan = plan::jobs(&sizes, &studies, &scale.seeds);
    tracing::info!(
        "{} runs ({} models x {} seeds x {} datasets), {} at a time",
        plan.len(),
        plan::variants(&studies).len(),
        scale.seeds.len(),
        datasets.len(),
        jobs.min(plan.len())
    );
    let runs = execute(&datasets, &plan, jobs, globals.quiet)?;
    let results = Results {
        command: std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        quick: args.quick,
        scale,
        studies,
        datasets: datasets.into_iter().map(|d| d.info).collect(),
        runs,
        wall_seconds: start.elapsed().as_secs_f64(),
        jobs,
        machine: {
            let v = Versions::current();
            format!("{} GEMM kernel, {} {}", v.gemm_kernel, v.os, v.arch)
        },
        cpus,
    };
    write_outputs(&out, &results, true)?;
    tracing::info!("done in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Runs every job on `jobs` worker threads; the first error stops the others.
fn execute(datasets: &[Prepared], plan: &[plan::Job], jobs: usize, quiet: bool) -> Result<Vec<RunRecord>> {
    let bases: Vec<_> = datasets.iter().map(|d| plan::base_config(&d.features)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let done: Mutex<Vec<(usize, RunRecord)>> = Mutex::new(Vec::with_capacity(plan.len()));
    let error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let pb = if quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let pb = ProgressBar::new(plan.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {pos}/{len} runs, {elapsed} elapsed, ETA {eta}") {
            pb.set_style(style.progress_chars("=> "));
        }
        pb
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(plan.len()) {
            scope.spawn(|| {
                let pool = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
                    Ok(p) => p,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        lock(&error).get_or_insert(anyhow!("cannot build a worker's thread pool: {e}"));
                        return;
                    }
                };
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = plan.get(i) else { break };
                    let data = &datasets[job.dataset];
                    match pool.install(|| runner::train(data, job.variant, job.seed, &bases[job.dataset])) {
                        Ok(r) => {
                            let msg = format!(
                                "{} / {} / seed {}: mean test AUC {}, best epoch {}, {:.1} s",
                                data.info.kind.name(),
                                job.variant.label(),
                                job.seed,
                                r.mean_auc().map_or("n/a".into(), |a| format!("{a:.4}")),
                                r.best_epoch,
                                r.seconds
                            );
                            pb.suspend(|| tracing::info!("{msg}"));
                            pb.inc(1);
                            lock(&done).push((i, r));
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            lock(&error).get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    pb.finish_and_clear();
    if let Some(e) = lock(&error).take() {
        return Err(e);
    }
    let mut done = std::mem::take(&mut *lock(&done));
    // Report order: dataset, variant, seed (not completion order).
    done.sort_by_key(|(i, _)| (plan[*i].dataset, plan[*i].variant, plan[*i].seed));
    Ok(done.into_iter().map(|(_, r)| r).collect())
}

/// Locks a mutex, also after another worker panicked while holding it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Checks the output folder and its fixed files (results.md, results/results.json) before any
/// work: folders, writable, not `inputs` (`--from`).
fn check_outputs(out: &Path, with_json: bool, inputs: &[&Path]) -> Result<()> {
    files::check_output_dir(out, "--out")?;
    files::check_output_dir(&out.join("results"), "--out")?;
    files::check_output(&out.join("results.md"), "--out", inputs)?;
    if with_json {
        files::check_output(&out.join("results").join("results.json"), "--out", inputs)?;
    }
    Ok(())
}

/// results.md, the figures and (after training) results.json, each written atomically (a
/// temporary file renamed into place).
fn write_outputs(out: &Path, results: &Results, with_json: bool) -> Result<()> {
    let dir = out.join("results");
    files::check_output_dir(&dir, "--out")?;
    if with_json {
        write_json(&dir.join("results.json"), results)?;
    }
    let figures = report::figures(&dir, results)?;
    let md = report::markdown(results, &figures);
    let path = out.join("results.md");
    files::check_output(&path, "--out", &[])?;
    files::write_atomic(&path, md.as_bytes())?;
    outln!(
        "wrote {} and {} figures in {}",
        path.display(),
        figures.len(),
        dir.display()
    );
    Ok(())
}
