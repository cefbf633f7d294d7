//! Model errors: configuration keys, layer errors, checkpoint mismatches.

use hinet_layers::LayerError;
use thiserror::Error;

/// What the model can refuse.
#[derive(Debug, Error)]
pub enum ModelError {
    /// An invalid configuration value, naming its key.
    #[error("config: key `{key}`: {why}")]
    Config {
        /// The TOML key (dotted path) that is wrong.
        key: String,
        /// What is wrong with it.
        why: String,
    },
    /// A configuration file that does not parse (unknown keys included).
    #[error("config: {0}")]
    Parse(String),
    /// An input batch that does not fit the model.
    #[error("input: {0}")]
    Input(String),
    /// A layer's error (shapes, ids).
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// An engine error outside any layer.
    #[error(transparent)]
    Autograd(#[from] hinet_autograd::AutogradError),
    /// An optimiser error.
    #[error(transparent)]
    Optim(#[from] hinet_optim::OptimError),
    /// A checkpoint that cannot be read, written or applied; the message names the file and
    /// exactly what does not match.
    #[error("checkpoint {path}: {why}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// The loss became NaN or infinite.
    #[error("the loss is not finite ({0}) at step {1}")]
    NonFiniteLoss(f64, u64),
}

/// Shorthand for results of this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

pub(crate) fn config_err<T>(key: &str, why: impl Into<String>) -> Result<T> {
    Err(ModelError::Config {
        key: key.to_string(),
        why: why.into(),
    })
}
