//! Reading for training on data larger than memory: the streamed split, the streamed
//! normaliser fit and the shuffle buffer, each against its in-memory counterpart.

use hinet_data::synthetic::{SyntheticConfig, generate};
use hinet_data::{
    Batch, Dataset, DenseNormalizer, InputFile, Normalize, NormalizerFit, Part, ReadOptions, Schema, ShuffleBuffer,
    SplitSpec, load, load_files, row_address, stream_part, stream_part_files, write_csv,
};
use std::path::Path;

/// Synthetic rows written to CSV (two files), with a standardised and a log1p-standardised
/// dense column; the schema reads both files.
fn csv_data(dir: &Path, rows: usize) -> (Schema, Vec<InputFile>) {
    let data = generate(&SyntheticConfig {
        rows,
        seed: 11,
        ..Default::default()
    })
    .unwrap();
    let half = data.subset(&(0..rows / 2).collect::<Vec<_>>());
    let rest = data.subset(&(rows / 2..rows).collect::<Vec<_>>());
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    let mut schema = write_csv(&half, &a, None).unwrap();
    write_csv(&rest, &b, None).unwrap();
    assert!(schema.dense.len() >= 2, "the generator has dense columns");
    schema.dense[0].normalize = Normalize::Standardize;
    schema.dense[1].normalize = Normalize::Log1pStandardize;
    let files = vec![InputFile::new(&a), InputFile::new(&b)];
    schema.files = files.clone();
    (schema, files)
}

fn small_chunks() -> ReadOptions {
    ReadOptions {
        chunk_rows: 97,
        ..Default::default()
    }
}

fn concat(chunks: impl Iterator<Item = Result<Dataset, hinet_data::DataError>>) -> Option<Dataset> {
    let mut all: Option<Dataset> = None;
    for c in chunks {
        let c = c.unwrap();
        match &mut all {
            None => all = Some(c),
            Some(a) => a.append(&c).unwrap(),
        }
    }
    all
}

#[test]
fn a_streamed_part_is_the_in_memory_split_part_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, files) = csv_data(dir.path(), 3000);
    let whole = load(&schema, &files, &ReadOptions::default()).unwrap().data;
    let spec = SplitSpec::hash(0.8, 0.1, 0.1, 5);
    let mut splits = whole.split(&spec).unwrap();
    let normalizer = splits.normalize().unwrap();
    for (part, expected) in [
        (Part::Train, &splits.train),
        (Part::Valid, &splits.valid),
        (Part::Test, &splits.test),
    ] {
        let streamed = stream_part(&schema, &files, &small_chunks(), spec, part, Some(normalizer.clone()));
        let got = concat(streamed).unwrap();
        assert_eq!(&got, expected, "{part:?}");
    }
}

#[test]
fn a_streamed_normaliser_fit_equals_the_in_memory_fit_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, files) = csv_data(dir.path(), 3000);
    let spec = SplitSpec::hash(0.8, 0.1, 0.1, 5);
    let whole = load(&schema, &files, &ReadOptions::default()).unwrap().data;
    let train = whole.split(&spec).unwrap().train;
    let expected = DenseNormalizer::fit(&train).unwrap();
    let pass = || stream_part(&schema, &files, &small_chunks(), spec, Part::Train, None);
    let mut fit: Option<NormalizerFit> = None;
    for chunk in pass() {
        let chunk = chunk.unwrap();
        fit.get_or_insert_with(|| NormalizerFit::new(&chunk).unwrap())
            .add(&chunk)
            .unwrap();
    }
    let mut fit = fit.unwrap();
    assert!(fit.needs_second_pass());
    fit.second_pass();
    for chunk in pass() {
        fit.add(&chunk.unwrap()).unwrap();
    }
    let got = fit.finish().unwrap();
    assert_eq!(got, expected);
    assert!(got.columns[0].std != 1.0 && got.columns[1].mean != 0.0, "{got:?}");
    // A second pass over other rows is refused rather than giving wrong statistics.
    let mut short = NormalizerFit::new(&train).unwrap();
    short.add(&train).unwrap();
    short.second_pass();
    short.add(&train.subset(&[0, 1, 2])).unwrap();
    assert!(short.finish().unwrap_err().to_string().contains("second pass"));
}

/// Synthetic rows in three CSV files of 700, 1,100 and 400 rows, with standardised columns.
fn three_files(dir: &Path) -> (Schema, Vec<InputFile>) {
    let data = generate(&SyntheticConfig {
        rows: 2200,
        seed: 12,
        ..Default::default()
    })
    .unwrap();
    let mut schema = None;
    let mut files = Vec::new();
    for (i, range) in [0..700, 700..1800, 1800..2200].into_iter().enumerate() {
        let path = dir.join(format!("part-{i}.csv"));
        let s = write_csv(&data.subset(&range.collect::<Vec<_>>()), &path, None).unwrap();
        schema.get_or_insert(s);
        files.push(InputFile::new(&path));
    }
    let mut schema = schema.unwrap();
    schema.dense[0].normalize = Normalize::Standardize;
    schema.dense[1].normalize = Normalize::Log1pStandardize;
    schema.files = files.clone();
    (schema, files)
}

/// The rows of `data` that came from file `file` (by their address), in order.
fn rows_of_file(data: &Dataset, file: usize) -> Vec<usize> {
    (0..data.len())
        .filter(|&r| data.row_key[r] >> 40 == file as u64)
        .collect()
}

#[test]
fn files_read_alone_or_in_another_order_keep_their_split() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, files) = three_files(dir.path());
    let opt = small_chunks();
    let whole = load(&schema, &files, &opt).unwrap().data;
    // The first file's rows are keyed by their record number, the others by (file, record).
    assert_eq!(&whole.row_key[..700], &(0..700).collect::<Vec<u64>>()[..]);
    assert_eq!(whole.row_key[700], row_address(1, 0).unwrap());
    assert_eq!(whole.row_key[2199], row_address(2, 399).unwrap());
    let spec = SplitSpec::hash(0.6, 0.2, 0.2, 9);
    let parts = whole.split(&spec).unwrap();
    for which in [vec![2, 0], vec![1], vec![2, 1, 0]] {
        let read = load_files(&schema, &files, &which, &opt).unwrap().data;
        let split = read.split(&spec).unwrap();
        for (got, all) in [
            (&split.train, &parts.train),
            (&split.valid, &parts.valid),
            (&split.test, &parts.test),
        ] {
            let expected: Vec<usize> = which.iter().flat_map(|&f| rows_of_file(all, f)).collect();
            assert_eq!(got, &all.subset(&expected), "files {which:?}");
        }
        // Streaming the same files gives the same rows.
        let streamed = concat(stream_part_files(
            &schema,
            &files,
            &which,
            &opt,
            spec,
            Part::Valid,
            None,
        ))
        .unwrap();
        assert_eq!(streamed, split.valid, "files {which:?}");
    }
    // A file named twice, or one that does not exist, is refused.
    for bad in [vec![0, 0], vec![3]] {
        let e = load_files(&schema, &files, &bad, &opt).unwrap_err().to_string();
        assert!(e.contains("twice") || e.contains("3 input files"), "{e}");
    }
}

#[test]
fn a_fit_summed_over_processes_reading_their_own_files_equals_the_whole_fit() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, files) = three_files(dir.path());
    let spec = SplitSpec::hash(0.8, 0.1, 0.1, 3);
    let whole = load(&schema, &files, &ReadOptions::default()).unwrap().data;
    let expected = DenseNormalizer::fit(&whole.split(&spec).unwrap().train).unwrap();
    // Two "ranks": files {1} and {2, 0}; at the end of each pass their sums are added.
    let shares = [vec![1], vec![2, 0]];
    let pass = |fits: &mut Vec<NormalizerFit>| {
        for (fit, which) in fits.iter_mut().zip(&shares) {
            for chunk in stream_part_files(&schema, &files, which, &small_chunks(), spec, Part::Train, None) {
                fit.add(&chunk.unwrap()).unwrap();
            }
        }
        let mut total = vec![0.0; fits[0].partial_sums().len()];
        for fit in fits.iter() {
            total.iter_mut().zip(fit.partial_sums()).for_each(|(t, x)| *t += x);
        }
        for fit in fits.iter_mut() {
            fit.set_sums(&total).unwrap();
        }
    };
    let mut fits = vec![NormalizerFit::new(&whole).unwrap(); 2];
    pass(&mut fits);
    fits.iter_mut().for_each(NormalizerFit::second_pass);
    pass(&mut fits);
    for fit in fits {
        let got = fit.finish().unwrap();
        for (g, e) in got.columns.iter().zip(&expected.columns) {
            assert!(
                (g.mean - e.mean).abs() <= 1e-12 * e.mean.abs().max(1.0),
                "{g:?} vs {e:?}"
            );
            assert!((g.std - e.std).abs() <= 1e-12 * e.std, "{g:?} vs {e:?}");
        }
        assert!(got.columns[0].std != 1.0 && got.columns[1].mean != 0.0, "{got:?}");
    }
    // A wrong number of totals is refused.
    let mut fit = NormalizerFit::new(&whole).unwrap();
    assert!(fit.set_sums(&[1.0]).is_err());
    assert!(
        fit.set_sums(&vec![0.5; fit.partial_sums().len()]).is_err(),
        "a fractional row count"
    );
}

/// A row's identity in these tests: a hash of its dense values.
fn row_id(dense: &[f32]) -> u64 {
    dense
        .iter()
        .fold(0u64, |h, v| h.rotate_left(7) ^ u64::from(v.to_bits()))
}

/// Drives a buffer as a streaming trainer does: refill with chunks until a draw leaves
/// `capacity` rows behind, draw a batch; at the end of the stream, drain. Returns the row keys
/// in the order they were drawn, batch by batch.
fn shuffled(data: &Dataset, chunk: usize, capacity: usize, batch: usize, seed: u64) -> Vec<Vec<u64>> {
    let mut buffer = ShuffleBuffer::new(data.spec.clone(), capacity, seed);
    let mut out = Batch::new();
    let mut batches = Vec::new();
    let mut next = 0;
    loop {
        while !buffer.is_ready(batch) && next < data.len() {
            let end = (next + chunk).min(data.len());
            buffer.push(&data.subset(&(next..end).collect::<Vec<_>>())).unwrap();
            next = end;
        }
        if buffer.draw_into(batch, &mut out) == 0 {
            break;
        }
        // Rows grouped by scenario, as the model expects.
        assert!(out.scenario.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(out.sparse.len(), out.rows * data.spec.sparse.len());
        // source_rows index the pool, not the data: rows are identified by their dense values.
        let d = data.spec.dense.len();
        batches.push((0..out.rows).map(|r| row_id(&out.dense[r * d..(r + 1) * d])).collect());
    }
    batches
}

#[test]
fn the_shuffle_buffer_emits_every_row_once_in_a_seeded_random_order() {
    let data = generate(&SyntheticConfig {
        rows: 4000,
        seed: 3,
        ..Default::default()
    })
    .unwrap();
    let d = data.spec.dense.len();
    let input: Vec<u64> = (0..data.len())
        .map(|r| row_id(&data.dense[r * d..(r + 1) * d]))
        .collect();
    let mut distinct = input.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), input.len(), "the dense values identify the rows");
    let mut sorted_input = input.clone();
    sorted_input.sort_unstable();
    let a = shuffled(&data, 100, 1000, 64, 9);
    let flat: Vec<u64> = a.iter().flatten().copied().collect();
    let mut sorted = flat.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, sorted_input, "every row exactly once");
    assert!(
        a[..a.len() - 1].iter().all(|b| b.len() == 64),
        "full batches until the end"
    );
    assert_eq!(shuffled(&data, 100, 1000, 64, 9), a, "same seed, same batches");
    assert_ne!(shuffled(&data, 100, 1000, 64, 10), a, "another seed, another order");
    // Mixed within the window: a row leaves at most capacity + batch + chunk rows early ...
    let position: std::collections::HashMap<u64, usize> = input.iter().enumerate().map(|(i, &k)| (k, i)).collect();
    let out_pos: Vec<usize> = flat.iter().map(|k| position[k]).collect();
    for (o, &i) in out_pos.iter().enumerate() {
        assert!(i <= o + 1000 + 64 + 100, "row {i} drawn at {o}, before it was read");
    }
    // ... and the order is far from the input order: the mean displacement is of the order
    // of the window, and a full-size buffer gives an unbiased permutation (rank correlation ~ 0).
    let mean_shift = out_pos.iter().enumerate().map(|(o, &i)| o.abs_diff(i)).sum::<usize>() as f64 / 4000.0;
    assert!(mean_shift > 200.0, "mean displacement {mean_shift}");
    let full: Vec<usize> = shuffled(&data, 100, 4000, 64, 9)
        .iter()
        .flatten()
        .map(|k| position[k])
        .collect();
    let n = full.len() as f64;
    let mean = (n - 1.0) / 2.0;
    let cov: f64 = full
        .iter()
        .enumerate()
        .map(|(o, &i)| (o as f64 - mean) * (i as f64 - mean))
        .sum::<f64>();
    let var: f64 = (0..full.len()).map(|o| (o as f64 - mean).powi(2)).sum();
    let rho = cov / var;
    assert!(rho.abs() < 0.05, "rank correlation of a full-buffer shuffle {rho}");
}

/// The in-memory path keeps the training rows in place: `keep_rows` gives exactly `subset`'s
/// rows, and refuses rows that are not strictly ascending or past the end, leaving the data.
#[test]
fn keeping_rows_in_place_equals_the_subset() {
    let data = generate(&SyntheticConfig {
        rows: 2000,
        seed: 4,
        ..Default::default()
    })
    .unwrap();
    let [train, _, _] = data.split_indices(&SplitSpec::hash(0.8, 0.1, 0.1, 5)).unwrap();
    let expected = data.subset(&train);
    let mut kept = data.clone();
    kept.keep_rows(&train).unwrap();
    assert_eq!(kept, expected);
    let mut same = data.clone();
    for bad in [vec![3, 2], vec![1, 1], vec![0, data.len()]] {
        assert!(same.keep_rows(&bad).is_err(), "{bad:?}");
        assert_eq!(same, data, "unchanged after a refused call");
    }
    same.keep_rows(&[]).unwrap();
    assert!(same.is_empty());
}

#[test]
fn a_split_in_place_equals_the_copying_split() {
    let dir = tempfile::tempdir().unwrap();
    // Files with parts (carved validation) and without (hash split), oracle values or not.
    let (schema, files) = three_files(dir.path());
    let whole = load(&schema, &files, &ReadOptions::default()).unwrap().data;
    let mut parted = whole.clone();
    parted.file_part = parted
        .row_key
        .iter()
        .map(|k| Some([Part::Train, Part::Test, Part::Valid][(k >> 40) as usize]))
        .collect();
    let mut no_oracle = whole.clone();
    no_oracle.oracle = None;
    for (data, spec) in [
        (&whole, SplitSpec::hash(0.6, 0.25, 0.15, 3)),
        (&no_oracle, SplitSpec::hash(0.8, 0.1, 0.1, 4)),
        (&parted, SplitSpec::file_valid(0.2, 5)),
        (&parted, SplitSpec::File),
    ] {
        let expected = data.split(&spec).unwrap();
        let [train_rows, _, _] = data.split_indices(&spec).unwrap();
        let (got, parts) = data.clone().split_in_place(&spec).unwrap();
        assert_eq!(got, expected, "{spec:?}");
        let rows: Vec<usize> = (0..parts.len()).filter(|&r| parts[r] == Part::Train).collect();
        assert_eq!(rows, train_rows, "{spec:?}");
        assert!(
            !got.valid.is_empty() && !got.test.is_empty() && !got.train.is_empty(),
            "{spec:?}"
        );
        got.train.validate().unwrap();
    }
    // A split the data cannot take leaves an error, not a half-split dataset.
    assert!(whole.clone().split_in_place(&SplitSpec::File).is_err());
}
