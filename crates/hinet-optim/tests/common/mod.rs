//! Helpers shared by the integration tests: gradients with known values, built with the tape.
#![allow(dead_code)]

use hinet_autograd::{Float, Gradients, ParamId, ParamStore, Tape, Var};
use ndarray::{ArrayD, IxDyn};

/// Gradients of `loss = sum_k sum(param_k * c_k)`: the gradient of `param_k` is exactly `c_k`.
pub fn linear_grads<F: Float>(store: &ParamStore<F>, terms: &[(ParamId, &ArrayD<F>)]) -> Gradients<F> {
    let mut grads = Gradients::new();
    let tape = Tape::new(store);
    let mut loss: Option<Var<'_, F>> = None;
    for (id, c) in terms {
        let term = tape.param(*id).mul(tape.constant(c.view())).unwrap().sum().unwrap();
        loss = Some(match loss {
            None => term,
            Some(l) => l.add(term).unwrap(),
        });
    }
    tape.backward(loss.unwrap(), &mut grads).unwrap();
    grads
}

/// Row gradients of a 2-D table: `loss = sum(gather_rows(table, rows) * c)`, so row `rows[k]`
/// gets gradient `c[k]` (rows listed twice accumulate).
pub fn row_grads<F: Float>(store: &ParamStore<F>, table: ParamId, rows: &[usize], c: &ArrayD<F>) -> Gradients<F> {
    let mut grads = Gradients::new();
    let tape = Tape::new(store);
    let g = tape.param(table).gather_rows(rows).unwrap();
    let loss = g.mul(tape.constant(c.view())).unwrap().sum().unwrap();
    tape.backward(loss, &mut grads).unwrap();
    grads
}

pub fn arr<F: Float>(shape: &[usize], v: &[f64]) -> ArrayD<F> {
    ArrayD::from_shape_vec(IxDyn(shape), v.iter().map(|&x| F::of(x)).collect()).unwrap()
}

pub fn assert_close(got: &ArrayD<f64>, want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1.0),
            "element {i}: got {g:.17}, want {w:.17}"
        );
    }
}

/// Bitwise equality of two f32 or f64 tensors.
pub fn assert_bits<F: Float>(a: &ArrayD<F>, b: &ArrayD<F>, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(x.to_bits_eq(*y), "{what}: element {i} differs: {x:?} vs {y:?}");
    }
}

pub trait BitsEq {
    fn to_bits_eq(self, other: Self) -> bool;
}
impl<F: Float> BitsEq for F {
    fn to_bits_eq(self, other: Self) -> bool {
        // Same value and same sign of zero; NaNs never appear in these tests.
        self == other && self.is_sign_negative() == other.is_sign_negative()
    }
}
