//! `Embedding`: one lookup table; its gradient is sparse (only the rows a batch touched).

use crate::error::{InLayer, LayerError, Result, config_error};
use crate::init::uniform;
use crate::module::Module;
use hinet_autograd::{Float, ParamId, ParamStore, Tape, Var};
use rand::Rng;

/// Parameter `{name}.weight` `[vocab, dim]`, initialised `U(-0.05, 0.05)` (small, as is usual
/// for CTR models whose tables are mostly rare ids).
#[derive(Debug, Clone)]
pub struct Embedding {
    name: String,
    table: ParamId,
    vocab: usize,
    dim: usize,
}

impl Embedding {
    /// Registers a `[vocab, dim]` table under `name`.
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        vocab: usize,
        dim: usize,
        rng: &mut R,
    ) -> Result<Self> {
        if vocab == 0 || dim == 0 {
            return config_error(name, format!("vocabulary {vocab} and dimension {dim} must be positive"));
        }
        let table = store
            .add(format!("{name}.weight"), uniform(&[vocab, dim], 0.05, rng))
            .in_layer(name)?;
        Ok(Self {
            name: name.to_string(),
            table,
            vocab,
            dim,
        })
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The table's id.
    pub fn table(&self) -> ParamId {
        self.table
    }

    /// The rows of `ids`: `[ids.len(), dim]`. An id outside the vocabulary is an error naming it.
    pub fn forward<'t, F: Float>(&self, tape: &'t Tape<'t, F>, ids: &[usize]) -> Result<Var<'t, F>> {
        if let Some((row, &id)) = ids.iter().enumerate().find(|&(_, &id)| id >= self.vocab) {
            return Err(LayerError::Input {
                layer: self.name.clone(),
                why: format!("id {id} (row {row}) is outside the vocabulary of {} ids", self.vocab),
            });
        }
        tape.param(self.table).gather_rows(ids).in_layer(&self.name)
    }
}

impl<F: Float> Module<F> for Embedding {
    fn state(&self) -> Vec<ParamId> {
        vec![self.table]
    }

    fn set_training(&mut self, _training: bool) {}
}
