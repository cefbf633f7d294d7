//! The rows of one part of a split (train, validation or test), streamed from files chunk by
//! chunk and normalised: what a trainer reads each epoch when the data does not fit in memory.
//!
//! Which part a row belongs to depends only on the row (the hash of its key, or its file's
//! part), never on the chunk it arrives in, so a streamed split has exactly the rows of
//! [`Dataset::split`] on the whole data, in the same order.

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::normalize::DenseNormalizer;
use crate::reader::{ChunkStream, ReadOptions, SkipReport, stream_files};
use crate::schema::{InputFile, Part, Schema};
use crate::split::SplitSpec;

/// Iterator over the chunks of one part of a split; see [`stream_part`].
pub struct PartStream {
    chunks: ChunkStream,
    spec: SplitSpec,
    part: usize,
    normalizer: Option<DenseNormalizer>,
}

/// Streams the rows of `part` of the split `spec` of `files`, in file order, each chunk
/// normalised with `normalizer` (`None`: the values as read, e.g. to fit one). Chunks without
/// a row of the part are skipped; a read error ends the stream with that error.
pub fn stream_part(
    schema: &Schema,
    files: &[InputFile],
    options: &ReadOptions,
    spec: SplitSpec,
    part: Part,
    normalizer: Option<DenseNormalizer>,
) -> PartStream {
    let all: Vec<usize> = (0..files.len()).collect();
    stream_part_files(schema, files, &all, options, spec, part, normalizer)
}

/// [`stream_part`] over the files at the indices `which`, in that order: the rows of `part`
/// that these files hold, each in the part that reading every file puts it in (see
/// [`crate::stream_files`]).
pub fn stream_part_files(
    schema: &Schema,
    files: &[InputFile],
    which: &[usize],
    options: &ReadOptions,
    spec: SplitSpec,
    part: Part,
    normalizer: Option<DenseNormalizer>,
) -> PartStream {
    PartStream {
        chunks: stream_files(schema, files, which, options),
        spec,
        part: match part {
            Part::Train => 0,
            Part::Valid => 1,
            Part::Test => 2,
        },
        normalizer,
    }
}

impl PartStream {
    /// The reader's report (rows read and skipped, dense ranges), once the stream has ended.
    pub fn take_report(&mut self) -> Option<SkipReport> {
        self.chunks.take_report()
    }

    fn select(&self, chunk: Dataset) -> Result<Option<Dataset>, DataError> {
        let mut parts = chunk.split_indices(&self.spec)?;
        let rows = std::mem::take(&mut parts[self.part]);
        if rows.is_empty() {
            return Ok(None);
        }
        let mut rows = if rows.len() == chunk.len() {
            chunk
        } else {
            chunk.subset(&rows)
        };
        if let Some(n) = &self.normalizer {
            n.apply(&mut rows)?;
        }
        Ok(Some(rows))
    }
}

impl Iterator for PartStream {
    type Item = Result<Dataset, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.chunks.next()? {
                Err(e) => return Some(Err(e)),
                Ok(chunk) => match self.select(chunk) {
                    Ok(None) => continue,
                    Ok(Some(rows)) => return Some(Ok(rows)),
                    Err(e) => return Some(Err(e)),
                },
            }
        }
    }
}
