//! The parameter store: named tensors that outlive any tape.
//!
//! A tape is built for one step and dropped; parameters live here, under stable ids and
//! hierarchical names (`scenario.shared.expert.3.layer.0.weight`), so the optimiser can
//! update them by id and a checkpoint can save them by name.

use crate::error::{AutogradError, Result};
use crate::float::Float;
use ndarray::ArrayD;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Versions of parameter values, unique in the process: every registration and every write
/// access takes the next one, so a version names one value of one tensor (a clone of the store
/// keeps it, and the same value).
static NEXT_VERSION: AtomicU64 = AtomicU64::new(1);

fn next_version() -> u64 {
    NEXT_VERSION.fetch_add(1, Ordering::Relaxed)
}

/// Stable handle of a tensor in a [`ParamStore`]: its registration index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub(crate) usize);

impl ParamId {
    /// The registration index (0, 1, 2, ... in the order tensors were added).
    pub fn index(self) -> usize {
        self.0
    }
}

/// Whether the optimiser trains a tensor or a layer only keeps it as state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Trained: receives gradients.
    Trainable,
    /// State that is saved and restored but not trained (batch-norm running statistics).
    Buffer,
}

#[derive(Debug, Clone)]
struct Entry<F> {
    name: String,
    kind: ParamKind,
    value: ArrayD<F>,
    /// Changes whenever `value` may have (see [`next_version`]): what caches of the value
    /// (the bf16 weights of one-row predictions) compare against.
    version: u64,
}

/// Named tensors with stable ids. Values are read by tapes and written by optimisers.
#[derive(Debug, Clone, Default)]
pub struct ParamStore<F> {
    entries: Vec<Entry<F>>,
    by_name: HashMap<String, ParamId>,
}

impl<F: Float> ParamStore<F> {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    /// Registers a trainable tensor under a unique name.
    pub fn add(&mut self, name: impl Into<String>, value: ArrayD<F>) -> Result<ParamId> {
        self.insert(name.into(), ParamKind::Trainable, value)
    }

    /// Registers a non-trainable state tensor (saved in checkpoints, never given gradients).
    pub fn add_buffer(&mut self, name: impl Into<String>, value: ArrayD<F>) -> Result<ParamId> {
        self.insert(name.into(), ParamKind::Buffer, value)
    }

    fn insert(&mut self, name: String, kind: ParamKind, value: ArrayD<F>) -> Result<ParamId> {
        if self.by_name.contains_key(&name) {
            return Err(AutogradError::DuplicateName(name));
        }
        // Standard layout is what the kernels and checkpoints expect; normalise once here.
        let value = if value.is_standard_layout() {
            value
        } else {
            value.as_standard_layout().into_owned()
        };
        let id = ParamId(self.entries.len());
        self.by_name.insert(name.clone(), id);
        self.entries.push(Entry {
            name,
            kind,
            value,
            version: next_version(),
        });
        Ok(id)
    }

    /// Number of tensors (trainable and buffers).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Total number of scalar elements in trainable tensors.
    pub fn num_trainable_elements(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.kind == ParamKind::Trainable)
            .map(|e| e.value.len())
            .sum()
    }

    /// All ids in registration order.
    pub fn ids(&self) -> impl Iterator<Item = ParamId> + '_ {
        (0..self.entries.len()).map(ParamId)
    }

    /// Looks a tensor up by its name.
    pub fn id(&self, name: &str) -> Result<ParamId> {
        self.by_name
            .get(name)
            .copied()
            .ok_or_else(|| AutogradError::UnknownParam(name.to_string()))
    }

    fn entry(&self, id: ParamId) -> &Entry<F> {
        // Ids are only minted by this store's `insert`, and entries are never removed.
        &self.entries[id.0]
    }

    /// The name a tensor was registered under.
    pub fn name(&self, id: ParamId) -> &str {
        &self.entry(id).name
    }

    /// Trainable tensor or buffer.
    pub fn kind(&self, id: ParamId) -> ParamKind {
        self.entry(id).kind
    }

    /// The current value.
    pub fn value(&self, id: ParamId) -> &ArrayD<F> {
        &self.entry(id).value
    }

    /// The current value, for in-place updates (optimisers, running statistics).
    pub fn value_mut(&mut self, id: ParamId) -> &mut ArrayD<F> {
        let entry = &mut self.entries[id.0];
        // Any write access may change the value: copies made from the old one are stale.
        entry.version = next_version();
        &mut entry.value
    }

    /// A number that changes whenever the value may have ([`ParamStore::value_mut`],
    /// [`ParamStore::set`]) and is never reused in the process: a copy derived from the value
    /// (the bf16 weights of a one-row prediction) is current while the version is the same.
    pub fn version(&self, id: ParamId) -> u64 {
        self.entry(id).version
    }

    /// Replaces a value, refusing a different shape (checkpoint loading).
    pub fn set(&mut self, id: ParamId, value: ArrayD<F>) -> Result<()> {
        let entry = &mut self.entries[id.0];
        if entry.value.shape() != value.shape() {
            return Err(AutogradError::ParamShape {
                name: entry.name.clone(),
                expected: entry.value.shape().to_vec(),
                found: value.shape().to_vec(),
            });
        }
        entry.value.assign(&value);
        entry.version = next_version();
        Ok(())
    }
}
