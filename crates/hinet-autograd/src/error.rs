//! Typed errors of the engine: every message names the op and the shapes involved.

use thiserror::Error;

/// Everything the engine can refuse. Shape problems are caught before any arithmetic so that
/// a wrong model gives a message naming the op, never a panic deep inside ndarray.
// Field names (op, shapes, axis, why) say what they hold; the variant docs say when.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AutogradError {
    /// Two operands whose shapes do not fit together.
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not match ({why})")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
        why: &'static str,
    },
    /// An operand of the wrong rank or shape for the op.
    #[error("{op}: operand of shape {shape:?} is invalid: {why}")]
    BadShape {
        op: &'static str,
        shape: Vec<usize>,
        why: &'static str,
    },
    /// An axis that the operand does not have.
    #[error("{op}: axis {axis} is out of range for a tensor of {ndim} dimensions")]
    BadAxis { op: &'static str, axis: usize, ndim: usize },
    /// A row index past the end of the indexed axis.
    #[error("{op}: index {index} is out of range for an axis of length {len}")]
    IndexOutOfRange { op: &'static str, index: usize, len: usize },
    /// An invalid scalar argument (a probability outside [0, 1), a negative epsilon...).
    #[error("{op}: invalid argument: {why}")]
    BadArgument { op: &'static str, why: String },
    /// `backward` was called on something other than a one-element tensor.
    #[error("backward: the loss must have exactly one element, found shape {shape:?}")]
    LossNotScalar { shape: Vec<usize> },
    /// `backward` on a tape recorded in no-grad mode.
    #[error("backward: this tape was recorded in no-grad mode and holds no backward information")]
    NoGradTape,
    /// A parameter name used twice in one store.
    #[error("parameter store: the name {0:?} is already registered")]
    DuplicateName(String),
    /// A parameter id or name that the store does not hold.
    #[error("parameter store: unknown parameter {0}")]
    UnknownParam(String),
    /// A value set into the store whose shape differs from the registered one.
    #[error("parameter store: {name} has shape {expected:?}, got {found:?}")]
    ParamShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A variable of one tape used on another.
    #[error("{op}: a variable from a different tape was used")]
    ForeignVar { op: &'static str },
}

/// Shorthand for results of this crate.
pub type Result<T, E = AutogradError> = std::result::Result<T, E>;
