//! Where a training run's rows come from, epoch after epoch.
//!
//! In memory when the data fits: exact shuffles, the fastest path, reproducible bit for bit.
//! Otherwise streamed from the CSV files in bounded memory: each epoch a reader thread parses
//! the files ahead of the trainer, in an order drawn afresh each epoch (a row's split does not
//! depend on it), the training rows pass through a seeded shuffle buffer, and
//! validation and test are read the same way; the dense normaliser comes from two streaming
//! passes over the training rows (or from the checkpoint). Which rows are train, validation or
//! test depends only on each row, so both paths split the data identically. `--stream` and
//! `--in-memory` choose; by default the files' size against the memory available decides.

use super::super::data::{self, FileSource, Predictor};
use anyhow::{Context, Result, bail};
use hinet_data::{
    Batch, BatchIter, Dataset, DenseNormalizer, FeatureSpec, NormalizerFit, Part, ShuffleBuffer, SkipReport, Splits,
    file_order, stream_files, stream_part_files,
};
use hinet_model::MetricsTable;

/// Mixed into an epoch's seed for the order of its files, so that it is not the shuffle
/// buffer's stream.
const FILE_ORDER_SALT: u64 = 0x6669_6c65_6f72_6472;

/// Rows of the training sample whose metrics each epoch reports.
const SAMPLE_ROWS: usize = 10_000;

/// In memory, a row costs its ids and values once in the data read and once more in its split
/// part while the split is made, plus the vectors' spare capacity: about three times the text.
const IN_MEMORY_PER_TEXT_BYTE: u64 = 3;

/// The training data of a run.
pub(super) enum TrainData {
    /// Every row in memory, split.
    Memory(Box<InMemory>),
    /// Read from the files each epoch.
    Stream(Box<Streamed>),
}

/// The rows of an in-memory run.
pub(super) struct InMemory {
    pub(super) splits: Splits,
    /// The part each data row went to (one byte a row): the data row of a training row, for a
    /// message, is the position of its `Part::Train`.
    pub(super) parts: Vec<Part>,
    pub(super) sample: Dataset,
}

/// The files of a streamed run and what the first passes learned about them.
pub(super) struct Streamed {
    source: FileSource,
    /// The files this process reads (indices into the source's), in their listed order.
    files: Vec<usize>,
    normalizer: DenseNormalizer,
    shuffle_rows: usize,
    /// Rows of train, validation and test, over every process that shares the data.
    counts: [usize; 3],
    /// Rows of train, validation and test in this process's files.
    local: [usize; 3],
    spec: FeatureSpec,
    sample: Dataset,
}

/// The files one process reads and how what it counts joins the other processes' counts: one
/// process reads every file alone; a rank of a distributed run that reads its own files sums
/// its row counts and normaliser statistics with the other ranks'.
pub(super) struct Reading<'a> {
    /// Indices into the source's files.
    pub(super) files: Vec<usize>,
    /// Replaces numbers by their sum over the processes (every process calls it together).
    pub(super) sum: &'a dyn Fn(&mut [f64]) -> Result<()>,
}

impl Reading<'static> {
    /// Every file of `source`, by one process.
    pub(super) fn all(source: &FileSource) -> Reading<'static> {
        fn alone(_: &mut [f64]) -> Result<()> {
            Ok(())
        }
        Reading {
            files: (0..source.files.len()).collect(),
            sum: &alone,
        }
    }
}

/// Sums `counts` (then `rest`) over the processes of `reading`.
fn sum_counts(reading: &Reading<'_>, counts: &mut [usize; 3], rest: &mut Vec<f64>) -> Result<()> {
    let mut all: Vec<f64> = counts.iter().map(|&c| c as f64).chain(rest.iter().copied()).collect();
    (reading.sum)(&mut all)?;
    for (c, x) in counts.iter_mut().zip(&all) {
        *c = *x as usize;
    }
    *rest = all[3..].to_vec();
    Ok(())
}

/// Whether to stream `source`: as asked, else when reading it into memory would take more
/// than half of `limit` bytes. Says which path runs and why.
pub(super) fn choose_stream(source: &FileSource, stream: bool, in_memory: bool, limit: Option<u64>) -> bool {
    let (streamed, why) = decide(source.text_bytes(), stream, in_memory, limit);
    if streamed {
        tracing::info!("data: streaming the files each epoch ({why})");
    } else {
        tracing::info!("data: reading the files into memory ({why})");
    }
    streamed
}

/// Whether a run streams: CSV files by [`choose_stream`]; generated data (no files) never, and
/// `--stream` on it is an error.
pub(super) fn stream_or_not(
    files: Option<&FileSource>,
    stream: bool,
    in_memory: bool,
    limit: Option<u64>,
) -> Result<bool> {
    match files {
        Some(fs) => Ok(choose_stream(fs, stream, in_memory, limit)),
        None if stream => bail!(
            "--stream reads CSV files, and generated data is made in memory; write it with `hinet gen-data` and \
             train on the files to stream it"
        ),
        None => Ok(false),
    }
}

/// The choice for `text` bytes of CSV, and the reason given.
fn decide(text: u64, stream: bool, in_memory: bool, limit: Option<u64>) -> (bool, String) {
    let need = text.saturating_mul(IN_MEMORY_PER_TEXT_BYTE);
    let human = hinet_model::human_bytes;
    if stream {
        return (true, "--stream".into());
    }
    if in_memory {
        return (false, "--in-memory".into());
    }
    match limit {
        Some(l) if need > l / 2 => (
            true,
            format!(
                "{} of CSV would take about {} in memory, more than half of the {} available; --in-memory reads it \
                 anyway",
                human(text),
                human(need),
                human(l)
            ),
        ),
        _ => (
            false,
            format!(
                "{} of CSV, about {} in memory; --stream reads it in bounded memory instead",
                human(text),
                human(need)
            ),
        ),
    }
}

impl TrainData {
    /// Rows of train, validation and test.
    pub(super) fn counts(&self) -> [usize; 3] {
        match self {
            TrainData::Memory(m) => [m.splits.train.len(), m.splits.valid.len(), m.splits.test.len()],
            TrainData::Stream(s) => s.counts,
        }
    }

    /// The first training rows (at most 10,000), normalised: the training metrics' sample.
    pub(super) fn sample(&self) -> &Dataset {
        match self {
            TrainData::Memory(m) => &m.sample,
            TrainData::Stream(s) => &s.sample,
        }
    }

    /// The data row (0-based, in the order read) of each training row, when the rows are in
    /// memory (messages name them); computed when asked, for a message.
    pub(super) fn train_rows(&self) -> Option<Vec<usize>> {
        match self {
            TrainData::Memory(m) => Some((0..m.parts.len()).filter(|&r| m.parts[r] == Part::Train).collect()),
            TrainData::Stream(_) => None,
        }
    }

    /// The batches of one epoch, shuffled by `seed`.
    pub(super) fn epoch(&self, batch_size: usize, seed: u64) -> Epoch<'_> {
        match self {
            TrainData::Memory(m) => Epoch::Memory(m.splits.train.batches(batch_size, Some(seed))),
            TrainData::Stream(s) => s.epoch(batch_size, seed, seed, None),
        }
    }

    /// The metrics of `model` on the validation or test rows (`None` when there are none).
    pub(super) fn evaluate<P: Predictor + ?Sized>(
        &self,
        part: Part,
        model: &mut P,
        batch_size: usize,
    ) -> Result<Option<MetricsTable>> {
        let index = part_index(part);
        if self.counts()[index] == 0 {
            return Ok(None);
        }
        match self {
            TrainData::Memory(m) => {
                let rows = [&m.splits.train, &m.splits.valid, &m.splits.test][index];
                Ok(Some(data::metrics(model, rows, batch_size)?))
            }
            TrainData::Stream(s) => s.evaluate(part, model, batch_size).map(Some),
        }
    }
}

fn part_index(part: Part) -> usize {
    match part {
        Part::Train => 0,
        Part::Valid => 1,
        Part::Test => 2,
    }
}

impl Streamed {
    /// Reads the files of `reading` once to count each part's rows, keep a training sample and
    /// fit the dense normaliser (a second pass over the training rows when a column is
    /// standardised), unless `normalizer` (a checkpoint's) is given; counts and statistics are
    /// summed over the processes of `reading`. Returns this process's reader report too.
    pub(super) fn open(
        source: FileSource,
        normalizer: Option<DenseNormalizer>,
        shuffle_rows: usize,
        reading: Reading<'_>,
    ) -> Result<(Streamed, DenseNormalizer, SkipReport)> {
        if let Some(c) = source.schema.sparse.iter().find(|c| c.is_auto()) {
            bail!(
                "sparse column {:?} has vocab = \"auto\", whose size is known only once every file is read: give its \
                 size (vocab = N, or hash_buckets = N) to stream, or read the data into memory (--in-memory)",
                c.column
            );
        }
        let mut counts = [0usize; 3];
        let mut sample: Option<Dataset> = None;
        let mut template = Dataset::empty(source.schema.feature_spec());
        template.dense_normalize = source.schema.dense_normalize();
        let mut fit = NormalizerFit::new(&template)?;
        let mut chunks = stream_files(&source.schema, &source.files, &reading.files, &source.options);
        for chunk in chunks.by_ref() {
            let chunk = chunk?;
            let parts = chunk.split_indices(&source.split)?;
            for (count, rows) in counts.iter_mut().zip(&parts) {
                *count += rows.len();
            }
            if parts[0].is_empty() {
                continue;
            }
            let train = chunk.subset(&parts[0]);
            let have = sample.as_ref().map_or(0, Dataset::len);
            if have < SAMPLE_ROWS {
                let take: Vec<usize> = (0..train.len().min(SAMPLE_ROWS - have)).collect();
                let rows = train.subset(&take);
                match &mut sample {
                    Some(s) => s.append(&rows)?,
                    None => sample = Some(rows),
                }
            }
            if normalizer.is_none() {
                fit.add(&train)?;
            }
        }
        let report = chunks.take_report().unwrap_or_default();
        let local = counts;
        let mut sums = fit.partial_sums();
        sum_counts(&reading, &mut counts, &mut sums)?;
        if counts[0] == 0 {
            bail!("the training split is empty");
        }
        let mut sample = sample.unwrap_or(template);
        let normalizer = match normalizer {
            Some(n) => n,
            None => {
                fit.set_sums(&sums)?;
                if fit.needs_second_pass() {
                    fit.second_pass();
                    let rows = stream_part_files(
                        &source.schema,
                        &source.files,
                        &reading.files,
                        &source.options,
                        source.split,
                        Part::Train,
                        None,
                    );
                    for chunk in rows {
                        fit.add(&chunk?)?;
                    }
                    let mut sums = fit.partial_sums();
                    (reading.sum)(&mut sums)?;
                    fit.set_sums(&sums)?;
                }
                fit.finish()?
            }
        };
        normalizer
            .apply(&mut sample)
            .context("the dense normaliser on the training sample")?;
        let spec = sample.spec.clone();
        let streamed = Streamed {
            source,
            files: reading.files,
            normalizer: normalizer.clone(),
            shuffle_rows,
            counts,
            local,
            spec,
            sample,
        };
        Ok((streamed, normalizer, report))
    }

    /// Rows of train, validation and test (all ranks').
    pub(super) fn counts(&self) -> [usize; 3] {
        self.counts
    }

    /// Rows of train, validation and test in the files this process reads.
    pub(super) fn local_counts(&self) -> [usize; 3] {
        self.local
    }

    /// The features of a streamed row.
    pub(super) fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// One epoch of this process's training rows through a shuffle buffer seeded by
    /// `shuffle_seed`, its files read in an order drawn from `order_seed` (the rows' split does
    /// not depend on it). With `every = Some((rank, ranks))`, only rows `rank, rank + ranks, ...`
    /// of the training rows as read are kept (ranks that all read every file: their
    /// `order_seed` must be the same).
    pub(super) fn epoch(
        &self,
        batch_size: usize,
        shuffle_seed: u64,
        order_seed: u64,
        every: Option<(usize, usize)>,
    ) -> Epoch<'static> {
        let order = file_order(&self.files, order_seed ^ FILE_ORDER_SALT);
        Epoch::Stream(Box::new(StreamEpoch {
            rows: self.part_of(Part::Train, &order),
            buffer: ShuffleBuffer::new(self.spec.clone(), self.shuffle_rows, shuffle_seed),
            batch_size,
            ended: false,
            share: every.map(|(rank, ranks)| Share { rank, ranks, seen: 0 }),
        }))
    }

    /// The rows of a part in this process's files, chunk by chunk; with `every = Some((rank,
    /// ranks))` only rows `rank, rank + ranks, ...` of them.
    pub(super) fn for_each_share(
        &self,
        part: Part,
        every: Option<(usize, usize)>,
        mut f: impl FnMut(Dataset) -> Result<()>,
    ) -> Result<()> {
        let mut share = every.map(|(rank, ranks)| Share { rank, ranks, seen: 0 });
        for chunk in self.part(part) {
            let mut chunk = chunk?;
            if let Some(share) = &mut share {
                share.keep(&mut chunk)?;
            }
            if !chunk.is_empty() {
                f(chunk)?;
            }
        }
        Ok(())
    }

    fn part(&self, part: Part) -> hinet_data::PartStream {
        self.part_of(part, &self.files)
    }

    fn part_of(&self, part: Part, files: &[usize]) -> hinet_data::PartStream {
        stream_part_files(
            &self.source.schema,
            &self.source.files,
            files,
            &self.source.options,
            self.source.split,
            part,
            Some(self.normalizer.clone()),
        )
    }

    /// Reads one part again and computes the model's metrics on it.
    fn evaluate<P: Predictor + ?Sized>(&self, part: Part, model: &mut P, batch_size: usize) -> Result<MetricsTable> {
        let rows = self.part(part);
        data::metrics_over(
            model,
            &self.spec,
            rows.map(|r| r.map_err(anyhow::Error::from)),
            batch_size,
        )
    }
}

/// The batches of one epoch.
pub(super) enum Epoch<'a> {
    Memory(BatchIter<'a>),
    Stream(Box<StreamEpoch>),
}

/// A streamed epoch: the training rows as they are read, through the shuffle buffer.
pub(super) struct StreamEpoch {
    rows: hinet_data::PartStream,
    buffer: ShuffleBuffer,
    batch_size: usize,
    ended: bool,
    /// One rank's share of the rows, under mpirun.
    share: Option<Share>,
}

/// Rank `rank` of `ranks` keeps rows `rank, rank + ranks, ...` of a part, counted as read.
struct Share {
    rank: usize,
    ranks: usize,
    /// Rows of the part read so far (all ranks' rows).
    seen: usize,
}

impl Share {
    /// The rows of the next chunk of `len` rows that are this rank's.
    fn take(&mut self, len: usize) -> Vec<usize> {
        let first = (self.rank + self.ranks - self.seen % self.ranks) % self.ranks;
        self.seen += len;
        (first..len).step_by(self.ranks).collect()
    }

    fn keep(&mut self, chunk: &mut Dataset) -> Result<()> {
        let rows = self.take(chunk.len());
        chunk.keep_rows(&rows)?;
        Ok(())
    }
}

impl Epoch<'_> {
    /// Fills `out` with the next batch of `size` rows (fewer at the end); `false` at the end of
    /// the epoch.
    pub(super) fn next_sized(&mut self, out: &mut Batch, size: usize) -> Result<bool> {
        match self {
            Epoch::Memory(iter) => iter.set_batch_size(size),
            Epoch::Stream(e) => e.batch_size = size.max(1),
        }
        self.next_into(out)
    }

    /// Fills `out` with the next batch; `false` at the end of the epoch.
    pub(super) fn next_into(&mut self, out: &mut Batch) -> Result<bool> {
        match self {
            Epoch::Memory(iter) => Ok(iter.next_into(out)),
            Epoch::Stream(e) => {
                // Refill until a draw leaves a full window behind (or the files end).
                while !e.ended && !e.buffer.is_ready(e.batch_size) {
                    match e.rows.next() {
                        Some(chunk) => {
                            let mut chunk = chunk?;
                            if let Some(share) = &mut e.share {
                                share.keep(&mut chunk)?;
                            }
                            e.buffer.push(&chunk)?;
                        }
                        None => e.ended = true,
                    }
                }
                Ok(e.buffer.draw_into(e.batch_size, out) > 0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Share, decide};

    #[test]
    fn shares_of_chunks_are_every_nth_row_of_the_whole_part() {
        // 3 ranks over chunks of 4, 5 and 2 rows: rank r keeps global rows r, r + 3, ...
        let lens = [4usize, 5, 2];
        for rank in 0..3 {
            let mut share = Share {
                rank,
                ranks: 3,
                seen: 0,
            };
            let mut kept = Vec::new();
            let mut start = 0;
            for &n in &lens {
                kept.extend(share.take(n).into_iter().map(|i| start + i));
                start += n;
            }
            let expected: Vec<usize> = (rank..11).step_by(3).collect();
            assert_eq!(kept, expected, "rank {rank}");
        }
    }

    #[test]
    fn the_path_follows_the_options_then_the_size() {
        let gib = 1u64 << 30;
        assert!(
            decide(10 * gib, false, false, Some(8 * gib)).0,
            "30 GiB in memory > 4 GiB"
        );
        assert!(!decide(gib, false, false, Some(8 * gib)).0, "3 GiB in memory < 4 GiB");
        assert!(!decide(10 * gib, false, false, None).0, "no known limit: in memory");
        assert!(decide(1, true, false, Some(8 * gib)).0);
        assert!(!decide(10 * gib, false, true, Some(8 * gib)).0);
        let (_, why) = decide(10 * gib, false, false, Some(8 * gib));
        assert!(why.contains("--in-memory reads it anyway"), "{why}");
    }
}
