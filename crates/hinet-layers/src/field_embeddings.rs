//! `FieldEmbeddings`: looks up N categorical fields and concatenates them with dense numeric
//! features into the row vector `x` of the model.

use crate::embedding::Embedding;
use crate::error::{InLayer, LayerError, Result, config_error};
use crate::module::Module;
use hinet_autograd::{Float, ParamId, ParamStore, Tape, Var, concat};
use ndarray::ArrayView2;
use rand::Rng;

/// One embedding table per field (`{name}.field.{i}.weight`), then the dense columns.
/// Output width: `sum of the fields' dims + dense_features`.
#[derive(Debug, Clone)]
pub struct FieldEmbeddings {
    name: String,
    fields: Vec<Embedding>,
    dense_features: usize,
}

impl FieldEmbeddings {
    /// `fields[i] = (vocabulary, dimension)` of categorical field i.
    pub fn new<F: Float, R: Rng + ?Sized>(
        store: &mut ParamStore<F>,
        name: &str,
        fields: &[(usize, usize)],
        dense_features: usize,
        rng: &mut R,
    ) -> Result<Self> {
        if fields.is_empty() && dense_features == 0 {
            return config_error(
                name,
                "no categorical fields and no dense features: the input would be empty",
            );
        }
        let fields = fields
            .iter()
            .enumerate()
            .map(|(i, &(vocab, dim))| Embedding::new(store, &format!("{name}.field.{i}"), vocab, dim, rng))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            name: name.to_string(),
            fields,
            dense_features,
        })
    }

    /// Width of the output row vector.
    pub fn out_features(&self) -> usize {
        self.fields.iter().map(Embedding::dim).sum::<usize>() + self.dense_features
    }

    /// Number of categorical fields.
    pub fn num_fields(&self) -> usize {
        self.fields.len()
    }

    /// The field tables.
    pub fn fields(&self) -> &[Embedding] {
        &self.fields
    }

    /// `ids` is field-major: `ids[f * rows + r]` is field f of row r (each field's ids contiguous,
    /// so each lookup reads one slice). `dense` is `[rows, dense_features]`.
    pub fn forward<'t, F: Float>(
        &self,
        tape: &'t Tape<'t, F>,
        rows: usize,
        ids: &[usize],
        dense: Option<ArrayView2<'_, F>>,
    ) -> Result<Var<'t, F>> {
        if ids.len() != rows * self.fields.len() {
            return Err(LayerError::Input {
                layer: self.name.clone(),
                why: format!(
                    "expected {} ids ({rows} rows x {} fields), got {}",
                    rows * self.fields.len(),
                    self.fields.len(),
                    ids.len()
                ),
            });
        }
        let mut parts: smallvec::SmallVec<[Var<'t, F>; 32]> = smallvec::SmallVec::new();
        for (f, table) in self.fields.iter().enumerate() {
            parts.push(table.forward(tape, &ids[f * rows..(f + 1) * rows])?);
        }
        match (dense, self.dense_features) {
            (Some(d), n) if d.dim() == (rows, n) && n > 0 => parts.push(tape.constant(d.into_dyn())),
            (None, 0) => {}
            (Some(d), 0) if d.ncols() == 0 => {}
            (d, n) => {
                return Err(LayerError::Input {
                    layer: self.name.clone(),
                    why: format!("expected dense features [{rows}, {n}], got {:?}", d.map(|d| d.dim())),
                });
            }
        }
        if parts.len() == 1 {
            return Ok(parts[0]);
        }
        concat(&parts, 1).in_layer(&self.name)
    }
}

impl<F: Float> Module<F> for FieldEmbeddings {
    fn state(&self) -> Vec<ParamId> {
        self.fields.iter().map(Embedding::table).collect()
    }

    fn set_training(&mut self, _training: bool) {}
}
