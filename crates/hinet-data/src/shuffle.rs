//! A seeded shuffle buffer, for training on rows streamed from files.
//!
//! Data that does not fit in memory cannot be permuted whole. The buffer keeps a pool of rows;
//! each batch is drawn uniformly at random from the pool, and the pool is refilled from the
//! stream before it falls below `capacity` rows. So every row leaves in a batch drawn from at
//! least `capacity` candidates (fewer only as the stream ends), as with the shuffle buffers of
//! tf.data and torchdata; the larger the capacity, the closer to a full shuffle. Same seed,
//! same input order: same batches. A buffer mixes rows that are near each other in the files;
//! [`file_order`] also changes which files come first from epoch to epoch.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::batch::Batch;
use crate::dataset::Dataset;
use crate::error::DataError;
use crate::spec::FeatureSpec;

/// The files `which` (indices into a list of input files) in a seeded random order: the order
/// to stream one epoch's files in (see [`crate::stream_files`]; the rows keep their split).
/// Same seed, same order.
pub fn file_order(which: &[usize], seed: u64) -> Vec<usize> {
    let mut order = which.to_vec();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order
}

/// A pool of rows from which batches are drawn at random.
#[derive(Debug)]
pub struct ShuffleBuffer {
    pool: Dataset,
    capacity: usize,
    rng: ChaCha8Rng,
    drawn: Vec<usize>,
}

impl ShuffleBuffer {
    /// An empty buffer for rows of `spec` that draws from at least `capacity` rows (at least 1).
    pub fn new(spec: FeatureSpec, capacity: usize, seed: u64) -> ShuffleBuffer {
        ShuffleBuffer {
            pool: Dataset::empty(spec),
            capacity: capacity.max(1),
            rng: ChaCha8Rng::seed_from_u64(seed),
            drawn: Vec::new(),
        }
    }

    /// Rows in the pool.
    pub fn len(&self) -> usize {
        self.pool.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.pool.is_empty()
    }

    /// Whether a batch of `batch` rows can be drawn and leave `capacity` rows behind, so the
    /// next draw is as well mixed as this one. While the stream lasts, refill until it is.
    pub fn is_ready(&self, batch: usize) -> bool {
        self.pool.len() >= self.capacity + batch
    }

    /// Bytes of row data in the pool.
    pub fn row_bytes(&self) -> usize {
        self.pool.row_bytes()
    }

    /// Adds a chunk of rows (already split and normalised).
    pub fn push(&mut self, chunk: &Dataset) -> Result<(), DataError> {
        if self.pool.is_empty() {
            // Take over the chunk's normalisation state and oracle presence.
            self.pool.dense_normalize.clone_from(&chunk.dense_normalize);
            self.pool.dense_normalized = chunk.dense_normalized;
            if self.pool.oracle.is_some() != chunk.oracle.is_some() {
                self.pool.oracle = chunk.oracle.as_ref().map(|_| Vec::new());
            }
        }
        self.pool.append(chunk)
    }

    /// Draws up to `batch` rows uniformly at random (without replacement) from the pool into
    /// `out`, grouped by scenario as [`Dataset::fill_batch`] does, and removes them; returns the
    /// number drawn (0 when empty). After the first draws of a given size it does not allocate.
    pub fn draw_into(&mut self, batch: usize, out: &mut Batch) -> usize {
        let len = self.pool.len();
        let n = batch.min(len);
        // A partial Fisher-Yates shuffle of the pool's tail: after it the last n rows are a
        // uniform random sample of the pool, in random order.
        for k in 0..n {
            let last = len - 1 - k;
            let j = self.rng.random_range(0..=last);
            self.pool.swap_rows(j, last);
        }
        self.drawn.clear();
        self.drawn.extend(len - n..len);
        self.pool.fill_batch(&self.drawn, out);
        self.pool.truncate(len - n);
        n
    }
}
