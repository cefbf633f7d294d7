//! Random small model configurations covering every architecture and switch (proptest).

use hinet_model::{Architecture, ModelConfig, SparseFeature};
use proptest::prelude::*;

fn widths(layers: std::ops::Range<usize>) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..5, layers)
}

/// A valid config of a few hundred parameters at most: 1-4 scenarios, 1-3 tasks, 0-3 fields,
/// every ablation and official-code switch.
pub fn small_config() -> impl Strategy<Value = ModelConfig> {
    let arch = prop_oneof![
        Just(Architecture::Hinet),
        Just(Architecture::SharedBottom),
        Just(Architecture::Mmoe),
        Just(Architecture::Ple),
        Just(Architecture::Star),
        Just(Architecture::Hmoe),
    ];
    let shape = (
        arch,
        1usize..5,
        1usize..4,
        prop::collection::vec((1usize..7, 1usize..4), 0..4),
        0usize..3,
        any::<bool>(),
        1usize..4,
        1usize..4,
        widths(1..4),
    );
    let switches = (
        any::<[bool; 9]>(),
        widths(0..3),
        0usize..3,
        0usize..3,
        widths(1..3),
        1usize..4,
        widths(0..3),
        widths(1..3),
        1usize..4,
    );
    (shape, switches).prop_map(
        |(
            (architecture, m, t, fields, dense, bn, emb, k, expert_hidden),
            (flags, san_hidden, shared, per_task, cgc_hidden, levels, tower_hidden, bottom_hidden, mmoe),
        )| {
            let [
                san,
                renorm,
                hierarchy,
                gates,
                gate_relu,
                across,
                sum_gate,
                esmm,
                dropout,
            ] = flags;
            let dense = if fields.is_empty() { dense.max(1) } else { dense };
            let per_task = if shared == 0 || (across && levels > 1) {
                per_task.max(1)
            } else {
                per_task
            };
            ModelConfig {
                architecture,
                scenarios: (0..m).map(|i| format!("s{i}")).collect(),
                tasks: (0..t).map(|j| format!("t{j}")).collect(),
                sparse: fields
                    .iter()
                    .enumerate()
                    .map(|(i, &(vocab, dim))| SparseFeature {
                        name: format!("f{i}"),
                        vocab,
                        dim,
                    })
                    .collect(),
                dense: (0..dense).map(|i| format!("d{i}")).collect(),
                input_batch_norm: bn,
                scenario_embedding_dim: emb,
                sub_experts: k,
                expert_hidden,
                san: san && m >= 2,
                san_hidden,
                san_renormalise: renorm,
                hierarchy,
                gates,
                gate_relu,
                cgc_shared_experts: shared,
                cgc_experts_per_task: per_task,
                cgc_hidden,
                cgc_levels: levels,
                cgc_shared_across_scenarios: across,
                cgc_sum_gate: sum_gate,
                tower_hidden,
                dropout: if dropout { 0.25 } else { 0.0 },
                loss_weights: vec![1.0; t],
                pos_weights: vec![1.0; t],
                l2: 0.0,
                esmm: esmm && t == 2,
                bottom_hidden,
                mmoe_experts: mmoe,
                hmoe_stop_gradient: esmm,
                precision: Default::default(),
            }
        },
    )
}
