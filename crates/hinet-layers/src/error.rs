//! Layer errors: each names the layer (by its parameter prefix) and what does not fit.

use hinet_autograd::AutogradError;
use thiserror::Error;

/// What a layer can refuse.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LayerError {
    /// An invalid configuration, found when the layer is built.
    #[error("layer {layer}: invalid configuration: {why}")]
    Config {
        /// The layer's name (its parameter prefix).
        layer: String,
        /// What is wrong, with the offending sizes.
        why: String,
    },
    /// An input that does not fit the layer (wrong width, an id outside the vocabulary...).
    #[error("layer {layer}: {why}")]
    Input {
        /// The layer's name (its parameter prefix).
        layer: String,
        /// What is wrong, with the offending sizes.
        why: String,
    },
    /// An engine error inside the layer's forward pass.
    #[error("layer {layer}: {source}")]
    Op {
        /// The layer's name (its parameter prefix).
        layer: String,
        /// The engine's error, naming the op and shapes.
        #[source]
        source: AutogradError,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = LayerError> = std::result::Result<T, E>;

/// Attaches a layer name to engine errors.
pub(crate) trait InLayer<T> {
    fn in_layer(self, layer: &str) -> Result<T>;
}

impl<T> InLayer<T> for std::result::Result<T, AutogradError> {
    fn in_layer(self, layer: &str) -> Result<T> {
        self.map_err(|source| LayerError::Op {
            layer: layer.to_string(),
            source,
        })
    }
}

pub(crate) fn config_error<T>(layer: &str, why: impl Into<String>) -> Result<T> {
    Err(LayerError::Config {
        layer: layer.to_string(),
        why: why.into(),
    })
}
