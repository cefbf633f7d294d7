//! results.md and its figures, written from the runs alone (so `--from results.json` redraws
//! them without training). Every sentence that compares with the paper is computed from the
//! numbers: the text says what the numbers say, whichever way that falls.
//!
//! One file per part of the report: `figure_set.rs` (which figures the studies call for),
//! `comparison.rs`, `ablation.rs`, `experts.rs` and `san.rs` (one study each: tables, figures,
//! finding); this file assembles them with the protocol and the timing, and holds the table
//! helpers they share. The thresholds behind each verdict live with the analysis.

mod ablation;
mod comparison;
mod experts;
mod figure_set;
mod precision;
mod san;

pub use figure_set::{Figure, figures};

use ablation::ablation;
use comparison::comparison;
use experts::expert_count;
use precision::precision;
use san::san;

use super::Results;
use super::analysis::{VariantStats, best_in_cell};
use super::plan::{Study, Variant};
use super::runner::DatasetInfo;
use super::stats::Difference;
use std::fmt::Write as _;

pub(super) fn stats(results: &Results, info: &DatasetInfo, variants: &[Variant]) -> Vec<VariantStats> {
    variants
        .iter()
        .filter_map(|&v| VariantStats::of(info, &results.runs, v))
        .collect()
}

pub(super) fn figure_links(md: &mut String, figures: &[Figure], study: Study, dataset: usize) {
    for f in figures.iter().filter(|f| f.study == study && f.dataset == dataset) {
        let _ = writeln!(md, "![{}](results/{})\n", f.caption, f.file);
    }
}

/// One table per task: rows are models, columns the scenarios and the mean; the best mean in a
/// column is bold.
pub(super) fn auc_tables(md: &mut String, info: &DatasetInfo, st: &[VariantStats]) {
    for (j, task) in info.tasks.iter().enumerate() {
        let _ = writeln!(md, "Test AUC, task **{task}** (mean ± sd over seeds; best in bold):\n");
        let mut header = "| model |".to_string();
        let mut rule = "| --- |".to_string();
        for (s, name) in info.scenarios.iter().enumerate() {
            let tail = if s == info.long_tail { ", long tail" } else { "" };
            let _ = write!(header, " {name} ({} train rows{tail}) |", info.train_rows[s]);
            rule += " --- |";
        }
        header += " mean over scenarios |";
        rule += " --- |";
        let _ = writeln!(md, "{header}\n{rule}");
        let best_mean = st
            .iter()
            .filter_map(|v| v.task_mean[j].map(|m| m.mean))
            .fold(f64::NEG_INFINITY, f64::max);
        for v in st {
            let mut line = format!("| {} |", v.variant.label());
            for s in 0..info.scenarios.len() {
                let cell = v.cells[s][j].map_or("n/a".into(), |c| {
                    if best_in_cell(st, s, j) == Some(v.variant) {
                        format!("**{}**", c.show())
                    } else {
                        c.show()
                    }
                });
                let _ = write!(line, " {cell} |");
            }
            let mean = v.task_mean[j].map_or("n/a".into(), |m| {
                if m.mean == best_mean {
                    format!("**{}**", m.show())
                } else {
                    m.show()
                }
            });
            let _ = writeln!(md, "{line} {mean} |");
        }
        if let Some(oracle) = &info.oracle_auc {
            let mut line = "| *oracle (true probabilities)* |".to_string();
            for row in oracle {
                let _ = write!(line, " {} |", row[j].map_or("n/a".into(), |o| format!("{o:.4}")));
            }
            let vals: Vec<f64> = oracle.iter().filter_map(|r| r[j]).collect();
            let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
            let _ = writeln!(md, "{line} {mean:.4} |");
        }
        md.push('\n');
    }
}

pub(super) fn show_diff(d: Option<Difference>) -> String {
    d.map_or("n/a".into(), |d| d.show())
}

pub(super) fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn protocol(md: &mut String, results: &Results) {
    let s = &results.scale;
    md.push_str("## Protocol\n\n");
    for info in &results.datasets {
        let b = &info.budget;
        let _ = writeln!(
            md,
            "- **{}**: {}. Rows train/valid/test: {}/{}/{}; scenarios {:?} with {:?} training rows (long tail: {}). \
             Budget for every model: {} epochs of batch {}, Adam lr {}, embeddings of width {}.",
            info.kind.name(),
            info.description,
            info.train_rows.iter().sum::<usize>(),
            info.valid_rows.iter().sum::<usize>(),
            info.test_rows.iter().sum::<usize>(),
            info.scenarios,
            info.train_rows,
            info.scenarios[info.long_tail],
            b.epochs,
            b.batch_size,
            b.lr,
            b.embedding_dim,
        );
    }
    let _ = writeln!(
        md,
        "- **Models.** HiNet: {} sub-experts per group, each an MLP [64, 32] with ReLU; a softmax gate per group; SAN as \
         one linear map of an 8-wide scenario embedding, renormalised over the other scenarios (the paper's form); a CGC \
         per scenario with 2 task-shared and 2 task-specific experts per task [64, 32]; towers [32]. Baselines share the \
         embeddings, widths and towers: Shared-Bottom (a bottom [64, 32] per scenario), MMoE (4 experts per scenario), \
         PLE (two CGC levels per scenario), STAR (star-topology MLP per task), HMoE (4 experts [64, 32] per task shared \
         by the scenarios, a gate and a tower per scenario, the scenarios' predictions weighted per row's scenario with \
         HMoE's gradient stop). Ablations change one switch of HiNet: \
         without SAN (C_i = [S_i, G]: no other scenario's experts), without the hierarchy (the task layer on the embeddings: one CGC \
         level per scenario), without gates (every gate replaced by the mean of its experts).",
        super::plan::HINET_SUB_EXPERTS
    );
    let _ = writeln!(
        md,
        "- **Metrics.** Test AUC per (scenario, task) of the epoch with the best mean validation AUC. Seeds {:?} set the \
         initialisation and the shuffling; the data and split are the same for every model and seed. Tables give mean ± \
         sample sd over seeds. A difference is *beyond the seed spread* (marked *) when |Δ| > 2·sqrt(sd₁²/n₁ + sd₂²/n₂), \
         about a 95 % test; with {} seeds it is a rough screen, not a proof.",
        s.seeds,
        s.seeds.len()
    );
    md.push('\n');
    let n = s.seeds.len().max(1);
    let _ = writeln!(
        md,
        "**What this setup can and cannot show.** The paper's evidence is on Meituan's private logs (6 scenarios, \
         far more rows). The synthetic world is built with HiNet's premise in it (shared and scenario-specific latent \
         factors, scenarios grouped into clusters, a 5 % long tail), so it tests whether the architecture can use \
         that structure; MovieLens-100K's scenarios are age groups of one population, where the paper's effects \
         should be small. Every model gets the same budget and widths (narrower than the paper's [128, 64] experts, \
         so that the full run fits in 30 minutes on two cores); no model was tuned on its own. With {n} seeds the \
         spread screen flags a difference once it exceeds about {:.1} seed standard deviations; smaller real \
         differences go unflagged.\n",
        2.0 * (2.0 / n as f64).sqrt()
    );
}

/// Writes one study's section for one dataset.
type Section = fn(&mut String, &Results, usize, &[Figure]);

/// The whole results.md.
pub fn markdown(results: &Results, figs: &[Figure]) -> String {
    let mut md = String::new();
    md.push_str(if results.studies.contains(&Study::Precision) {
        "# Results: the paper's four experiments, rerun, and bf16 mixed precision\n\n"
    } else {
        "# Results: the paper's four experiments, rerun\n\n"
    });
    md.push_str(
        "This file is written by `hinet experiment` from the runs in `results/results.json`; edit the code in \
         `src/cli/experiment/`, not this file. The text compares the direction of each finding with the paper \
         (Zhou et al., ICDE 2023, section 3 of [paper.md](paper.md)); where they disagree it says so, and \
         nothing was tuned to make them agree.\n\n",
    );
    if results.quick {
        md.push_str(
            "> **Quick mode.** This is the CI smoke run: a fraction of the data, 2 epochs, 2 seeds. Its numbers \
             check that the pipeline works; they are not evidence for or against the paper.\n\n",
        );
    }
    let _ = writeln!(
        md,
        "Command: `cargo run --release -- {}`  \nWall time: {:.1} min for {} runs, {} at a time, on {} logical CPUs ({}).\n",
        results.command,
        results.wall_seconds / 60.0,
        results.runs.len(),
        results.jobs,
        results.cpus,
        results.machine
    );
    protocol(&mut md, results);
    let sections: [(Study, &str, Section); 5] = [
        (Study::Comparison, "## 1. HiNet against the baselines", comparison),
        (Study::Ablation, "## 2. Ablation", ablation),
        (Study::Experts, "## 3. Number of sub-experts", expert_count),
        (Study::San, "## 4. Scenario correlations (SAN attention)", san),
        (Study::Precision, "## 5. bf16 mixed precision", precision),
    ];
    for (study, title, section) in sections {
        if !results.studies.contains(&study) {
            continue;
        }
        let _ = writeln!(md, "{title}\n");
        for d in 0..results.datasets.len() {
            section(&mut md, results, d, figs);
        }
    }
    timing(&mut md, results);
    md
}

fn timing(md: &mut String, results: &Results) {
    md.push_str("## Cost of each model\n\n| dataset | model | parameters | seconds per run | best epoch |\n| --- | --- | --- | --- | --- |\n");
    for info in &results.datasets {
        let mut variants: Vec<Variant> = results
            .runs
            .iter()
            .filter(|r| r.dataset == info.kind)
            .map(|r| r.variant)
            .collect();
        variants.sort();
        variants.dedup();
        for v in variants {
            if let Some(s) = VariantStats::of(info, &results.runs, v) {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    info.kind.name(),
                    v.label(),
                    s.parameters,
                    s.seconds
                        .map_or("n/a".into(), |x| format!("{:.1} ± {:.1}", x.mean, x.sd)),
                    s.best_epoch.map_or("n/a".into(), |x| format!("{:.1}", x.mean))
                );
            }
        }
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::experiment::plan::{Budget, DatasetKind, Scale};
    use crate::cli::experiment::runner::RunRecord;

    /// Runs where, by construction, removing the gates costs most, then the hierarchy, then SAN
    /// (except on the long tail, where SAN costs most), HiNet beats every baseline and more
    /// experts help with shrinking gains.
    fn paper_like() -> Results {
        let info = DatasetInfo {
            kind: DatasetKind::Synthetic,
            description: "test".into(),
            scenarios: vec!["a".into(), "b".into(), "tail".into()],
            tasks: vec!["ctr".into()],
            train_rows: vec![100, 80, 10],
            valid_rows: vec![10, 8, 1],
            test_rows: vec![10, 8, 1],
            test_positives: vec![vec![3], vec![2], vec![1]],
            long_tail: 2,
            clusters: Some(vec![0, 0, 1]),
            oracle_auc: Some(vec![vec![Some(0.9)], vec![Some(0.9)], vec![Some(0.9)]]),
            budget: Budget {
                epochs: 1,
                batch_size: 1,
                lr: 0.1,
                embedding_dim: 1,
            },
        };
        let level = |v: Variant| -> (f64, f64) {
            match v {
                Variant::Hinet => (0.80, 0.80),
                Variant::NoSan => (0.795, 0.70),
                Variant::NoHierarchy => (0.75, 0.75),
                Variant::NoGates => (0.74, 0.74),
                Variant::Experts(1) => (0.72, 0.72),
                Variant::Experts(2) => (0.77, 0.77),
                Variant::Experts(8) => (0.81, 0.81),
                _ => (0.70, 0.70),
            }
        };
        let mut runs = Vec::new();
        for v in super::super::plan::variants(&[Study::Comparison, Study::Ablation, Study::Experts]) {
            for seed in 1..=3u64 {
                let jitter = seed as f64 * 1e-3;
                let (main, tail) = level(v);
                runs.push(RunRecord {
                    dataset: DatasetKind::Synthetic,
                    variant: v,
                    seed,
                    parameters: 10,
                    valid_auc: vec![Some(main)],
                    best_epoch: 1,
                    test_auc: vec![
                        vec![Some(main + jitter)],
                        vec![Some(main + jitter)],
                        vec![Some(tail + jitter)],
                    ],
                    test_logloss: vec![vec![0.5]; 3],
                    attention: (v == Variant::Hinet)
                        .then(|| vec![vec![0.0, 0.9, 0.1], vec![0.8, 0.0, 0.2], vec![0.5, 0.5, 0.0]]),
                    seconds: 1.0,
                });
            }
        }
        Results {
            command: "experiment".into(),
            quick: false,
            scale: Scale::full(),
            studies: vec![Study::Comparison, Study::Ablation, Study::Experts, Study::San],
            datasets: vec![info],
            runs,
            wall_seconds: 1.0,
            jobs: 1,
            machine: "test".into(),
            cpus: 1,
        }
    }

    #[test]
    fn findings_agree_when_the_numbers_follow_the_paper() {
        let md = markdown(&paper_like(), &[]);
        assert!(md.contains("in 3 of 3 (scenario, task) cells"), "{md}");
        assert!(md.contains("This agrees with the paper, with margins larger"), "{md}");
        assert!(md.contains("The order agrees with the paper."), "{md}");
        assert!(
            md.contains("removing SAN (+0.1000*); the paper finds SAN matters most there, which agrees"),
            "{md}"
        );
        assert!(md.contains("this agrees with the paper."), "{md}");
        assert!(md.contains("SAN recovers the structure"), "{md}");
    }

    #[test]
    fn findings_say_so_when_the_numbers_disagree() {
        let mut r = paper_like();
        // Make SAN's removal free and the gates' removal a gain: the order no longer agrees.
        for run in &mut r.runs {
            if run.variant == Variant::NoGates {
                for row in &mut run.test_auc {
                    row[0] = row[0].map(|a| a + 0.1);
                }
            }
        }
        let md = markdown(&r, &[]);
        assert!(md.contains("The order disagrees with the paper's."), "{md}");
        assert!(
            md.contains("Removing the gates *raises* the AUC beyond the spread."),
            "{md}"
        );
    }

    /// The precision section: bf16 runs a hair below f32 are within the tolerance, runs a whole
    /// point below are not, and the section says which.
    #[test]
    fn the_precision_finding_follows_the_numbers() {
        for (shift, want) in [(-0.001, "within the 0.002"), (-0.01, "outside the 0.002")] {
            let mut r = paper_like();
            r.studies.push(Study::Precision);
            let bf16: Vec<RunRecord> = r
                .runs
                .iter()
                .filter(|run| run.variant == Variant::Hinet)
                .map(|run| {
                    let mut b = run.clone();
                    b.variant = Variant::HinetBf16;
                    for row in &mut b.test_auc {
                        row[0] = row[0].map(|a| a + shift);
                    }
                    b
                })
                .collect();
            r.runs.extend(bf16);
            let md = markdown(&r, &[]);
            assert!(md.contains("## 5. bf16 mixed precision"), "{md}");
            assert!(md.contains(want), "{shift}: {md}");
        }
    }
}
