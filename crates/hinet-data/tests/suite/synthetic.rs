//! The synthetic generator: determinism, thread independence, shares, label logic, oracle.

use hinet_data::synthetic::{SyntheticConfig, generate};

fn small(seed: u64) -> SyntheticConfig {
    SyntheticConfig {
        rows: 60_000,
        seed,
        users: 3_000,
        items: 800,
        ..Default::default()
    }
}

/// Independent tie-aware AUC (pairwise counting over sorted negatives) to check the oracle.
fn auc_pairwise(scores: &[f32], labels: &[f32]) -> f64 {
    let mut neg: Vec<f32> = scores
        .iter()
        .zip(labels)
        .filter(|(_, y)| **y < 0.5)
        .map(|(s, _)| *s)
        .collect();
    neg.sort_by(f32::total_cmp);
    let (mut wins, mut npos) = (0.0, 0.0);
    for (s, y) in scores.iter().zip(labels) {
        if *y > 0.5 {
            npos += 1.0;
            let below = neg.partition_point(|x| x < s) as f64;
            let ties = neg.partition_point(|x| x <= s) as f64 - below;
            wins += below + 0.5 * ties;
        }
    }
    wins / (npos * neg.len() as f64)
}

#[test]
fn same_seed_same_data_other_seed_other_data() {
    let a = generate(&small(1)).unwrap();
    let b = generate(&small(1)).unwrap();
    let c = generate(&small(2)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.sparse, c.sparse);
    a.validate().unwrap();
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let cfg = small(3);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| generate(&cfg).unwrap());
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| generate(&cfg).unwrap());
    assert_eq!(one, three);
}

#[test]
fn shares_rates_and_label_logic() {
    let cfg = SyntheticConfig {
        rows: 200_000,
        users: 5_000,
        items: 1_000,
        ..Default::default()
    };
    let d = generate(&cfg).unwrap();
    assert_eq!(d.len(), 200_000);
    let counts = d.scenario_counts();
    for (c, share) in counts.iter().zip(&cfg.scenario_shares) {
        let got = *c as f64 / d.len() as f64;
        // Binomial std at n = 200k is at most 0.0011.
        assert!((got - share).abs() < 0.006, "share {got} vs {share}");
    }
    let ctr = d.label_rate(0, None).unwrap();
    let ctcvr = d.label_rate(1, None).unwrap();
    assert!((0.05..=0.15).contains(&ctr), "ctr {ctr}");
    let cvr = ctcvr / ctr;
    assert!((0.1..=0.3).contains(&cvr), "cvr given click {cvr}");
    let o = d.oracle.as_ref().unwrap();
    for r in 0..d.len() {
        let (click, order) = (d.labels[2 * r], d.labels[2 * r + 1]);
        assert!(order <= click, "row {r}: an order without a click");
        assert!(o[2 * r + 1] <= o[2 * r] && (0.0..=1.0).contains(&o[2 * r]));
    }
}

#[test]
fn oracle_auc_is_clearly_above_chance() {
    let d = generate(&small(5)).unwrap();
    let o = d.oracle.as_ref().unwrap();
    for task in 0..2 {
        let scores: Vec<f32> = o.iter().skip(task).step_by(2).copied().collect();
        let labels: Vec<f32> = d.labels.iter().skip(task).step_by(2).copied().collect();
        let mine = auc_pairwise(&scores, &labels);
        assert!(mine > 0.7, "task {task}: oracle AUC {mine}");
    }
    // Within every scenario too (CTR).
    for m in 0..6 {
        let rows: Vec<usize> = (0..d.len()).filter(|&r| d.scenario[r] as usize == m).collect();
        let scores: Vec<f32> = rows.iter().map(|&r| o[2 * r]).collect();
        let labels: Vec<f32> = rows.iter().map(|&r| d.labels[2 * r]).collect();
        let auc = auc_pairwise(&scores, &labels);
        assert!(auc > 0.65, "scenario {m}: oracle AUC {auc}");
    }
}

#[test]
fn bench_default_shape() {
    let cfg = SyntheticConfig::bench_default(10_000);
    let d = generate(&cfg).unwrap();
    assert_eq!(d.spec.scenarios.len(), 6);
    assert_eq!(d.spec.tasks, vec!["ctr", "ctcvr"]);
    assert_eq!(d.spec.sparse.len(), 20);
    assert!(d.spec.sparse.iter().all(|f| f.vocab == 10_000));
    assert!(d.spec.dense.is_empty() && d.dense.is_empty());
    assert_eq!(cfg.scenario_shares, vec![0.35, 0.25, 0.15, 0.12, 0.08, 0.05]);
    d.validate().unwrap();
}

#[test]
fn side_features_are_functions_of_user_and_item() {
    let d = generate(&small(9)).unwrap();
    let f = d.spec.sparse.len();
    let mut seg = std::collections::HashMap::new();
    for row in d.sparse.chunks_exact(f) {
        assert_eq!(*seg.entry(row[0]).or_insert(row[2]), row[2], "a user has one segment");
    }
}

#[test]
fn a_world_too_large_to_store_draws_each_user_the_same_every_time() {
    // 2 million users: 664 MB of latent values stored; drawn per row instead.
    let cfg = SyntheticConfig {
        rows: 40_000,
        users: 2_000_000,
        user_skew: 3.0,
        seed: 4,
        ..Default::default()
    };
    assert!(!cfg.stores_users() && cfg.user_world_bytes() > 600_000_000);
    assert!(small(4).stores_users());
    let d = generate(&cfg).unwrap();
    assert_eq!(d, generate(&cfg).unwrap(), "same seed, same data");
    d.validate().unwrap();
    // A user's values are its own, whichever row draws them: one segment per user, and the
    // oracle's CTR of a (scenario, user, item) the same in every row.
    let f = d.spec.sparse.len();
    let mut seg = std::collections::HashMap::new();
    let mut p: std::collections::HashMap<(u32, u32, u32), f32> = std::collections::HashMap::new();
    let mut repeats = 0;
    let o = d.oracle.as_ref().unwrap();
    for (r, row) in d.sparse.chunks_exact(f).enumerate() {
        assert_eq!(*seg.entry(row[0]).or_insert(row[2]), row[2], "a user has one segment");
        match p.entry((d.scenario[r], row[0], row[1])) {
            std::collections::hash_map::Entry::Occupied(e) => {
                repeats += 1;
                assert_eq!(
                    e.get().to_bits(),
                    o[2 * r].to_bits(),
                    "row {r}: the same user, item and scenario"
                );
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(o[2 * r]);
            }
        }
    }
    assert!(
        repeats > 10,
        "the skew repeats (scenario, user, item): {repeats} repeats"
    );
    // And the data still carries signal: the oracle ranks clicks well above chance.
    let scores: Vec<f32> = o.iter().step_by(2).copied().collect();
    let labels: Vec<f32> = d.labels.iter().step_by(2).copied().collect();
    let auc = auc_pairwise(&scores, &labels);
    assert!(auc > 0.7, "oracle CTR AUC {auc}");
}

#[test]
fn bad_config_is_an_error_not_a_panic() {
    for cfg in [
        SyntheticConfig {
            scenario_shares: vec![],
            scenario_clusters: vec![],
            ..small(1)
        },
        SyntheticConfig { users: 0, ..small(1) },
        SyntheticConfig {
            base_ctr: 1.5,
            ..small(1)
        },
        SyntheticConfig {
            scenario_clusters: vec![0, 1],
            ..small(1)
        },
    ] {
        assert!(generate(&cfg).is_err());
    }
    let empty = generate(&SyntheticConfig { rows: 0, ..small(1) }).unwrap();
    assert!(empty.is_empty());
}
