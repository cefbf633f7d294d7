//! The training loss (spec section 2.4): `sum_j w_j * mean over rows of BCE_j`, each row
//! counted only through its own scenario's towers (the logits already are), plus L2.

use crate::error::{ModelError, Result};
use crate::model::Model;
use hinet_autograd::{Float, ParamStore, Tape, Var};
use ndarray::{ArrayView2, Dimension};

impl<F: Float> Model<F> {
    /// The scalar loss of `logits` `[n, T]` against `labels` `[n, T]`.
    pub fn loss<'t>(&self, tape: &'t Tape<'t, F>, logits: Var<'t, F>, labels: ArrayView2<'_, F>) -> Result<Var<'t, F>> {
        let c = self.config();
        let (n, t) = labels.dim();
        if logits.dim().slice() != [n, t] {
            return Err(ModelError::Input(format!(
                "labels {:?} do not match logits {:?}",
                labels.dim(),
                logits.shape()
            )));
        }
        let y = tape.constant(labels.into_dyn());
        let mut total: Option<Var<'t, F>> = None;
        let probabilities = if c.esmm {
            Some(self.probabilities(logits)?)
        } else {
            None
        };
        for j in 0..t {
            let term = self.task_term(logits, y, probabilities, j)?;
            total = Some(match total {
                Some(acc) => acc.add(term)?,
                None => term,
            });
        }
        let mut total = total.ok_or_else(|| ModelError::Input("no tasks".into()))?;
        if c.l2 > 0.0 {
            total = total.add(self.l2_penalty(tape, tape.store())?)?;
        }
        Ok(total)
    }

    /// Task `j`'s term of the loss: `w_j * mean over rows of BCE_j` (for ESMM's task 1, BCE on
    /// the clamped product of probabilities `probabilities`).
    pub(crate) fn task_term<'t>(
        &self,
        logits: Var<'t, F>,
        y: Var<'t, F>,
        probabilities: Option<Var<'t, F>>,
        j: usize,
    ) -> Result<Var<'t, F>> {
        let c = self.config();
        let yj = y.narrow(1, j, 1)?;
        let per_row = match (probabilities, j) {
            // ESMM's CTCVR is a product of probabilities: BCE on the probability itself,
            // clamped away from 0 and 1 so the logs stay finite.
            (Some(p), 1) => {
                let eps = F::of(1e-7);
                let p = p.narrow(1, 1, 1)?.mul_scalar(F::one() - eps - eps)?.add_scalar(eps)?;
                let pos = yj.mul(p.log()?)?.mul_scalar(F::of(c.pos_weights[j]))?;
                let neg = yj
                    .neg()?
                    .add_scalar(F::one())?
                    .mul(p.neg()?.add_scalar(F::one())?.log()?)?;
                pos.add(neg)?.neg()?
            }
            _ => logits
                .narrow(1, j, 1)?
                .bce_with_logits(yj, None, F::of(c.pos_weights[j]))?,
        };
        Ok(per_row.mean()?.mul_scalar(F::of(c.loss_weights[j]))?)
    }

    /// The terms of the loss one by one, `(task name, value)` and `("l2", penalty)`, for a
    /// report on a loss that is not finite (allocates; never on the training path).
    #[cfg(feature = "trainer")]
    pub(crate) fn loss_terms<'t>(
        &self,
        tape: &'t Tape<'t, F>,
        logits: Var<'t, F>,
        labels: ArrayView2<'_, F>,
    ) -> Vec<(String, f64)> {
        let c = self.config();
        let y = tape.constant(labels.into_dyn());
        let probabilities = if c.esmm { self.probabilities(logits).ok() } else { None };
        let mut terms: Vec<(String, f64)> = (0..labels.ncols().min(c.tasks.len()))
            .map(|j| {
                let v = self
                    .task_term(logits, y, probabilities, j)
                    .and_then(|v| Ok(v.scalar()?.f64()))
                    .unwrap_or(f64::NAN);
                (c.tasks[j].clone(), v)
            })
            .collect();
        if c.l2 > 0.0 {
            let v = self
                .l2_penalty(tape, tape.store())
                .and_then(|v| Ok(v.scalar()?.f64()))
                .unwrap_or(f64::NAN);
            terms.push(("l2".into(), v));
        }
        terms
    }

    /// `l2 * sum ||W||^2` over weight matrices (names ending in `.weight` with 2 or more
    /// dimensions, embeddings excluded).
    fn l2_penalty<'t>(&self, tape: &'t Tape<'t, F>, store: &ParamStore<F>) -> Result<Var<'t, F>> {
        use hinet_layers::Module;
        let tables = self.embedding_tables();
        let mut sum: Option<Var<'t, F>> = None;
        for id in self.state() {
            let name = store.name(id);
            if !name.ends_with(".weight") || store.value(id).ndim() < 2 || tables.contains(&id) {
                continue;
            }
            let w = tape.param(id);
            let sq = w.mul(w)?.sum()?;
            sum = Some(match sum {
                Some(s) => s.add(sq)?,
                None => sq,
            });
        }
        let sum = sum.unwrap_or_else(|| tape.full(&[], F::zero()));
        Ok(sum.mul_scalar(F::of(self.config().l2))?)
    }
}
