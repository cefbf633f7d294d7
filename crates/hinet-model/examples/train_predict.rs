//! Train HiNet and predict with it in a few lines: a toy shop with two scenarios where the
//! items users click depend on the scenario, printing the loss as it falls and the predicted
//! probabilities beside the labels.
//!
//! `cargo run --release -p hinet-model --example train_predict`

use hinet_model::{ModelConfig, ModelInput, SparseFeature, TrainOptions, Trainer};
use ndarray::Array2;

const ITEMS: usize = 8;
const SCENARIOS: [&str; 2] = ["home", "search"];

fn main() -> Result<(), hinet_model::ModelError> {
    // A small HiNet: one sparse field, two tasks (CTR and CTCVR, the default).
    let config = ModelConfig {
        scenarios: SCENARIOS.iter().map(|s| s.to_string()).collect(),
        sparse: vec![SparseFeature {
            name: "item".into(),
            vocab: ITEMS,
            dim: 8,
        }],
        sub_experts: 2,
        expert_hidden: vec![16],
        scenario_embedding_dim: 4,
        cgc_hidden: vec![16],
        tower_hidden: vec![8],
        ..ModelConfig::default()
    };
    // Adam with a learning rate of 1e-3, dense updates.
    let mut trainer = Trainer::<f32>::new(&config, 7, &TrainOptions::default())?;

    // Every item once per scenario, rows sorted by scenario. On the home page items 0-3 are
    // clicked, in search items 4-7; even items that are clicked are also ordered.
    let rows = SCENARIOS.len() * ITEMS;
    let scenario: Vec<usize> = (0..rows).map(|r| r / ITEMS).collect();
    let items: Vec<usize> = (0..rows).map(|r| r % ITEMS).collect();
    let labels = Array2::from_shape_fn((rows, 2), |(r, task)| {
        let clicked = (items[r] < ITEMS / 2) == (scenario[r] == 0);
        let ordered = clicked && items[r].is_multiple_of(2);
        f32::from(u8::from(if task == 0 { clicked } else { ordered }))
    });
    let dense = Array2::<f32>::zeros((rows, 0)); // no dense features
    let input = ModelInput {
        rows,
        scenario: &scenario,
        scenario_offsets: &[0, ITEMS, rows],
        sparse: &items, // field-major: the one field's ids
        dense: dense.view(),
        labels: Some(labels.view()),
    };

    let first = trainer.step(&input)?;
    println!("step   0: loss {first:.4}");
    for step in 1..=300 {
        let loss = trainer.step(&input)?;
        if step % 50 == 0 {
            println!("step {step:>3}: loss {loss:.4}");
        }
    }
    let last = trainer.evaluate_loss(&input)?;
    assert!(last < 0.5 * first, "the loss should at least halve: {first} -> {last}");

    let probabilities = trainer.predict(&input)?; // [rows, tasks]
    println!("\nscenario  item  p(click) click  p(order) order");
    for r in 0..rows {
        println!(
            "{:<8}  {:>4}  {:>8.3} {:>5}  {:>8.3} {:>5}",
            SCENARIOS[scenario[r]],
            items[r],
            probabilities[[r, 0]],
            labels[[r, 0]],
            probabilities[[r, 1]],
            labels[[r, 1]]
        );
    }
    Ok(())
}
