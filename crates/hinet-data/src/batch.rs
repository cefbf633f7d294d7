//! Mini-batches in the layout the model wants: rows grouped by scenario, sparse ids field-major.
//!
//! HiNet routes each row through its own scenario's CGC and towers, so with rows grouped by
//! scenario each scenario's rows are one contiguous slice (`scenario_offsets`) and no gather
//! is needed per layer. Sparse ids are field-major because each field has its own embedding
//! table: one field's ids are looked up together.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::dataset::Dataset;

/// One batch, rows sorted (stably) by scenario.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Number of rows.
    pub rows: usize,
    /// Scenario per row, ascending.
    pub scenario: Vec<usize>,
    /// M + 1 entries: the rows of scenario m are `scenario_offsets[m]..scenario_offsets[m + 1]`.
    pub scenario_offsets: Vec<usize>,
    /// Field-major ids: `sparse[f * rows + r]` is the id of field f in row r.
    pub sparse: Vec<usize>,
    /// Row-major `[rows * dense]`.
    pub dense: Vec<f32>,
    /// Row-major `[rows * tasks]`.
    pub labels: Vec<f32>,
    /// Row-major `[rows * tasks]` true probabilities (synthetic data only).
    pub oracle: Option<Vec<f32>>,
    /// The dataset row of each batch row (to scatter predictions back into input order).
    pub source_rows: Vec<usize>,
}

impl Batch {
    /// An empty batch (buffers grow on first use and are then reused).
    pub fn new() -> Batch {
        Batch::default()
    }

    /// The rows of scenario `m`.
    pub fn scenario_range(&self, m: usize) -> std::ops::Range<usize> {
        self.scenario_offsets[m]..self.scenario_offsets[m + 1]
    }
}

impl Dataset {
    /// Fills `out` with the given dataset rows, grouped stably by scenario. Reuses `out`'s
    /// buffers: after the first call of a given size it does not allocate.
    ///
    /// # Panics
    /// If a row index is out of range (or the dataset breaks its invariants).
    pub fn fill_batch(&self, row_indices: &[usize], out: &mut Batch) {
        let b = row_indices.len();
        let m = self.spec.scenarios.len();
        let (f, d, t) = (self.spec.sparse.len(), self.spec.dense.len(), self.spec.tasks.len());
        out.rows = b;

        // Counting sort, stable. offsets has M + 2 slots during the sort: after the prefix sum
        // offsets[s + 1] is the start of scenario s and serves as its write cursor; after
        // placing, offsets[s + 1] is the end of s, which is the final layout. No scratch buffer.
        let offsets = &mut out.scenario_offsets;
        offsets.clear();
        offsets.resize(m + 2, 0);
        for &r in row_indices {
            offsets[self.scenario[r] as usize + 2] += 1;
        }
        for i in 2..m + 2 {
            offsets[i] += offsets[i - 1];
        }
        out.source_rows.clear();
        out.source_rows.resize(b, 0);
        for &r in row_indices {
            let slot = &mut offsets[self.scenario[r] as usize + 1];
            out.source_rows[*slot] = r;
            *slot += 1;
        }
        offsets.truncate(m + 1);

        out.scenario.clear();
        out.scenario
            .extend(out.source_rows.iter().map(|&r| self.scenario[r] as usize));
        out.sparse.clear();
        out.sparse.resize(f * b, 0);
        for (i, &r) in out.source_rows.iter().enumerate() {
            for (k, &id) in self.sparse[r * f..(r + 1) * f].iter().enumerate() {
                out.sparse[k * b + i] = id as usize;
            }
        }
        out.dense.clear();
        out.labels.clear();
        for &r in &out.source_rows {
            out.dense.extend_from_slice(&self.dense[r * d..(r + 1) * d]);
            out.labels.extend_from_slice(&self.labels[r * t..(r + 1) * t]);
        }
        match &self.oracle {
            Some(o) => {
                let dst = out.oracle.get_or_insert_with(Vec::new);
                dst.clear();
                for &r in &out.source_rows {
                    dst.extend_from_slice(&o[r * t..(r + 1) * t]);
                }
            }
            None => out.oracle = None,
        }
    }

    /// Iterates over the dataset in batches of `batch_size` rows (the last one may be smaller),
    /// in row order or shuffled by `shuffle_seed` (same seed, same order).
    pub fn batches(&self, batch_size: usize, shuffle_seed: Option<u64>) -> BatchIter<'_> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        if let Some(seed) = shuffle_seed {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        }
        BatchIter {
            data: self,
            order,
            pos: 0,
            batch_size: batch_size.max(1),
            drop_last: false,
        }
    }
}

/// Iterator over the batches of a [`Dataset`]. As an `Iterator` it allocates one `Batch` per
/// step; the training loop should call [`BatchIter::next_into`] with one reused `Batch`.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    data: &'a Dataset,
    order: Vec<usize>,
    pos: usize,
    batch_size: usize,
    drop_last: bool,
}

impl BatchIter<'_> {
    /// Skip a final batch smaller than the batch size (keeps batch statistics comparable).
    pub fn drop_last(mut self, drop: bool) -> Self {
        self.drop_last = drop;
        self
    }

    /// Sets the size of the batches that follow (at least 1): a rank of a distributed run that
    /// holds more or fewer rows than the others spreads them over the same number of steps.
    pub fn set_batch_size(&mut self, batch_size: usize) {
        self.batch_size = batch_size.max(1);
    }

    /// Rows not yet yielded.
    pub fn remaining(&self) -> usize {
        self.order.len() - self.pos
    }

    /// Number of batches this iterator yields in total.
    pub fn num_batches(&self) -> usize {
        let n = self.order.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The dataset rows of the next batch, in iteration order (before grouping by scenario).
    pub fn next_rows(&mut self) -> Option<&[usize]> {
        let end = (self.pos + self.batch_size).min(self.order.len());
        if self.pos >= end || (self.drop_last && end - self.pos < self.batch_size) {
            return None;
        }
        let rows = &self.order[self.pos..end];
        self.pos = end;
        Some(rows)
    }

    /// Fills `out` with the next batch, reusing its buffers; `false` when done.
    pub fn next_into(&mut self, out: &mut Batch) -> bool {
        let data = self.data;
        match self.next_rows() {
            Some(rows) => {
                data.fill_batch(rows, out);
                true
            }
            None => false,
        }
    }
}

impl Iterator for BatchIter<'_> {
    type Item = Batch;
    fn next(&mut self) -> Option<Batch> {
        let mut b = Batch::new();
        self.next_into(&mut b).then_some(b)
    }
}
