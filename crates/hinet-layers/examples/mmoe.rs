//! MMoE (Ma et al., KDD 2018) assembled from this crate's parts: K shared experts, one softmax
//! gate per task mixing them, and one tower per task. One forward and one backward pass on a
//! random batch, printing the shape of every intermediate tensor.
//!
//! `cargo run --release -p hinet-layers --example mmoe`

use hinet_autograd::{Gradients, ParamKind, ParamStore, Tape, Var};
use hinet_layers::{ExpertStack, Gate, GateMode, MlpConfig, Tower};
use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ROWS: usize = 32;
const INPUT: usize = 24;
const EXPERTS: usize = 4;
const EXPERT_HIDDEN: [usize; 2] = [32, 16];
const TASKS: [&str; 2] = ["ctr", "ctcvr"];

/// One task's own parts: the gate that weighs the shared experts for it, and its tower.
struct TaskHead {
    name: &'static str,
    gate: Gate,
    tower: Tower<f32>,
}

struct Mmoe {
    experts: ExpertStack,
    heads: Vec<TaskHead>,
}

impl Mmoe {
    fn new(store: &mut ParamStore<f32>, rng: &mut ChaCha8Rng) -> hinet_layers::Result<Self> {
        let experts = ExpertStack::new(store, "experts", EXPERTS, INPUT, &EXPERT_HIDDEN, rng)?;
        let mut heads = Vec::new();
        for name in TASKS {
            // Each gate reads the raw input, as in the paper, and mixes the experts' outputs.
            let gate = Gate::new(store, &format!("{name}.gate"), INPUT, EXPERTS, GateMode::Softmax, rng)?;
            let tower = Tower::new(
                store,
                &format!("{name}.tower"),
                experts.out_features(),
                &MlpConfig::relu(&[8]),
                rng,
            )?;
            heads.push(TaskHead { name, gate, tower });
        }
        Ok(Self { experts, heads })
    }

    /// One logit column `[n, 1]` per task.
    fn forward<'t>(&self, x: Var<'t, f32>) -> hinet_layers::Result<Vec<Var<'t, f32>>> {
        // All K experts at once: [K, n, d], each expert's rows contiguous, as the gates read them.
        let expert_outputs = self.experts.forward(x)?;
        println!("input {:?} -> experts {:?}", x.shape(), expert_outputs.shape());
        let mut logits = Vec::with_capacity(self.heads.len());
        for head in &self.heads {
            let mixed = head.gate.mix(x, expert_outputs)?;
            let logit = head.tower.forward(mixed)?;
            println!(
                "  {}: gate mix {:?} -> tower {:?}",
                head.name,
                mixed.shape(),
                logit.shape()
            );
            logits.push(logit);
        }
        Ok(logits)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut store = ParamStore::<f32>::new();
    let model = Mmoe::new(&mut store, &mut rng)?;
    println!(
        "{} tensors, {} trainable numbers",
        store.len(),
        store.num_trainable_elements()
    );

    let x: ArrayD<f32> = Array2::from_shape_fn((ROWS, INPUT), |_| rng.random_range(-1.0..1.0)).into_dyn();
    let labels: Vec<ArrayD<f32>> = TASKS
        .iter()
        .map(|_| Array2::from_shape_fn((ROWS, 1), |_| f32::from(rng.random_bool(0.3))).into_dyn())
        .collect();

    let tape = Tape::new(&store);
    let logits = model.forward(tape.constant(x.view()))?;

    // The training loss: the sum of each task's mean binary cross-entropy.
    let mut loss = tape.full(&[], 0.0);
    for (logit, label) in logits.iter().zip(&labels) {
        let task_loss = logit.bce_with_logits(tape.constant(label.view()), None, 1.0)?.mean()?;
        loss = loss.add(task_loss)?;
    }
    println!("loss {:.4}", loss.scalar()?);

    let mut grads = Gradients::new();
    tape.backward(loss, &mut grads)?;
    drop(tape);

    // Every trainable tensor of the experts, the gates and the towers received a gradient.
    let mut with_gradient = 0;
    for id in store.ids().filter(|&id| store.kind(id) == ParamKind::Trainable) {
        let gradient = grads
            .dense(id, store.value(id).shape())
            .ok_or_else(|| format!("no gradient for {}", store.name(id)))?;
        let norm = gradient.iter().map(|g| g * g).sum::<f32>().sqrt();
        let shape = format!("{:?}", gradient.shape());
        println!("  d loss / d {:<31} {shape:<12} |grad| {norm:.2e}", store.name(id));
        with_gradient += 1;
    }
    println!("{with_gradient} of {} tensors have a gradient", store.len());
    Ok(())
}
