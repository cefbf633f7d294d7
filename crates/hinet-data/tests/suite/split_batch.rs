//! Splits, normalisation and batches.

use std::path::Path;

use hinet_data::synthetic::{SyntheticConfig, generate};
use hinet_data::{
    Batch, Dataset, DenseNormalizer, InputFile, Normalize, Part, ReadOptions, Schema, SplitSpec, load, split_for_files,
};

fn data() -> hinet_data::Dataset {
    generate(&SyntheticConfig {
        rows: 30_000,
        users: 2_000,
        items: 500,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn hash_split_is_deterministic_disjoint_and_sized() {
    let d = data();
    let spec = SplitSpec::hash(0.7, 0.1, 0.2, 11);
    let a = d.split_indices(&spec).unwrap();
    let b = d.split_indices(&spec).unwrap();
    assert_eq!(a, b);
    let n = d.len() as f64;
    for (part, want) in a.iter().zip([0.7, 0.1, 0.2]) {
        assert!((part.len() as f64 / n - want).abs() < 0.01, "{} vs {want}", part.len());
    }
    let mut all: Vec<usize> = a.concat();
    all.sort_unstable();
    assert_eq!(all, (0..d.len()).collect::<Vec<_>>());
    let other = d.split_indices(&SplitSpec::hash(0.7, 0.1, 0.2, 12)).unwrap();
    assert_ne!(a[0], other[0]);
    // A row's split depends on its key only: a subset keeps its rows' assignments.
    let sub = d.subset(&(0..1000).collect::<Vec<_>>());
    let s = sub.split_indices(&spec).unwrap();
    assert_eq!(s[0], a[0].iter().copied().filter(|&r| r < 1000).collect::<Vec<_>>());
}

#[test]
fn bad_split_specs() {
    let d = data();
    assert!(d.split(&SplitSpec::hash(0.7, 0.1, 0.1, 0)).is_err());
    assert!(d.split(&SplitSpec::hash(1.2, -0.2, 0.0, 0)).is_err());
    assert!(d.split(&SplitSpec::File).is_err()); // synthetic rows come from no file
}

#[test]
fn normalizer_fits_on_train_and_serialises() {
    let d = data();
    let mut s = d.split(&SplitSpec::hash(0.8, 0.1, 0.1, 3)).unwrap();
    let raw_test = s.test.dense.clone();
    let n = s.normalize().unwrap();
    assert_eq!(n.columns[1].method, Normalize::Log1p);
    let nd = d.spec.dense.len();
    let col = |v: &[f32], c: usize| v.iter().skip(c).step_by(nd).map(|&x| f64::from(x)).collect::<Vec<_>>();
    let x = col(&s.train.dense, 0);
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / x.len() as f64;
    assert!(mean.abs() < 1e-4 && (var - 1.0).abs() < 1e-3, "{mean} {var}");
    // Test rows use the training statistics.
    let t = &n.columns[0];
    let want = ((f64::from(raw_test[0]) - t.mean) / t.std) as f32;
    assert!((s.test.dense[0] - want).abs() < 1e-6);
    assert!((s.test.dense[1] - raw_test[1].ln_1p()).abs() < 1e-6);
    // Twice is an error, not silently wrong numbers.
    assert!(n.apply(&mut s.test).is_err());
    let json = toml::to_string(&n).unwrap();
    let back: DenseNormalizer = toml::from_str(&json).unwrap();
    assert_eq!(back, n);
}

#[test]
fn batches_are_grouped_by_scenario_with_field_major_ids() {
    let d = data();
    let (f, nd, t, m) = (d.spec.sparse.len(), d.spec.dense.len(), 2, d.spec.scenarios.len());
    let mut seen = vec![false; d.len()];
    let mut batch = Batch::new();
    let mut it = d.batches(1000, Some(5));
    assert_eq!(it.num_batches(), 30);
    while it.next_into(&mut batch) {
        let b = batch.rows;
        assert_eq!(batch.scenario_offsets.len(), m + 1);
        assert_eq!((batch.scenario_offsets[0], batch.scenario_offsets[m]), (0, b));
        assert!(batch.scenario.windows(2).all(|w| w[0] <= w[1]));
        for s in 0..m {
            assert!(batch.scenario[batch.scenario_range(s)].iter().all(|&x| x == s));
        }
        for r in 0..b {
            let src = batch.source_rows[r];
            assert!(!seen[src]);
            seen[src] = true;
            assert_eq!(batch.scenario[r], d.scenario[src] as usize);
            for k in 0..f {
                assert_eq!(batch.sparse[k * b + r], d.sparse[src * f + k] as usize);
            }
            assert_eq!(&batch.dense[r * nd..(r + 1) * nd], &d.dense[src * nd..(src + 1) * nd]);
            assert_eq!(&batch.labels[r * t..(r + 1) * t], &d.labels[src * t..(src + 1) * t]);
            assert_eq!(
                &batch.oracle.as_ref().unwrap()[r * t..(r + 1) * t],
                &d.oracle.as_ref().unwrap()[src * t..(src + 1) * t]
            );
        }
    }
    assert!(seen.iter().all(|&x| x));
    // Same seed, same order; no seed, input order.
    let first = |seed| d.batches(100, seed).next().unwrap().source_rows;
    assert_eq!(first(Some(5)), first(Some(5)));
    assert_ne!(first(Some(5)), first(Some(6)));
    let mut plain = first(None);
    plain.sort_unstable();
    assert_eq!(plain, (0..100).collect::<Vec<_>>());
}

#[test]
fn fill_batch_is_stable_and_reuses_buffers() {
    let d = data();
    let rows: Vec<usize> = (0..4096).rev().collect();
    let mut batch = Batch::new();
    d.fill_batch(&rows, &mut batch);
    // Stable grouping: within each scenario, rows appear in the order given (descending here).
    for s in 0..d.spec.scenarios.len() {
        let r = &batch.source_rows[batch.scenario_range(s)];
        assert!(r.windows(2).all(|w| w[0] > w[1]));
    }
    let caps = (
        batch.sparse.capacity(),
        batch.dense.capacity(),
        batch.source_rows.capacity(),
    );
    let ptr = batch.sparse.as_ptr();
    d.fill_batch(&rows[..4000], &mut batch);
    assert_eq!(batch.rows, 4000);
    assert_eq!(
        (
            batch.sparse.capacity(),
            batch.dense.capacity(),
            batch.source_rows.capacity()
        ),
        caps
    );
    assert_eq!(batch.sparse.as_ptr(), ptr);
    // Empty batch.
    d.fill_batch(&[], &mut batch);
    assert_eq!(batch.rows, 0);
    assert!(batch.scenario_offsets.iter().all(|&o| o == 0));
    // drop_last
    assert_eq!(d.batches(7000, None).drop_last(true).count(), 4);
    assert_eq!(d.batches(7000, None).count(), 5);
}

#[test]
fn split_for_files_refuses_a_mix_of_files_with_and_without_part() {
    let hash = SplitSpec::hash(0.8, 0.1, 0.1, 5);
    let all = [
        InputFile::new("tr.csv").with_part(Part::Train),
        InputFile::new("te.csv").with_part(Part::Test),
    ];
    assert_eq!(split_for_files(&all, hash).unwrap(), SplitSpec::File);
    let none = [InputFile::new("a.csv"), InputFile::new("b.csv")];
    assert_eq!(split_for_files(&none, hash).unwrap(), hash);
    assert_eq!(split_for_files(&[], hash).unwrap(), hash);
    let mixed = [
        InputFile::new("tr.csv").with_part(Part::Train),
        InputFile::new("extra.csv"),
        InputFile::new("te.csv").with_part(Part::Test),
    ];
    let e = split_for_files(&mixed, hash).unwrap_err().to_string();
    assert!(
        e.contains("With a part: tr.csv (train), te.csv (test). Without: extra.csv"),
        "{e}"
    );
}

#[test]
fn split_specs_serialise_with_stable_tags() {
    // Checkpoints store these: the existing forms must not change.
    let text = |s: &SplitSpec| toml::to_string(s).unwrap();
    assert_eq!(text(&SplitSpec::File), "by = \"file\"\n");
    assert!(text(&SplitSpec::hash(0.8, 0.1, 0.1, 3)).starts_with("by = \"hash\"\ntrain = 0.8\n"));
    let fv = SplitSpec::file_valid(0.1, 9);
    assert_eq!(text(&fv), "by = \"file_valid\"\nvalid = 0.1\nseed = 9\n");
    assert_eq!(toml::from_str::<SplitSpec>(&text(&fv)).unwrap(), fv);
}

const SPLIT_SCHEMA: &str = r#"
scenarios = ["a", "b"]
scenario_column = "page"
[[tasks]]
name = "ctr"
column = "click"
[[sparse]]
column = "user"
vocab = "auto"
"#;

/// Train (20,000 rows of 2,000 users), valid (500 rows) and test (1,000 rows) files.
fn train_valid_test(dir: &Path, split_key: bool) -> Dataset {
    let file = |name: &str, rows: usize, offset: usize| {
        let mut s = String::from("page,user,click\n");
        for r in 0..rows {
            let u = (r * 7 + offset) % 2000;
            s += &format!("{},{u},{}\n", if u.is_multiple_of(3) { "a" } else { "b" }, r % 2);
        }
        let p = dir.join(name);
        std::fs::write(&p, s).unwrap();
        p
    };
    let files = [
        InputFile::new(file("train.csv", 20_000, 0)).with_part(Part::Train),
        InputFile::new(file("valid.csv", 500, 1)).with_part(Part::Valid),
        InputFile::new(file("test.csv", 1_000, 2)).with_part(Part::Test),
    ];
    let mut schema = Schema::from_toml_str(SPLIT_SCHEMA).unwrap();
    if split_key {
        schema.split_key = vec!["user".into()];
    }
    load(&schema, &files, &ReadOptions::default()).unwrap().data
}

#[test]
fn file_valid_carves_validation_from_the_training_files_only() {
    let dir = tempfile::tempdir().unwrap();
    for split_key in [false, true] {
        let d = train_valid_test(dir.path(), split_key);
        let [train, valid, test] = d.split_indices(&SplitSpec::file_valid(0.15, 1)).unwrap();
        // Test rows are exactly the test file's; the valid file's rows all stay in validation.
        assert_eq!(test, (20_500..21_500).collect::<Vec<_>>());
        assert!((20_000..20_500).all(|r| valid.binary_search(&r).is_ok()));
        assert_eq!(train.len() + valid.len() + test.len(), d.len());
        let carved = valid.iter().filter(|&&r| r < 20_000).count();
        let frac = carved as f64 / 20_000.0;
        // 2,000 users make 2,000 independent draws with a split key: a wider band.
        assert!((frac - 0.15).abs() < 0.03, "split_key {split_key}: {frac}");
        // Deterministic under the seed; another seed, another carve.
        assert_eq!(d.split_indices(&SplitSpec::file_valid(0.15, 1)).unwrap()[1], valid);
        let other = d.split_indices(&SplitSpec::file_valid(0.15, 2)).unwrap();
        assert_ne!(other[1], valid);
        assert_eq!(other[2], test);
        if split_key {
            // One user's training rows stay together.
            let user = |r: usize| d.sparse[r];
            let in_valid: std::collections::HashSet<u32> =
                valid.iter().filter(|&&r| r < 20_000).map(|&r| user(r)).collect();
            assert!(train.iter().all(|&r| !in_valid.contains(&user(r))));
        }
    }
}

#[test]
fn file_valid_rejects_bad_fractions_and_rows_without_part() {
    let dir = tempfile::tempdir().unwrap();
    let d = train_valid_test(dir.path(), false);
    for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        let e = d.split(&SplitSpec::file_valid(bad, 1)).unwrap_err();
        assert!(e.to_string().contains("must be in (0, 1)"), "{bad}: {e}");
    }
    // Synthetic rows come from no file.
    assert!(data().split(&SplitSpec::file_valid(0.1, 1)).is_err());
}

#[test]
fn log1p_standardize_matches_a_naive_computation() {
    let mut d = data();
    // item_price (column 1) is heavy-tailed: standardise its logarithm.
    d.dense_normalize[1] = Normalize::Log1pStandardize;
    let mut s = d.split(&SplitSpec::hash(0.8, 0.1, 0.1, 3)).unwrap();
    let nd = d.spec.dense.len();
    let raw = |ds: &Dataset| {
        ds.dense
            .iter()
            .skip(1)
            .step_by(nd)
            .map(|&x| f64::from(x))
            .collect::<Vec<_>>()
    };
    let (train, test) = (raw(&s.train), raw(&s.test));
    let n = s.normalize().unwrap();
    // Naive: f64 logarithms, two-pass population statistics of the training split.
    let logs: Vec<f64> = train.iter().map(|x| (1.0 + x).ln()).collect();
    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
    let std = (logs.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / logs.len() as f64).sqrt();
    assert!((n.columns[1].mean - mean).abs() < 1e-5 * mean.abs().max(1.0));
    assert!((n.columns[1].std - std).abs() < 1e-5 * std);
    for (got, x) in raw(&s.test).iter().zip(&test) {
        let want = ((1.0 + x).ln() - mean) / std;
        assert!((got - want).abs() < 1e-4, "{got} vs {want} for x = {x}");
    }
    let z = raw(&s.train);
    let zm = z.iter().sum::<f64>() / z.len() as f64;
    assert!(zm.abs() < 1e-4, "{zm}");
    assert!(n.columns[1].method == Normalize::Log1pStandardize);
}

#[test]
fn log1p_standardize_fit_names_row_and_column_of_a_value_at_or_below_minus_one() {
    let mut d = data().subset(&(0..100).collect::<Vec<_>>());
    d.dense_normalize[1] = Normalize::Log1pStandardize;
    let nd = d.spec.dense.len();
    d.dense[37 * nd + 1] = -1.0;
    let e = DenseNormalizer::fit(&d).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid configuration: row 37: column \"item_price\": value -1 <= -1 for log1p"
    );
}

#[test]
fn carving_a_validation_fraction_applies_to_splits_by_file_only() {
    assert_eq!(
        SplitSpec::File.carve_valid(0.1, 4).unwrap(),
        SplitSpec::file_valid(0.1, 4)
    );
    assert_eq!(
        SplitSpec::file_valid(0.3, 1).carve_valid(0.1, 4).unwrap(),
        SplitSpec::file_valid(0.1, 4)
    );
    let e = SplitSpec::hash(0.8, 0.1, 0.1, 1).carve_valid(0.1, 4).unwrap_err();
    assert!(e.to_string().contains("split by hash"), "{e}");
    assert!(SplitSpec::File.carve_valid(1.0, 4).is_err());
    assert!(SplitSpec::File.carve_valid(0.0, 4).is_err());
}
