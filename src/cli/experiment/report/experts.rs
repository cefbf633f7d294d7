//! The expert-count study: test AUC against the number of sub-experts per group.

use super::super::Results;
use super::super::analysis::VariantStats;
use super::super::plan::{EXPERT_COUNTS, Study, experts};
use super::super::stats::{Difference, Summary};
use super::*;
use std::fmt::Write as _;

/// Expert count: table and verdict.
pub(super) fn expert_count(md: &mut String, results: &Results, d: usize, figs: &[Figure]) {
    let info = &results.datasets[d];
    let rows: Vec<(usize, VariantStats)> = EXPERT_COUNTS
        .iter()
        .filter_map(|&k| Some((k, VariantStats::of(info, &results.runs, experts(k))?)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let lt = &info.scenarios[info.long_tail];
    let _ = writeln!(md, "### {}\n", info.kind.name());
    let mut header = "| sub-experts per group | mean AUC |".to_string();
    let mut rule = "| --- | --- |".to_string();
    for t in &info.tasks {
        let _ = write!(header, " {t} |");
        rule += " --- |";
    }
    let _ = writeln!(
        md,
        "{header} long tail {lt} | parameters | seconds per run |\n{rule} --- | --- | --- |"
    );
    for (k, v) in &rows {
        let mut line = format!("| {k} | {} |", v.mean.map_or("n/a".into(), |m| m.show()));
        for t in &v.task_mean {
            let _ = write!(line, " {} |", t.map_or("n/a".into(), |m| m.show()));
        }
        let _ = writeln!(
            md,
            "{line} {} | {} | {:.1} |",
            v.long_tail.map_or("n/a".into(), |m| m.show()),
            v.parameters,
            v.seconds.map_or(f64::NAN, |s| s.mean)
        );
    }
    md.push('\n');
    figure_links(md, figs, Study::Experts, d);
    let means: Vec<(usize, Summary)> = rows.iter().filter_map(|(k, v)| Some((*k, v.mean?))).collect();
    if means.len() < 2 {
        return;
    }
    let steps: Vec<(usize, usize, Difference)> = means
        .windows(2)
        .map(|w| (w[0].0, w[1].0, Difference::between(&w[1].1, &w[0].1)))
        .collect();
    let steps_text: Vec<String> = steps.iter().map(|(a, b, d)| format!("{a}→{b}: {}", d.show())).collect();
    let rising = steps.iter().all(|s| s.2.delta > 0.0);
    let diminishing = steps.windows(2).all(|w| w[1].2.delta <= w[0].2.delta);
    let (first, last) = (means[0], means[means.len() - 1]);
    let total = Difference::between(&last.1, &first.1);
    let _ = write!(
        md,
        "**Finding.** The paper finds more sub-experts help, with diminishing returns. Here the mean AUC changes by \
         {} per doubling; from {} to {} sub-experts by {} ({} the seed spread). ",
        steps_text.join(", "),
        first.0,
        last.0,
        total.show(),
        if total.beyond_spread { "beyond" } else { "within" }
    );
    let verdict = match (rising, diminishing, total.delta > 0.0 && total.beyond_spread) {
        (true, true, true) => "AUC rises with every doubling and the gains shrink: this agrees with the paper.",
        (true, false, true) => {
            "AUC rises with every doubling, but the gains do not shrink steadily: the direction agrees, the diminishing returns are not clear."
        }
        (_, _, true) => {
            "More experts help overall, but not at every doubling; the paper's monotone trend is only partly reproduced."
        }
        (_, _, false) if total.delta > 0.0 => {
            "More experts help a little, but by less than the seed spread: this neither confirms nor refutes the paper."
        }
        _ => "More experts do not help here: this disagrees with the paper.",
    };
    let _ = writeln!(md, "{verdict}\n");
}
