//! `DistTrainer`: one model trained by N ranks, each on its own rows, as one process with the
//! N batches together would train it.
//!
//! A step on rank k (n_k rows of a global batch of n = sum n_k):
//! forward and backward on the local rows (input batch norm with global statistics), then
//! every gradient is weighted by n_k / n and summed over the ranks, so it is the gradient of the
//! global batch's mean loss: dense tensors in buckets, embedding rows through their owners
//! (sharded) or gathered by every rank (replicated). Clipping uses the global norm; every rank
//! then applies the same update to the replicated parameters, and each owner to its rows.

use crate::buckets::{DEFAULT_BUCKET_VALUES, DenseReducer};
use crate::comm::Communicator;
use crate::error::{DistError, Result};
use crate::replicas::CommSum;
use crate::shards::{Shards, shard_rows};
use crate::wire::{WireFloat, decode_all, get_u64, put_u64};
use hinet_autograd::{Gradients, ParamGrad, ParamId, ParamStore, Tape, Workspace};
use hinet_layers::Module;
use hinet_model::{MetricsTable, Model, ModelConfig, ModelError, ModelInput, TrainOptions, Trainer};
use hinet_optim::{OptimState, Optimizer, ParamGroup, clip_coefficient};
use ndarray::{Array2, ArrayD, Axis};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// This rank's predictions and labels for [`DistTrainer::metrics_add`] (scenario, scores and
/// labels of each row, as they will be sent).
#[derive(Debug, Default)]
pub struct MetricsGather {
    rows: Vec<u8>,
}

/// Where the embedding tables live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbeddingPlacement {
    /// Row `r` of each table on rank `r mod N`, with its optimiser state.
    Sharded,
    /// Every rank holds every table; the touched rows' gradients are gathered by all.
    Replicated,
    /// Sharded when the tables together have at least this many rows, else replicated.
    Auto {
        /// Rows (all tables together) from which the tables are sharded.
        shard_from_rows: usize,
    },
}

impl Default for EmbeddingPlacement {
    /// Sharded from one million rows: below that, a replicated table costs each rank at most
    /// a few tens of MB and saves two all-to-all exchanges per step.
    fn default() -> Self {
        EmbeddingPlacement::Auto {
            shard_from_rows: 1_000_000,
        }
    }
}

/// Settings of the data-parallel step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistOptions {
    /// Where the embedding tables live.
    pub placement: EmbeddingPlacement,
    /// Values per bucket of the dense gradients' sum.
    pub bucket_values: usize,
}

impl Default for DistOptions {
    fn default() -> Self {
        Self {
            placement: EmbeddingPlacement::default(),
            bucket_values: DEFAULT_BUCKET_VALUES,
        }
    }
}

/// Time and traffic of the steps so far (this rank).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CommStats {
    /// Steps taken.
    pub steps: u64,
    /// Seconds in collectives that move data (embedding exchanges, gradient sums), after the
    /// ranks have met.
    pub comm_seconds: f64,
    /// Seconds waiting at the first collective after backward for the slowest rank (the
    /// ranks' compute imbalance, not communication).
    pub wait_seconds: f64,
    /// Seconds of whole steps.
    pub step_seconds: f64,
    /// Bytes this rank sent in embedding exchanges (sharded placement).
    pub exchange_bytes: u64,
    /// Bytes of dense gradients this rank contributed to sums.
    pub allreduce_bytes: u64,
}

/// A model trained data-parallel over the ranks of a [`Communicator`].
#[derive(Debug)]
pub struct DistTrainer<F: WireFloat> {
    comm: Arc<dyn Communicator>,
    model: Model<F>,
    store: ParamStore<F>,
    optimizer: Optimizer<F>,
    /// The optimiser's groups over the whole model (for a gathered checkpoint).
    groups: Vec<ParamGroup>,
    clip_norm: Option<f64>,
    grads: Gradients<F>,
    ws: Workspace<F>,
    dense: DenseReducer<F>,
    shards: Option<Shards<F>>,
    tables: Vec<ParamId>,
    step: u64,
    stats: CommStats,
}

impl<F: WireFloat> DistTrainer<F> {
    /// A fresh model of `config` from `seed`: every rank builds the same initial model (the
    /// same as [`Trainer::new`] with this seed), then keeps its shards.
    pub fn new(
        comm: Arc<dyn Communicator>,
        config: &ModelConfig,
        seed: u64,
        options: &TrainOptions,
        dist: DistOptions,
    ) -> Result<Self> {
        let trainer = Trainer::new(config, seed, options)?;
        Self::from_trainer(comm, trainer, dist)
    }

    /// Resumes from a checkpoint in the one-process format (written by [`Trainer::save`] or
    /// [`DistTrainer::save`], by any number of ranks): each rank reads it and keeps its shards,
    /// so a job may resume on a different number of ranks.
    pub fn resume(
        comm: Arc<dyn Communicator>,
        path: &Path,
        options: &TrainOptions,
        dist: DistOptions,
    ) -> Result<(Self, hinet_model::checkpoint::CheckpointInfo)> {
        let (trainer, info) = Trainer::resume(path, options)?;
        Ok((Self::from_trainer(comm, trainer, dist)?, info))
    }

    /// Distributes a one-process trainer: every rank passes the same one (same config, seed
    /// or checkpoint).
    pub fn from_trainer(comm: Arc<dyn Communicator>, trainer: Trainer<F>, dist: DistOptions) -> Result<Self> {
        let (mut model, mut store, optimizer, step) = trainer.into_parts();
        let rank = comm.rank();
        // Every rank must start from the same model: compare a fingerprint (step count, tensor
        // count, element count and a checksum of the values), summed across ranks in f64.
        let checksum: f64 = store
            .ids()
            .map(|id| store.value(id).iter().map(|v| v.f64()).sum::<f64>())
            .sum();
        let mine = [
            step as f64,
            store.len() as f64,
            store.ids().map(|id| store.value(id).len()).sum::<usize>() as f64,
            checksum,
        ];
        let mut all = mine;
        comm.sum_f64(&mut all)?;
        let n = comm.size() as f64;
        let differs = |(s, m): (&f64, &f64)| (s - m * n).abs() > 1e-9 * (1.0 + (m * n).abs());
        if all.iter().zip(&mine).any(differs) {
            return Err(DistError::Mismatch {
                rank,
                why: "the ranks start from different models (config, seed or checkpoint)".into(),
            });
        }
        model.set_replicas(Some(Arc::new(CommSum(Arc::clone(&comm)))));
        let tables = model.embedding_tables();
        let table_rows: usize = tables.iter().map(|&t| store.value(t).shape()[0]).sum();
        let sharded = comm.size() > 1
            && match dist.placement {
                EmbeddingPlacement::Sharded => true,
                EmbeddingPlacement::Replicated => false,
                EmbeddingPlacement::Auto { shard_from_rows } => table_rows >= shard_from_rows,
            };
        let groups = optimizer.groups().to_vec();
        let clip_norm = optimizer.clip_norm();
        let (optimizer, shards) = if sharded {
            let state = optimizer.state()?;
            let shards = Shards::split(&*comm, &mut store, &tables, &groups, &optimizer, &state)?;
            // The replicated part's optimiser: the same one, without the tables.
            let mut dense = optimizer;
            dense.detach(&tables);
            (dense, Some(shards))
        } else {
            (optimizer, None)
        };
        let mut optimizer = optimizer;
        // Clipping uses the global norm, computed here over every rank's part.
        optimizer.set_clip_norm(None)?;
        let mut shards = shards;
        if let Some(s) = &mut shards {
            s.optimizer.set_clip_norm(None)?;
        }
        let dense_params: Vec<ParamId> = store
            .ids()
            .filter(|&id| store.kind(id) == hinet_autograd::ParamKind::Trainable && !tables.contains(&id))
            .collect();
        let dense = DenseReducer::new(&store, dense_params, dist.bucket_values);
        Ok(Self {
            comm,
            model,
            store,
            optimizer,
            groups,
            clip_norm,
            grads: Gradients::new(),
            ws: Workspace::default(),
            dense,
            shards,
            tables,
            step,
            stats: CommStats::default(),
        })
    }

    /// This rank.
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// Number of ranks.
    pub fn ranks(&self) -> usize {
        self.comm.size()
    }

    /// Whether the embedding tables are sharded (else replicated).
    pub fn sharded(&self) -> bool {
        self.shards.is_some()
    }

    /// The model (its config, its modules).
    pub fn model(&self) -> &Model<F> {
        &self.model
    }

    /// Trains and predicts with the matrix products in `precision` from now on (see
    /// [`Model::set_precision`]).
    pub fn set_precision(&mut self, precision: hinet_autograd::Precision) {
        self.model.set_precision(precision);
    }

    /// Steps taken (including those before a resume).
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Time and traffic so far.
    pub fn stats(&self) -> CommStats {
        self.stats
    }

    /// The replicated optimiser (its learning rate and schedule; a sharded table's optimiser
    /// follows the same schedule).
    pub fn optimizer(&self) -> &Optimizer<F> {
        &self.optimizer
    }

    /// Bytes of parameters and optimiser state this rank holds for the embedding tables.
    pub fn table_bytes(&self) -> usize {
        let per = std::mem::size_of::<F>();
        match &self.shards {
            Some(s) => s
                .tables
                .iter()
                .map(|t| shard_rows(t.vocab, self.rank(), self.ranks()) * t.dim * per)
                .sum(),
            None => self.tables.iter().map(|&t| self.store.value(t).len() * per).sum(),
        }
    }

    /// One step on this rank's rows of the global batch; returns the global batch's loss. A
    /// collective: every rank calls it with its own rows (at least one each). A loss that is
    /// not finite on any rank stops every rank with an error, before any update.
    pub fn step(&mut self, input: &ModelInput<'_, F>) -> Result<f64> {
        let start = Instant::now();
        let labels = input
            .labels
            .ok_or_else(|| ModelError::Input("a training batch needs labels".into()))?;
        let comm = Arc::clone(&self.comm);
        // Embedding rows of this batch's ids.
        if let Some(shards) = &mut self.shards {
            let t = Instant::now();
            shards.fetch(&*comm, input.sparse, input.rows, &mut self.store)?;
            self.stats.comm_seconds += t.elapsed().as_secs_f64();
            self.stats.exchange_bytes += shards.bytes_last_step as u64;
        }
        let local_ids = self.shards.as_mut().map(|s| std::mem::take(&mut s.local_ids));
        let input_here = ModelInput {
            sparse: local_ids.as_deref().unwrap_or(input.sparse),
            ..*input
        };
        self.model.set_training(true);
        self.grads.clear();
        let tape = Tape::with_workspace(&self.store, std::mem::take(&mut self.ws))
            .with_precision(self.model.config().precision);
        let result = (|| -> std::result::Result<f64, ModelError> {
            let logits = self.model.logits(&tape, &input_here)?;
            let loss = self.model.loss(&tape, logits, labels)?;
            let value = loss.scalar()?.f64();
            if value.is_finite() {
                tape.backward(loss, &mut self.grads)?;
            }
            Ok(value)
        })();
        self.ws = tape.into_workspace();
        // One small sum: rows, weighted loss, ranks whose loss failed.
        let (rows, value) = (input.rows as f64, result.as_ref().copied().unwrap_or(f64::NAN));
        let mut status = [
            rows,
            if value.is_finite() { rows * value } else { 0.0 },
            f64::from(u8::from(!value.is_finite())),
        ];
        let t = Instant::now();
        comm.sum_f64(&mut status)?;
        self.stats.wait_seconds += t.elapsed().as_secs_f64();
        let loss = result?;
        if status[2] > 0.0 {
            if !loss.is_finite() {
                return Err(ModelError::Input(format!(
                    "rank {}: the loss is not finite ({loss}) at step {}; lower --lr or check the inputs",
                    self.rank(),
                    self.step
                ))
                .into());
            }
            return Err(DistError::Mismatch {
                rank: self.rank(),
                why: format!("another rank's loss is not finite at step {}: stopping", self.step),
            });
        }
        let weight = F::of(rows / status[0]);
        // Dense gradients, summed in buckets.
        let t = Instant::now();
        self.dense.reduce(&*comm, &self.store, &mut self.grads, weight)?;
        self.stats.allreduce_bytes += (self.dense.values_per_step() * F::BYTES) as u64;
        // Embedding rows: to their owners, or gathered by all.
        let mut sq_shards = 0.0;
        match &mut self.shards {
            Some(shards) => {
                shards.push_gradients(&*comm, &mut self.grads, weight)?;
                self.stats.exchange_bytes += shards.bytes_last_step as u64;
                let mut sq = [shards.grad_sum_sq()];
                comm.sum_f64(&mut sq)?;
                sq_shards = sq[0];
            }
            None => gather_rows(&*comm, &self.tables, &mut self.grads, weight)?,
        }
        self.stats.comm_seconds += t.elapsed().as_secs_f64();
        // The global norm: replicated gradients are the same on every rank, shards are summed.
        let sq_dense: f64 = self
            .grads
            .ids()
            .filter_map(|id| self.grads.get(id))
            .map(|g| match g {
                ParamGrad::Dense(d) => sum_sq(d.as_slice(), || d.iter().copied().collect()),
                ParamGrad::Rows { values, .. } => sum_sq(values.as_slice(), || values.iter().copied().collect()),
            })
            .sum();
        let norm = (sq_dense + sq_shards).sqrt();
        if !norm.is_finite() {
            return Err(DistError::Mismatch {
                rank: self.rank(),
                why: format!("the gradient norm is not finite at step {}: no update made", self.step),
            });
        }
        let clip = clip_coefficient(norm, self.clip_norm);
        if clip != 1.0 {
            self.grads.scale(F::of(clip));
            if let Some(s) = &mut self.shards {
                s.scale(F::of(clip));
            }
        }
        self.optimizer.step(&mut self.store, &self.grads)?;
        if let Some(s) = &mut self.shards {
            s.update()?;
        }
        self.model.commit(&mut self.store);
        self.step = self.step.saturating_add(1);
        self.stats.steps += 1;
        self.stats.step_seconds += start.elapsed().as_secs_f64();
        Ok(status[1] / status[0])
    }

    /// Probabilities `[rows, T]` of this rank's `input` (inference mode). A collective when the
    /// tables are sharded: every rank calls it, with `None` when it has no rows left.
    pub fn predict(&mut self, input: Option<&ModelInput<'_, F>>) -> Result<Array2<F>> {
        let comm = Arc::clone(&self.comm);
        if let Some(shards) = &mut self.shards {
            let (sparse, rows) = input.map_or((&[][..], 0), |i| (i.sparse, i.rows));
            shards.fetch(&*comm, sparse, rows, &mut self.store)?;
        }
        let Some(input) = input else {
            return Ok(Array2::zeros((0, self.model.config().num_tasks())));
        };
        // The batch's ids renumbered into the fetched rows (borrowed, not copied: the fields
        // below are disjoint from the shards).
        let input = ModelInput {
            sparse: self.shards.as_ref().map_or(input.sparse, |s| &s.local_ids[..]),
            ..*input
        };
        self.model.set_training(false);
        let p = self.model.predict(&self.store, &input, &mut self.ws);
        self.model.set_training(true);
        Ok(p?)
    }

    /// Metrics per (scenario, task) over every rank's rows: each rank predicts its own batches
    /// (any number), the scores and labels are gathered, and every rank computes the same
    /// table, exactly as one process would over all the rows (the AUC is order-independent).
    pub fn metrics<'a>(&mut self, batches: &mut dyn Iterator<Item = ModelInput<'a, F>>) -> Result<MetricsTable> {
        let mut gather = MetricsGather::default();
        loop {
            let batch = batches.next();
            if !self.metrics_add(&mut gather, batch.as_ref())? {
                break;
            }
        }
        self.metrics_finish(gather)
    }

    /// [`DistTrainer::metrics`] a batch at a time, for batches that cannot all be held (read
    /// from files): every rank calls it with each of its batches, then with `None` until it
    /// returns `false` (every rank is done). A collective.
    pub fn metrics_add(&mut self, gather: &mut MetricsGather, batch: Option<&ModelInput<'_, F>>) -> Result<bool> {
        let mut active = [f64::from(u8::from(batch.is_some()))];
        self.comm.sum_f64(&mut active)?;
        if active[0] == 0.0 {
            return Ok(false);
        }
        let p = self.predict(batch)?;
        if let Some(b) = batch {
            let labels = b
                .labels
                .ok_or_else(|| ModelError::Input("metrics need labels".into()))?;
            for ((&scenario, p), y) in b.scenario.iter().zip(p.rows()).zip(labels.rows()) {
                put_u64(scenario as u64, &mut gather.rows);
                for v in p.iter().chain(y.iter()) {
                    F::put(std::slice::from_ref(v), &mut gather.rows);
                }
            }
        }
        Ok(true)
    }

    /// Gathers what [`DistTrainer::metrics_add`] collected and computes the table (the same on
    /// every rank). A collective.
    pub fn metrics_finish(&self, gather: MetricsGather) -> Result<MetricsTable> {
        let t = self.model.config().num_tasks();
        let all = self.comm.all_gather(&gather.rows)?;
        let (mut scenario, mut preds, mut labels) = (Vec::new(), Vec::new(), Vec::new());
        let row_bytes = 8 + 2 * t * F::BYTES;
        let mut vals = Vec::with_capacity(2 * t);
        for bytes in &all {
            for row in bytes.chunks_exact(row_bytes) {
                scenario.push(get_u64(row, 0) as usize);
                vals.clear();
                F::get(&row[8..], &mut vals);
                preds.extend(vals[..t].iter().map(|v| v.f64()));
                labels.extend(vals[t..].iter().map(|v| v.f64()));
            }
        }
        let c = self.model.config();
        Ok(MetricsTable::compute(
            &c.scenarios,
            &c.tasks,
            &scenario,
            &preds,
            &labels,
            None,
        ))
    }

    /// The whole model as one process holds it, on rank 0 (the others return `None`): the
    /// shards' rows and optimiser state are gathered there. A collective.
    pub fn gather(&self) -> Result<Option<(ParamStore<F>, Optimizer<F>)>> {
        let comm = &*self.comm;
        let (rank, size) = (comm.rank(), comm.size());
        let Some(shards) = &self.shards else {
            if rank != 0 {
                return Ok(None);
            }
            let mut opt = self.optimizer.clone();
            opt.set_clip_norm(self.clip_norm)?;
            return Ok(Some((self.store.clone(), opt)));
        };
        // Each rank sends rank 0 its rows and state rows, table by table.
        let shard_state = shards.optimizer.state()?;
        let mut msg = Vec::new();
        for t in &shards.tables {
            F::put(shards.store.value(t.shard).as_slice().unwrap_or(&[]), &mut msg);
            for (name, tensor) in &shard_state.tensors {
                if name.starts_with(&format!("{}.", t.name)) {
                    F::put(tensor.as_slice().unwrap_or(&[]), &mut msg);
                }
            }
        }
        let mut send = vec![Vec::new(); size];
        send[0] = msg;
        let got = comm.all_to_all(&send)?;
        if rank != 0 {
            return Ok(None);
        }
        let decoded: Vec<Vec<F>> = decode_all(&got);
        let mut cursor = vec![0usize; size];
        let mut store = self.store.clone();
        let state_names: Vec<String> = shard_state.tensors.iter().map(|(n, _)| n.clone()).collect();
        let mut table_state = Vec::new();
        for t in &shards.tables {
            let names: Vec<&String> = state_names
                .iter()
                .filter(|n| n.starts_with(&format!("{}.", t.name)))
                .collect();
            let mut full: Vec<ArrayD<F>> = (0..=names.len()).map(|_| ArrayD::zeros(vec![t.vocab, t.dim])).collect();
            for (r, c) in cursor.iter_mut().enumerate() {
                let rows = shard_rows(t.vocab, r, size);
                for tensor in full.iter_mut() {
                    let src = decoded[r]
                        .get(*c..*c + rows * t.dim)
                        .ok_or_else(|| DistError::Mismatch {
                            rank,
                            why: format!("rank {r} sent too few rows of table {}", t.name),
                        })?;
                    for i in 0..rows {
                        tensor
                            .index_axis_mut(Axis(0), r + i * size)
                            .iter_mut()
                            .zip(&src[i * t.dim..(i + 1) * t.dim])
                            .for_each(|(a, &b)| *a = b);
                    }
                    *c += rows * t.dim;
                }
            }
            let mut full = full.into_iter();
            if let Some(values) = full.next() {
                *store.value_mut(t.working) = values;
            }
            for (name, tensor) in names.into_iter().zip(full) {
                table_state.push((name.clone(), tensor));
            }
        }
        // One optimiser over the whole model, with both parts' state.
        let dense_state = self.optimizer.state()?;
        let mut meta: BTreeMap<String, String> = dense_state.meta;
        for (k, v) in shard_state.meta {
            if k != "step" && k != "optimizer" {
                meta.insert(k, v);
            }
        }
        let mut tensors = dense_state.tensors;
        tensors.extend(table_state);
        let mut opt = Optimizer::new(
            *self.optimizer.kind(),
            self.optimizer.base_lr(),
            self.groups.clone(),
            &store,
        )?;
        opt.set_schedule(self.optimizer.schedule())?;
        opt.set_clip_norm(self.clip_norm)?;
        opt.load_state(&OptimState { tensors, meta })?;
        Ok(Some((store, opt)))
    }

    /// Writes a checkpoint in the one-process format (rank 0 gathers the shards and writes it,
    /// atomically, through a temporary file): it loads in one process, or on any number of
    /// ranks with [`DistTrainer::resume`]. A collective; ranks other than 0 write nothing.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let gathered = self.gather()?;
        // Rank 0's write result reaches every rank, so all fail or all go on together.
        let mut failed = [0.0f64];
        let mut err = None;
        if let Some((store, opt)) = gathered {
            let r = hinet_model::checkpoint::save(path, self.model.config(), &store, Some(&opt), self.step, extra);
            if let Err(e) = r {
                failed[0] = 1.0;
                err = Some(e);
            }
        }
        self.comm.sum_f64(&mut failed)?;
        if let Some(e) = err {
            return Err(e.into());
        }
        if failed[0] > 0.0 {
            return Err(DistError::Mismatch {
                rank: self.rank(),
                why: "rank 0 could not write the checkpoint".into(),
            });
        }
        Ok(())
    }
}

/// Sum of squares in f64, over a contiguous slice when there is one (the common case).
fn sum_sq<F: WireFloat>(values: Option<&[F]>, copy: impl FnOnce() -> Vec<F>) -> f64 {
    let owned;
    let v = match values {
        Some(v) => v,
        None => {
            owned = copy();
            &owned
        }
    };
    v.iter().map(|&x| x.f64() * x.f64()).sum()
}

/// Replicated tables: every rank's touched rows (weighted) are gathered by every rank and
/// summed in rank order, so every rank applies the same update.
fn gather_rows<F: WireFloat>(
    comm: &dyn Communicator,
    tables: &[ParamId],
    grads: &mut Gradients<F>,
    weight: F,
) -> Result<()> {
    for &id in tables {
        let mut msg = Vec::new();
        let mut width = 0;
        match grads.get(id) {
            Some(ParamGrad::Rows { rows, values }) => {
                width = values.ncols();
                put_u64(rows.len() as u64, &mut msg);
                put_u64(width as u64, &mut msg);
                for &r in rows {
                    put_u64(r as u64, &mut msg);
                }
                let scaled: Vec<F> = values.iter().map(|&v| v * weight).collect();
                F::put(&scaled, &mut msg);
            }
            Some(ParamGrad::Dense(d)) => {
                // A table read densely (never by the model today): send every row.
                let rows = d.shape()[0];
                width = d.len() / rows.max(1);
                put_u64(rows as u64, &mut msg);
                put_u64(width as u64, &mut msg);
                for r in 0..rows {
                    put_u64(r as u64, &mut msg);
                }
                let scaled: Vec<F> = d.iter().map(|&v| v * weight).collect();
                F::put(&scaled, &mut msg);
            }
            None => {
                put_u64(0, &mut msg);
                put_u64(0, &mut msg);
            }
        }
        let all = comm.all_gather(&msg)?;
        let (mut rows, mut values) = (Vec::new(), Vec::new());
        for m in &all {
            let (n, w) = (get_u64(m, 0) as usize, get_u64(m, 1) as usize);
            if n > 0 {
                width = w;
            }
            rows.extend((0..n).map(|k| get_u64(m, 2 + k) as usize));
            F::get(&m[(2 + n) * 8..], &mut values);
        }
        if width > 0 {
            grads.set_rows(id, &rows, &values, width);
        } else {
            grads.remove(id);
        }
    }
    Ok(())
}
