//! Embedding tables sharded by row: row `r` of a table lives on rank `r mod N` (round-robin,
//! which balances both hashed ids and frequency-ordered vocabularies), with its optimiser
//! state. Each step:
//!
//! 1. every rank lists the distinct ids of its batch per table and asks each owner for its rows
//!    (one all-to-all of ids, one of rows back);
//! 2. the rows fill a compact table (distinct ids of this batch only) that the model reads with
//!    remapped ids, so forward and backward are unchanged;
//! 3. the compact table's row gradients go back to the owners in the order the ids were asked
//!    (one all-to-all, no ids needed), weighted by the rank's share of the global batch;
//! 4. each owner sums the rows it received (duplicates across ranks in rank order) and applies
//!    the optimiser to its shard: lazily to those rows, or densely to the whole shard, as one
//!    process would to the whole table.
//!
//! Per step a rank sends its distinct ids once and receives and returns one row per distinct
//! id: the traffic grows with the batch, never with the vocabulary.

use crate::comm::Communicator;
use crate::error::{DistError, Result};
use crate::wire::{WireFloat, count_u64, decode_all, get_u64, put_u64};
use hinet_autograd::{Float, Gradients, ParamGrad, ParamId, ParamStore};
use hinet_optim::{OptimState, Optimizer, ParamGroup};
use ndarray::{Array2, ArrayD, Axis};

/// One table: its compact stand-in in the model's store and its shard in the shard store.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) name: String,
    /// The model's parameter (a compact table of this batch's distinct ids).
    pub(crate) working: ParamId,
    /// This rank's rows in the shard store.
    pub(crate) shard: ParamId,
    pub(crate) vocab: usize,
    pub(crate) dim: usize,
}

/// Rows of a `vocab`-row table that rank `rank` of `size` owns.
pub(crate) fn shard_rows(vocab: usize, rank: usize, size: usize) -> usize {
    if rank >= vocab {
        0
    } else {
        (vocab - rank).div_ceil(size)
    }
}

/// The rows `rank, rank + size, ...` of `full` (`[vocab, dim]`).
pub(crate) fn take_shard<F: Float>(full: &ArrayD<F>, rank: usize, size: usize) -> ArrayD<F> {
    let vocab = full.shape()[0];
    let dim = full.shape().get(1).copied().unwrap_or(1);
    let rows = shard_rows(vocab, rank, size);
    let mut out = ArrayD::from_elem(vec![rows, dim], F::zero());
    for (i, mut row) in out.axis_iter_mut(Axis(0)).enumerate() {
        row.assign(&full.index_axis(Axis(0), rank + i * size));
    }
    out
}

/// This rank's shards, their optimiser and the bookkeeping of the step in flight.
#[derive(Debug)]
pub(crate) struct Shards<F> {
    pub(crate) tables: Vec<Table>,
    pub(crate) store: ParamStore<F>,
    pub(crate) optimizer: Optimizer<F>,
    grads: Gradients<F>,
    rank: usize,
    size: usize,
    /// Per table, the sorted distinct global ids of this rank's batch.
    distinct: Vec<Vec<usize>>,
    /// Per source rank, per table, the shard rows it asked for, in its order.
    asked: Vec<Vec<Vec<usize>>>,
    /// The batch's ids remapped into the compact tables (field-major, as the input).
    pub(crate) local_ids: Vec<usize>,
    /// Bytes this rank sent in the last step's exchanges (ids, rows, gradients).
    pub(crate) bytes_last_step: usize,
}

impl<F: WireFloat> Shards<F> {
    /// Takes the tables out of `store` (leaving empty compact tables behind) and keeps this
    /// rank's rows, with their optimiser state from `state` (a whole-model state).
    pub(crate) fn split(
        comm: &dyn Communicator,
        store: &mut ParamStore<F>,
        tables: &[ParamId],
        groups: &[ParamGroup],
        full: &Optimizer<F>,
        state: &OptimState<F>,
    ) -> Result<Self> {
        let (rank, size) = (comm.rank(), comm.size());
        let mut shard_store = ParamStore::new();
        let mut list = Vec::new();
        for &id in tables {
            let name = store.name(id).to_string();
            let shape = store.value(id).shape().to_vec();
            let (vocab, dim) = (shape[0], shape.get(1).copied().unwrap_or(1));
            let rows = take_shard(store.value(id), rank, size);
            // The model keeps a compact table, grown to the batch's distinct ids each step.
            *store.value_mut(id) = ArrayD::zeros(vec![0, dim]);
            let shard = shard_store.add(name.clone(), rows).map_err(|e| DistError::Mismatch {
                rank,
                why: format!("table {name}: {e}"),
            })?;
            list.push(Table {
                name,
                working: id,
                shard,
                vocab,
                dim,
            });
        }
        // Each table keeps its group's settings (lazy or dense, row penalty, rate scale); a
        // table in no group gets the default group's, as in the whole model.
        let shard_groups: Vec<ParamGroup> = groups
            .iter()
            .map(|g| ParamGroup {
                params: list
                    .iter()
                    .filter(|t| g.params.contains(&t.working))
                    .map(|t| t.shard)
                    .collect(),
                ..g.clone()
            })
            .filter(|g| !g.params.is_empty())
            .collect();
        let mut optimizer = Optimizer::new(*full.kind(), full.base_lr(), shard_groups, &shard_store)?;
        optimizer.set_schedule(full.schedule())?;
        // The tables' state rows, and the counters they were updated with.
        let mut shard_state = OptimState {
            tensors: Vec::new(),
            meta: state.meta.clone(),
        };
        shard_state
            .meta
            .retain(|k, _| k == "optimizer" || k == "step" || list.iter().any(|t| k == &format!("{}.step", t.name)));
        for (name, tensor) in &state.tensors {
            if list.iter().any(|t| name.starts_with(&format!("{}.", t.name))) {
                shard_state.tensors.push((name.clone(), take_shard(tensor, rank, size)));
            }
        }
        optimizer.load_state(&shard_state)?;
        let n = list.len();
        Ok(Self {
            tables: list,
            store: shard_store,
            optimizer,
            grads: Gradients::new(),
            rank,
            size,
            distinct: vec![Vec::new(); n],
            asked: vec![vec![Vec::new(); n]; size],
            local_ids: Vec::new(),
            bytes_last_step: 0,
        })
    }

    /// Steps 1-2: fetches the rows of this batch's ids (`sparse`, field-major over `rows`) into
    /// the compact tables of `store`, and remaps the ids into `local_ids`. A collective: every
    /// rank calls it, with an empty batch when it has none.
    pub(crate) fn fetch(
        &mut self,
        comm: &dyn Communicator,
        sparse: &[usize],
        rows: usize,
        store: &mut ParamStore<F>,
    ) -> Result<()> {
        let (size, rank) = (self.size, self.rank);
        self.bytes_last_step = 0;
        // Distinct ids per table, and the batch remapped onto them.
        self.local_ids.clear();
        self.local_ids.resize(sparse.len(), 0);
        for (f, t) in self.tables.iter().enumerate() {
            let ids = sparse.get(f * rows..(f + 1) * rows).unwrap_or(&[]);
            if let Some(&bad) = ids.iter().find(|&&i| i >= t.vocab) {
                return Err(DistError::Mismatch {
                    rank,
                    why: format!("id {bad} of table {} is out of range (vocabulary {})", t.name, t.vocab),
                });
            }
            let d = &mut self.distinct[f];
            d.clear();
            d.extend_from_slice(ids);
            d.sort_unstable();
            d.dedup();
            for (k, &id) in ids.iter().enumerate() {
                // Present by construction.
                self.local_ids[f * rows + k] = d.binary_search(&id).unwrap_or(0);
            }
        }
        // Ask each owner: per table a count, then the ids.
        let send: Vec<Vec<u8>> = (0..size)
            .map(|owner| {
                let mut m = Vec::new();
                for d in &self.distinct {
                    put_u64(d.iter().filter(|&&id| id % size == owner).count() as u64, &mut m);
                }
                for d in &self.distinct {
                    for &id in d.iter().filter(|&&id| id % size == owner) {
                        put_u64(id as u64, &mut m);
                    }
                }
                m
            })
            .collect();
        self.bytes_last_step += send.iter().map(Vec::len).sum::<usize>();
        let asks = comm.all_to_all(&send)?;
        let nt = self.tables.len();
        // Answer with the rows, in the order asked.
        let mut answers = Vec::with_capacity(size);
        for (from, msg) in asks.iter().enumerate() {
            let mut at = nt;
            let mut out = Vec::new();
            for f in 0..nt {
                let count = get_u64(msg, f) as usize;
                let t = &self.tables[f];
                let shard = self.store.value(t.shard);
                let shard_len = shard.shape()[0];
                let slice = shard.as_slice().unwrap_or(&[]);
                let asked = &mut self.asked[from][f];
                asked.clear();
                for k in 0..count {
                    let id = get_u64(msg, at + k) as usize;
                    let row = id / size;
                    if id % size != rank || row >= shard_len || count_u64(msg) < at + count {
                        return Err(DistError::Mismatch {
                            rank,
                            why: format!("rank {from} asked for row {id} of table {}, not held here", t.name),
                        });
                    }
                    asked.push(row);
                    F::put(&slice[row * t.dim..(row + 1) * t.dim], &mut out);
                }
                at += count;
            }
            answers.push(out);
        }
        self.bytes_last_step += answers.iter().map(Vec::len).sum::<usize>();
        let replies = comm.all_to_all(&answers)?;
        // Fill the compact tables: distinct id k of table f comes from owner id % size, in order.
        let mut decoded: Vec<Vec<F>> = decode_all(&replies);
        let mut cursor = vec![0usize; size];
        for (f, t) in self.tables.iter().enumerate() {
            let d = &self.distinct[f];
            let mut table = Array2::<F>::zeros((d.len().max(1), t.dim));
            for (k, &id) in d.iter().enumerate() {
                let owner = id % size;
                let at = cursor[owner];
                let src = decoded[owner].get(at..at + t.dim).ok_or_else(|| DistError::Mismatch {
                    rank,
                    why: format!("rank {owner} sent fewer rows of table {} than asked", t.name),
                })?;
                table.row_mut(k).iter_mut().zip(src).for_each(|(a, &b)| *a = b);
                cursor[owner] += t.dim;
            }
            *store.value_mut(t.working) = table.into_dyn();
        }
        decoded.clear();
        Ok(())
    }

    /// Steps 3-4: sends the compact tables' gradients (times `weight`) to their owners, who sum
    /// them into this step's shard gradients. Removes the tables' gradients from `grads`.
    pub(crate) fn push_gradients(
        &mut self,
        comm: &dyn Communicator,
        grads: &mut Gradients<F>,
        weight: F,
    ) -> Result<()> {
        let size = self.size;
        let mut send = vec![Vec::new(); size];
        let mut zero = Vec::new();
        for (f, t) in self.tables.iter().enumerate() {
            zero.clear();
            zero.resize(t.dim, F::zero());
            // Compact row k's gradient (rows are sorted and unique; all are normally present).
            let g = grads.get(t.working);
            let mut scaled = Vec::with_capacity(t.dim);
            for (owner, out) in send.iter_mut().enumerate() {
                for (k, &id) in self.distinct[f].iter().enumerate() {
                    if id % size != owner {
                        continue;
                    }
                    let row: &[F] = match &g {
                        Some(ParamGrad::Rows { rows, values }) => match rows.binary_search(&k) {
                            Ok(i) => values
                                .as_slice()
                                .and_then(|s| s.get(i * t.dim..(i + 1) * t.dim))
                                .unwrap_or(&zero),
                            Err(_) => &zero,
                        },
                        Some(ParamGrad::Dense(d)) => d
                            .as_slice()
                            .and_then(|s| s.get(k * t.dim..(k + 1) * t.dim))
                            .unwrap_or(&zero),
                        None => &zero,
                    };
                    scaled.clear();
                    scaled.extend(row.iter().map(|&v| v * weight));
                    F::put(&scaled, out);
                }
            }
        }
        for t in &self.tables {
            grads.remove(t.working);
        }
        self.bytes_last_step += send.iter().map(Vec::len).sum::<usize>();
        let got = comm.all_to_all(&send)?;
        // Sum what each rank sent, in rank order, per table.
        let mut values: Vec<Vec<F>> = vec![Vec::new(); self.tables.len()];
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); self.tables.len()];
        for (from, bytes) in got.iter().enumerate() {
            let mut v = Vec::new();
            F::get(bytes, &mut v);
            let mut at = 0;
            for (f, t) in self.tables.iter().enumerate() {
                for &row in &self.asked[from][f] {
                    let src = v.get(at..at + t.dim).ok_or_else(|| DistError::Mismatch {
                        rank: self.rank,
                        why: format!(
                            "rank {from} sent fewer gradient rows of table {} than it asked for",
                            t.name
                        ),
                    })?;
                    rows[f].push(row);
                    values[f].extend_from_slice(src);
                    at += t.dim;
                }
            }
        }
        self.grads.clear();
        for (f, t) in self.tables.iter().enumerate() {
            // Every shard gets a gradient, empty or not, so its update count advances with the
            // steps as the whole table's does in one process.
            self.grads.set_rows(t.shard, &rows[f], &values[f], t.dim);
        }
        Ok(())
    }

    /// Sum of squares of this rank's shard gradients (this step).
    pub(crate) fn grad_sum_sq(&self) -> f64 {
        self.tables
            .iter()
            .filter_map(|t| self.grads.get(t.shard))
            .map(|g| match g {
                ParamGrad::Rows { values, .. } => values.iter().map(|&v| v.f64() * v.f64()).sum::<f64>(),
                ParamGrad::Dense(d) => d.iter().map(|&v| v.f64() * v.f64()).sum::<f64>(),
            })
            .sum()
    }

    /// Multiplies the shard gradients (clipping).
    pub(crate) fn scale(&mut self, factor: F) {
        self.grads.scale(factor);
    }

    /// Applies the optimiser to the shards.
    pub(crate) fn update(&mut self) -> Result<()> {
        self.optimizer.step(&mut self.store, &self.grads)?;
        Ok(())
    }
}
