//! Splits, normalisation and batches.

use hinet_data::synthetic::{SyntheticConfig, generate};
use hinet_data::{Batch, DenseNormalizer, Normalize, SplitSpec};

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
