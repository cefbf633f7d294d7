//! `Model`: the input layer, then HiNet or a baseline, producing one logit per task per row.

use crate::baselines::hmoe::Hmoe;
use crate::baselines::star::Star;
use crate::config::{Architecture, ModelConfig};
use crate::error::{ModelError, Result};
use crate::input::ModelInput;
use crate::input_layer::InputLayer;
use crate::scenario_layer::ScenarioLayer;
use crate::task_layer::TaskLayer;
use hinet_autograd::{Float, ParamId, ParamStore, Tape, Var, Workspace};
use hinet_layers::{CgcConfig, GateMode, MlpConfig, Module};
use ndarray::{Array2, Ix2};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug)]
enum Body<F> {
    /// HiNet (the scenario layer is absent in the "without hierarchy" ablation).
    Hierarchical {
        scenario: Option<Box<ScenarioLayer<F>>>,
        task: TaskLayer<F>,
    },
    /// Shared-Bottom, MMoE, PLE: a task layer per scenario on x.
    TaskOnly(TaskLayer<F>),
    /// STAR per task.
    Star(Star),
    /// HMoE per task.
    Hmoe(Hmoe<F>),
}

/// A multi-scenario, multi-task model whose parameters live in a [`ParamStore`].
#[derive(Debug)]
pub struct Model<F> {
    config: ModelConfig,
    input: InputLayer<F>,
    body: Body<F>,
}

impl<F: Float> Model<F> {
    /// Builds the model of `config`, registering its parameters in `store` (initialised from
    /// `seed`).
    ///
    /// The config is validated first, sizes included: a config whose parameter count
    /// overflows, or whose parameters could not be addressed in memory as `F`, is refused with
    /// [`ModelError::Config`] naming the key before anything is allocated, and so is a model
    /// whose parameters alone exceed the memory available ([`crate::available_memory_bytes`]:
    /// [`ModelError::TooLarge`]). (A limit on the whole training state is
    /// `TrainOptions::max_memory_bytes`, checked by the `Trainer`, with the `trainer` feature.)
    pub fn new(config: &ModelConfig, store: &mut ParamStore<F>, seed: u64) -> Result<Self> {
        config.validate()?;
        check_parameter_memory::<F>(config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rng = &mut rng;
        let input = InputLayer::new(store, config, rng)?;
        let x_width = input.out_features();
        let m = config.num_scenarios();
        let parts = Parts::of(config);
        let body = match config.architecture {
            // HiNet: scenario extraction layer, then a CGC per scenario and the towers.
            Architecture::Hinet => {
                let scenario = if config.hierarchy {
                    Some(Box::new(ScenarioLayer::new(store, config, x_width, parts.gate, rng)?))
                } else {
                    None // the "without hierarchy" ablation: the task layer reads x itself
                };
                let width = scenario.as_ref().map_or(x_width, |s| s.out_features());
                let task = parts.task_layer(store, m, width, &parts.cgc, parts.cross_scenario_shared, rng)?;
                Body::Hierarchical { scenario, task }
            }
            // The multi-task baselines, per scenario: the same task layer on x.
            Architecture::Ple => {
                Body::TaskOnly(parts.task_layer(store, m, x_width, &parts.cgc, parts.cross_scenario_shared, rng)?)
            }
            Architecture::Mmoe => Body::TaskOnly(parts.task_layer(store, m, x_width, &parts.mmoe(config), 0, rng)?),
            Architecture::SharedBottom => {
                Body::TaskOnly(parts.task_layer(store, m, x_width, &parts.shared_bottom(config), 0, rng)?)
            }
            // The multi-scenario baseline, per task.
            Architecture::Star => Body::Star(Star::new(
                store,
                m,
                config.num_tasks(),
                x_width,
                &config.expert_hidden,
                rng,
            )?),
            Architecture::Hmoe => Body::Hmoe(Hmoe::new(
                store,
                m,
                config.num_tasks(),
                x_width,
                config.mmoe_experts,
                &config.expert_hidden,
                parts.gate,
                &parts.tower,
                config.hmoe_stop_gradient,
                rng,
            )?),
        };
        Ok(Self {
            config: config.clone(),
            input,
            body,
        })
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Computes the matrix products in `precision` from now on ([`ModelConfig::precision`]):
    /// a setting of the computation, so a model may train in one and predict in the other.
    pub fn set_precision(&mut self, precision: hinet_autograd::Precision) {
        self.config.precision = precision;
    }

    /// The embedding tables (candidates for a sparse optimiser group).
    pub fn embedding_tables(&self) -> Vec<ParamId> {
        self.input.tables()
    }

    /// Data-parallel training: the input batch norm (`input_batch_norm`) normalises with the
    /// statistics of the global batch, summed across `replicas` (sync batch norm), so N
    /// replicas of batch b train as one process of batch N x b. `None` (the default): this
    /// process's batch alone. Nothing else in the model depends on other rows of the batch.
    pub fn set_replicas(&mut self, replicas: Option<std::sync::Arc<dyn hinet_autograd::ReplicaSum<F>>>) {
        self.input.set_replicas(replicas);
    }

    /// SAN's M x M weights (row i: how scenario i attends to the others), if the model has SAN.
    pub fn san_attention(&self, store: &ParamStore<F>) -> Result<Option<Array2<F>>> {
        match &self.body {
            Body::Hierarchical { scenario: Some(s), .. } => s.attention(store),
            _ => Ok(None),
        }
    }

    /// Checks a batch against the model.
    pub fn check_input(&self, input: &ModelInput<'_, F>) -> Result<()> {
        let c = &self.config;
        input.validate(c.num_scenarios(), c.sparse.len(), c.dense.len(), c.num_tasks())?;
        if input.rows == 0 {
            return Err(ModelError::Input("an empty batch".into()));
        }
        Ok(())
    }

    /// Logits `[n, T]` (for ESMM, task 1's column is the CVR logit; see [`Model::probabilities`]).
    pub fn logits<'t>(&self, tape: &'t Tape<'t, F>, input: &ModelInput<'_, F>) -> Result<Var<'t, F>> {
        self.check_input(input)?;
        let x = self.input.forward(tape, input)?;
        let offsets = input.scenario_offsets;
        match &self.body {
            Body::Hierarchical { scenario, task } => {
                let c = match scenario {
                    Some(s) => s.forward(x, input.scenario)?,
                    None => x,
                };
                task.forward(c, offsets)
            }
            Body::TaskOnly(task) => task.forward(x, offsets),
            Body::Star(star) => star.forward(x, offsets),
            Body::Hmoe(hmoe) => hmoe.forward(x, offsets),
        }
    }

    /// Probabilities `[n, T]` from logits: sigmoid per task, and with ESMM
    /// `pCTCVR = pCTR * pCVR`.
    pub fn probabilities<'t>(&self, logits: Var<'t, F>) -> Result<Var<'t, F>> {
        let p = logits.sigmoid()?;
        if !self.config.esmm {
            return Ok(p);
        }
        let ctr = p.narrow(1, 0, 1)?;
        let ctcvr = ctr.mul(p.narrow(1, 1, 1)?)?;
        Ok(hinet_autograd::concat(&[ctr, ctcvr], 1)?)
    }

    /// Predicted probabilities `[n, T]` for each row's own scenario, without recording a
    /// backward pass. `&self`: several threads may predict with one model at once, each with
    /// its own `ws`, whose buffers the next call reuses (`Workspace::default()` to start). With
    /// bf16 products, predictions of at most 4 rows read bf16 copies of the weights that `ws`
    /// keeps (half the dense weights' bytes per workspace; made again when a weight changes).
    /// A NaN or infinite prediction is an error ([`ModelError::NonFinitePredictions`] names the
    /// rows).
    pub fn predict(
        &self,
        store: &ParamStore<F>,
        input: &ModelInput<'_, F>,
        ws: &mut Workspace<F>,
    ) -> Result<Array2<F>> {
        let tape = Tape::no_grad(store, std::mem::take(ws)).with_precision(self.config().precision);
        let result = self
            .logits(&tape, input)
            .and_then(|l| self.probabilities(l))
            .map(|p| p.value());
        *ws = tape.into_workspace();
        let p = result?;
        if p.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::NonFinitePredictions(Box::new(crate::diagnose::report(
                self,
                store,
                input,
                Some(p.view()),
                f64::NAN,
                0,
                Vec::new(),
            ))));
        }
        p.into_dimensionality::<Ix2>()
            .map_err(|e| ModelError::Input(format!("predictions are not [rows, tasks]: {e}")))
    }
}

impl<F: Float> Module<F> for Model<F> {
    fn state(&self) -> Vec<ParamId> {
        let mut s = self.input.state();
        match &self.body {
            Body::Hierarchical { scenario, task } => {
                if let Some(sc) = scenario {
                    s.extend(sc.state());
                }
                s.extend(task.state());
            }
            Body::TaskOnly(task) => s.extend(task.state()),
            Body::Star(star) => s.extend(Module::<F>::state(star)),
            Body::Hmoe(hmoe) => s.extend(hmoe.state()),
        }
        s
    }

    fn set_training(&mut self, training: bool) {
        self.input.set_training(training);
        match &mut self.body {
            Body::Hierarchical { task, .. } | Body::TaskOnly(task) => task.set_training(training),
            Body::Star(_) => {}
            Body::Hmoe(hmoe) => hmoe.set_training(training),
        }
    }

    fn commit(&self, store: &mut ParamStore<F>) {
        self.input.commit(store);
        if let Body::Hierarchical { task, .. } | Body::TaskOnly(task) = &self.body {
            task.commit(store);
        }
    }
}

/// Refuses, before anything is allocated, a model whose parameters could not be addressed as
/// `F` or would not fit in the memory available: parameters are initialised (touched) as they
/// are allocated, so an oversized model would end in an allocation failure that aborts.
fn check_parameter_memory<F>(config: &ModelConfig) -> Result<()> {
    let estimate =
        config.memory_estimate_with(&hinet_optim::OptimizerKind::sgd(), 0, std::mem::size_of::<F>() as u64)?;
    if estimate.parameter_bytes > isize::MAX as u64 {
        return Err(ModelError::Config {
            key: estimate.dominant_key,
            why: format!(
                "the model would have {} parameters ({} bytes), more than this machine can address",
                estimate.parameters.saturating_add(estimate.buffers),
                estimate.parameter_bytes
            ),
        });
    }
    if let Some(available) = crate::size::available_memory_bytes()
        && estimate.parameter_bytes > available
    {
        return Err(ModelError::TooLarge {
            needed: estimate.parameter_bytes,
            limit: available,
            estimate: Box::new(estimate),
        });
    }
    Ok(())
}

/// The parts HiNet's body is built from: the paper's design first, then each switch of the
/// config as a variation of it (docs/spec.md lists them all).
struct Parts {
    /// The gate of the scenario layer's expert groups (and of MMoE).
    gate: GateMode,
    /// The CGC of each scenario (and PLE's single level).
    cgc: CgcConfig,
    /// Shared experts common to every scenario's CGC (0 unless `cgc_shared_across_scenarios`).
    cross_scenario_shared: usize,
    /// The tower of each (scenario, task).
    tower: MlpConfig,
}

impl Parts {
    fn of(config: &ModelConfig) -> Self {
        // The paper: softmax gates over the experts they weigh.
        let mut gate = GateMode::Softmax;
        if config.gate_relu {
            gate = GateMode::ReluSoftmax; // the official code: ReLU on the logits first
        }
        if !config.gates {
            gate = GateMode::Mean; // the "without gates" ablation: the plain mean of the experts
        }
        let mut cgc_gate = gate;
        if config.gates && config.cgc_sum_gate {
            cgc_gate = GateMode::Sum; // the official code's CGC: a weighted sum without softmax
        }
        // The paper: each scenario's CGC has its own task-shared experts. The official code can
        // share one set across all scenarios instead (`cgc_shared_across_scenarios`).
        let (own_shared, cross_scenario_shared) = if config.cgc_shared_across_scenarios {
            (0, config.cgc_shared_experts)
        } else {
            (config.cgc_shared_experts, 0)
        };
        Self {
            gate,
            cgc: CgcConfig {
                tasks: config.num_tasks(),
                shared_experts: own_shared,
                experts_per_task: config.cgc_experts_per_task,
                expert_hidden: config.cgc_hidden.clone(),
                levels: config.cgc_levels,
                gate_mode: cgc_gate,
                external_experts: 0,
            },
            cross_scenario_shared,
            tower: MlpConfig {
                dropout: config.dropout,
                ..MlpConfig::relu(&config.tower_hidden)
            },
        }
    }

    /// MMoE per scenario: `mmoe_experts` shared experts, one gate per task, no task experts.
    fn mmoe(&self, config: &ModelConfig) -> CgcConfig {
        CgcConfig {
            shared_experts: config.mmoe_experts,
            experts_per_task: 0,
            expert_hidden: config.expert_hidden.clone(),
            levels: 1,
            gate_mode: self.gate,
            ..self.cgc.clone()
        }
    }

    /// Shared-Bottom per scenario: one bottom expert whose "gate" is the plain sum, i.e. the
    /// bottom's output itself.
    fn shared_bottom(&self, config: &ModelConfig) -> CgcConfig {
        CgcConfig {
            shared_experts: 1,
            experts_per_task: 0,
            expert_hidden: config.bottom_hidden.clone(),
            levels: 1,
            gate_mode: GateMode::Sum,
            ..self.cgc.clone()
        }
    }

    /// A task layer (one `cgc` per scenario, then the towers) on inputs of `width`, with
    /// `cross_scenario_shared` experts common to all scenarios (HiNet's and PLE's option).
    #[allow(clippy::too_many_arguments)]
    fn task_layer<F: Float>(
        &self,
        store: &mut ParamStore<F>,
        scenarios: usize,
        width: usize,
        cgc: &CgcConfig,
        cross_scenario_shared: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<TaskLayer<F>> {
        TaskLayer::new(
            store,
            "task",
            scenarios,
            width,
            cgc,
            cross_scenario_shared,
            &self.tower,
            rng,
        )
    }
}
