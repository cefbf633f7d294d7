//! Sizes before allocation: how many parameters a [`ModelConfig`] describes and how much memory
//! the model and its training state will take, computed from the configuration alone with
//! checked arithmetic, so that a width of 2^62 or a vocabulary of 10^9 is refused with a
//! message naming its key instead of panicking inside ndarray or aborting the process when the
//! allocation fails.
//!
//! The walk below mirrors, tensor by tensor, what [`crate::Model::new`] registers (the test
//! `size::parameter_count_matches_the_built_model` holds the two together for every
//! architecture and switch). Repeated structures (M scenario heads, T towers, levels) are
//! counted once with a multiplicity, so the walk costs O(size of the config) whatever the sizes.

use crate::config::{Architecture, ModelConfig};
use crate::error::{ModelError, Result};
use hinet_optim::OptimizerKind;
use std::fmt;

/// Memory a model needs, in bytes per component (see [`ModelConfig::memory_estimate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Trainable parameters (elements).
    pub parameters: u64,
    /// Non-trainable buffers, e.g. batch-norm running statistics (elements).
    pub buffers: u64,
    /// Tensors (parameters and buffers) the model registers: what a checkpoint of it holds
    /// besides optimiser state.
    pub tensors: u64,
    /// Bytes per element (4 for f32, 8 for f64).
    pub element_bytes: u64,
    /// Parameters and buffers.
    pub parameter_bytes: u64,
    /// Gradients of one backward sweep: dense for every parameter, the touched rows only for
    /// embedding tables (at most `batch` rows each; the whole table when `batch` is 0).
    pub gradient_bytes: u64,
    /// Optimiser state: per parameter, 2 moments for Adam and AdamW, 1 sum for Adagrad, 1
    /// momentum buffer for SGD with momentum, none for plain SGD.
    pub optimizer_bytes: u64,
    /// Activations of one training step on `batch` rows, values and their gradients (an
    /// estimate: every layer's output kept for the backward sweep; 0 when `batch` is 0;
    /// saturating at `u64::MAX`).
    pub activation_bytes: u64,
    /// The sum of the four parts above (saturating at `u64::MAX` when the activations do).
    pub total_bytes: u64,
    /// Inference only: the bf16 copies of the dense weights that a bf16 model's predictions of
    /// at most 4 rows read (2 bytes per dense parameter, an upper bound: biases are not
    /// copied); 0 for an f32 model or elements other than f32.
    pub bf16_weight_copy_bytes: u64,
    /// The configuration key whose parameters (with their optimiser state) take the most memory (e.g. `sparse[0].vocab`, `expert_hidden`, `scenarios`). Activations are
    /// not attributed to a key: when they are most of the total, the batch size matters too.
    pub dominant_key: String,
    /// Bytes of parameters (with their optimiser state) attributed to `dominant_key`.
    pub dominant_bytes: u64,
}

impl MemoryEstimate {
    /// What to make smaller: the dominant key, and the batch size too when activations are
    /// most of the total.
    pub fn advice(&self) -> String {
        if self.activation_bytes > self.total_bytes / 2 {
            format!("`{}` or the batch size", self.dominant_key)
        } else {
            format!("`{}`", self.dominant_key)
        }
    }

    /// The part of this estimate inference needs: parameters, buffers, a bf16 model's weight
    /// copies and forward activations (no gradients, no optimiser state, activations without
    /// their gradients).
    pub fn inference_bytes(&self) -> u64 {
        self.parameter_bytes
            .saturating_add(self.bf16_weight_copy_bytes)
            .saturating_add(self.activation_bytes / 2)
    }
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to train: {} parameters and buffers {}, gradients {}, optimiser state {}, \
             activations {}; of the parameters, the largest part ({} with optimiser state) \
             comes from `{}`",
            human_bytes(self.total_bytes),
            self.parameters.saturating_add(self.buffers),
            human_bytes(self.parameter_bytes),
            human_bytes(self.gradient_bytes),
            human_bytes(self.optimizer_bytes),
            human_bytes(self.activation_bytes),
            human_bytes(self.dominant_bytes),
            self.dominant_key
        )
    }
}

/// `1.5 GiB`, `640 KiB`, `12 B`.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn overflow(key: &str) -> ModelError {
    ModelError::Config {
        key: key.to_string(),
        why: "the model's size overflows 64-bit arithmetic: this value is far too large".into(),
    }
}

/// One size with the configuration key it comes from. `blame`: whether memory may be
/// attributed to this key (not for the input width x, the sum of every field's `dim`, which
/// only names the key in an overflow).
#[derive(Debug, Clone, Copy)]
struct Dim<'k> {
    n: u64,
    key: &'k str,
    blame: bool,
}

fn dim(n: usize, key: &str) -> Dim<'_> {
    Dim {
        n: n as u64,
        key,
        blame: true,
    }
}

/// The product of `dims`, or an error naming the key of the largest factor.
fn product(dims: &[Dim<'_>]) -> Result<u64> {
    dims.iter()
        .try_fold(1u64, |acc, d| acc.checked_mul(d.n))
        .ok_or_else(|| overflow(largest(dims)))
}

fn largest<'k>(dims: &[Dim<'k>]) -> &'k str {
    dims.iter().max_by_key(|d| d.n).map_or("sparse", |d| d.key)
}

/// Element counts, accumulated with checked arithmetic, and the bytes attributed to each key.
#[derive(Debug, Default)]
struct Tally {
    trainable: u64,
    buffers: u64,
    /// Trainable elements of embedding tables (their gradient is rows, not the whole table).
    tables: u64,
    /// Embedding-table gradient rows, bounded by the batch.
    table_grad: u64,
    /// Tensors registered (parameters and buffers).
    tensors: u64,
    by_key: Vec<(String, u64)>,
}

impl Tally {
    /// Adds a tensor of shape `shape` repeated `times` (multiplicities such as M heads).
    fn add(&mut self, times: &[Dim<'_>], shape: &[Dim<'_>], trainable: bool) -> Result<()> {
        let all: Vec<Dim<'_>> = times.iter().chain(shape).copied().collect();
        let n = product(&all)?;
        let copies = product(times)?;
        self.tensors = add_checked(self.tensors, copies, largest(times))?;
        let blamed: Vec<Dim<'_>> = all.iter().filter(|d| d.blame).copied().collect();
        let key = largest(if blamed.is_empty() { &all } else { &blamed });
        let total = if trainable {
            &mut self.trainable
        } else {
            &mut self.buffers
        };
        *total = total.checked_add(n).ok_or_else(|| overflow(key))?;
        match self.by_key.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = v.checked_add(n).ok_or_else(|| overflow(key))?,
            None => self.by_key.push((key.to_string(), n)),
        }
        Ok(())
    }

    /// `Linear(in -> out)` with bias: weight `[out, in]`, bias `[out]`.
    fn linear(&mut self, times: &[Dim<'_>], input: Dim<'_>, out: Dim<'_>) -> Result<()> {
        self.add(times, &[out, input], true)?;
        self.add(times, &[out], true)
    }

    /// An MLP of `hidden` widths (ReLU, no batch norm); returns its output width.
    fn mlp<'k>(&mut self, times: &[Dim<'_>], input: Dim<'k>, hidden: &[usize], key: &'k str) -> Result<Dim<'k>> {
        let mut width = input;
        for &h in hidden {
            let out = dim(h, key);
            self.linear(times, width, out)?;
            width = out;
        }
        Ok(width)
    }

    /// `ExpertStack`: `experts` experts of `hidden` widths, weights `[K, out, in]`, biases
    /// `[K, out]`; returns the output width.
    fn stack<'k>(
        &mut self,
        times: &[Dim<'_>],
        experts: Dim<'_>,
        input: Dim<'k>,
        hidden: &[usize],
        key: &'k str,
    ) -> Result<Dim<'k>> {
        let mut width = input;
        for &h in hidden {
            let out = dim(h, key);
            self.add(times, &[experts, out, width], true)?;
            self.add(times, &[experts, out], true)?;
            width = out;
        }
        Ok(width)
    }

    /// A gate over `experts` experts: a `Linear(in -> experts)` unless it is a plain mean or sum.
    fn gate(&mut self, times: &[Dim<'_>], input: Dim<'_>, experts: Dim<'_>, learned: bool) -> Result<()> {
        if learned && experts.n > 0 {
            self.linear(times, input, experts)?;
        }
        Ok(())
    }

    /// A tower: an MLP of `hidden`, then a `Linear(-> 1)`.
    fn tower<'k>(&mut self, times: &[Dim<'_>], input: Dim<'k>, hidden: &[usize]) -> Result<()> {
        let width = self.mlp(times, input, hidden, "tower_hidden")?;
        self.linear(times, width, dim(1, "tower_hidden"))
    }
}

/// The CGC settings the model passes to `hinet_layers::Cgc` (with their keys for messages).
struct CgcShape<'k> {
    shared: Dim<'k>,
    per_task: Dim<'k>,
    hidden: &'k [usize],
    hidden_key: &'k str,
    levels: usize,
    learned_gates: bool,
}

fn largest_key(by_key: &[(String, u64)]) -> &str {
    by_key
        .iter()
        .max_by_key(|(_, n)| *n)
        .map_or("sparse", |(k, _)| k.as_str())
}

fn add_checked(a: u64, b: u64, key: &str) -> Result<u64> {
    a.checked_add(b).ok_or_else(|| overflow(key))
}

fn mul_checked(a: u64, b: u64, key: &str) -> Result<u64> {
    a.checked_mul(b).ok_or_else(|| overflow(key))
}

impl ModelConfig {
    /// The input width x (sum of embedding widths plus dense columns) with the key of its
    /// largest part (`sparse[i].dim` or `dense`), or an overflow error.
    fn input_dim<'k>(&self, keys: &'k [(String, String)]) -> Result<Dim<'k>> {
        let mut n = self.dense.len() as u64;
        let mut key = "dense";
        let mut biggest = n;
        for (f, (_, dk)) in self.sparse.iter().zip(keys) {
            n = n.checked_add(f.dim as u64).ok_or_else(|| overflow(dk))?;
            if f.dim as u64 > biggest {
                biggest = f.dim as u64;
                key = dk;
            }
        }
        Ok(Dim { n, key, blame: false })
    }

    fn field_keys(&self) -> Vec<(String, String)> {
        (0..self.sparse.len())
            .map(|i| (format!("sparse[{i}].vocab"), format!("sparse[{i}].dim")))
            .collect()
    }

    /// Walks every tensor the model registers. `batch` > 0 also bounds the embedding-table
    /// gradient rows.
    fn tally(&self, batch: u64) -> Result<Tally> {
        let mut t = Tally::default();
        let keys = self.field_keys();
        for (f, (vk, dk)) in self.sparse.iter().zip(&keys) {
            let shape = [dim(f.vocab, vk), dim(f.dim, dk)];
            t.add(&[], &shape, true)?;
            let n = product(&shape)?;
            t.tables = add_checked(t.tables, n, vk)?;
            let rows = if batch == 0 {
                f.vocab as u64
            } else {
                batch.min(f.vocab as u64)
            };
            let g = mul_checked(rows, f.dim as u64, dk)?;
            t.table_grad = add_checked(t.table_grad, g, vk)?;
        }
        let x = self.input_dim(&keys)?;
        if self.input_batch_norm {
            // Scale and shift (trained), running mean and variance (buffers), each of width x.
            let bn = [Dim {
                key: "input_batch_norm",
                ..x
            }];
            for trainable in [true, true, false, false] {
                t.add(&[], &bn, trainable)?;
            }
        }
        let m = dim(self.num_scenarios(), "scenarios");
        let tasks = dim(self.num_tasks(), "tasks");
        let learned = self.gates;
        let cgc = CgcShape {
            shared: dim(
                if self.cgc_shared_across_scenarios {
                    0
                } else {
                    self.cgc_shared_experts
                },
                "cgc_shared_experts",
            ),
            per_task: dim(self.cgc_experts_per_task, "cgc_experts_per_task"),
            hidden: &self.cgc_hidden,
            hidden_key: "cgc_hidden",
            levels: self.cgc_levels,
            learned_gates: learned && !self.cgc_sum_gate,
        };
        let global_shared = if self.cgc_shared_across_scenarios {
            dim(self.cgc_shared_experts, "cgc_shared_experts")
        } else {
            dim(0, "cgc_shared_experts")
        };
        match self.architecture {
            Architecture::Hinet => {
                let width = if self.hierarchy {
                    let k = dim(self.sub_experts, "sub_experts");
                    // The shared group and M scenario groups: experts and gate on x.
                    let groups = Dim {
                        n: add_checked(m.n, 1, "scenarios")?,
                        ..m
                    };
                    let out = t.stack(&[groups], k, x, &self.expert_hidden, "expert_hidden")?;
                    t.gate(&[groups], x, k, learned)?;
                    if self.san {
                        let d = dim(self.scenario_embedding_dim, "scenario_embedding_dim");
                        t.add(&[], &[m, d], true)?;
                        if self.san_hidden.is_empty() {
                            t.add(&[], &[m, m, d], true)?;
                            t.add(&[], &[m, m], true)?;
                        } else {
                            let h = t.mlp(&[m], d, &self.san_hidden, "san_hidden")?;
                            t.linear(&[m], h, m)?;
                        }
                    }
                    Dim {
                        n: mul_checked(out.n, if self.san { 3 } else { 2 }, "expert_hidden")?,
                        ..out
                    }
                } else {
                    x
                };
                self.task_layer(&mut t, m, tasks, width, &cgc, global_shared)?;
            }
            Architecture::Ple => self.task_layer(&mut t, m, tasks, x, &cgc, global_shared)?,
            Architecture::Mmoe => {
                let mmoe = CgcShape {
                    shared: dim(self.mmoe_experts, "mmoe_experts"),
                    per_task: dim(0, "mmoe_experts"),
                    hidden: &self.expert_hidden,
                    hidden_key: "expert_hidden",
                    levels: 1,
                    learned_gates: learned,
                };
                self.task_layer(&mut t, m, tasks, x, &mmoe, dim(0, "mmoe_experts"))?;
            }
            Architecture::SharedBottom => {
                let bottom = CgcShape {
                    shared: dim(1, "bottom_hidden"),
                    per_task: dim(0, "bottom_hidden"),
                    hidden: &self.bottom_hidden,
                    hidden_key: "bottom_hidden",
                    levels: 1,
                    learned_gates: false,
                };
                self.task_layer(&mut t, m, tasks, x, &bottom, dim(0, "bottom_hidden"))?;
            }
            Architecture::Hmoe => {
                // Per task: K experts on x; per scenario a gate (x -> K), a tower and the
                // relation weights (x -> M).
                let k = dim(self.mmoe_experts, "mmoe_experts");
                let out = t.stack(&[tasks], k, x, &self.expert_hidden, "expert_hidden")?;
                t.gate(&[tasks, m], x, k, learned)?;
                t.tower(&[tasks, m], out, &self.tower_hidden)?;
                t.linear(&[tasks, m], x, m)?;
            }
            Architecture::Star => {
                // Per task, per layer: shared W [out, in] and b [out], and per scenario W_m, b_m.
                let mut width = x;
                let copies = Dim {
                    n: add_checked(m.n, 1, "scenarios")?,
                    ..m
                };
                for &h in self.expert_hidden.iter().chain(&[1]) {
                    let out = dim(h, "expert_hidden");
                    let times = [tasks, copies];
                    t.add(&times, &[out, width], true)?;
                    t.add(&times, &[out], true)?;
                    width = out;
                }
            }
        }
        Ok(t)
    }

    /// `TaskLayer`: optional experts shared by all scenarios, then per scenario a CGC and T towers.
    fn task_layer(
        &self,
        t: &mut Tally,
        m: Dim<'_>,
        tasks: Dim<'_>,
        input: Dim<'_>,
        cgc: &CgcShape<'_>,
        global: Dim<'_>,
    ) -> Result<()> {
        if global.n > 0 {
            t.stack(&[], global, input, cgc.hidden, cgc.hidden_key)?;
        }
        let out = dim(cgc.hidden.last().copied().unwrap_or(0), cgc.hidden_key);
        let key = cgc.hidden_key;
        for level in 0..cgc.levels.min(2) {
            // Level 0 reads the input; levels 1.. (all alike) read the experts' output width.
            let (width, copies) = if level == 0 {
                (input, dim(1, "cgc_levels"))
            } else {
                (out, dim(cgc.levels - 1, "cgc_levels"))
            };
            let times = [m, copies];
            let external = if level == 0 { global.n } else { 0 };
            if cgc.shared.n > 0 {
                t.stack(&times, cgc.shared, width, cgc.hidden, key)?;
            }
            if cgc.per_task.n > 0 {
                t.stack(&[m, copies, tasks], cgc.per_task, width, cgc.hidden, key)?;
            }
            let per_gate = add_checked(
                add_checked(cgc.per_task.n, cgc.shared.n, cgc.per_task.key)?,
                external,
                "cgc_shared_experts",
            )?;
            t.gate(
                &[m, copies, tasks],
                width,
                Dim {
                    n: per_gate,
                    ..cgc.per_task
                },
                cgc.learned_gates,
            )?;
            // A shared gate on every level but the last.
            let shared_gates = if level == 0 {
                dim(usize::from(cgc.levels > 1), "cgc_levels")
            } else {
                dim(cgc.levels.saturating_sub(2), "cgc_levels")
            };
            if shared_gates.n > 0 {
                let all = mul_checked(tasks.n, cgc.per_task.n, cgc.per_task.key)?;
                let all = add_checked(
                    add_checked(all, cgc.shared.n, cgc.shared.key)?,
                    external,
                    "cgc_shared_experts",
                )?;
                let times = [m, shared_gates];
                t.gate(&times, width, Dim { n: all, ..cgc.per_task }, cgc.learned_gates)?;
            }
        }
        t.tower(&[m, tasks], out, &self.tower_hidden)
    }

    /// Activation elements of `batch` rows through the model, with gradients (x2), plus a
    /// per-batch part (STAR's per-scenario weight products). A deliberate over-estimate of the
    /// tape; saturates at `u64::MAX` (the parameter walk has already named any key whose sizes
    /// overflow, and a saturated estimate exceeds every limit).
    fn activation_elements(&self, batch: u64) -> Result<u64> {
        let x = self.input_dim(&self.field_keys())?.n;
        let sum = |v: &[usize]| v.iter().fold(0u64, |a, &b| a.saturating_add(b as u64));
        // Input: gathered rows, concat, batch norm (normalised + output).
        let mut per_row = x.saturating_mul(if self.input_batch_norm { 4 } else { 2 });
        let t = self.num_tasks() as u64;
        let m = self.num_scenarios() as u64;
        let mut per_batch = 0u64;
        let cgc_row = |experts: u64, hidden: &[usize], levels: u64, gate: u64| -> u64 {
            // Expert layers (pre- and post-activation), gate logits and softmax, mixes.
            let e = experts.saturating_mul(sum(hidden)).saturating_mul(2);
            let g = t.saturating_mul(
                gate.saturating_mul(2)
                    .saturating_add(hidden.last().copied().unwrap_or(0) as u64),
            );
            levels.saturating_mul(e.saturating_add(g))
        };
        let towers = if matches!(self.architecture, Architecture::Star | Architecture::Hmoe) {
            0
        } else {
            t.saturating_mul(sum(&self.tower_hidden).saturating_mul(2).saturating_add(2))
        };
        let body = match self.architecture {
            Architecture::Hinet => {
                let mut r = 0u64;
                let mut width_c = x;
                if self.hierarchy {
                    let k = self.sub_experts as u64;
                    let last = self.expert_hidden.last().copied().unwrap_or(0) as u64;
                    let group = k
                        .saturating_mul(sum(&self.expert_hidden))
                        .saturating_mul(2)
                        .saturating_add(k.saturating_mul(2))
                        .saturating_add(last);
                    r = m
                        .saturating_add(1)
                        .saturating_mul(group)
                        .saturating_add(last.saturating_mul(4).saturating_add(m));
                    width_c = last.saturating_mul(3);
                }
                let experts =
                    (self.cgc_shared_experts as u64).saturating_add(t.saturating_mul(self.cgc_experts_per_task as u64));
                let gate = (self.cgc_shared_experts as u64).saturating_add(self.cgc_experts_per_task as u64);
                r.saturating_add(width_c).saturating_add(cgc_row(
                    experts,
                    &self.cgc_hidden,
                    self.cgc_levels as u64,
                    gate,
                ))
            }
            Architecture::Ple => {
                let experts =
                    (self.cgc_shared_experts as u64).saturating_add(t.saturating_mul(self.cgc_experts_per_task as u64));
                let gate = (self.cgc_shared_experts as u64).saturating_add(self.cgc_experts_per_task as u64);
                cgc_row(experts, &self.cgc_hidden, self.cgc_levels as u64, gate)
            }
            Architecture::Mmoe => {
                let e = self.mmoe_experts as u64;
                cgc_row(e, &self.expert_hidden, 1, e)
            }
            Architecture::SharedBottom => cgc_row(1, &self.bottom_hidden, 1, 1),
            Architecture::Hmoe => {
                // Per task: the experts once, then for every scenario a gate, a mix and a tower
                // (M predictions per row), the relation logits and the weighted sum.
                let e = self.mmoe_experts as u64;
                let tower = sum(&self.tower_hidden).saturating_mul(2).saturating_add(2);
                let per_scenario = cgc_row(e, &[], 1, e)
                    .saturating_add(tower)
                    .saturating_add(self.expert_hidden.last().copied().unwrap_or(0) as u64);
                t.saturating_mul(
                    e.saturating_mul(sum(&self.expert_hidden))
                        .saturating_mul(2)
                        .saturating_add(m.saturating_mul(per_scenario))
                        .saturating_add(m.saturating_mul(3)),
                )
            }
            Architecture::Star => {
                let mut w = 0u64;
                let mut width = x;
                for &h in self.expert_hidden.iter().chain(&[1]) {
                    w = w.saturating_add((h as u64).saturating_mul(width).saturating_add(h as u64));
                    width = h as u64;
                }
                // W ⊙ W_m and b + b_m for every scenario present in the batch, per task.
                per_batch = m.min(batch).saturating_mul(t).saturating_mul(w);
                t.saturating_mul(sum(&self.expert_hidden).saturating_add(1).saturating_mul(2))
            }
        };
        per_row = per_row.saturating_add(body).saturating_add(towers);
        // Values and their gradients.
        Ok(per_row
            .saturating_mul(2)
            .saturating_mul(batch)
            .saturating_add(per_batch.saturating_mul(2)))
    }

    /// Number of parameters and buffers (elements) of the model this config builds, computed
    /// with checked arithmetic before anything is allocated. An overflow is a
    /// [`ModelError::Config`] naming the key at fault.
    pub fn parameter_count(&self) -> Result<u64> {
        self.validate()?;
        self.count_unvalidated()
    }

    /// [`ModelConfig::parameter_count`] without [`ModelConfig::validate`] (which calls it).
    pub(crate) fn count_unvalidated(&self) -> Result<u64> {
        let t = self.tally(0)?;
        let key = largest_key(&t.by_key);
        let n = add_checked(t.trainable, t.buffers, key)?;
        // Room for the bytes of the parameters, their gradients and two optimiser moments in
        // f64, so that no estimate of a valid config overflows.
        mul_checked(n, 32, key)?;
        Ok(n)
    }

    /// The memory a model of this config needs to train with `optimizer` on batches of `batch`
    /// rows, in f32 (see [`ModelConfig::memory_estimate_with`] for another element size).
    pub fn memory_estimate(&self, optimizer: &OptimizerKind, batch: usize) -> Result<MemoryEstimate> {
        self.memory_estimate_with(optimizer, batch, 4)
    }

    /// [`ModelConfig::memory_estimate`] with `element_bytes` per element (8 for f64). `batch`
    /// 0 leaves activations out and counts whole embedding-table gradients.
    pub fn memory_estimate_with(
        &self,
        optimizer: &OptimizerKind,
        batch: usize,
        element_bytes: u64,
    ) -> Result<MemoryEstimate> {
        self.validate()?;
        let batch = batch as u64;
        let t = self.tally(batch)?;
        let eb = element_bytes;
        let bytes = |n: u64, key: &str| mul_checked(n, eb, key);
        let states = optimizer.state_names().len() as u64;
        let pk = largest_key(&t.by_key).to_string();
        let (pk, gk) = (pk.as_str(), pk.as_str());
        let parameter_bytes = bytes(add_checked(t.trainable, t.buffers, pk)?, pk)?;
        let dense_grads = t.trainable - t.tables.min(t.trainable);
        let gradient_bytes = bytes(add_checked(dense_grads, t.table_grad, gk)?, gk)?;
        let optimizer_bytes = bytes(mul_checked(t.trainable, states, pk)?, pk)?;
        let activation_bytes = self.activation_elements(batch)?.saturating_mul(eb);
        let total_bytes = [gradient_bytes, optimizer_bytes]
            .into_iter()
            .try_fold(parameter_bytes, |a, b| a.checked_add(b))
            .ok_or_else(|| overflow(largest_key(&t.by_key)))?
            .saturating_add(activation_bytes);
        // Per key: its parameters with their optimiser state (gradients are not attributed:
        // an embedding table's is only the rows a batch touches).
        let per_param = eb.saturating_mul(1 + states);
        let (dominant_key, dominant_bytes) = t
            .by_key
            .iter()
            .max_by_key(|(_, n)| *n)
            .map(|(k, n)| (k.clone(), n.saturating_mul(per_param)))
            .unwrap_or_default();
        Ok(MemoryEstimate {
            parameters: t.trainable,
            buffers: t.buffers,
            tensors: t.tensors,
            element_bytes: eb,
            parameter_bytes,
            gradient_bytes,
            optimizer_bytes,
            activation_bytes,
            total_bytes,
            bf16_weight_copy_bytes: if self.precision == crate::Precision::Bf16 && eb == 4 {
                dense_grads.saturating_mul(2)
            } else {
                0
            },
            dominant_key,
            dominant_bytes,
        })
    }
}

/// The memory this process may still use, in bytes: the smaller of the system's available
/// memory (`MemAvailable` in `/proc/meminfo`) and what the cgroup (v2 `memory.max` minus
/// `memory.current`, or v1 `memory.limit_in_bytes` minus `memory.usage_in_bytes`) leaves.
/// `None` where neither can be read (not Linux). A default for `TrainOptions::max_memory_bytes`
/// (the `trainer` feature).
pub fn available_memory_bytes() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let num = |p: &str| read(p).and_then(|s| s.trim().parse::<u64>().ok());
    let meminfo = read("/proc/meminfo").and_then(|s| {
        s.lines().find_map(|l| {
            let rest = l.strip_prefix("MemAvailable:")?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            kib.checked_mul(1024)
        })
    });
    let cgroup_v2 = num("/sys/fs/cgroup/memory.max")
        .map(|max| max.saturating_sub(num("/sys/fs/cgroup/memory.current").unwrap_or(0)));
    let cgroup_v1 = num("/sys/fs/cgroup/memory/memory.limit_in_bytes")
        .map(|max| max.saturating_sub(num("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0)));
    [meminfo, cgroup_v2, cgroup_v1].into_iter().flatten().min()
}
