//! The `Module` trait: what every layer shares, whatever its forward signature.

use hinet_autograd::{Float, ParamId, ParamStore};

/// A layer: it registered its tensors in a [`ParamStore`] under hierarchical names when it was
/// built, runs forward on a tape (each layer has its own `forward` with the inputs it needs),
/// switches between training and inference, and lists its state for checkpoints.
pub trait Module<F: Float> {
    /// Every tensor the module owns (trainable parameters and buffers), in registration order.
    fn state(&self) -> Vec<ParamId>;

    /// Training (batch statistics, dropout on) or inference mode.
    fn set_training(&mut self, training: bool);

    /// Folds what the last training forward measured (batch-norm running statistics) into the
    /// store. Call once per step, after the tape is dropped. Most layers have nothing to fold.
    fn commit(&self, _store: &mut ParamStore<F>) {}
}
