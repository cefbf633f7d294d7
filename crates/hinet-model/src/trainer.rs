//! `Trainer`: one training step is data -> model -> loss -> backward -> optimiser, with the
//! engine's buffers, the gradients and the optimiser state reused from step to step.

#[cfg(feature = "checkpoint")]
use crate::checkpoint::{self, CheckpointInfo};
use crate::config::ModelConfig;
use crate::diagnose;
use crate::error::{ModelError, Result};
use crate::input::ModelInput;
use crate::model::Model;
use hinet_autograd::{Float, Gradients, ParamId, ParamStore, Tape, Workspace};
use hinet_layers::Module;
use hinet_optim::{Optimizer, OptimizerKind, ParamGroup};
use ndarray::Array2;
#[cfg(feature = "checkpoint")]
use std::collections::BTreeMap;
#[cfg(feature = "checkpoint")]
use std::path::Path;

/// How to optimise.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// The update rule.
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    pub lr: f64,
    /// Update every embedding table lazily (only the rows a batch uses, parameter and optimiser
    /// state); otherwise tables below [`TrainOptions::lazy_from_rows`] rows are updated densely.
    pub sparse_embeddings: bool,
    /// Tables with at least this many rows are updated lazily even without
    /// `sparse_embeddings`: a dense update walks every row of every table each step, so its
    /// cost grows with the vocabulary while a batch touches at most `batch x fields` rows (as
    /// TorchRec and TensorFlow update large tables). `None`: only `sparse_embeddings` decides.
    /// Default [`LAZY_FROM_ROWS`].
    pub lazy_from_rows: Option<usize>,
    /// Clip the global gradient norm.
    pub clip_norm: Option<f64>,
    /// Lazy L2 regularisation of embedding rows (`lambda`, 0: none). Each step, for every
    /// distinct row of an embedding table that the batch uses, `lambda * row` is added to that
    /// row's gradient, i.e. the loss gains `(lambda / 2) * sum ||e_r||^2` over the distinct rows
    /// of the batch. Rows of ids absent from the batch are not penalised and the cost is
    /// O(rows used x width) per step. Works with dense and sparse (`sparse_embeddings`)
    /// updates and every optimiser (coupled into the gradient, AdamW included); not clipped.
    /// Applied by the optimiser ([`ParamGroup::row_l2`]); see `docs/optim.md` §4.1.
    pub embedding_l2: f64,
    /// The most memory (bytes) the model and its training state may take. [`Trainer::new`],
    /// [`Trainer::resume`] and [`Trainer::load_for_inference`] compute the need from the config
    /// ([`ModelConfig::memory_estimate`]) before allocating anything and refuse a model that
    /// would not fit with [`ModelError::TooLarge`], naming the estimate, the limit and the
    /// config key that dominates. `None`: no limit (sizes whose arithmetic overflows are refused
    /// all the same). The command passes the memory available on the machine
    /// ([`crate::available_memory_bytes`]) or `--max-memory`.
    pub max_memory_bytes: Option<u64>,
    /// Rows per batch, for the activation part of the memory estimate (0: activations are not
    /// counted).
    pub batch_size: usize,
}

/// Default [`TrainOptions::lazy_from_rows`]: 100,000 rows. Below it a dense update of a table
/// costs little next to a step (bench-default's 10,000-row tables stay dense, as its
/// definition says); above it, the dense update's share of a step grows with the table.
pub const LAZY_FROM_ROWS: usize = 100_000;

impl TrainOptions {
    /// Whether a table of `rows` rows is updated lazily under these options.
    pub fn lazy_table(&self, rows: usize) -> bool {
        self.sparse_embeddings || self.lazy_from_rows.is_some_and(|from| rows >= from)
    }

    /// Refuses a negative, NaN or infinite `embedding_l2` (the optimiser checks the rest).
    pub fn validate(&self) -> Result<()> {
        let l = self.embedding_l2;
        if !(l.is_finite() && l >= 0.0) {
            return Err(ModelError::Config {
                key: "embedding_l2".into(),
                why: format!("must be finite and >= 0, got {l}"),
            });
        }
        Ok(())
    }
}

impl Default for TrainOptions {
    /// Adam, lr 1e-3, dense updates (bench-default's optimiser).
    fn default() -> Self {
        Self {
            optimizer: OptimizerKind::adam(),
            lr: 1e-3,
            sparse_embeddings: false,
            lazy_from_rows: Some(LAZY_FROM_ROWS),
            clip_norm: None,
            embedding_l2: 0.0,
            max_memory_bytes: None,
            batch_size: 0,
        }
    }
}

/// What a model is built for, which decides the memory it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Purpose {
    Train,
    #[cfg(feature = "checkpoint")]
    Inference,
}

/// Refuses, before anything is allocated, a model whose estimated memory (plus `extra` bytes,
/// e.g. a checkpoint file read whole) exceeds `options.max_memory_bytes`.
fn check_memory<F: Float>(config: &ModelConfig, options: &TrainOptions, purpose: Purpose, extra: u64) -> Result<()> {
    let estimate =
        config.memory_estimate_with(&options.optimizer, options.batch_size, std::mem::size_of::<F>() as u64)?;
    let Some(limit) = options.max_memory_bytes else {
        return Ok(());
    };
    let base = match purpose {
        Purpose::Train => estimate.total_bytes,
        #[cfg(feature = "checkpoint")]
        Purpose::Inference => estimate.inference_bytes(),
    };
    let needed = base.saturating_add(extra);
    if needed > limit {
        return Err(ModelError::TooLarge {
            estimate: Box::new(estimate),
            needed,
            limit,
        });
    }
    Ok(())
}

/// A model, its parameters, its optimiser and the reusable memory of a training loop.
#[derive(Debug)]
pub struct Trainer<F: Float> {
    model: Model<F>,
    store: ParamStore<F>,
    optimizer: Optimizer<F>,
    grads: Gradients<F>,
    ws: Workspace<F>,
    step: u64,
}

impl<F: Float> Trainer<F> {
    /// A fresh model of `config` initialised from `seed`. Invalid options are refused before
    /// anything is built ([`TrainOptions::validate`], then the optimiser's own checks), and so
    /// is a model whose sizes overflow or whose estimated memory exceeds
    /// [`TrainOptions::max_memory_bytes`] ([`ModelError::TooLarge`]).
    pub fn new(config: &ModelConfig, seed: u64, options: &TrainOptions) -> Result<Self> {
        options.validate()?;
        config.validate()?;
        check_memory::<F>(config, options, Purpose::Train, 0)?;
        Self::build(config, seed, options)
    }

    fn build(config: &ModelConfig, seed: u64, options: &TrainOptions) -> Result<Self> {
        options.validate()?;
        // Optimiser settings are checked before the model is allocated.
        options.optimizer.validate()?;
        let mut store = ParamStore::new();
        let model = Model::new(config, &mut store, seed)?;
        // The embedding tables get a group of their own when they are updated lazily or carry
        // the row penalty. The penalty is applied by the optimiser rather than added to the
        // loss here: the optimiser already receives each table's gradient as its distinct
        // touched rows (merged by the backward sweep) and walks exactly those rows, so
        // `lambda * e_r` is one fused multiply-add per element of a touched row, with no extra
        // tape nodes, no set of batch ids to build and no allocation. Through the loss, a
        // `sum(e^2)` over the gathered rows would penalise each row once per occurrence in the
        // batch, and a per-distinct-row version would need the ids deduplicated every step.
        // Tables updated lazily (by `sparse_embeddings` or by their size) form one group, the
        // others a dense one when they carry the row penalty.
        let (lazy, dense): (Vec<ParamId>, Vec<ParamId>) = model
            .embedding_tables()
            .into_iter()
            .partition(|&t| options.lazy_table(store.value(t).shape()[0]));
        let mut groups = Vec::new();
        if !lazy.is_empty() {
            groups.push(
                ParamGroup::new("embeddings", lazy)
                    .with_sparse(true)
                    .with_row_l2(options.embedding_l2),
            );
        }
        if !dense.is_empty() && options.embedding_l2 > 0.0 {
            groups.push(ParamGroup::new("embeddings (dense update)", dense).with_row_l2(options.embedding_l2));
        }
        let mut optimizer = Optimizer::new(options.optimizer, options.lr, groups, &store)?;
        optimizer.set_clip_norm(options.clip_norm)?;
        Ok(Self {
            model,
            store,
            optimizer,
            grads: Gradients::new(),
            ws: Workspace::default(),
            step: 0,
        })
    }

    /// Resumes from a checkpoint written by [`Trainer::save`]: same config, parameters,
    /// optimiser state and step count. A checkpoint without optimiser state is refused (saying
    /// so: [`Trainer::load_for_inference`] reads it); so is one whose stored config describes
    /// more tensor data than the file holds, or (with [`TrainOptions::max_memory_bytes`]) whose
    /// model, training state and file together would not fit, all before the model is built.
    #[cfg(feature = "checkpoint")]
    pub fn resume(path: &Path, options: &TrainOptions) -> Result<(Self, CheckpointInfo)> {
        options.validate()?;
        let info = checkpoint::read_info(path)?;
        if !info.has_optimizer_state {
            return Err(ModelError::Checkpoint {
                path: path.display().to_string(),
                why: "no optimiser state in this checkpoint (it was saved without one): it can be \
                      evaluated or used for predictions, but training cannot resume from it"
                    .into(),
            });
        }
        check_memory::<F>(&info.config, options, Purpose::Train, info.file_bytes)?;
        let mut trainer = Self::build(&info.config, 0, options)?;
        let info = checkpoint::load(path, &info.config, &mut trainer.store, Some(&mut trainer.optimizer))?;
        trainer.step = info.step;
        Ok((trainer, info))
    }

    /// Loads a checkpoint to evaluate or predict with: the parameters, buffers, config and step,
    /// without the optimiser state (which it does not need, so a checkpoint saved without one
    /// loads too). Every check of [`checkpoint::load`] applies (names, shapes, dtypes, finite
    /// values). With [`TrainOptions::max_memory_bytes`], the parameters, forward activations
    /// for [`TrainOptions::batch_size`] rows and the file read whole must fit. The trainer's
    /// optimiser (from `options`) starts fresh: training it further is fine-tuning, not a
    /// resume.
    #[cfg(feature = "checkpoint")]
    pub fn load_for_inference(path: &Path, options: &TrainOptions) -> Result<(Self, CheckpointInfo)> {
        options.validate()?;
        let info = checkpoint::read_info(path)?;
        check_memory::<F>(&info.config, options, Purpose::Inference, info.file_bytes)?;
        let mut trainer = Self::build(&info.config, 0, options)?;
        let info = checkpoint::load(path, &info.config, &mut trainer.store, None)?;
        trainer.step = info.step;
        Ok((trainer, info))
    }

    /// Writes parameters, buffers, optimiser state, config and step atomically.
    #[cfg(feature = "checkpoint")]
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        checkpoint::save(
            path,
            self.model.config(),
            &self.store,
            Some(&self.optimizer),
            self.step,
            extra,
        )
    }

    /// One step on a batch with labels; returns the loss. A non-finite loss is an error and
    /// leaves the parameters untouched: [`ModelError::NonFiniteLoss`] says which task's term
    /// is not finite, which parameter (if any) holds NaN or infinity and which rows of the
    /// batch have a non-finite output, dense value or label ([`ModelError::with_row_ids`]
    /// names them by the caller's ids). The report is built only on that error path: a
    /// successful warm step allocates nothing.
    pub fn step(&mut self, input: &ModelInput<'_, F>) -> Result<f64> {
        let labels = input
            .labels
            .ok_or_else(|| ModelError::Input("a training batch needs labels".into()))?;
        self.model.set_training(true);
        let tape = Tape::with_workspace(&self.store, std::mem::take(&mut self.ws))
            .with_precision(self.model.config().precision);
        let result = (|| {
            let logits = self.model.logits(&tape, input)?;
            let loss = self.model.loss(&tape, logits, labels)?;
            let value = loss.scalar()?.f64();
            if !value.is_finite() {
                return Err(diagnose::non_finite_loss(
                    &self.model,
                    &self.store,
                    self.step,
                    &tape,
                    logits,
                    input,
                    value,
                ));
            }
            tape.backward(loss, &mut self.grads)?;
            Ok(value)
        })();
        self.ws = tape.into_workspace();
        let loss = result?;
        self.optimizer.step(&mut self.store, &self.grads)?;
        self.model.commit(&mut self.store);
        // Saturating: a step count read from a checkpoint may be as large as u64 allows.
        self.step = self.step.saturating_add(1);
        Ok(loss)
    }

    /// Probabilities `[n, T]` in inference mode (running statistics, no dropout). Predictions
    /// that are NaN are an error ([`ModelError::NonFinitePredictions`], naming the rows).
    pub fn predict(&mut self, input: &ModelInput<'_, F>) -> Result<Array2<F>> {
        self.model.set_training(false);
        let p = self.model.predict(&self.store, input, &mut self.ws);
        self.model.set_training(true);
        p.map_err(|e| match e {
            ModelError::NonFinitePredictions(mut r) => {
                r.step = self.step;
                ModelError::NonFinitePredictions(r)
            }
            e => e,
        })
    }

    /// The loss of a labelled batch without training on it (validation). A non-finite loss is
    /// an error, as in [`Trainer::step`].
    pub fn evaluate_loss(&mut self, input: &ModelInput<'_, F>) -> Result<f64> {
        let labels = input
            .labels
            .ok_or_else(|| ModelError::Input("evaluating a loss needs labels".into()))?;
        self.model.set_training(false);
        let tape =
            Tape::no_grad(&self.store, std::mem::take(&mut self.ws)).with_precision(self.model.config().precision);
        let result = (|| {
            let logits = self.model.logits(&tape, input)?;
            let value = self.model.loss(&tape, logits, labels)?.scalar()?.f64();
            if !value.is_finite() {
                return Err(diagnose::non_finite_loss(
                    &self.model,
                    &self.store,
                    self.step,
                    &tape,
                    logits,
                    input,
                    value,
                ));
            }
            Ok(value)
        })();
        self.ws = tape.into_workspace();
        self.model.set_training(true);
        result
    }

    /// The model.
    pub fn model(&self) -> &Model<F> {
        &self.model
    }

    /// Trains and predicts with the matrix products in `precision` from now on (see
    /// [`Model::set_precision`]); saved checkpoints record it in their config.
    pub fn set_precision(&mut self, precision: hinet_autograd::Precision) {
        self.model.set_precision(precision);
    }

    /// Mutable model (mode switches).
    pub fn model_mut(&mut self) -> &mut Model<F> {
        &mut self.model
    }

    /// The parameters.
    pub fn store(&self) -> &ParamStore<F> {
        &self.store
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &Optimizer<F> {
        &self.optimizer
    }

    /// The optimiser, to change its learning rate or schedule.
    pub fn optimizer_mut(&mut self) -> &mut Optimizer<F> {
        &mut self.optimizer
    }

    /// Takes the trainer apart: model, parameters, optimiser and step count (a data-parallel
    /// trainer shards them; [`Trainer::from_parts`] puts a gathered one back together).
    pub fn into_parts(self) -> (Model<F>, ParamStore<F>, Optimizer<F>, u64) {
        (self.model, self.store, self.optimizer, self.step)
    }

    /// A trainer from parts that belong together: `store` holds `model`'s parameters and
    /// `optimizer` was built over it (as [`Trainer::into_parts`] returns them).
    pub fn from_parts(model: Model<F>, store: ParamStore<F>, optimizer: Optimizer<F>, step: u64) -> Self {
        Self {
            model,
            store,
            optimizer,
            grads: Gradients::new(),
            ws: Workspace::default(),
            step,
        }
    }

    /// Steps taken (including those before a resume).
    pub fn steps(&self) -> u64 {
        self.step
    }
}
