//! Each preset loads the real public samples with the counts their notes (SOURCE.md) state.
//!
//! The samples are not part of the repository. The folder is `HINET_DATA_DIR` if set, else
//! `../shared/data` next to the workspace; without the files these tests print one `skipped:`
//! line and pass, unless `HINET_REQUIRE_DATA=1` makes that a failure. Every behaviour checked
//! here is also checked without the samples, on generated files, in `preset_fixtures.rs`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use hinet_data::{Dataset, ReadOptions, SplitSpec, presets};

/// The data folder for `preset`, or `None` (after one `skipped:` line on stderr) when the
/// preset's files are not there. Panics instead when `HINET_REQUIRE_DATA=1`.
fn data_dir_for(preset: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("HINET_DATA_DIR") {
        Some(d) => PathBuf::from(d),
        // ../shared/data beside the checkout the tests run in (cargo runs them in the crate's
        // folder; the checkout is the nearest folder above with a Cargo.lock), found at run time.
        None => {
            let cwd = std::env::current_dir().unwrap_or_default();
            let checkout = cwd.ancestors().find(|a| a.join("Cargo.lock").is_file()).unwrap_or(&cwd);
            checkout.parent().unwrap_or(checkout).join("shared/data")
        }
    };
    let p = presets::preset(preset, &dir).expect("a known preset name");
    let missing: Vec<String> = p
        .files
        .iter()
        .filter(|f| !f.path.is_file())
        .map(|f| f.path.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some(dir);
    }
    let why = format!(
        "public data samples not found in {} (missing {}); set HINET_DATA_DIR=<folder> (or put them in \
         ../shared/data) to run this test",
        dir.display(),
        missing.join(", ")
    );
    if std::env::var("HINET_REQUIRE_DATA").as_deref() == Ok("1") {
        panic!("{preset}: {why} (HINET_REQUIRE_DATA=1 makes a missing sample a failure)");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!` of passing tests,
    // and a skip nobody sees would look like a pass. One write of the whole line (the parallel
    // harness writes "test name ... " and its result separately), starting on a new line.
    let line = format!("\nskipped: {why}; HINET_REQUIRE_DATA=1 makes this a failure\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// Positives of task `t` (of two).
fn positives(ds: &Dataset, t: usize) -> usize {
    ds.labels.iter().skip(t).step_by(2).filter(|y| **y > 0.5).count()
}

/// Largest id of sparse field `k`, plus one: what an automatic vocabulary must come to.
fn max_id_plus_one(d: &Dataset, k: usize) -> usize {
    let f = d.spec.sparse.len();
    d.sparse.iter().skip(k).step_by(f).max().map_or(1, |&m| m as usize + 1)
}

#[test]
fn ali_ccp_sample() {
    let Some(dir) = data_dir_for("ali-ccp-sample") else {
        return;
    };
    let p = presets::ali_ccp_sample(&dir);
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.len(), 200);
    assert_eq!(d.spec.scenarios, vec!["1", "2", "3"]);
    assert_eq!(d.spec.tasks, vec!["ctr", "ctcvr"]);
    assert_eq!((d.spec.sparse.len(), d.spec.dense.len()), (22, 8));
    // Vocabularies come from the three files: exactly the largest id + 1, so the constant
    // user-side fields get tiny tables (`126` is always 0: one id).
    for k in 0..22 {
        assert_eq!(
            d.spec.sparse[k].vocab,
            max_id_plus_one(&d, k),
            "{}",
            d.spec.sparse[k].name
        );
    }
    assert_eq!(d.spec.sparse[5].name, "126");
    assert_eq!(d.spec.sparse[5].vocab, 1);
    let s = d.split(&p.split).unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (100, 50, 50));
    // SOURCE.md: rows per 301 = 1/2/3, clicks and purchases per split.
    assert_eq!(s.train.scenario_counts(), vec![69, 19, 12]);
    assert_eq!(s.valid.scenario_counts(), vec![38, 7, 5]);
    assert_eq!(s.test.scenario_counts(), vec![39, 6, 5]);
    assert_eq!((positives(&s.train, 0), positives(&s.train, 1)), (7, 1));
    assert_eq!((positives(&s.valid, 0), positives(&s.valid, 1)), (3, 1));
    assert_eq!((positives(&s.test, 0), positives(&s.test, 1)), (6, 1));
    d.validate().unwrap();
}

#[test]
fn aliexpress_sample() {
    let Some(dir) = data_dir_for("aliexpress-sample") else {
        return;
    };
    let p = presets::aliexpress_sample(&dir);
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.len(), 320);
    assert_eq!((d.spec.sparse.len(), d.spec.dense.len()), (16, 63));
    assert_eq!(d.scenario_counts(), vec![120, 200]); // us: 100 + 20, fuxictr: 100 + 100
    let s = d.split(&SplitSpec::File).unwrap();
    assert_eq!((s.train.len(), s.valid.len(), s.test.len()), (200, 0, 120));
    // SOURCE.md rates: US train click 0.6, FuxiCTR train click 0.03.
    assert!((s.train.label_rate(0, Some(0)).unwrap() - 0.6).abs() < 1e-9);
    assert!((s.train.label_rate(0, Some(1)).unwrap() - 0.03).abs() < 1e-9);
    // conversion implies click in every row.
    assert!(d.labels.chunks_exact(2).all(|y| y[1] <= y[0]));
    // SOURCE.md: the largest categorical id seen is 49.
    let largest = d.spec.sparse.iter().map(|f| f.vocab).max().unwrap();
    assert_eq!(largest, 50);
    for k in 0..16 {
        assert_eq!(d.spec.sparse[k].vocab, max_id_plus_one(&d, k));
    }
    d.validate().unwrap();
}

#[test]
fn movielens_100k() {
    let Some(dir) = data_dir_for("movielens-100k") else {
        return;
    };
    let p = presets::movielens_100k(&dir);
    let d = p.load(&ReadOptions::default()).unwrap().data;
    assert_eq!(d.len(), 100_000);
    assert_eq!(d.spec.scenarios, vec!["age<25", "age25-34", "age35+"]);
    assert_eq!(d.scenario_counts(), vec![26_551, 35_444, 38_005]);
    // 943 users and 1,682 movies, ids from 1.
    assert_eq!((d.spec.sparse[0].vocab, d.spec.sparse[1].vocab), (944, 1683));
    assert!((d.label_rate(0, None).unwrap() - 0.5538).abs() < 5e-5);
    assert!((d.label_rate(1, None).unwrap() - 0.2120).abs() < 5e-5);
    assert!((d.label_rate(0, Some(0)).unwrap() - 0.5362).abs() < 5e-5);
    // The small string fields hash without collisions (gender, occupation, genre, release year).
    for (field, distinct) in [(2, 2), (3, 21), (5, 19), (6, 73)] {
        let ids: std::collections::HashSet<u32> = d.sparse.chunks_exact(7).map(|r| r[field]).collect();
        assert_eq!(ids.len(), distinct, "field {}", d.spec.sparse[field].name);
    }
    let s = d.split(&p.split).unwrap();
    let frac = s.train.len() as f64 / 100_000.0;
    assert!((frac - 0.8).abs() < 0.01, "{frac}");
    d.validate().unwrap();
}

#[test]
fn presets_by_name() {
    // Needs no data: a preset only names its files.
    let dir = Path::new("/nonexistent");
    for name in presets::PRESET_NAMES {
        let p = hinet_data::preset(name, dir).unwrap();
        assert_eq!(p.name, *name);
        assert!(p.files.iter().all(|f| f.path.starts_with(dir.join(name))));
    }
    let e = hinet_data::preset("nope", dir).unwrap_err();
    assert!(e.to_string().contains("movielens-100k"), "{e}");
}
