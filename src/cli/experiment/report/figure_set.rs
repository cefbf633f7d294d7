//! Which figures the studies call for, drawn into the results folder.

use super::super::Results;
use super::super::analysis::VariantStats;
use super::super::figures::{self, Series};
use super::super::plan::{EXPERT_COUNTS, Study, Variant, experts, variants_of};
use super::super::stats::Summary;
use super::stats;
use anyhow::Result;
use std::path::Path;

/// A figure written into the results folder.
pub struct Figure {
    /// Study it belongs to.
    pub study: Study,
    /// Dataset index.
    pub dataset: usize,
    /// File name inside results/.
    pub file: String,
    /// Alt text.
    pub caption: String,
}

/// A compact scenario label for figure axes: `scenario3` and `3` become `s3`.
fn short(scenario: &str) -> String {
    let rest = scenario.strip_prefix("scenario").unwrap_or(scenario);
    if rest.chars().all(|c| c.is_ascii_digit()) && !rest.is_empty() {
        format!("s{rest}")
    } else {
        scenario.to_string()
    }
}

/// Draws every figure the studies call for.
pub fn figures(dir: &Path, results: &Results) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for (d, info) in results.datasets.iter().enumerate() {
        let name = info.kind.name();
        let groups: Vec<String> = info
            .scenarios
            .iter()
            .flat_map(|s| info.tasks.iter().map(move |t| format!("{} {t}", short(s))))
            .collect();
        let cell_series =
            |v: &VariantStats| -> Series { (v.variant.label(), v.cells.iter().flatten().copied().collect()) };
        for study in [Study::Comparison, Study::Ablation] {
            if !results.studies.contains(&study) {
                continue;
            }
            let st = stats(results, info, &variants_of(study));
            if st.is_empty() {
                continue;
            }
            let key = if study == Study::Comparison {
                "comparison"
            } else {
                "ablation"
            };
            let file = format!("{key}_{name}.png");
            let caption = format!("{key}: test AUC per scenario and task on {name}");
            let series: Vec<Series> = st.iter().map(cell_series).collect();
            figures::bars(&dir.join(&file), &caption, &groups, &series)?;
            out.push(Figure {
                study,
                dataset: d,
                file,
                caption,
            });
        }
        if results.studies.contains(&Study::Experts) {
            let st = stats(results, info, &variants_of(Study::Experts));
            if !st.is_empty() {
                let counts: Vec<usize> = EXPERT_COUNTS
                    .iter()
                    .copied()
                    .filter(|&k| st.iter().any(|s| s.variant == experts(k)))
                    .collect();
                let pick = |f: &dyn Fn(&VariantStats) -> Option<Summary>| -> Vec<Option<Summary>> {
                    counts
                        .iter()
                        .map(|&k| st.iter().find(|s| s.variant == experts(k)).and_then(f))
                        .collect()
                };
                let mut series: Vec<Series> = info
                    .tasks
                    .iter()
                    .enumerate()
                    .map(|(j, t)| (format!("{t} (mean over scenarios)"), pick(&|s| s.task_mean[j])))
                    .collect();
                series.push((
                    format!(
                        "long-tail scenario {} (mean over tasks)",
                        info.scenarios[info.long_tail]
                    ),
                    pick(&|s| s.long_tail),
                ));
                let file = format!("experts_{name}.png");
                let caption = format!("test AUC against sub-experts per group on {name}");
                figures::curves(&dir.join(&file), &caption, "sub-experts per group", &counts, &series)?;
                out.push(Figure {
                    study: Study::Experts,
                    dataset: d,
                    file,
                    caption,
                });
            }
        }
        if results.studies.contains(&Study::San)
            && let Some(att) = VariantStats::of(info, &results.runs, Variant::Hinet).and_then(|s| s.attention)
        {
            let file = format!("san_{name}.png");
            let caption = format!("SAN attention on {name}: scenario i (row) attends to scenario m (column)");
            crate::cli::plots::heatmap(&dir.join(&file), &caption, &att, &info.scenarios)?;
            out.push(Figure {
                study: Study::San,
                dataset: d,
                file,
                caption,
            });
        }
    }
    Ok(out)
}
