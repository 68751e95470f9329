//! Dense linear algebra that faer does not provide: the real Schur form and
//! continuous Lyapunov equations (for the SSA gradient of supp. 7.3).
//!
//! [`real_schur`] reduces a real square matrix to `A = Z T Z^T` (Householder
//! Hessenberg reduction, then Francis implicit double-shift QR; Golub & Van Loan,
//! *Matrix Computations*, 4th ed., Algorithms 7.4.2 and 7.5.2).
//! [`solve_continuous_lyapunov`] solves `A X + X A^T = Q` by the method of
//! Bartels & Stewart (1972): Schur form of `A`, a block back-substitution on the
//! quasi-triangular equation, and a transformation back.
//!
//! All kernels are sequential and unblocked: they are meant for the matrices of
//! size 10–60 the SSA optimisation works on, and still finish for n ≈ 1000.

mod lyapunov;
mod schur;

pub use lyapunov::solve_continuous_lyapunov;
pub use schur::{real_schur, RealSchur};

/// Failures of the dense kernels in this module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinalgError {
    /// The matrix must be square.
    #[error("expected a square matrix, got {rows}x{cols}")]
    NotSquare { rows: usize, cols: usize },
    /// The right-hand side does not have the shape of the coefficient matrix.
    #[error("right-hand side is {rows}x{cols}, expected {n}x{n}")]
    ShapeMismatch { n: usize, rows: usize, cols: usize },
    /// An input entry is NaN or infinite.
    #[error("matrix contains a non-finite entry")]
    NonFinite,
    /// The QR iteration exceeded its iteration budget for one eigenvalue.
    #[error("QR iteration did not converge after {iterations} iterations")]
    NoConvergence { iterations: usize },
    /// `λ_i + λ_j ≈ 0` for two eigenvalues of `A`, so `X ↦ A X + X A^T` is
    /// (numerically) singular. Carries the real parts of the two eigenvalues
    /// (for a complex pair, the real part shared by the pair).
    #[error(
        "Lyapunov equation is singular: eigenvalues of A with real parts {0} and {1} sum to (nearly) zero"
    )]
    Singular(f64, f64),
}
