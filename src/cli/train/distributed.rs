//! `mpirun -np N hinet train ...`: one model trained by N ranks (docs/distributed.md).
//!
//! When the data comes in enough files, each rank reads only its own (balanced by bytes); else
//! every rank reads everything and keeps every N-th row of each split (see `shares`). Either
//! way, in memory or streamed from the files each epoch (`--stream`, or by size). Row counts
//! and the dense normaliser's statistics are summed over the ranks, so the split and the
//! normaliser are the one-process ones. `--batch-size` is per rank: each epoch every rank takes
//! the same number of steps, the global batch about N x b (a rank with more rows takes larger
//! batches), as one process of that batch would. Validation and test metrics are exact over
//! all ranks' rows. Rank 0 logs, prints, writes the checkpoint (gathered into the one-process
//! format) and the report. An error on any rank is printed with its rank and ends the job.

use super::super::Globals;
use super::super::config;
use super::super::data::{self, DataDesc};
use super::super::report::{self, Versions};
use super::args::{Settings, TrainArgs, optimizer_kind};
use super::outputs::{check_outputs, input_paths};
use super::shares::{self, DataShares, FileSize, SharesMode};
use super::source::{Epoch, Reading, Streamed};
use super::{DataPlan, EpochRecord, progress_bar, resume_info, stored_epoch};
use anyhow::{Context, Result, anyhow, bail};
use hinet_data::{Batch, Dataset, DenseNormalizer, FeatureSpec, NormalizerFit, Part, SkipReport, Splits};
use hinet_dist::{CommStats, Communicator, DistOptions, DistTrainer, EmbeddingPlacement, MetricsGather};
use hinet_model::{MetricsTable, ModelConfig, TrainOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[derive(Serialize)]
struct DistReport<'a> {
    command: &'static str,
    versions: Versions,
    ranks: usize,
    embeddings: &'static str,
    seed: u64,
    config: &'a ModelConfig,
    optimizer: String,
    lr: f64,
    batch_size_per_rank: usize,
    global_batch_size: usize,
    epochs: usize,
    data: &'a DataDesc,
    rows: [usize; 3],
    history: &'a [EpochRecord],
    best_epoch: Option<usize>,
    test: Option<&'a MetricsTable>,
    test_mean_auc: Option<f64>,
    train_rows_per_second: f64,
    /// Share of the training time that rank 0 spent in collectives (waits included).
    comm_share: f64,
    comm: CommStatsReport,
    total_seconds: f64,
    peak_rss_bytes_rank0: Option<u64>,
}

#[derive(Serialize)]
struct CommStatsReport {
    steps: u64,
    comm_seconds: f64,
    step_seconds: f64,
    exchange_bytes: u64,
    allreduce_bytes: u64,
    wait_seconds: f64,
}

impl From<CommStats> for CommStatsReport {
    fn from(s: CommStats) -> Self {
        Self {
            steps: s.steps,
            comm_seconds: s.comm_seconds,
            step_seconds: s.step_seconds,
            exchange_bytes: s.exchange_bytes,
            allreduce_bytes: s.allreduce_bytes,
            wait_seconds: s.wait_seconds,
        }
    }
}

pub(crate) fn placement(name: &str) -> Result<EmbeddingPlacement> {
    Ok(match name {
        "sharded" => EmbeddingPlacement::Sharded,
        "replicated" => EmbeddingPlacement::Replicated,
        "auto" => EmbeddingPlacement::default(),
        other => bail!("--embeddings {other:?}: expected sharded, replicated or auto"),
    })
}

/// Keeps rows `rank, rank + n, ...` of `data`.
fn keep_share(data: &mut Dataset, rank: usize, n: usize) -> Result<()> {
    let rows: Vec<usize> = (rank..data.len()).step_by(n).collect();
    data.keep_rows(&rows)?;
    // The other ranks' rows: back to the allocator.
    data.shrink_to_fit();
    Ok(())
}

/// Rows of rank `rank`'s share of `n` rows when it keeps rows `rank, rank + ranks, ...`.
fn share_len(n: usize, rank: usize, ranks: usize) -> usize {
    n.saturating_sub(rank).div_ceil(ranks)
}

/// "3,000 / 2,950 / 3,050" (small lists), or the range.
fn rows_per_rank(rows: &[usize]) -> String {
    if rows.len() <= 8 {
        rows.iter().map(usize::to_string).collect::<Vec<_>>().join(" / ")
    } else {
        let (lo, hi) = (rows.iter().min(), rows.iter().max());
        format!("{} to {}", lo.unwrap_or(&0), hi.unwrap_or(&0))
    }
}

/// Logs this rank's skipped rows on rank 0; with shares by file, the counts summed over the
/// ranks first (every rank must call it).
fn log_skips(comm: &dyn Communicator, report: Option<&SkipReport>, by_file: bool) -> Result<()> {
    let lead = comm.rank() == 0;
    if !by_file {
        if lead {
            data::log_skips(report);
        }
        return Ok(());
    }
    let mut counts = report.map_or([0.0; 2], |r| [r.rows_read as f64, r.rows_skipped as f64]);
    comm.sum_f64(&mut counts)?;
    if lead && counts[1] > 0.0 {
        tracing::warn!(
            "skipped bad rows over all ranks: {} of {} rows; rank 0's files: {}",
            counts[1],
            counts[0] + counts[1],
            report.map_or_else(String::new, ToString::to_string)
        );
    }
    Ok(())
}

/// Ranks that read their own files size each `vocab = "auto"` table by their own rows: every
/// rank takes the largest size any rank found, so that the models are the same.
fn agree_on_auto_vocab(comm: &dyn Communicator, data: &mut Dataset, auto: &[usize]) -> Result<()> {
    let mine: Vec<u8> = auto
        .iter()
        .flat_map(|&c| (data.spec.sparse[c].vocab as u64).to_le_bytes())
        .collect();
    let all = comm.all_gather(&mine)?;
    for (k, &c) in auto.iter().enumerate() {
        for theirs in &all {
            let v = theirs
                .get(8 * k..8 * k + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes) as usize;
            let field = &mut data.spec.sparse[c];
            field.vocab = field.vocab.max(v);
        }
    }
    Ok(())
}

/// The dense normaliser of the training rows of every rank, each holding its own: the
/// statistics of both passes summed over the ranks.
fn fit_over_ranks(train: &Dataset, sum: &dyn Fn(&mut [f64]) -> Result<()>) -> Result<DenseNormalizer> {
    let mut fit = NormalizerFit::new(train)?;
    fit.add(train)?;
    let mut sums = fit.partial_sums();
    sum(&mut sums)?;
    fit.set_sums(&sums)?;
    if fit.needs_second_pass() {
        fit.second_pass();
        fit.add(train)?;
        let mut sums = fit.partial_sums();
        sum(&mut sums)?;
        fit.set_sums(&sums)?;
    }
    Ok(fit.finish()?)
}

/// The batches of `data`, in order (each rank's share of validation or test).
fn batches_of(data: &Dataset, size: usize) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut iter = data.batches(size, None);
    loop {
        let mut b = Batch::new();
        if !iter.next_into(&mut b) {
            break;
        }
        out.push(b);
    }
    out
}

/// This rank's rows: its share of each split in memory, or the files streamed each epoch with
/// every rank keeping its share as it reads.
enum RankData {
    Memory(Box<Splits>),
    Stream(Box<Streamed>),
}

/// Metrics over every rank's share of a part (`None` when the part is empty everywhere).
fn metrics(
    trainer: &mut DistTrainer<f32>,
    data: &RankData,
    every: Option<(usize, usize)>,
    part: Part,
    total: usize,
    spec: &FeatureSpec,
    batch: usize,
) -> Result<Option<MetricsTable>> {
    if total == 0 {
        return Ok(None);
    }
    let mut gather = MetricsGather::default();
    match data {
        RankData::Memory(splits) => {
            let rows = match part {
                Part::Train => &splits.train,
                Part::Valid => &splits.valid,
                Part::Test => &splits.test,
            };
            for b in batches_of(rows, batch) {
                trainer.metrics_add(&mut gather, Some(&data::input_of(&b, spec)?))?;
            }
        }
        RankData::Stream(streamed) => {
            streamed.for_each_share(part, every, |chunk| {
                for b in batches_of(&chunk, batch) {
                    trainer.metrics_add(&mut gather, Some(&data::input_of(&b, spec)?))?;
                }
                Ok(())
            })?;
        }
    }
    // Until every rank has predicted its last batch.
    while trainer.metrics_add(&mut gather, None)? {}
    Ok(Some(trainer.metrics_finish(gather)?))
}

/// Runs `hinet train` as rank `comm.rank()` of `comm.size()`.
pub(super) fn run(args: &TrainArgs, globals: Globals, comm: Arc<dyn Communicator>) -> Result<()> {
    let start = Instant::now();
    let (rank, ranks) = (comm.rank(), comm.size());
    let lead = rank == 0;
    let settings = Settings::of(args)?;
    let dist = DistOptions {
        placement: placement(&args.embeddings)?,
        ..DistOptions::default()
    };
    if args.plots.is_some() {
        bail!("--plots under mpirun: not supported; the report (--report) has every epoch's numbers");
    }
    let options = TrainOptions {
        optimizer: optimizer_kind(&args.optimizer)?,
        lr: args.lr,
        sparse_embeddings: args.sparse_embeddings,
        lazy_from_rows: args.lazy_from_rows(),
        clip_norm: args.clip_norm,
        embedding_l2: args.embedding_l2,
        max_memory_bytes: config::memory_limit(globals.max_memory).map(|l| l.bytes),
        ..TrainOptions::default()
    };
    let resume = match &args.resume {
        Some(path) => {
            let info = resume_info(path)?;
            let done = stored_epoch(&info, path)?;
            if done >= settings.epochs {
                bail!(
                    "--resume {}: the checkpoint has trained {done} epochs already; --epochs counts from the start \
                     of the run, so pass --epochs {} (or more)",
                    path.display(),
                    done.saturating_add(1)
                );
            }
            Some((path.as_path(), info, done))
        }
        None => None,
    };
    let stored_desc = resume
        .as_ref()
        .and_then(|(_, info, _)| info.extra.get("data"))
        .and_then(|s| serde_json::from_str::<DataDesc>(s).ok());
    let desc = data::describe(&args.data, stored_desc.as_ref())?;
    // Rank 0 writes the outputs: only it checks them and holds the checkpoint's lock.
    let mut ckpt = if lead {
        check_outputs(args, &input_paths(args, &desc))?
    } else {
        None
    };

    // The data: each rank reads its own files, or every file keeping every N-th row.
    let DataPlan {
        split_seed,
        stored,
        files,
        stream,
    } = DataPlan::of(args, &desc, resume.as_ref().map(|(_, info, _)| info), globals)?;
    let trained = resume.as_ref().map(|(_, info, _)| &info.config);
    let (shares, why) = match &files {
        Some(fs) => {
            let sizes: Vec<FileSize> = fs
                .files
                .iter()
                .enumerate()
                .map(|(i, f)| FileSize {
                    bytes: fs.file_text_bytes(i),
                    training: f.part.is_none_or(|p| p == Part::Train),
                })
                .collect();
            shares::assign(&sizes, ranks, SharesMode::parse(&args.data_shares)?)?
        }
        None => (
            DataShares::Rows,
            "generated data: every rank generates it and keeps every N-th row".into(),
        ),
    };
    if lead {
        tracing::info!("data: {why}");
    }
    let mine = match &shares {
        DataShares::Files(f) => Some(f[rank].clone()),
        DataShares::Rows => None,
    };
    // Rows `rank, rank + N, ...` of each part, when every rank reads everything.
    let every = mine.is_none().then_some((rank, ranks));
    let sum = |v: &mut [f64]| -> Result<()> { Ok(comm.sum_f64(v)?) };
    let (rank_data, normalizer, spec, counts, local_train, split, schema_toml) = match files {
        Some(fs) if stream => {
            let (split, schema_toml) = (fs.split, fs.schema_toml.clone());
            let reading = match &mine {
                Some(files) => Reading {
                    files: files.clone(),
                    sum: &sum,
                },
                None => Reading::all(&fs),
            };
            let (streamed, normalizer, report) = Streamed::open(fs, stored, settings.shuffle_buffer, reading)?;
            log_skips(&*comm, Some(&report), mine.is_some())?;
            let (spec, counts) = (streamed.spec().clone(), streamed.counts());
            let local_train = match mine {
                Some(_) => streamed.local_counts()[0],
                None => share_len(counts[0], rank, ranks),
            };
            (
                RankData::Stream(Box::new(streamed)),
                normalizer,
                spec,
                counts,
                local_train,
                split,
                schema_toml,
            )
        }
        files => {
            let source = match (files, &mine) {
                (Some(fs), Some(which)) => {
                    let auto: Vec<usize> = (0..fs.schema.sparse.len())
                        .filter(|&c| fs.schema.sparse[c].is_auto())
                        .collect();
                    let mut source = data::load_some_files(fs, which)?;
                    agree_on_auto_vocab(&*comm, &mut source.data, &auto)?;
                    source
                }
                (Some(fs), None) => data::load_file_source(fs)?,
                (None, _) => data::load_source(&desc, &args.data, split_seed, trained)?,
            };
            log_skips(&*comm, source.report.as_ref(), mine.is_some())?;
            let spec = source.data.spec.clone();
            let (mut splits, _) = source.data.split_in_place(&source.split)?;
            let mut counts = [splits.train.len(), splits.valid.len(), splits.test.len()];
            let normalizer = match (stored, &mine) {
                (Some(n), _) => n,
                // Every rank holds every row: the one-process fit.
                (None, None) => DenseNormalizer::fit(&splits.train)?,
                // Each rank holds its files' rows: the statistics summed over the ranks.
                (None, Some(_)) => fit_over_ranks(&splits.train, &sum)?,
            };
            for part in [&mut splits.train, &mut splits.valid, &mut splits.test] {
                normalizer.apply(part).context("the dense normaliser")?;
            }
            let local_train = match mine {
                Some(_) => {
                    let local = counts[0];
                    let mut all = counts.map(|c| c as f64);
                    sum(&mut all)?;
                    counts = all.map(|c| c as usize);
                    local
                }
                None => {
                    for part in [&mut splits.train, &mut splits.valid, &mut splits.test] {
                        keep_share(part, rank, ranks)?;
                    }
                    splits.train.len()
                }
            };
            (
                RankData::Memory(Box::new(splits)),
                normalizer,
                spec,
                counts,
                local_train,
                source.split,
                source.schema_toml,
            )
        }
    };
    // Every rank's training rows, to spread them over the same number of steps.
    let shares_of_train: Vec<usize> = comm
        .all_gather(&(local_train as u64).to_le_bytes())?
        .iter()
        .map(|b| b.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes) as usize)
        .collect();
    let fewest = shares_of_train.iter().copied().min().unwrap_or(0);
    if fewest == 0 {
        bail!(
            "{} training rows for {ranks} ranks ({}): every rank needs at least one",
            counts[0],
            rows_per_rank(&shares_of_train)
        );
    }
    if lead {
        tracing::info!(
            "data: rows train {}, valid {}, test {}; training rows per rank: {}",
            counts[0],
            counts[1],
            counts[2],
            rows_per_rank(&shares_of_train)
        );
    }

    // The model, the same on every rank, then sharded.
    let (mut trainer, first_epoch, mut best_score) = match &resume {
        Some((path, info, done)) => {
            config::check_matches(&info.config, &spec, &format!("checkpoint {}", path.display()))?;
            let (t, _) = DistTrainer::<f32>::resume(Arc::clone(&comm), path, &options, dist)?;
            let best = info
                .extra
                .get("best_valid_score")
                .and_then(|e| e.parse::<f64>().ok())
                .filter(|b| b.is_finite());
            (t, *done, best)
        }
        None => {
            let config = config::model_config(args.config.as_deref(), &args.set, settings.embedding_dim, &spec, true)?;
            (
                DistTrainer::<f32>::new(Arc::clone(&comm), &config, args.seed, &options, dist)?,
                0,
                None,
            )
        }
    };
    if let Some(precision) = args.precision {
        trainer.set_precision(precision);
    }
    let config = trainer.model().config().clone();
    // Steps per epoch: the same on every rank, each taking about `--batch-size` rows per rank:
    // the global batch is N x b; a rank with more rows than another takes larger batches (its
    // gradient weighs by its rows), so every row is trained on each epoch.
    let batch_size = settings.batch_size;
    let steps = counts[0].div_ceil(batch_size * ranks).clamp(1, fewest);
    if lead {
        tracing::info!(
            "model: {:?}, {} embedding tables {} ({} per rank); batch about {batch_size} per rank, {} in all; \
             {steps} steps per epoch",
            config.architecture,
            config.sparse.len(),
            if trainer.sharded() {
                "sharded by row"
            } else {
                "replicated"
            },
            hinet_model::human_bytes(trainer.table_bytes() as u64),
            batch_size * ranks
        );
    }
    let mut extra = BTreeMap::new();
    extra.insert("feature_spec".to_string(), serde_json::to_string(&spec)?);
    extra.insert("dense_normalizer".to_string(), serde_json::to_string(&normalizer)?);
    extra.insert("data".to_string(), serde_json::to_string(&desc)?);
    if let Some(text) = &schema_toml {
        extra.insert("schema_toml".to_string(), text.clone());
    }
    extra.insert("split".to_string(), serde_json::to_string(&split)?);
    extra.insert("seed".to_string(), args.seed.to_string());
    extra.insert("ranks".to_string(), ranks.to_string());
    extra.insert("hinet_version".to_string(), env!("CARGO_PKG_VERSION").to_string());

    let eval_batch = settings.eval_batch_size;
    let has_valid = counts[1] > 0;
    let mut history: Vec<EpochRecord> = Vec::new();
    let mut best_epoch = None;
    let mut stale = 0;
    let mut batch = Batch::new();
    let mut train_seconds = 0.0;
    for epoch in first_epoch + 1..=settings.epochs {
        let pb = progress_bar(counts[0], epoch, settings.epochs, globals.quiet || !lead);
        let epoch_start = Instant::now();
        // Each rank shuffles its own share, differently per rank and epoch; the files' order is
        // the same on every rank (ranks that keep every N-th row must read in one order).
        let order_seed = args.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let seed = order_seed ^ (rank as u64) << 48;
        let mut iter = match &rank_data {
            RankData::Memory(splits) => Epoch::Memory(splits.train.batches(batch_size, Some(seed))),
            RankData::Stream(streamed) => streamed.epoch(batch_size, seed, order_seed, every),
        };
        let mut loss_sum = 0.0;
        let mut left = local_train;
        for step in 0..steps {
            // This rank's rows left, spread evenly over the steps left.
            if !iter.next_sized(&mut batch, left.div_ceil(steps - step))? {
                bail!("rank {rank}: ran out of training rows before the epoch's {steps} steps");
            }
            left = left.saturating_sub(batch.rows);
            let input = data::input_of(&batch, &spec)?;
            let loss = trainer.step(&input).map_err(|e| anyhow!("epoch {epoch}: {e}"))?;
            loss_sum += loss;
            pb.inc((counts[0] * (step + 1) / steps - counts[0] * step / steps) as u64);
        }
        pb.finish_and_clear();
        let seconds = epoch_start.elapsed().as_secs_f64();
        train_seconds += seconds;
        let valid_m = metrics(
            &mut trainer,
            &rank_data,
            every,
            Part::Valid,
            counts[1],
            &spec,
            eval_batch,
        )?;
        let valid_auc = valid_m.as_ref().and_then(data::mean_auc);
        let valid_loss = valid_m.as_ref().map(data::total_logloss);
        let score = valid_auc.or(valid_loss.map(|l| -l)).unwrap_or(f64::INFINITY);
        let score = if score.is_nan() { f64::NEG_INFINITY } else { score };
        let improved = best_score.is_none_or(|b| score > b || score == f64::INFINITY);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / steps.max(1) as f64,
            train_logloss: f64::NAN,
            train_auc: None,
            valid_loss,
            valid_auc,
            valid_metrics: valid_m.clone(),
            train_seconds: seconds,
            rows_per_second: counts[0] as f64 / seconds.max(1e-9),
            improved,
        };
        if lead {
            tracing::info!(
                "epoch {epoch}/{}: train loss {:.4}{} ({:.1} s, {:.0} rows/s over {ranks} ranks)",
                settings.epochs,
                record.train_loss,
                match (valid_loss, valid_auc) {
                    (Some(l), a) => format!(
                        ", valid loss {l:.4}, valid mean AUC {}",
                        a.map_or("n/a".into(), |a| format!("{a:.4}"))
                    ),
                    _ => String::new(),
                },
                seconds,
                record.rows_per_second
            );
            if let Some(v) = &valid_m {
                tracing::info!("validation:\n{}", data::brief(v));
            }
        }
        history.push(record);
        if improved {
            best_score = Some(score);
            best_epoch = Some(epoch);
            stale = 0;
            if args.checkpoint.is_some() {
                extra.insert("epoch".to_string(), epoch.to_string());
                extra.insert("best_valid_score".to_string(), score.to_string());
                match &mut ckpt {
                    Some(out) => out.save_with(|temp| Ok(trainer.save(temp, &extra)?), epoch)?,
                    // The other ranks send their shards to rank 0, which writes.
                    None => trainer.save(Path::new(""), &extra)?,
                }
            }
        } else {
            stale += 1;
            if let Some(p) = settings.patience
                && stale >= p
                && has_valid
            {
                if lead {
                    tracing::info!("early stop: {stale} epochs without a better validation AUC");
                }
                break;
            }
        }
    }
    if let Some(out) = &mut ckpt {
        out.notice_change();
    }
    // Test metrics of the best epoch's model: the checkpoint holds it (every rank reads it and
    // keeps its shards, as on --resume); without one, the last epoch's.
    let stats = trainer.stats();
    let last = history.last().map(|r| r.epoch);
    if let Some(best) = best_epoch
        && best_epoch != last
    {
        match &args.checkpoint {
            Some(path) => {
                trainer = DistTrainer::<f32>::resume(Arc::clone(&comm), path, &options, dist)
                    .with_context(|| format!("re-reading the best epoch's model from {}", path.display()))?
                    .0;
                if lead {
                    tracing::info!("test metrics of the best epoch ({best}), read back from the checkpoint");
                }
            }
            None if lead => tracing::info!(
                "the best validation score was epoch {best}'s, but without --checkpoint only the last epoch's model \
                 is kept: the test metrics below are the last epoch's"
            ),
            None => {}
        }
    }
    let (part, rows) = if counts[2] > 0 {
        (Part::Test, counts[2])
    } else {
        (Part::Valid, counts[1])
    };
    let test = metrics(&mut trainer, &rank_data, every, part, rows, &spec, eval_batch)?;
    if lead {
        match &test {
            Some(t) => {
                outln!(
                    "{} metrics ({} rows, {ranks} ranks):",
                    if counts[2] > 0 { "Test" } else { "Validation" },
                    rows
                );
                data::print_metrics(t);
            }
            None => outln!("Nothing to evaluate: the data has no test or validation rows."),
        }
        tracing::info!(
            "communication: {:.1} % of the step time on rank 0 ({:.2} s of {:.2} s over {} steps, plus {:.2} s \
             waiting for slower ranks; {} exchanged, {} summed)",
            100.0 * stats.comm_seconds / stats.step_seconds.max(1e-9),
            stats.comm_seconds,
            stats.step_seconds,
            stats.steps,
            stats.wait_seconds,
            hinet_model::human_bytes(stats.exchange_bytes),
            hinet_model::human_bytes(stats.allreduce_bytes)
        );
    }
    if lead && let Some(path) = &args.report {
        let trained_rows: usize = history.len() * counts[0];
        let r = DistReport {
            command: "train",
            versions: Versions::current(),
            ranks,
            embeddings: if trainer.sharded() { "sharded" } else { "replicated" },
            seed: args.seed,
            config: &config,
            optimizer: args.optimizer.clone(),
            lr: args.lr,
            batch_size_per_rank: batch_size,
            global_batch_size: batch_size * ranks,
            epochs: settings.epochs,
            data: &desc,
            rows: counts,
            history: &history,
            best_epoch,
            test: test.as_ref(),
            test_mean_auc: test.as_ref().and_then(data::mean_auc),
            train_rows_per_second: trained_rows as f64 / train_seconds.max(1e-9),
            comm_share: stats.comm_seconds / stats.step_seconds.max(1e-9),
            comm: stats.into(),
            total_seconds: start.elapsed().as_secs_f64(),
            peak_rss_bytes_rank0: report::peak_rss_bytes(),
        };
        report::write_json(path, &r)?;
    }
    // Nobody leaves before rank 0 has written everything.
    comm.barrier()?;
    if lead {
        tracing::info!("done in {:.1} s", start.elapsed().as_secs_f64());
    }
    Ok(())
}
