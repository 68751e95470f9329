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
        "stabilisation of layer {layer} failed: spectral abscissa still {abscissa:+.3e} after {iterations} SSA steps \
         (target < {target:.3e}); try more SSA iterations (max_iters), another SSA step size (learning_rate) \
         or smoothing (epsilon), a larger leak alpha, or a smaller training learning rate"
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
    /// Dynamic inversion of dynamics that are unstable (or by Euler steps that amplify):
    /// whatever state the solver reached is not an inversion of the layer, so it is
    /// refused instead of being passed on as an error signal. (A stable simulation that
    /// has not settled is not an error: its [`crate::Inversion::residual`] shows it.)
    #[error(
        "dynamic inversion{} ({system}) is unstable: {reason} (the refused result's relative residual: {residual:.3e})",
        layer_name(*layer)
    )]
    UnstableDynamics {
        /// `l` of `W_l`; 0 when the solver was not told (a lone layer) or for SDI's loop.
        layer: usize,
        /// The system: shape, leak, dynamics and solver.
        system: String,
        /// The spectral abscissa that decided (at rest, or at the fixed point); NaN
        /// when only its sign is known, or when the dynamics are stable and only the
        /// Euler iteration amplifies.
        abscissa: f64,
        /// `‖(dδ/dt, du/dt)‖ / ‖δ_l‖` at the refused result.
        residual: f64,
        /// Why, and what to change.
        reason: String,
    },
    #[error(transparent)]
    Linalg(#[from] LinalgError),
}

fn layer_name(layer: usize) -> String {
    if layer == 0 {
        String::new()
    } else {
        format!(" of layer {layer}")
    }
}

impl CoreError {
    /// Names the layer (`l` of `W_l`) in an error that a one-layer solver raised
    /// without knowing which layer it was solving.
    pub fn at_layer(self, layer: usize) -> Self {
        match self {
            CoreError::UnstableDynamics {
                layer: 0,
                system,
                abscissa,
                residual,
                reason,
            } => CoreError::UnstableDynamics {
                layer,
                system,
                abscissa,
                residual,
                reason,
            },
            CoreError::NoSteadyState { layer: 0, reason } => {
                CoreError::NoSteadyState { layer, reason }
            }
            other => other,
        }
    }

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
