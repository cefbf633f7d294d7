//! Metrics per (scenario, task) and overall: exact ROC AUC, logloss, row and positive counts.

use serde::Serialize;

/// Exact ROC AUC by the rank-sum (Mann-Whitney U) statistic, tie-aware: tied scores get their
/// average rank, i.e. a tied positive/negative pair counts one half. O(n log n).
/// `None` when the labels hold only one class: the AUC is undefined there, not 0.5.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n = scores.len().min(labels.len());
    let positives = labels[..n].iter().filter(|&&l| l).count();
    let negatives = n - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // ranks i+1 ..= j+1 shared by the tie group
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg_rank * order[i..=j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Mean binary cross-entropy of probabilities, clamped to `[1e-7, 1 - 1e-7]`.
pub fn logloss(probs: &[f64], labels: &[bool]) -> f64 {
    let n = probs.len().min(labels.len());
    if n == 0 {
        return f64::NAN;
    }
    let sum: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-7, 1.0 - 1e-7);
            if y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    sum / n as f64
}

/// The metrics of one set of rows for one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// Rows in the set.
    pub rows: usize,
    /// Positive labels among them.
    pub positives: usize,
    /// ROC AUC, `None` when undefined (one class only).
    pub auc: Option<f64>,
    /// Mean logloss.
    pub logloss: f64,
    /// AUC of the true probabilities, when known (synthetic data): the best any model can reach.
    pub oracle_auc: Option<f64>,
}

impl Cell {
    fn of(probs: &[f64], labels: &[bool], oracle: Option<&[f64]>) -> Self {
        Self {
            rows: labels.len(),
            positives: labels.iter().filter(|&&l| l).count(),
            auc: auc(probs, labels),
            logloss: logloss(probs, labels),
            oracle_auc: oracle.and_then(|o| auc(o, labels)),
        }
    }
}

/// Metrics per (scenario, task), plus overall per task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricsTable {
    /// Scenario names (rows of `cells`).
    pub scenarios: Vec<String>,
    /// Task names (columns).
    pub tasks: Vec<String>,
    /// `cells[m][j]`: scenario m, task j.
    pub cells: Vec<Vec<Cell>>,
    /// Over all rows, per task.
    pub overall: Vec<Cell>,
}

impl MetricsTable {
    /// From predictions and labels, row-major `[rows, tasks]`, and each row's scenario.
    /// `oracle`, if given, holds the true probabilities in the same layout. The values may be
    /// `f32` (half the memory for many rows) or `f64`; each cell is computed in f64.
    pub fn compute<T: Copy + Into<f64>>(
        scenarios: &[String],
        tasks: &[String],
        scenario: &[usize],
        predictions: &[T],
        labels: &[T],
        oracle: Option<&[T]>,
    ) -> Self {
        let t = tasks.len();
        let column =
            |data: &[T], rows: &[usize], j: usize| rows.iter().map(|&r| data[r * t + j].into()).collect::<Vec<f64>>();
        let all_rows: Vec<usize> = (0..scenario.len()).collect();
        let cell = |rows: &[usize], j: usize| {
            let p = column(predictions, rows, j);
            let y: Vec<bool> = column(labels, rows, j).iter().map(|&v| v > 0.5).collect();
            let o = oracle.map(|o| column(o, rows, j));
            Cell::of(&p, &y, o.as_deref())
        };
        let cells = (0..scenarios.len())
            .map(|m| {
                let rows: Vec<usize> = all_rows.iter().copied().filter(|&r| scenario[r] == m).collect();
                (0..t).map(|j| cell(&rows, j)).collect()
            })
            .collect();
        let overall = (0..t).map(|j| cell(&all_rows, j)).collect();
        Self {
            scenarios: scenarios.to_vec(),
            tasks: tasks.to_vec(),
            cells,
            overall,
        }
    }

    /// A plain-text table: one line per scenario (and "all"), AUC / logloss / rows per task,
    /// with the oracle AUC beside the AUC only when the data has oracle probabilities.
    pub fn to_table(&self) -> String {
        let has_oracle = self.overall.iter().any(|c| c.oracle_auc.is_some());
        let fmt_auc = |a: Option<f64>| a.map_or("  n/a ".to_string(), |v| format!("{v:.4}"));
        let width = self.scenarios.iter().map(String::len).max().unwrap_or(0).max(8) + 2;
        let mut out = format!("{:<width$}", "scenario");
        for t in &self.tasks {
            let head = if has_oracle {
                format!("{t}: AUC (oracle) logloss rows/pos")
            } else {
                format!("{t}: AUC logloss rows/pos")
            };
            out += &format!(" | {head:<34}");
        }
        out.push('\n');
        let line = |name: &str, cells: &[Cell]| {
            let mut s = format!("{name:<width$}");
            for c in cells {
                let oracle = if has_oracle {
                    let o = c.oracle_auc.map_or("(n/a)".to_string(), |o| format!("({o:.4})"));
                    format!(" {o:<8}")
                } else {
                    String::new()
                };
                s += &format!(
                    " | {}{oracle} {:.4} {}/{}",
                    fmt_auc(c.auc),
                    c.logloss,
                    c.rows,
                    c.positives
                );
            }
            s.push('\n');
            s
        };
        for (m, name) in self.scenarios.iter().enumerate() {
            out += &line(name, &self.cells[m]);
        }
        out += &line("all", &self.overall);
        out
    }
}
