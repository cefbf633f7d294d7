//! From runs to findings: per-variant summaries over seeds, and the comparisons each study
//! makes (all numbers; the words are report.rs's).

use super::plan::Variant;
use super::runner::{DatasetInfo, RunRecord};
use super::stats::{Difference, Summary};

/// One variant on one dataset, summarised over its seeds.
#[derive(Debug, Clone)]
pub struct VariantStats {
    /// The model.
    pub variant: Variant,
    /// Test AUC per scenario and task.
    pub cells: Vec<Vec<Option<Summary>>>,
    /// Mean test AUC over all cells (per seed, then over seeds).
    pub mean: Option<Summary>,
    /// Mean test AUC over scenarios, per task.
    pub task_mean: Vec<Option<Summary>>,
    /// Mean test AUC over the tasks of the long-tail scenario.
    pub long_tail: Option<Summary>,
    /// Mean over cells of (oracle AUC - model AUC), when the oracle is known.
    pub oracle_gap: Option<Summary>,
    /// Trainable parameters.
    pub parameters: usize,
    /// Wall seconds per run.
    pub seconds: Option<Summary>,
    /// Epoch whose test metrics count.
    pub best_epoch: Option<Summary>,
    /// SAN attention averaged over seeds.
    pub attention: Option<Vec<Vec<f64>>>,
}

fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = values.flatten().collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

impl VariantStats {
    /// Summarises the runs of `variant` (`None` when there are none).
    pub fn of(info: &DatasetInfo, runs: &[RunRecord], variant: Variant) -> Option<Self> {
        let runs: Vec<&RunRecord> = runs
            .iter()
            .filter(|r| r.dataset == info.kind && r.variant == variant)
            .collect();
        if runs.is_empty() {
            return None;
        }
        let (m, t) = (info.scenarios.len(), info.tasks.len());
        let per_seed = |f: &dyn Fn(&RunRecord) -> Option<f64>| -> Option<Summary> {
            Summary::of(&runs.iter().map(|r| f(r).unwrap_or(f64::NAN)).collect::<Vec<_>>())
        };
        let cell = |r: &RunRecord, s: usize, j: usize| r.test_auc.get(s).and_then(|row| row.get(j)).copied().flatten();
        let cells = (0..m)
            .map(|s| (0..t).map(|j| per_seed(&|r| cell(r, s, j))).collect())
            .collect();
        let task_mean = (0..t)
            .map(|j| per_seed(&|r| mean_of((0..m).map(|s| cell(r, s, j)))))
            .collect();
        let lt = info.long_tail;
        let oracle_gap = info.oracle_auc.as_ref().and_then(|o| {
            per_seed(&|r| {
                mean_of((0..m).flat_map(|s| (0..t).map(move |j| (s, j))).map(|(s, j)| {
                    let oracle = o.get(s).and_then(|row| row.get(j)).copied().flatten()?;
                    Some(oracle - cell(r, s, j)?)
                }))
            })
        });
        let attention =
            runs.iter()
                .filter_map(|r| r.attention.as_ref())
                .fold(None, |acc: Option<(Vec<Vec<f64>>, usize)>, a| {
                    Some(match acc {
                        None => (a.clone(), 1),
                        Some((mut sum, n)) => {
                            for (row, add) in sum.iter_mut().zip(a) {
                                for (x, y) in row.iter_mut().zip(add) {
                                    *x += y;
                                }
                            }
                            (sum, n + 1)
                        }
                    })
                });
        Some(Self {
            variant,
            cells,
            mean: per_seed(&|r| r.mean_auc()),
            task_mean,
            long_tail: per_seed(&|r| mean_of((0..t).map(|j| cell(r, lt, j)))),
            oracle_gap,
            parameters: runs[0].parameters,
            seconds: per_seed(&|r| Some(r.seconds)),
            best_epoch: per_seed(&|r| Some(r.best_epoch as f64)),
            attention: attention.map(|(sum, n)| {
                sum.into_iter()
                    .map(|row| row.into_iter().map(|x| x / n as f64).collect())
                    .collect()
            }),
        })
    }
}

/// HiNet against one other model, cell by cell.
#[derive(Debug, Clone)]
pub struct HeadToHead {
    /// The other model.
    pub other: Variant,
    /// Cells where both have an AUC.
    pub cells: usize,
    /// Cells where HiNet's mean is higher.
    pub hinet_higher: usize,
    /// ... and beyond the seed spread.
    pub hinet_higher_beyond: usize,
    /// Cells where the other's mean is higher beyond the seed spread.
    pub other_higher_beyond: usize,
    /// HiNet minus the other, on the mean over cells.
    pub overall: Option<Difference>,
    /// HiNet minus the other, on the long-tail scenario.
    pub long_tail: Option<Difference>,
}

impl HeadToHead {
    /// Compares `hinet` with `other`.
    pub fn of(hinet: &VariantStats, other: &VariantStats) -> Self {
        let mut h = Self {
            other: other.variant,
            cells: 0,
            hinet_higher: 0,
            hinet_higher_beyond: 0,
            other_higher_beyond: 0,
            overall: diff(hinet.mean.as_ref(), other.mean.as_ref()),
            long_tail: diff(hinet.long_tail.as_ref(), other.long_tail.as_ref()),
        };
        for (a_row, b_row) in hinet.cells.iter().zip(&other.cells) {
            for (a, b) in a_row.iter().zip(b_row) {
                if let (Some(a), Some(b)) = (a, b) {
                    let d = Difference::between(a, b);
                    h.cells += 1;
                    h.hinet_higher += usize::from(d.delta > 0.0);
                    h.hinet_higher_beyond += usize::from(d.delta > 0.0 && d.beyond_spread);
                    h.other_higher_beyond += usize::from(d.delta < 0.0 && d.beyond_spread);
                }
            }
        }
        h
    }
}

/// `a - b` when both exist.
pub fn diff(a: Option<&Summary>, b: Option<&Summary>) -> Option<Difference> {
    Some(Difference::between(a?, b?))
}

/// The model with the highest mean in a cell, among `stats`.
pub fn best_in_cell(stats: &[VariantStats], s: usize, j: usize) -> Option<Variant> {
    stats
        .iter()
        .filter_map(|v| Some((v.variant, v.cells.get(s)?.get(j)?.as_ref()?.mean)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(v, _)| v)
}

/// How SAN's weights line up with the generator's scenario clusters.
#[derive(Debug, Clone)]
pub struct ClusterAgreement {
    /// Mean over scenarios (that have a cluster mate) of the attention on same-cluster scenarios.
    pub same_cluster_mass: f64,
    /// What uniform attention over the other scenarios would put there.
    pub uniform_mass: f64,
    /// Scenarios whose most-attended other scenario is in their cluster.
    pub top_in_cluster: usize,
    /// Scenarios that have a cluster mate.
    pub with_mate: usize,
    /// How many of those would have a mate on top by chance (the sum of mates / (M - 1)).
    pub top_by_chance: f64,
}

/// How much more attention mass SAN must put on a scenario's cluster mates than uniform
/// weights would for the report to say it "recovers the structure" (with cluster mates also
/// ranked first more often than chance).
pub const CLUSTER_MASS_MARGIN: f64 = 0.05;

impl ClusterAgreement {
    /// What SAN's agreement with the generator's clusters amounts to, in one sentence.
    pub fn verdict(&self) -> &'static str {
        let ranks_above_chance = self.top_in_cluster as f64 > self.top_by_chance;
        let mass_gain = self.same_cluster_mass - self.uniform_mass;
        if mass_gain > CLUSTER_MASS_MARGIN && ranks_above_chance {
            "SAN recovers the structure the data was built with, as the paper's reading assumes."
        } else if ranks_above_chance && mass_gain > 0.0 {
            "SAN ranks cluster mates first more often than chance, but its weights are close to uniform: a weak \
             trace of the structure, not the clear transfer map the paper reads from its weights."
        } else {
            "SAN does not recover the structure the data was built with."
        }
    }

    /// Compares `attention` (rows: attending scenario) with `clusters`.
    pub fn of(attention: &[Vec<f64>], clusters: &[usize]) -> Option<Self> {
        let m = clusters.len();
        if attention.len() != m || m < 2 {
            return None;
        }
        let (mut mass, mut uniform, mut top, mut with_mate, mut chance) = (0.0, 0.0, 0, 0, 0.0);
        for i in 0..m {
            let mates: Vec<usize> = (0..m).filter(|&k| k != i && clusters[k] == clusters[i]).collect();
            if mates.is_empty() {
                continue;
            }
            let row = &attention[i];
            let total: f64 = (0..m).filter(|&k| k != i).map(|k| row[k]).sum();
            if total <= 0.0 {
                continue;
            }
            with_mate += 1;
            mass += mates.iter().map(|&k| row[k]).sum::<f64>() / total;
            uniform += mates.len() as f64 / (m - 1) as f64;
            chance += mates.len() as f64 / (m - 1) as f64;
            let argmax = (0..m).filter(|&k| k != i).max_by(|&a, &b| row[a].total_cmp(&row[b]));
            top += usize::from(argmax.is_some_and(|k| clusters[k] == clusters[i]));
        }
        (with_mate > 0).then(|| Self {
            same_cluster_mass: mass / with_mate as f64,
            uniform_mass: uniform / with_mate as f64,
            top_in_cluster: top,
            with_mate,
            top_by_chance: chance,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_agreement_counts_mass_on_mates() {
        // Scenarios 0 and 1 are mates, 2 stands alone.
        let a = vec![vec![0.0, 0.8, 0.2], vec![0.4, 0.0, 0.6], vec![0.5, 0.5, 0.0]];
        let c = ClusterAgreement::of(&a, &[0, 0, 1]).unwrap();
        assert_eq!(c.with_mate, 2);
        assert_eq!(c.top_in_cluster, 1);
        assert!((c.same_cluster_mass - 0.6).abs() < 1e-12);
        assert!((c.uniform_mass - 0.5).abs() < 1e-12);
        assert!((c.top_by_chance - 1.0).abs() < 1e-12);
    }
}
