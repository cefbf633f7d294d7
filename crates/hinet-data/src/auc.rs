//! Exact, tie-aware ROC AUC, for the oracle AUC of synthetic data.

/// ROC AUC of `scores` against 0/1 `labels` (label > 0.5 is positive): the probability that a
/// random positive scores above a random negative, ties counting one half (rank-sum form with
/// mid-ranks). `None` unless both classes occur.
pub fn auc(scores: &[f32], labels: &[f32]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    idx.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut pos) = (0.0f64, 0u64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && scores[idx[j]] == scores[idx[i]] {
            j += 1;
        }
        // Ranks i+1..=j share the mid-rank.
        let mid = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            if labels[k] > 0.5 {
                rank_sum += mid;
                pos += 1;
            }
        }
        i = j;
    }
    let neg = idx.len() as u64 - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let (p, n) = (pos as f64, neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}
