//! Weight initialisation.

use hinet_autograd::Float;
use ndarray::ArrayD;
use rand::Rng;

/// Xavier/Glorot uniform (Glorot & Bengio 2010, eq. 16): `U(-a, a)` with
/// `a = sqrt(6 / (fan_in + fan_out))`, which keeps activation and gradient variance roughly
/// constant across layers.
pub fn xavier_uniform<F: Float, R: Rng + ?Sized>(
    shape: &[usize],
    fan_in: usize,
    fan_out: usize,
    rng: &mut R,
) -> ArrayD<F> {
    let a = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
    ArrayD::from_shape_simple_fn(shape, || F::of(rng.random_range(-a..=a)))
}

/// `U(-a, a)`, for embedding tables.
pub fn uniform<F: Float, R: Rng + ?Sized>(shape: &[usize], a: f64, rng: &mut R) -> ArrayD<F> {
    ArrayD::from_shape_simple_fn(shape, || F::of(rng.random_range(-a..=a)))
}
