//! Clipping by global gradient norm (Pascanu et al. 2013, "On the difficulty of training
//! recurrent neural networks", Algorithm 1), as PyTorch's `clip_grad_norm_` does it.

/// The factor every gradient is multiplied by: `max_norm / (norm + 1e-6)` when the global norm
/// exceeds `max_norm`, else 1. The `1e-6` keeps the clipped norm just under the bound.
pub fn clip_coefficient(norm: f64, max_norm: Option<f64>) -> f64 {
    match max_norm {
        Some(max) if norm > max => max / (norm + 1e-6),
        _ => 1.0,
    }
}
