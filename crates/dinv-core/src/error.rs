//! Errors of the core library. Every variant says which object (layer, matrix) was
//! wrong and what was expected, so a caller can turn it into an actionable message.

use crate::linalg::LinalgError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreError {
    /// A matrix or vector has the wrong shape for the operation.
    #[error("shape mismatch in {what}: expected {expected}, found {found}")]
    Shape {
        what: String,
        expected: String,
        found: String,
    },
    /// A parameter is outside its valid range (e.g. a non-positive step size).
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        name: String,
        value: String,
        reason: String,
    },
    /// A computation produced NaN or infinity.
    #[error("non-finite value in {what}")]
    NonFinite { what: String },
    /// SSA optimisation did not bring the spectral abscissa below the margin.
    #[error(
        "stabilisation of layer {layer} failed: spectral abscissa {abscissa:.3e} after {iterations} SSA steps \
         (target < {target:.3e}); try a smaller learning rate, a larger leak alpha, or more SSA iterations"
    )]
    StabilisationFailed {
        layer: usize,
        abscissa: f64,
        target: f64,
        iterations: usize,
    },
    /// The feedback configuration does not fit the algorithm or network.
    #[error("feedback configuration: {0}")]
    Feedback(String),
    /// A steady-state solver failed to converge.
    #[error("steady-state solver for layer {layer} did not converge: {reason}")]
    NoSteadyState { layer: usize, reason: String },
    #[error(transparent)]
    Linalg(#[from] LinalgError),
}

impl CoreError {
    pub(crate) fn shape(
        what: impl Into<String>,
        expected: impl ToString,
        found: impl ToString,
    ) -> Self {
        CoreError::Shape {
            what: what.into(),
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    pub(crate) fn param(name: &str, value: impl ToString, reason: &str) -> Self {
        CoreError::InvalidParameter {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
