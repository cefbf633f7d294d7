//! The ablation study: HiNet without SAN, without the hierarchy, without the gates.

use super::super::Results;
use super::super::analysis::HeadToHead;
use super::super::plan::{Study, Variant, variants_of};
use super::*;
use std::fmt::Write as _;

/// Ablation: tables, drops, verdict against the paper's order.
pub(super) fn ablation(md: &mut String, results: &Results, d: usize, figs: &[Figure]) {
    let info = &results.datasets[d];
    let st = stats(results, info, &variants_of(Study::Ablation));
    let Some(hinet) = st.iter().find(|v| v.variant == Variant::Hinet) else {
        return;
    };
    let lt = &info.scenarios[info.long_tail];
    let _ = writeln!(md, "### {}\n", info.kind.name());
    auc_tables(md, info, &st);
    let mut drops: Vec<(Variant, HeadToHead)> = st
        .iter()
        .filter(|v| v.variant != Variant::Hinet)
        .map(|v| (v.variant, HeadToHead::of(hinet, v)))
        .collect();
    let _ = writeln!(
        md,
        "What each removal costs (Δ = HiNet − ablated model; positive: the part helps; * = beyond the seed spread):\n\n\
         | removed | Δ mean AUC | Δ on the long-tail scenario {lt} | cells where removing it lowers AUC | … beyond the spread |\n\
         | --- | --- | --- | --- | --- |"
    );
    for (v, h) in &drops {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {}/{} | {} |",
            part(*v),
            show_diff(h.overall),
            show_diff(h.long_tail),
            h.hinet_higher,
            h.cells,
            h.hinet_higher_beyond
        );
    }
    md.push('\n');
    figure_links(md, figs, Study::Ablation, d);
    drops.sort_by(|a, b| {
        let key = |h: &HeadToHead| h.overall.map_or(f64::NEG_INFINITY, |d| d.delta);
        key(&b.1).total_cmp(&key(&a.1))
    });
    let order: Vec<String> = drops
        .iter()
        .map(|(v, h)| format!("{} ({})", part(*v), show_diff(h.overall)))
        .collect();
    let paper = [Variant::NoGates, Variant::NoHierarchy, Variant::NoSan];
    let ours: Vec<Variant> = drops.iter().map(|(v, _)| *v).collect();
    let _ = write!(
        md,
        "**Finding.** The paper's order of importance is the gates, then the hierarchy, then SAN. Here, by the \
         drop in mean AUC: {}. ",
        order.join(" > ")
    );
    if ours == paper {
        let _ = write!(md, "The order agrees with the paper.");
    } else if ours.first() == Some(&Variant::NoGates) {
        let _ = write!(
            md,
            "The gates matter most, as in the paper, but the rest of the order differs."
        );
    } else {
        let _ = write!(md, "The order disagrees with the paper's.");
    }
    let within: Vec<String> = drops
        .iter()
        .filter(|(_, h)| h.overall.is_some_and(|d| !d.beyond_spread))
        .map(|(v, _)| part(*v))
        .collect();
    if !within.is_empty() {
        let _ = write!(
            md,
            " Removing {} changes the mean AUC by less than the seed spread, so that part of the order is not settled by {} seeds.",
            within.join(" or "),
            results.scale.seeds.len()
        );
    }
    let hurt: Vec<String> = drops
        .iter()
        .filter(|(_, h)| h.overall.is_some_and(|d| d.delta < 0.0 && d.beyond_spread))
        .map(|(v, _)| part(*v))
        .collect();
    if !hurt.is_empty() {
        let _ = write!(md, " Removing {} *raises* the AUC beyond the spread.", hurt.join(", "));
    }
    let tail = drops
        .iter()
        .filter_map(|(v, h)| Some((*v, h.long_tail?)))
        .max_by(|a, b| a.1.delta.total_cmp(&b.1.delta));
    if let Some((v, dt)) = tail {
        let san = drops.iter().find(|(x, _)| *x == Variant::NoSan).map(|(_, h)| h);
        let _ = write!(
            md,
            " On the smallest (long-tail) scenario {lt} ({} training rows), the largest drop comes from removing {} ({}); the paper \
             finds SAN matters most there, which {}.",
            info.train_rows[info.long_tail],
            part(v),
            dt.show(),
            if v == Variant::NoSan { "agrees" } else { "disagrees" }
        );
        if let Some(san) = san
            && let (Some(o), Some(t)) = (san.overall, san.long_tail)
        {
            // "More" only when the gap exceeds the long-tail estimate's own standard error.
            let relation = if t.delta - o.delta > t.se {
                "more than on average, as the paper's reading predicts"
            } else if o.delta - t.delta > t.se {
                "less than on average"
            } else {
                "about as much as on average (the gap is within one standard error)"
            };
            let _ = write!(
                md,
                " SAN's own drop is {} on the long tail against {} over all cells: it helps the long tail {relation}.",
                t.show(),
                o.show(),
            );
        }
    }
    md.push_str("\n\n");
}

fn part(v: Variant) -> String {
    match v {
        Variant::NoSan => "SAN".into(),
        Variant::NoHierarchy => "the hierarchy".into(),
        Variant::NoGates => "the gates".into(),
        other => other.label(),
    }
}
