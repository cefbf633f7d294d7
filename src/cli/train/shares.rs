//! Which rows each rank of a distributed run reads.
//!
//! By file when the data comes in enough files: each rank reads only its own files, so no rank
//! parses the whole data (the way Horovod, tf.data's `shard` and TorchRec's readers split part
//! files). Files go to ranks largest first, each to the rank with the fewest bytes so far
//! (longest-processing-time scheduling: no rank ends above 4/3 of the optimum), the files that
//! can hold training rows and the validation- or test-only files each balanced on their own.
//! A row's split depends on the row alone (its address is its file and record number), so the
//! split is the one-process split whatever a rank reads.
//!
//! Otherwise by row: every rank reads every file and keeps rows `rank, rank + N, ...` of each
//! part: exact balance, at the price of every rank parsing everything.

use anyhow::{Result, bail};

/// How the rows are divided among the ranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum DataShares {
    /// Rank r reads the files `files[r]` (indices into the source's files, in listed order).
    Files(Vec<Vec<usize>>),
    /// Every rank reads every file and keeps every N-th row.
    Rows,
}

/// What `--data-shares` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SharesMode {
    /// By file when the files balance within [`MAX_IMBALANCE`], else by row.
    Auto,
    Files,
    Rows,
}

/// Largest ratio of a rank's training bytes to the mean that `auto` accepts for shares by file:
/// each step takes as long as the rank with the largest share of the global batch.
pub(super) const MAX_IMBALANCE: f64 = 1.25;

impl SharesMode {
    pub(super) fn parse(name: &str) -> Result<SharesMode> {
        Ok(match name {
            "auto" => SharesMode::Auto,
            "files" => SharesMode::Files,
            "rows" => SharesMode::Rows,
            other => bail!("--data-shares {other:?}: expected files, rows or auto"),
        })
    }
}

/// One input file as the assignment sees it.
#[derive(Debug, Clone, Copy)]
pub(super) struct FileSize {
    /// Bytes (of text, as [`super::super::data::FileSource::text_bytes`] counts them).
    pub(super) bytes: u64,
    /// Whether it can hold training rows (a `train` file, or any file of a hash split).
    pub(super) training: bool,
}

/// The shares for `files` among `ranks`, and why (for the log).
pub(super) fn assign(files: &[FileSize], ranks: usize, mode: SharesMode) -> Result<(DataShares, String)> {
    let training = files.iter().filter(|f| f.training).count();
    if mode == SharesMode::Rows {
        return Ok((DataShares::Rows, "--data-shares rows".into()));
    }
    if training < ranks {
        let why = format!(
            "{training} file(s) with training rows for {ranks} ranks: every rank reads every file and keeps one row \
             in {ranks}"
        );
        if mode == SharesMode::Files {
            bail!("--data-shares files: {why}; split the training data into at least {ranks} files");
        }
        return Ok((DataShares::Rows, why));
    }
    let mut shares = vec![Vec::new(); ranks];
    let load = balance(files, |f| f.training, &mut shares);
    balance(files, |f| !f.training, &mut shares);
    for s in &mut shares {
        s.sort_unstable();
    }
    let total: u64 = load.iter().sum();
    let mean = total as f64 / ranks as f64;
    let worst = load.iter().copied().max().unwrap_or(0) as f64;
    let ratio = if mean > 0.0 { worst / mean } else { 1.0 };
    if mode == SharesMode::Auto && ratio > MAX_IMBALANCE {
        return Ok((
            DataShares::Rows,
            format!(
                "the {training} training files split unevenly over {ranks} ranks (the largest share {ratio:.2}x the \
                 mean, more than {MAX_IMBALANCE}x): every rank reads every file and keeps one row in {ranks}; \
                 --data-shares files reads by file anyway"
            ),
        ));
    }
    Ok((
        DataShares::Files(shares),
        format!("each rank reads its own files (largest share of training bytes {ratio:.2}x the mean)"),
    ))
}

/// Deals the files that pass `keep` to the ranks, largest first, each to the rank with the
/// fewest bytes of them so far (ties to the lower rank); returns the bytes per rank.
fn balance(files: &[FileSize], keep: impl Fn(&FileSize) -> bool, shares: &mut [Vec<usize>]) -> Vec<u64> {
    let mut order: Vec<usize> = (0..files.len()).filter(|&i| keep(&files[i])).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(files[i].bytes), i));
    let mut load = vec![0u64; shares.len()];
    for i in order {
        let rank = (0..load.len()).min_by_key(|&r| (load[r], r)).unwrap_or(0);
        load[rank] += files[i].bytes;
        shares[rank].push(i);
    }
    load
}

#[cfg(test)]
mod tests {
    use super::*;

    fn train(bytes: &[u64]) -> Vec<FileSize> {
        bytes.iter().map(|&bytes| FileSize { bytes, training: true }).collect()
    }

    #[test]
    fn every_file_goes_to_one_rank_and_training_bytes_balance() {
        let mut files = train(&[900, 100, 500, 400, 300, 300, 200, 250]);
        files.push(FileSize {
            bytes: 1000,
            training: false,
        });
        files.push(FileSize {
            bytes: 10,
            training: false,
        });
        let (shares, _) = assign(&files, 3, SharesMode::Auto).unwrap();
        let DataShares::Files(shares) = shares else {
            panic!("by file expected: {shares:?}");
        };
        let mut all: Vec<usize> = shares.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..files.len()).collect::<Vec<_>>());
        let loads: Vec<u64> = shares
            .iter()
            .map(|s| s.iter().filter(|&&i| files[i].training).map(|&i| files[i].bytes).sum())
            .collect();
        // 2,950 bytes over 3 ranks: largest first gives 1,000 / 1,000 / 950.
        assert_eq!(loads.iter().sum::<u64>(), 2950);
        assert!(loads.iter().all(|&l| (950..=1000).contains(&l)), "{loads:?}");
        // The two test-only files go to different ranks, and each rank's files are in listed order.
        let with_test: Vec<usize> = (0..3).filter(|&r| shares[r].iter().any(|&i| i >= 8)).collect();
        assert_eq!(with_test.len(), 2, "{shares:?}");
        assert!(shares.iter().all(|s| s.windows(2).all(|w| w[0] < w[1])));
    }

    #[test]
    fn too_few_or_uneven_files_fall_back_to_rows_unless_files_are_asked_for() {
        let (s, why) = assign(&train(&[10, 10]), 3, SharesMode::Auto).unwrap();
        assert_eq!(s, DataShares::Rows);
        assert!(why.contains("2 file(s) with training rows for 3 ranks"), "{why}");
        let e = assign(&train(&[10, 10]), 3, SharesMode::Files).unwrap_err().to_string();
        assert!(e.contains("at least 3 files"), "{e}");
        // 1,000 + 10 bytes on 2 ranks: 1.98x the mean.
        let (s, why) = assign(&train(&[1000, 10]), 2, SharesMode::Auto).unwrap();
        assert_eq!(s, DataShares::Rows);
        assert!(why.contains("1.98x"), "{why}");
        let (s, _) = assign(&train(&[1000, 10]), 2, SharesMode::Files).unwrap();
        assert_eq!(s, DataShares::Files(vec![vec![0], vec![1]]));
        assert_eq!(
            assign(&train(&[5, 5, 5, 5]), 2, SharesMode::Rows).unwrap().0,
            DataShares::Rows
        );
        assert!(SharesMode::parse("hash").is_err());
    }
}
