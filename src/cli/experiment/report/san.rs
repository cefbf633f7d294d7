//! SAN's attention: the matrix, its agreement with the generator's clusters, the verdict.

use super::super::Results;
use super::super::analysis::{ClusterAgreement, VariantStats};
use super::super::plan::{Study, Variant};
use super::*;
use std::fmt::Write as _;

/// SAN attention: matrix, clusters, verdict.
pub(super) fn san(md: &mut String, results: &Results, d: usize, figs: &[Figure]) {
    let info = &results.datasets[d];
    let Some(att) = VariantStats::of(info, &results.runs, Variant::Hinet).and_then(|s| s.attention) else {
        return;
    };
    let m = info.scenarios.len();
    let _ = writeln!(md, "### {}\n", info.kind.name());
    let _ = writeln!(
        md,
        "Mean over seeds of SAN's weights at the reported epoch (row i attends to column m; the diagonal is 0 by construction):\n"
    );
    let mut header = "| scenario |".to_string();
    let mut rule = "| --- |".to_string();
    for s in &info.scenarios {
        let _ = write!(header, " {s} |");
        rule += " --- |";
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for (i, row) in att.iter().enumerate() {
        let cluster = info
            .clusters
            .as_ref()
            .map_or(String::new(), |c| format!(" (cluster {})", c[i]));
        let cells: Vec<String> = row.iter().map(|w| format!("{w:.3}")).collect();
        let _ = writeln!(md, "| {}{cluster} | {} |", info.scenarios[i], cells.join(" | "));
    }
    md.push('\n');
    figure_links(md, figs, Study::San, d);
    let uniform = 1.0 / (m.max(2) - 1) as f64;
    let spread = att
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.iter()
                .enumerate()
                .filter(move |(k, _)| *k != i)
                .map(|(_, w)| (w - uniform).abs())
        })
        .fold(0.0, f64::max);
    let pairs: Vec<String> = att
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let k = (0..m).filter(|&k| k != i).max_by(|&a, &b| r[a].total_cmp(&r[b]))?;
            Some(format!("{}→{} ({:.3})", info.scenarios[i], info.scenarios[k], r[k]))
        })
        .collect();
    let _ = write!(
        md,
        "**Finding.** The paper reads the SAN weights as which scenarios transfer to which. Each scenario's most-attended \
         other scenario: {}. The weights stay within {:.3} of uniform ({:.3}).",
        pairs.join(", "),
        spread,
        uniform
    );
    if let Some(clusters) = &info.clusters
        && let Some(c) = ClusterAgreement::of(&att, clusters)
    {
        let _ = write!(
            md,
            " The generator makes scenarios of one cluster alike (clusters {clusters:?}): SAN puts {} of a scenario's \
             attention on its cluster mates where uniform weights would put {}, and the most-attended scenario is a \
             cluster mate for {} of the {} scenarios that have one ({:.1} expected by chance). {}",
            pct(c.same_cluster_mass),
            pct(c.uniform_mass),
            c.top_in_cluster,
            c.with_mate,
            c.top_by_chance,
            c.verdict()
        );
    } else {
        let _ = write!(md, " This dataset has no known ground truth for scenario similarity.");
    }
    md.push_str("\n\n");
}
