//! Damped Newton for the steady states of the inversion dynamics (Eq. 15 and its
//! analogues): the one loop that DI's layer-wise solve (`dynamics.rs`), the single loop
//! (`chain.rs`) and the S1–S2 controller (`expanding.rs`) share. Each supplies its
//! residual and Jacobian; the iteration, the step solve and the backtracking are here.

use faer::Mat;

use crate::inverse::{min_norm_lstsq, solve_square};
use crate::kernels::vecops::norm;
use crate::{CoreError, Result};

/// Why Newton stopped without reaching the tolerance.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// `max_iter` iterations without reaching it; the relative residual then.
    Stalled(f64),
    /// The step halved below 1e-10 without decreasing ‖F‖; the relative residual.
    NoDescent(f64),
    /// The residual norm is not finite.
    NonFinite,
}

impl Failure {
    /// The error a caller returns: a stall worded by `stalled` (given the relative
    /// residual), the same words for every missing descent, and `what` (the steady state
    /// sought, e.g. "the DI steady state") for a non-finite iterate. The layer is left 0
    /// for the caller's `at_layer`.
    pub(crate) fn into_error(self, what: &str, stalled: impl FnOnce(f64) -> String) -> CoreError {
        match self {
            Failure::Stalled(r) => CoreError::NoSteadyState {
                layer: 0,
                reason: stalled(r),
            },
            Failure::NoDescent(r) => CoreError::NoSteadyState {
                layer: 0,
                reason: format!(
                    "no descent at relative residual {r:.3e}: the dynamics may have no fixed point"
                ),
            },
            Failure::NonFinite => CoreError::NonFinite {
                what: format!("Newton iterate of {what}"),
            },
        }
    }
}

/// A solution: the iterate, the state its residual was computed with, the iterations.
pub(crate) struct Solved<S> {
    pub x: Vec<f64>,
    pub state: S,
    pub iters: usize,
}

/// Solves `F(x) = 0` from `x0` to `‖F‖ ≤ tol · scale`: each iteration solves
/// `J Δ = −F` (LU, or minimum-norm least squares when `J` is singular) and takes the
/// largest step `x + t Δ`, `t = 1, ½, ¼, …`, with `‖F‖ < (1 − 10⁻⁴ t) ‖F(x)‖`.
/// `residual(x)` returns `F(x)` and a state (e.g. the forward activities) that
/// `jacobian(x, state)` reuses. An error of the step solve is returned as is
/// (`Ok(Err(_))` is a Newton failure the caller words).
pub(crate) fn solve<S>(
    x0: Vec<f64>,
    scale: f64,
    tol: f64,
    max_iter: usize,
    mut residual: impl FnMut(&[f64]) -> (Vec<f64>, S),
    mut jacobian: impl FnMut(&[f64], &S) -> Mat<f64>,
) -> Result<std::result::Result<Solved<S>, Failure>> {
    let mut x = x0;
    let (mut f, mut state) = residual(&x);
    let mut fnorm = norm(&f);
    let mut iters = 0;
    while fnorm > tol * scale {
        if iters == max_iter {
            return Ok(Err(Failure::Stalled(fnorm / scale)));
        }
        iters += 1;
        let jac = jacobian(&x, &state);
        let neg: Vec<f64> = f.iter().map(|v| -v).collect();
        let step =
            solve_square(jac.as_ref(), &neg).or_else(|_| min_norm_lstsq(jac.as_ref(), &neg))?;
        let mut t = 1.0;
        loop {
            let trial: Vec<f64> = x.iter().zip(&step).map(|(a, s)| a + t * s).collect();
            let (ft, st) = residual(&trial);
            let nt = norm(&ft);
            if t < 1e-10 {
                return Ok(Err(Failure::NoDescent(fnorm / scale)));
            }
            if nt < (1.0 - 1e-4 * t) * fnorm {
                x = trial;
                state = st;
                f = ft;
                fnorm = nt;
                break;
            }
            t *= 0.5;
        }
        if !fnorm.is_finite() {
            return Ok(Err(Failure::NonFinite));
        }
    }
    Ok(Ok(Solved { x, state, iters }))
}

#[cfg(test)]
mod tests {
    use super::{solve, Failure};
    use faer::Mat;

    /// `F(x) = (x₀² − 2, x₁ − x₀)`: the root `(√2, √2)`, against its closed form.
    #[test]
    fn finds_a_known_root_and_reports_failures() {
        let residual = |x: &[f64]| (vec![x[0] * x[0] - 2.0, x[1] - x[0]], ());
        let jacobian = |x: &[f64], _: &()| {
            let mut j = Mat::zeros(2, 2);
            j[(0, 0)] = 2.0 * x[0];
            j[(1, 0)] = -1.0;
            j[(1, 1)] = 1.0;
            j
        };
        let s = solve(vec![1.0, 0.0], 1.0, 1e-14, 60, residual, jacobian)
            .unwrap()
            .unwrap();
        let r2 = 2f64.sqrt();
        assert!((s.x[0] - r2).abs() < 1e-14 && (s.x[1] - r2).abs() < 1e-14);
        assert!(s.iters > 2 && s.iters < 10, "{}", s.iters);
        // Two iterations are not enough: stalled, with the residual then.
        match solve(vec![1.0, 0.0], 1.0, 1e-14, 2, residual, jacobian).unwrap() {
            Err(Failure::Stalled(r)) => assert!(r > 1e-14 && r < 1.0),
            _ => panic!("expected a stall"),
        }
        // x² + 1 = 0 has no real root: no descent eventually.
        let none = |x: &[f64]| (vec![x[0] * x[0] + 1.0], ());
        let jac = |x: &[f64], _: &()| Mat::from_fn(1, 1, |_, _| 2.0 * x[0]);
        assert!(matches!(
            solve(vec![0.5], 1.0, 1e-14, 60, none, jac).unwrap(),
            Err(Failure::NoDescent(_))
        ));
    }
}
