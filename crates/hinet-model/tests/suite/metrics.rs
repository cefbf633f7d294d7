//! AUC against the O(n^2) definition (with ties counted as one half), logloss, the table.

use hinet_model::{MetricsTable, auc, logloss};
use rand::{Rng, SeedableRng};

fn pairwise_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for (i, &li) in labels.iter().enumerate() {
        for (j, &lj) in labels.iter().enumerate() {
            if li && !lj {
                den += 1.0;
                num += if scores[i] > scores[j] {
                    1.0
                } else if scores[i] == scores[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    (den > 0.0).then(|| num / den)
}

#[test]
fn auc_matches_the_pairwise_definition_with_ties() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for n in [2, 3, 10, 101, 500] {
        // scores on a coarse grid so ties are common
        let scores: Vec<f64> = (0..n).map(|_| (rng.random_range(0..7) as f64) / 7.0).collect();
        let labels: Vec<bool> = scores.iter().map(|&s| rng.random::<f64>() < 0.2 + 0.6 * s).collect();
        let expected = pairwise_auc(&scores, &labels);
        let got = auc(&scores, &labels);
        match (expected, got) {
            (Some(e), Some(g)) => assert!((e - g).abs() < 1e-12, "n={n}: {e} vs {g}"),
            (None, None) => {}
            other => panic!("n={n}: {other:?}"),
        }
    }
    assert_eq!(auc(&[0.1, 0.2, 0.3], &[true, true, true]), None);
    assert_eq!(auc(&[0.1, 0.9], &[false, true]), Some(1.0));
    assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
}

#[test]
fn logloss_is_the_mean_cross_entropy() {
    let l = logloss(&[0.8, 0.1], &[true, false]);
    assert!((l - (-(0.8f64).ln() - (0.9f64).ln()) / 2.0).abs() < 1e-12);
    assert!(logloss(&[0.0], &[true]).is_finite());
}

#[test]
fn table_splits_by_scenario_and_reports_undefined_auc() {
    let scenario = [0, 0, 0, 1, 1];
    let preds = [0.9, 0.2, 0.1, 0.3, 0.8, 0.4, 0.6, 0.1, 0.5, 0.2];
    let labels = [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0];
    let t = MetricsTable::compute(
        &["a".into(), "b".into()],
        &["ctr".into(), "ctcvr".into()],
        &scenario,
        &preds,
        &labels,
        None,
    );
    assert_eq!(t.cells[0][0].rows, 3);
    assert_eq!(t.cells[0][0].positives, 1);
    assert_eq!(t.cells[0][0].auc, Some(1.0));
    assert_eq!(t.cells[1][0].auc, Some(1.0));
    assert_eq!(t.cells[1][1].auc, None, "scenario b has no CTCVR positive");
    assert_eq!(t.overall[0].rows, 5);
    let text = t.to_table();
    assert!(text.contains("n/a") && text.contains("all"), "{text}");
    assert!(!text.contains("oracle"), "no oracle column without oracle data: {text}");
    // With oracle probabilities the column appears, beside each AUC.
    let with = MetricsTable::compute(
        &["a".into(), "b".into()],
        &["ctr".into(), "ctcvr".into()],
        &scenario,
        &preds,
        &labels,
        Some(&preds),
    );
    let text = with.to_table();
    assert!(
        text.contains("ctr: AUC (oracle)") && text.contains("(1.0000)"),
        "{text}"
    );
}
