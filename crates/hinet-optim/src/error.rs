//! Typed errors: every message names the parameter, state tensor or setting involved.

use thiserror::Error;

/// Everything the optimiser can refuse. All checks run before any parameter or state is
/// written, so an error leaves the model and the optimiser exactly as they were.
// Field names (param, group, expected, found) say what they hold; the variant docs say when.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptimError {
    /// A gradient holds NaN or infinity (or its squared norm overflows f64). Nothing was updated.
    #[error("non-finite gradient for parameter {param:?}: the step was not applied")]
    NonFinite { param: String },
    /// A loss that is NaN or infinite (see [`crate::check_loss`]).
    #[error("non-finite loss {value}: the step must not be applied")]
    NonFiniteLoss { value: f64 },
    /// A hyperparameter outside its valid range.
    #[error("invalid optimiser setting: {what}")]
    InvalidConfig { what: String },
    /// A group names a parameter id the store does not hold.
    #[error("group {group:?}: parameter id {index} is not in the store ({len} tensors)")]
    UnknownParam { group: String, index: usize, len: usize },
    /// A group names a buffer (non-trainable state) as a parameter.
    #[error("group {group:?}: {param:?} is a buffer, not a trainable parameter")]
    NotTrainable { group: String, param: String },
    /// A parameter listed in two groups (or twice in one).
    #[error("parameter {param:?} is in group {first:?} and again in group {second:?}")]
    DuplicateParam {
        param: String,
        first: String,
        second: String,
    },
    /// A parameter of a sparse (lazy) group that is not a 2-D table.
    #[error("sparse group {group:?}: {param:?} has shape {shape:?}; lazy updates need a 2-D table")]
    SparseNotMatrix {
        group: String,
        param: String,
        shape: Vec<usize>,
    },
    /// The store passed to `step`/`state` is not the one the optimiser was built for.
    #[error("parameter store mismatch: expected {expected:?} at index {index}, found {found:?}")]
    StoreMismatch {
        index: usize,
        expected: String,
        found: String,
    },
    /// A parameter value that is not in standard (row-major, contiguous) layout.
    #[error("parameter {param:?} is not stored contiguously in row-major order")]
    NotContiguous { param: String },
    /// A dense gradient whose shape differs from its parameter's.
    #[error("gradient of {param:?} has shape {found:?}, the parameter has shape {expected:?}")]
    GradShape {
        param: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A row gradient that does not fit its table (width, rank or row index).
    #[error("row gradient of {param:?} (shape {shape:?}) is invalid: {why}")]
    BadRows {
        param: String,
        shape: Vec<usize>,
        why: String,
    },
    /// Saved state of a different optimiser kind.
    #[error("optimiser state is for {found:?}, this optimiser is {expected:?}")]
    StateKind { expected: String, found: String },
    /// A metadata entry that is missing or unreadable.
    #[error("optimiser state metadata {key:?}: {why}")]
    StateMeta { key: String, why: String },
    /// A state tensor the optimiser needs but the saved state lacks.
    #[error("optimiser state tensor {name:?} is missing")]
    StateMissing { name: String },
    /// A state tensor whose shape differs from its parameter's.
    #[error("optimiser state tensor {name:?} has shape {found:?}, expected {expected:?}")]
    StateShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A saved state tensor holding NaN or infinity (first such element).
    #[error(
        "optimiser state tensor {name:?} holds {value} at element {index}: refused (it would make every update NaN)"
    )]
    StateNonFinite { name: String, index: usize, value: f64 },
    /// A saved sum of squares (`exp_avg_sq`, Adagrad's `sum`) with a negative element.
    #[error("optimiser state tensor {name:?} holds {value} at element {index}: a sum of squares cannot be negative")]
    StateNegative { name: String, index: usize, value: f64 },
    /// A saved tensor or metadata key this optimiser has no use for (renamed or removed parameter).
    #[error("optimiser state entry {name:?} matches no parameter of this optimiser")]
    StateUnexpected { name: String },
}

/// Shorthand for results of this crate.
pub type Result<T, E = OptimError> = std::result::Result<T, E>;

/// Refuses a NaN or infinite loss, so a trainer can skip the backward pass and the step.
///
/// ```
/// assert!(hinet_optim::check_loss(0.69).is_ok());
/// assert!(hinet_optim::check_loss(f64::NAN).is_err());
/// ```
pub fn check_loss(loss: f64) -> Result<()> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(OptimError::NonFiniteLoss { value: loss })
    }
}
