//! The alternative controller for expanding layers (supp. 7.1, Eqs. S1–S2):
//!
//! ```text
//!   dδ_{l-1}/dt = −α δ_{l-1} + B_l (δ̃_l − δ_l)
//!   dδ̃_l/dt     = −δ̃_l + W_l φ(δ_{l-1})
//! ```
//!
//! `δ_{l-1}` integrates the readout error through `B_l` directly. We read Eq. (S1) with
//! the controller error `e_l = δ̃_l − δ_l` of section 3, the reading under which the
//! supplement's statement holds: with a fast readout the linear dynamics are governed
//! by `B W − αI`, stable at `α = 0` for Tr-Init `B = −W^T` whenever `W` has full column
//! rank (an expanding layer), where the standard controller's `W B` is singular.
//! The linear steady state is `δ_{l-1} = (B W − αI)^{-1} B δ_l`, NDI's expanding form.

use faer::{Mat, MatRef};

use crate::activation::Activation;
use crate::dynamics::{Dynamics, EulerOrder, Integration, Inversion, Solver};
use crate::error::{CoreError, Result};
use crate::inverse::{check_feedback_shape, ndi_inverse};
use crate::kernels::vecops::{matvec, mul, norm};
use crate::newton;

/// Revision of this controller's solver numbers: part of the cache key of the stages
/// that use it, beside [`crate::dynamics::SOLVER_REVISION`]. (1: `SteadyStateOrEuler`
/// rejects fixed points where the linearised dynamics are unstable.)
pub const SOLVER_REVISION: u32 = 1;

/// One layer under the S1–S2 controller.
#[derive(Clone, Copy)]
pub struct ExpandingSystem<'a> {
    pub w: MatRef<'a, f64>,
    pub b: MatRef<'a, f64>,
    pub alpha: f64,
    pub dynamics: Dynamics,
    pub act: Activation,
    pub gprime: &'a [f64],
}

impl ExpandingSystem<'_> {
    fn phi(&self, delta: &[f64], out: &mut [f64]) {
        self.dynamics.phi(self.act, self.gprime, delta, out);
    }

    fn phi_slope(&self, delta: &[f64], out: &mut [f64]) {
        self.dynamics.phi_slope(self.act, self.gprime, delta, out);
    }

    fn affine(&self) -> bool {
        self.dynamics != Dynamics::Nonlinear || self.act == Activation::Linear
    }

    /// Norm of `(dδ/dt, dδ̃/dt)`.
    fn derivative_norm(&self, delta: &[f64], readout: &[f64], target: &[f64]) -> f64 {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let err: Vec<f64> = readout.iter().zip(target).map(|(r, t)| r - t).collect();
        let mut be = vec![0.0; n1];
        matvec(self.b, &err, &mut be);
        let mut p = vec![0.0; n1];
        self.phi(delta, &mut p);
        let mut wp = vec![0.0; n2];
        matvec(self.w, &p, &mut wp);
        let s1: f64 = (0..n1)
            .map(|i| (-self.alpha * delta[i] + be[i]).powi(2))
            .sum();
        let s2: f64 = (0..n2).map(|i| (wp[i] - readout[i]).powi(2)).sum();
        (s1 + s2).sqrt()
    }

    pub fn invert(&self, target: &[f64], solver: Solver, int: &Integration) -> Result<Inversion> {
        check_feedback_shape(self.w, self.b)?;
        int.validate()?;
        if target.len() != self.w.nrows() {
            return Err(CoreError::shape(
                "DI target δ_l",
                self.w.nrows(),
                target.len(),
            ));
        }
        if self.dynamics == Dynamics::Linearised && self.gprime.len() != self.w.ncols() {
            return Err(CoreError::shape(
                "g'(a_{l-1})",
                self.w.ncols(),
                self.gprime.len(),
            ));
        }
        let out = match solver {
            Solver::Euler => self.euler(target, int),
            Solver::PoweredEuler => {
                if !self.affine() {
                    return Err(CoreError::param(
                        "solver",
                        "powered_euler",
                        "matrix powers reproduce Euler only for linear or linearised dynamics",
                    ));
                }
                self.powered(target, int)
            }
            Solver::SteadyState => self.steady_state(target, int)?,
            Solver::SteadyStateOrEuler => match self.steady_state(target, int) {
                Ok(inv) if self.stable_at(&inv.delta)? => inv,
                Ok(_) | Err(CoreError::NoSteadyState { .. }) => self.euler(target, int),
                Err(e) => return Err(e),
            },
        };
        if out.delta.iter().chain(&out.control).any(|v| !v.is_finite()) {
            return Err(CoreError::NonFinite {
                what: format!(
                    "expanding-layer controller of a {}x{} layer (alpha = {}) diverged; check its stability",
                    self.w.nrows(),
                    self.w.ncols(),
                    self.alpha
                ),
            });
        }
        Ok(out)
    }

    /// Step-by-step Euler; `state_first` updates `δ_{l-1}` before the readout `δ̃_l`.
    pub fn euler(&self, target: &[f64], int: &Integration) -> Inversion {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let dt = int.dt;
        let (mut delta, mut readout) = (vec![0.0; n1], vec![0.0; n2]);
        let (mut err, mut be, mut p, mut wp) =
            (vec![0.0; n2], vec![0.0; n1], vec![0.0; n1], vec![0.0; n2]);
        let scale = norm(target).max(f64::MIN_POSITIVE);
        let mut steps = 0;
        for _ in 0..int.steps {
            steps += 1;
            let mut change = 0.0;
            let mut state = |delta: &mut [f64], readout: &[f64]| {
                for i in 0..n2 {
                    err[i] = readout[i] - target[i];
                }
                matvec(self.b, &err, &mut be);
                let mut c = 0.0;
                for i in 0..n1 {
                    let inc = dt * (-self.alpha * delta[i] + be[i]);
                    delta[i] += inc;
                    c += inc * inc;
                }
                c
            };
            let mut read = |delta: &[f64], readout: &mut [f64]| {
                self.phi(delta, &mut p);
                matvec(self.w, &p, &mut wp);
                let mut c = 0.0;
                for i in 0..n2 {
                    let inc = dt * (wp[i] - readout[i]);
                    readout[i] += inc;
                    c += inc * inc;
                }
                c
            };
            match int.order {
                EulerOrder::StateFirst => {
                    change += state(&mut delta, &readout);
                    change += read(&delta, &mut readout);
                }
                EulerOrder::ControlFirst => {
                    change += read(&delta, &mut readout);
                    change += state(&mut delta, &readout);
                }
            }
            if let Some(tol) = int.tol {
                if change.sqrt() / dt <= tol * scale {
                    break;
                }
            }
        }
        let residual = self.derivative_norm(&delta, &readout, target) / scale;
        Inversion {
            delta,
            control: readout,
            steps,
            residual,
            solved_by: Solver::Euler,
        }
    }

    /// The exact Euler iterate of the affine map, by binary powering.
    fn powered(&self, target: &[f64], int: &Integration) -> Inversion {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let n = n1 + n2;
        let dt = int.dt;
        let mut wd = self.w.to_owned();
        if self.dynamics == Dynamics::Linearised {
            for j in 0..n1 {
                for i in 0..n2 {
                    wd[(i, j)] *= self.gprime[j];
                }
            }
        }
        // One step as x' = A x + c with x = (δ, δ̃).
        let (da, dr) = (1.0 - dt * self.alpha, 1.0 - dt);
        let mut a = Mat::<f64>::zeros(n, n);
        let mut c = vec![0.0; n];
        let mut bt = vec![0.0; n1];
        matvec(self.b, target, &mut bt);
        match int.order {
            EulerOrder::StateFirst => {
                // δ' = da δ + dt B δ̃ − dt B t ;  δ̃' = dr δ̃ + dt W δ'
                let wb = mul(wd.as_ref(), self.b);
                for i in 0..n1 {
                    a[(i, i)] = da;
                    for j in 0..n2 {
                        a[(i, n1 + j)] = dt * self.b[(i, j)];
                    }
                    c[i] = -dt * bt[i];
                }
                let mut wbt = vec![0.0; n2];
                matvec(wd.as_ref(), &bt, &mut wbt);
                for i in 0..n2 {
                    for j in 0..n1 {
                        a[(n1 + i, j)] = dt * da * wd[(i, j)];
                    }
                    for j in 0..n2 {
                        a[(n1 + i, n1 + j)] = dt * dt * wb[(i, j)];
                    }
                    a[(n1 + i, n1 + i)] += dr;
                    c[n1 + i] = -dt * dt * wbt[i];
                }
            }
            EulerOrder::ControlFirst => {
                // δ̃' = dr δ̃ + dt W δ ;  δ' = da δ + dt B δ̃' − dt B t
                let bw = mul(self.b, wd.as_ref());
                for i in 0..n2 {
                    for j in 0..n1 {
                        a[(n1 + i, j)] = dt * wd[(i, j)];
                    }
                    a[(n1 + i, n1 + i)] = dr;
                }
                for i in 0..n1 {
                    for j in 0..n1 {
                        a[(i, j)] = dt * dt * bw[(i, j)];
                    }
                    a[(i, i)] += da;
                    for j in 0..n2 {
                        a[(i, n1 + j)] = dt * dr * self.b[(i, j)];
                    }
                    c[i] = -dt * bt[i];
                }
            }
        }
        let (x, steps) = crate::dynamics::affine_power(a, c, int);
        let (delta, readout) = x.split_at(n1);
        let residual =
            self.derivative_norm(delta, readout, target) / norm(target).max(f64::MIN_POSITIVE);
        Inversion {
            delta: delta.to_vec(),
            control: readout.to_vec(),
            steps,
            residual,
            solved_by: Solver::PoweredEuler,
        }
    }

    /// Whether the dynamics, linearised at the state `δ_{l-1}` of a fixed point, are
    /// stable: the S1–S2 system matrix with `W diag(φ'(δ_{l-1}))` in place of `W`.
    pub fn stable_at(&self, delta: &[f64]) -> Result<bool> {
        let mut slope = vec![0.0; delta.len()];
        self.phi_slope(delta, &mut slope);
        let wd = crate::kernels::vecops::scale_columns(self.w, &slope);
        Ok(crate::stability::expanding_abscissa(wd.as_ref(), self.b, self.alpha)? < 0.0)
    }

    /// The steady state of the S1–S2 controller (its analogue of Eq. 15): Newton on
    /// `B (W φ(δ) − δ_l) − α δ = 0`.
    fn steady_state(&self, target: &[f64], int: &Integration) -> Result<Inversion> {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let scale = norm(target).max(f64::MIN_POSITIVE);
        let readout_of = |delta: &[f64]| {
            let mut p = vec![0.0; n1];
            self.phi(delta, &mut p);
            let mut r = vec![0.0; n2];
            matvec(self.w, &p, &mut r);
            r
        };
        if self.dynamics == Dynamics::Linear {
            let delta = ndi_inverse(self.w, self.b, self.alpha, target)?;
            let readout = readout_of(&delta);
            let residual = self.derivative_norm(&delta, &readout, target) / scale;
            return Ok(Inversion {
                delta,
                control: readout,
                steps: 1,
                residual,
                solved_by: Solver::SteadyState,
            });
        }
        let f_of = |delta: &[f64]| {
            let r = readout_of(delta);
            let err: Vec<f64> = r.iter().zip(target).map(|(a, b)| a - b).collect();
            let mut be = vec![0.0; n1];
            matvec(self.b, &err, &mut be);
            (0..n1)
                .map(|i| be[i] - self.alpha * delta[i])
                .collect::<Vec<f64>>()
        };
        let tol = int.tol.unwrap_or(1e-13);
        // J = B W diag(φ'(δ)) − α I
        let jacobian = |delta: &[f64], _: &()| {
            let mut slope = vec![0.0; n1];
            self.phi_slope(delta, &mut slope);
            let mut wd = self.w.to_owned();
            for j in 0..n1 {
                for i in 0..n2 {
                    wd[(i, j)] *= slope[j];
                }
            }
            let mut jac = mul(self.b, wd.as_ref());
            for i in 0..n1 {
                jac[(i, i)] -= self.alpha;
            }
            jac
        };
        let solved = newton::solve(
            vec![0.0; n1],
            scale,
            tol,
            60,
            |delta| (f_of(delta), ()),
            jacobian,
        )?;
        let (delta, iters) = match solved {
            Ok(s) => (s.x, s.iters),
            Err(f) => {
                return Err(f.into_error("the S1–S2 controller's steady state", |r| {
                    format!("Newton stalled at relative residual {r:.3e}")
                }))
            }
        };
        let readout = readout_of(&delta);
        let residual = self.derivative_norm(&delta, &readout, target) / scale;
        Ok(Inversion {
            delta,
            control: readout,
            steps: iters,
            residual,
            solved_by: Solver::SteadyState,
        })
    }
}
