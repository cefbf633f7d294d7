#![doc = include_str!("../README.md")]
//!
//! ## Entry points
//!
//! A [`Schema`] read with [`load`] or [`stream`] (tuned by [`ReadOptions`], reporting a
//! [`SkipReport`]), or [`synthetic::generate`], gives a [`Dataset`]; [`Dataset::split`] (or,
//! without a second copy, [`Dataset::split_in_place`]) with a [`SplitSpec`] gives [`Splits`],
//! normalised by a [`DenseNormalizer`]; [`Dataset::batches`] and [`Dataset::fill_batch`] fill a
//! [`Batch`]. Data larger than memory streams with [`stream_part`] through a [`ShuffleBuffer`],
//! the normaliser fitted by [`NormalizerFit`]. [`load_files`], [`stream_files`] and
//! [`stream_part_files`] read some of the files (a rank's own, an epoch's shuffled
//! [`file_order`]): a row's default split key is its [`row_address`], so each row keeps its
//! split. Errors are [`DataError`]s.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod batch;
mod csv_source;
mod csv_writer;
mod dataset;
mod dense_range;
mod error;
pub mod hash;
mod normalize;
mod normalizer_fit;
mod part_stream;
pub mod presets;
mod reader;
mod record;
mod schema;
mod shuffle;
mod spec;
mod split;
pub mod synthetic;

pub use batch::{Batch, BatchIter};
pub use csv_writer::{schema_for, write_csv};
pub use dataset::Dataset;
pub use dense_range::{DENSE_WARN_ABS, DenseRange, DenseRangeWarning, SourceLine};
pub use error::{BadRowKind, DataError};
pub use normalize::{ColumnTransform, DenseNormalizer, Normalize};
pub use normalizer_fit::NormalizerFit;
pub use part_stream::{PartStream, stream_part, stream_part_files};
pub use presets::{Preset, preset};
pub use reader::{
    ChunkStream, DEFAULT_MAX_FIELD_BYTES, DEFAULT_MAX_RECORD_BYTES, DEFAULT_MAX_RECORD_LINES, Loaded, MAX_FILES,
    ReadOptions, SkipReport, load, load_files, row_address, stream, stream_files,
};
pub use schema::{
    DenseColumn, InputFile, LabelRule, MAX_AUTO_VOCAB, MAX_SCHEMA_BYTES, Part, Schema, SparseColumn, TaskColumn, Vocab,
};
pub use shuffle::{ShuffleBuffer, file_order};
pub use spec::{FeatureSpec, SparseField};
pub use split::{SplitSpec, Splits, split_for_files};
