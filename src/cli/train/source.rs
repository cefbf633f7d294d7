//! Where a training run's rows come from, epoch after epoch.
//!
//! In memory when the data fits: exact shuffles, the fastest path, reproducible bit for bit.
//! Otherwise streamed from the CSV files in bounded memory: each epoch a reader thread parses
//! the files ahead of the trainer, the training rows pass through a seeded shuffle buffer, and
//! validation and test are read the same way; the dense normaliser comes from two streaming
//! passes over the training rows (or from the checkpoint). Which rows are train, validation or
//! test depends only on each row, so both paths split the data identically. `--stream` and
//! `--in-memory` choose; by default the files' size against the memory available decides.

use super::super::data::{self, FileSource, Predictor};
use anyhow::{Context, Result, bail};
use hinet_data::{
    Batch, BatchIter, Dataset, DenseNormalizer, FeatureSpec, NormalizerFit, Part, ShuffleBuffer, SkipReport, Splits,
    stream, stream_part,
};
use hinet_model::MetricsTable;

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
    /// The data row (0-based, in the order read) of each training row, for messages.
    pub(super) train_rows: Vec<usize>,
    pub(super) sample: Dataset,
}

/// The files of a streamed run and what the first passes learned about them.
pub(super) struct Streamed {
    source: FileSource,
    normalizer: DenseNormalizer,
    shuffle_rows: usize,
    /// Rows of train, validation and test.
    counts: [usize; 3],
    spec: FeatureSpec,
    sample: Dataset,
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

    /// The data row of each training row, when the rows are in memory (messages name them).
    pub(super) fn train_rows(&self) -> Option<&[usize]> {
        match self {
            TrainData::Memory(m) => Some(&m.train_rows),
            TrainData::Stream(_) => None,
        }
    }

    /// The batches of one epoch, shuffled by `seed`.
    pub(super) fn epoch(&self, batch_size: usize, seed: u64) -> Epoch<'_> {
        match self {
            TrainData::Memory(m) => Epoch::Memory(m.splits.train.batches(batch_size, Some(seed))),
            TrainData::Stream(s) => Epoch::Stream(Box::new(StreamEpoch {
                rows: stream_part(
                    &s.source.schema,
                    &s.source.files,
                    &s.source.options,
                    s.source.split,
                    Part::Train,
                    Some(s.normalizer.clone()),
                ),
                buffer: ShuffleBuffer::new(s.spec.clone(), s.shuffle_rows, seed),
                batch_size,
                ended: false,
                share: None,
            })),
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
    /// Reads the files once to count each part's rows, keep a training sample and fit the dense
    /// normaliser (a second pass over the training rows when a column is standardised), unless
    /// `normalizer` (a checkpoint's) is given. Returns the reader's report too.
    pub(super) fn open(
        source: FileSource,
        normalizer: Option<DenseNormalizer>,
        shuffle_rows: usize,
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
        let mut fit: Option<NormalizerFit> = None;
        let mut chunks = stream(&source.schema, &source.files, &source.options);
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
                match &mut fit {
                    Some(f) => f.add(&train)?,
                    None => {
                        let mut f = NormalizerFit::new(&train)?;
                        f.add(&train)?;
                        fit = Some(f);
                    }
                }
            }
        }
        let report = chunks.take_report().unwrap_or_default();
        let Some(mut sample) = sample else {
            bail!("the training split is empty");
        };
        let normalizer = match (normalizer, fit) {
            (Some(n), _) => n,
            (None, Some(mut f)) => {
                if f.needs_second_pass() {
                    f.second_pass();
                    let rows = stream_part(
                        &source.schema,
                        &source.files,
                        &source.options,
                        source.split,
                        Part::Train,
                        None,
                    );
                    for chunk in rows {
                        f.add(&chunk?)?;
                    }
                }
                f.finish()?
            }
            (None, None) => bail!("the training split is empty"),
        };
        normalizer
            .apply(&mut sample)
            .context("the dense normaliser on the training sample")?;
        let spec = sample.spec.clone();
        let streamed = Streamed {
            source,
            normalizer: normalizer.clone(),
            shuffle_rows,
            counts,
            spec,
            sample,
        };
        Ok((streamed, normalizer, report))
    }

    /// Rows of train, validation and test (all ranks').
    pub(super) fn counts(&self) -> [usize; 3] {
        self.counts
    }

    /// The features of a streamed row.
    pub(super) fn spec(&self) -> &FeatureSpec {
        &self.spec
    }

    /// One epoch of rank `rank`'s share of the training rows (the training rows as read,
    /// every `ranks`-th from the `rank`-th), through this rank's own shuffle buffer.
    pub(super) fn epoch_share(&self, batch_size: usize, seed: u64, rank: usize, ranks: usize) -> Epoch<'static> {
        Epoch::Stream(Box::new(StreamEpoch {
            rows: self.part(Part::Train),
            buffer: ShuffleBuffer::new(self.spec.clone(), self.shuffle_rows, seed),
            batch_size,
            ended: false,
            share: Some(Share { rank, ranks, seen: 0 }),
        }))
    }

    /// Rank `rank`'s share of a part (every `ranks`-th row as read), chunk by chunk.
    pub(super) fn for_each_share(
        &self,
        part: Part,
        rank: usize,
        ranks: usize,
        mut f: impl FnMut(Dataset) -> Result<()>,
    ) -> Result<()> {
        let mut share = Share { rank, ranks, seen: 0 };
        for chunk in self.part(part) {
            let mut chunk = chunk?;
            share.keep(&mut chunk)?;
            if !chunk.is_empty() {
                f(chunk)?;
            }
        }
        Ok(())
    }

    fn part(&self, part: Part) -> hinet_data::PartStream {
        stream_part(
            &self.source.schema,
            &self.source.files,
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
