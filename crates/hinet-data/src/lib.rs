//! # hinet-data: the data layer of HiNet-rs
//!
//! HiNet learns several tasks (CTR, CTCVR) in several scenarios at once. Every row belongs to
//! exactly one scenario and carries one 0/1 label per task; its features are sparse
//! categorical ids (one embedding table per field) and a few dense numbers. This crate turns
//! input into that shape and nothing else: it knows files, not models.
//!
//! - [`Schema`] (TOML): which column is the scenario (or one scenario per file), the label
//!   column of each task, sparse columns (integer ids below a vocabulary, fixed or discovered
//!   while loading, or strings hashed with FNV-1a into buckets) and dense columns with their
//!   [`Normalize`] method.
//! - Readers: [`stream`] parses CSV/TSV (gzip by extension) in a background thread and yields
//!   chunks; [`load`] collects them. Bad rows stop the read with a [`DataError`] naming file,
//!   line and column, or are skipped and counted ([`ReadOptions::skip_bad_rows`], [`SkipReport`]).
//!   Every record is bounded in bytes and lines ([`ReadOptions::max_record_bytes`],
//!   [`ReadOptions::max_field_bytes`], [`ReadOptions::max_record_lines`]); a quote never closed
//!   or a record beyond the bounds is a [`DataError::Structure`] that always stops the read.
//!   [`SkipReport::dense_range_warnings`] and [`Dataset::dense_range_warnings`] name dense
//!   columns too large for the model.
//! - [`presets`]: ready-made schemas for public datasets (Ali-CCP, AliExpress, MovieLens),
//!   read from a folder the caller supplies; they read the public samples and the full data.
//! - [`synthetic`]: the built-in default dataset, a multi-scenario, multi-task generator that
//!   knows each row's true probabilities (so evaluations can report the oracle AUC).
//! - [`Dataset`] (columnar, row-major), [`SplitSpec`] (hash of a row key; by file; by file with
//!   validation rows carved from the training files; [`split_for_files`] picks one),
//!   [`DenseNormalizer`] (fitted on train, serialisable) and [`Batch`] (rows grouped by scenario,
//!   sparse ids field-major), filled without allocation by [`Dataset::fill_batch`].
//!
//! ```
//! use hinet_data::{Batch, SplitSpec, synthetic::{SyntheticConfig, generate}};
//!
//! let cfg = SyntheticConfig { rows: 20_000, users: 2_000, items: 500, ..Default::default() };
//! let data = generate(&cfg)?;
//! assert_eq!(data.len(), 20_000);
//! let mut splits = data.split(&SplitSpec::hash(0.8, 0.1, 0.1, 7))?;
//! let normalizer = splits.normalize()?; // statistics from train, applied to all three
//! assert_eq!(normalizer.columns.len(), data.spec.dense.len());
//!
//! let mut batch = Batch::new();
//! let mut iter = splits.train.batches(512, Some(1));
//! let mut rows = 0;
//! while iter.next_into(&mut batch) {
//!     // Scenario m's rows are one slice; sparse ids are field-major.
//!     for m in 0..data.spec.scenarios.len() {
//!         assert!(batch.scenario[batch.scenario_range(m)].iter().all(|&s| s == m));
//!     }
//!     assert_eq!(batch.sparse.len(), batch.rows * data.spec.sparse.len());
//!     rows += batch.rows;
//! }
//! assert_eq!(rows, splits.train.len());
//! // The best AUC any model can reach on the test split's CTR:
//! let oracle = splits.test.oracle_auc(0, None).unwrap();
//! assert!(oracle > 0.6);
//! # Ok::<(), hinet_data::DataError>(())
//! ```
#![deny(missing_docs)]

mod auc;
mod batch;
mod csv_source;
mod csv_writer;
mod dataset;
mod dense_range;
mod error;
pub mod hash;
mod normalize;
pub mod presets;
mod reader;
mod record;
mod schema;
mod spec;
mod split;
pub mod synthetic;

pub use auc::auc;
pub use batch::{Batch, BatchIter};
pub use csv_writer::{schema_for, write_csv};
pub use dataset::Dataset;
pub use dense_range::{DENSE_WARN_ABS, DenseRange, DenseRangeWarning, SourceLine};
pub use error::{BadRowKind, DataError};
pub use normalize::{ColumnTransform, DenseNormalizer, Normalize};
pub use presets::{Preset, preset};
pub use reader::{
    ChunkStream, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_RECORD_LINES, Loaded, ReadOptions,
    SkipReport, load, stream,
};
pub use schema::{
    DenseColumn, InputFile, LabelRule, MAX_AUTO_VOCAB, MAX_SCHEMA_BYTES, Part, Schema, SparseColumn, TaskColumn, Vocab,
};
pub use spec::{FeatureSpec, SparseField};
pub use split::{SplitSpec, Splits, split_for_files};
