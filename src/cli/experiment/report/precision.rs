//! The precision study: HiNet with bf16 operands in every matrix product against f32.

use super::super::Results;
use super::super::analysis::HeadToHead;
use super::super::plan::{Study, Variant, variants_of};
use super::*;
use std::fmt::Write as _;

/// The largest loss of mean test AUC that bf16 mixed precision may cost (the target of the
/// performance work: docs/benchmarks.md).
const TOLERANCE: f64 = 0.002;

/// Precision: the AUC tables, the difference and its verdict, the cost per run.
pub(super) fn precision(md: &mut String, results: &Results, d: usize, _figs: &[Figure]) {
    let info = &results.datasets[d];
    let st = stats(results, info, &variants_of(Study::Precision));
    let (Some(f32s), Some(bf16)) = (
        st.iter().find(|v| v.variant == Variant::Hinet),
        st.iter().find(|v| v.variant == Variant::HinetBf16),
    ) else {
        return;
    };
    let lt = &info.scenarios[info.long_tail];
    let _ = writeln!(md, "### {}\n", info.kind.name());
    auc_tables(md, info, &st);
    let h = HeadToHead::of(f32s, bf16);
    let _ = writeln!(
        md,
        "Δ = f32 − bf16 (positive: bf16 costs AUC; * = beyond the seed spread): mean AUC {}, long-tail scenario \
         {lt} {}; bf16 is higher in {}/{} (scenario, task) cells. (Speed is measured by `hinet bench`, not \
         here: docs/benchmarks.md.)\n",
        show_diff(h.overall),
        show_diff(h.long_tail),
        h.cells - h.hinet_higher,
        h.cells
    );
    let verdict = match h.overall {
        Some(o) if o.delta.abs() <= TOLERANCE => format!(
            "**Finding.** bf16 operands change HiNet's mean test AUC by {:+.4}, within the {TOLERANCE} the \
             mixed-precision path is held to.",
            -o.delta
        ),
        Some(o) => format!(
            "**Finding.** bf16 operands change HiNet's mean test AUC by {:+.4}, outside the {TOLERANCE} the \
             mixed-precision path is held to{}.",
            -o.delta,
            if o.beyond_spread {
                ""
            } else {
                " (though within the seed spread)"
            }
        ),
        None => "**Finding.** n/a (no mean AUC on one side).".into(),
    };
    let _ = writeln!(md, "{verdict}\n");
}
