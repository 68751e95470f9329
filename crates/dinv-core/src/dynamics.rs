//! Dynamic inversion of one layer (Algorithm 1): the system state `δ_{l-1}` (Eq. 5)
//! driven by the leaky integral controller `u_l` (Eqs. 8 and 14),
//!
//! ```text
//!   dδ_{l-1}/dt = −δ_{l-1} + B_l u_l
//!   du_l/dt     = −α u_l + W_l φ(δ_{l-1}) − δ_l
//! ```
//!
//! where `φ` is the identity (linear dynamics), the layer's own transfer function
//! `g` (Eq. 14, the paper's nonlinear DI) or its linearisation `g'(a_{l-1}) ∘ ·`
//! at the forward pass's operating point.
//!
//! The paper defines DI's error signal as the steady state and approximates it by
//! 10000 Euler steps of size 0.1. Three solvers are offered and tested against
//! each other:
//! * [`Solver::Euler`]: step-by-step Euler, the reference;
//! * [`Solver::PoweredEuler`]: for linear `φ` the Euler map is affine with a
//!   constant matrix `A`, so the `K`-th iterate is `Σ_{j<K} A^j c`, computed with
//!   `O(log K)` matrix squarings — the same numbers as `Euler`, not a different
//!   approximation;
//! * [`Solver::SteadyState`]: the fixed point `W φ(B u) − α u = δ_l`, `δ_{l-1} = B u`
//!   (Eqs. 9, 15) solved by damped Newton in the controller's coordinates.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::inverse::{check_feedback_shape, ndi_control};
use crate::vecops::{matvec, mul, norm};

/// Revision of the DI solvers' numbers: part of the cache key of every stage that
/// runs DI, so that a change here recomputes those stages and nothing else. Bump it
/// whenever a solver's results change. (2: the fused Euler kernel, whose sums are
/// ordered differently; `SteadyStateOrEuler` rejects unstable fixed points.)
pub const SOLVER_REVISION: u32 = 2;

/// What the controlled layer's readout applies to its state `δ_{l-1}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dynamics {
    /// `φ(δ) = δ` (Eq. 8). `g'(a_{l-1})` is applied to the steady state afterwards,
    /// as in Eq. (3), so DI then converges to NDI exactly.
    Linear,
    /// `φ = g`, the layer's transfer function (Eq. 14). The derivative is implicit
    /// in the inversion (section 4.2): no `g'` is applied afterwards.
    Nonlinear,
    /// `φ(δ) = g'(a_{l-1}) ∘ δ`: the forward map linearised at the current
    /// operating point; no `g'` afterwards.
    Linearised,
}

/// The order of the two Euler updates within one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EulerOrder {
    /// Algorithm 1 of the paper: update `δ_{l-1}`, then `u_l` with the new `δ_{l-1}`.
    #[default]
    StateFirst,
    /// The authors' public code: update `u_l` first, then `δ_{l-1}` with the new `u_l`.
    ControlFirst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// Step-by-step Euler integration (the reference).
    #[default]
    Euler,
    /// The exact Euler iterate via powers of the iteration matrix (linear `φ` only).
    PoweredEuler,
    /// Damped Newton on the steady-state equations.
    SteadyState,
    /// The steady state when Newton finds one and the dynamics are stable around it
    /// ([`LayerSystem::stable_at`]); otherwise (no fixed point, e.g. tanh dynamics
    /// with `α = 0` and small weights, or an unstable one, which the dynamics leave)
    /// the prescribed Euler simulation, as the paper does. [`Inversion::solved_by`]
    /// says which ran. (The multi-layer chains of `chain.rs` do not yet check
    /// stability.)
    SteadyStateOrEuler,
}

/// Integration settings. The paper: 10000 steps of `dt = 0.1`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Integration {
    pub dt: f64,
    pub steps: usize,
    #[serde(default)]
    pub order: EulerOrder,
    /// Stop early once `‖(dδ/dt, du/dt)‖ ≤ tol · ‖δ_l‖` (Euler), or Newton's
    /// residual falls below it (steady state). `None`: run all `steps`.
    #[serde(default)]
    pub tol: Option<f64>,
}

impl Default for Integration {
    fn default() -> Self {
        Integration {
            dt: 0.1,
            steps: 10_000,
            order: EulerOrder::StateFirst,
            tol: None,
        }
    }
}

impl Integration {
    pub fn validate(&self) -> Result<()> {
        if !(self.dt > 0.0 && self.dt.is_finite()) {
            return Err(CoreError::param(
                "dt",
                self.dt,
                "the Euler step must be positive and finite",
            ));
        }
        if self.steps == 0 {
            return Err(CoreError::param(
                "steps",
                self.steps,
                "at least one Euler step is needed",
            ));
        }
        if let Some(t) = self.tol {
            if !(t > 0.0 && t.is_finite()) {
                return Err(CoreError::param("tol", t, "the tolerance must be positive"));
            }
        }
        Ok(())
    }
}

/// The result of one layer's inversion.
#[derive(Clone, Debug, PartialEq)]
pub struct Inversion {
    /// `δ_{l-1}` (before any `g'` factor).
    pub delta: Vec<f64>,
    /// `u_l`.
    pub control: Vec<f64>,
    /// Euler steps taken (or Newton iterations for the steady-state solver).
    pub steps: usize,
    /// Norm of the time derivative at the returned state, relative to `‖δ_l‖`.
    pub residual: f64,
    /// The solver that produced this result.
    pub solved_by: Solver,
}

/// One controlled layer: `W_l`, `B_l`, `α`, the readout and the target `δ_l`.
#[derive(Clone, Copy)]
pub struct LayerSystem<'a> {
    pub w: MatRef<'a, f64>,
    pub b: MatRef<'a, f64>,
    pub alpha: f64,
    pub dynamics: Dynamics,
    pub act: Activation,
    /// `g'(a_{l-1})` from the forward pass (needed by `Linearised`).
    pub gprime: &'a [f64],
}

impl LayerSystem<'_> {
    fn check(&self, target: &[f64]) -> Result<()> {
        check_feedback_shape(self.w, self.b)?;
        if target.len() != self.w.nrows() {
            return Err(CoreError::shape(
                "DI target δ_l",
                self.w.nrows(),
                target.len(),
            ));
        }
        if self.dynamics == Dynamics::Linearised && self.gprime.len() != self.w.ncols() {
            return Err(CoreError::shape(
                "g'(a_{l-1}) for linearised DI",
                self.w.ncols(),
                self.gprime.len(),
            ));
        }
        Ok(())
    }

    /// `φ(δ)` into `out`.
    fn readout_input(&self, delta: &[f64], out: &mut [f64]) {
        match self.dynamics {
            Dynamics::Linear => out.copy_from_slice(delta),
            Dynamics::Nonlinear => {
                for (o, d) in out.iter_mut().zip(delta) {
                    *o = self.act.apply(*d);
                }
            }
            Dynamics::Linearised => {
                for ((o, d), g) in out.iter_mut().zip(delta).zip(self.gprime) {
                    *o = g * d;
                }
            }
        }
    }

    /// `φ'(δ)` as a diagonal.
    fn readout_slope(&self, delta: &[f64], out: &mut [f64]) {
        match self.dynamics {
            Dynamics::Linear => out.fill(1.0),
            Dynamics::Nonlinear => {
                for (o, d) in out.iter_mut().zip(delta) {
                    *o = self.act.derivative(*d);
                }
            }
            Dynamics::Linearised => out.copy_from_slice(self.gprime),
        }
    }

    fn is_affine(&self) -> bool {
        self.dynamics != Dynamics::Nonlinear || self.act == Activation::Linear
    }

    /// Norm of `(dδ/dt, du/dt)` at a state.
    fn derivative_norm(&self, delta: &[f64], u: &[f64], target: &[f64]) -> f64 {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let mut bu = vec![0.0; n1];
        matvec(self.b, u, &mut bu);
        let mut phi = vec![0.0; n1];
        self.readout_input(delta, &mut phi);
        let mut wphi = vec![0.0; n2];
        matvec(self.w, &phi, &mut wphi);
        let mut s = 0.0;
        for i in 0..n1 {
            let d = -delta[i] + bu[i];
            s += d * d;
        }
        for i in 0..n2 {
            let d = -self.alpha * u[i] + wphi[i] - target[i];
            s += d * d;
        }
        s.sqrt()
    }

    /// Whether the dynamics, linearised at the state `δ_{l-1}` of a fixed point, are
    /// stable: Eq. (S9)'s system matrix with `W` replaced by `W diag(φ'(δ_{l-1}))`, by
    /// the reduced eigenproblem of [`crate::stability`]. Newton converges to unstable
    /// fixed points as readily as to stable ones, but the dynamics never settle there.
    pub fn stable_at(&self, delta: &[f64]) -> Result<bool> {
        let mut slope = vec![0.0; delta.len()];
        self.readout_slope(delta, &mut slope);
        let wd = crate::vecops::scale_columns(self.w, &slope);
        Ok(crate::stability::spectral_abscissa(wd.as_ref(), self.b, self.alpha)? < 0.0)
    }

    /// Inverts the layer for the target `δ_l` with the chosen solver.
    pub fn invert(&self, target: &[f64], solver: Solver, int: &Integration) -> Result<Inversion> {
        self.check(target)?;
        int.validate()?;
        let out = match solver {
            Solver::Euler => self.euler(target, int),
            Solver::PoweredEuler => {
                if !self.is_affine() {
                    return Err(CoreError::param(
                        "solver",
                        "powered_euler",
                        "matrix powers reproduce Euler only for linear or linearised dynamics; use euler or steady_state",
                    ));
                }
                self.powered_euler(target, int)
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
                    "dynamic inversion of a {}x{} layer (alpha = {}): the dynamics diverged; \
                     check stability (spectral abscissa) or reduce dt",
                    self.w.nrows(),
                    self.w.ncols(),
                    self.alpha
                ),
            });
        }
        Ok(out)
    }

    /// Algorithm 1, step by step (the fused kernel of [`crate::simulate`]).
    pub fn euler(&self, target: &[f64], int: &Integration) -> Inversion {
        let scale = norm(target).max(f64::MIN_POSITIVE);
        let (delta, u, steps) = crate::simulate::simulate(self, target, int);
        let residual = self.derivative_norm(&delta, &u, target) / scale;
        Inversion {
            delta,
            control: u,
            steps,
            residual,
            solved_by: Solver::Euler,
        }
    }

    /// The Euler map `x ↦ A x + c` for affine readouts, state `x = (δ_{l-1}, u_l)`.
    fn euler_map(&self, target: &[f64], int: &Integration) -> (Mat<f64>, Vec<f64>) {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let n = n1 + n2;
        let dt = int.dt;
        // W D: the readout as a matrix (D = I for linear dynamics).
        let mut wd = self.w.to_owned();
        if self.dynamics == Dynamics::Linearised {
            for j in 0..n1 {
                for i in 0..n2 {
                    wd[(i, j)] *= self.gprime[j];
                }
            }
        }
        let mut a = Mat::<f64>::zeros(n, n);
        let mut c = vec![0.0; n];
        let (ds, dc) = (1.0 - dt, 1.0 - dt * self.alpha);
        match int.order {
            EulerOrder::StateFirst => {
                // δ' = ds δ + dt B u ;  u' = dc u + dt WD δ' − dt t
                let wdb = mul(wd.as_ref(), self.b);
                for i in 0..n1 {
                    a[(i, i)] = ds;
                    for j in 0..n2 {
                        a[(i, n1 + j)] = dt * self.b[(i, j)];
                    }
                }
                for i in 0..n2 {
                    for j in 0..n1 {
                        a[(n1 + i, j)] = dt * ds * wd[(i, j)];
                    }
                    for j in 0..n2 {
                        a[(n1 + i, n1 + j)] = dt * dt * wdb[(i, j)];
                    }
                    a[(n1 + i, n1 + i)] += dc;
                    c[n1 + i] = -dt * target[i];
                }
            }
            EulerOrder::ControlFirst => {
                // u' = dc u + dt WD δ − dt t ;  δ' = ds δ + dt B u'
                let bwd = mul(self.b, wd.as_ref());
                for i in 0..n1 {
                    for j in 0..n1 {
                        a[(i, j)] = dt * dt * bwd[(i, j)];
                    }
                    a[(i, i)] += ds;
                    for j in 0..n2 {
                        a[(i, n1 + j)] = dt * dc * self.b[(i, j)];
                    }
                    let bt: f64 = target
                        .iter()
                        .enumerate()
                        .map(|(j, t)| self.b[(i, j)] * t)
                        .sum();
                    c[i] = -dt * dt * bt;
                }
                for i in 0..n2 {
                    for j in 0..n1 {
                        a[(n1 + i, j)] = dt * wd[(i, j)];
                    }
                    a[(n1 + i, n1 + i)] = dc;
                    c[n1 + i] = -dt * target[i];
                }
            }
        }
        (a, c)
    }

    /// `x_K = Σ_{j<K} A^j c` by binary powering: with `P = A^{2^i}` and
    /// `v = x_{2^i}`, `x_{m+2^i} = P x_m + v`. Stops early once `A^{2^i}` is below
    /// rounding level (every later iterate then equals the current one to working
    /// precision); with `tol` set it also stops once `A^{2^i}` has shrunk by `tol`.
    ///
    /// For `d_l ≤ d_{l-1}` the state never leaves `δ ∈ range(B)`: writing `δ = B z`,
    /// the map acts on `(z, u)` through 2×2 blocks that are all polynomials in
    /// `G = W D B` (`d_l × d_l`), so they commute and a squaring costs five small
    /// products instead of one product of size `d_{l-1} + d_l`.
    pub fn powered_euler(&self, target: &[f64], int: &Integration) -> Inversion {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let (delta, u, steps) = if n2 <= n1 {
            self.powered_reduced(target, int)
        } else {
            self.powered_full(target, int)
        };
        debug_assert_eq!((delta.len(), u.len()), (n1, n2));
        let residual =
            self.derivative_norm(&delta, &u, target) / norm(target).max(f64::MIN_POSITIVE);
        Inversion {
            delta,
            control: u,
            steps: steps.min(int.steps),
            residual,
            solved_by: Solver::PoweredEuler,
        }
    }

    /// Powering the full `(δ, u)` map.
    fn powered_full(&self, target: &[f64], int: &Integration) -> (Vec<f64>, Vec<f64>, usize) {
        let n1 = self.w.ncols();
        let (a, c) = self.euler_map(target, int);
        let (mut x, steps) = affine_power(a, c, int);
        let u = x.split_off(n1);
        (x, u, steps)
    }

    /// Powering the reduced `(z, u)` map, `δ = B z` (see [`Self::powered_euler`]).
    fn powered_reduced(&self, target: &[f64], int: &Integration) -> (Vec<f64>, Vec<f64>, usize) {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let dt = int.dt;
        // G = W D B.
        let g = {
            let mut db = self.b.to_owned();
            if self.dynamics == Dynamics::Linearised {
                for i in 0..n1 {
                    for j in 0..n2 {
                        db[(i, j)] *= self.gprime[i];
                    }
                }
            }
            mul(self.w, db.as_ref())
        };
        let eye = |c: f64| Mat::from_fn(n2, n2, |i, j| if i == j { c } else { 0.0 });
        let poly = |c0: f64, c1: f64| {
            let mut m = Mat::from_fn(n2, n2, |i, j| c1 * g[(i, j)]);
            for i in 0..n2 {
                m[(i, i)] += c0;
            }
            m
        };
        let (ds, dc) = (1.0 - dt, 1.0 - dt * self.alpha);
        // Blocks of the one-step map [[a, b], [c, d]] and forcing (fz, fu).
        // Blocks of the one-step map [[a, b], [c, d]] and the forcing (fz, fu).
        let (mut a, mut b, mut c, mut d, fz, fu): ReducedMap = match int.order {
            // z' = ds z + dt u ;  u' = dc u + dt G z' − dt t
            EulerOrder::StateFirst => (
                eye(ds),
                eye(dt),
                poly(0.0, dt * ds),
                poly(dc, dt * dt),
                vec![0.0; n2],
                target.iter().map(|t| -dt * t).collect(),
            ),
            // u' = dc u + dt G z − dt t ;  z' = ds z + dt u'
            EulerOrder::ControlFirst => (
                poly(ds, dt * dt),
                eye(dt * dc),
                poly(0.0, dt),
                eye(dc),
                target.iter().map(|t| -dt * dt * t).collect(),
                target.iter().map(|t| -dt * t).collect(),
            ),
        };
        let stop = stop_level(int);
        let apply =
            |a: &Mat<f64>, b: &Mat<f64>, c: &Mat<f64>, d: &Mat<f64>, z: &[f64], u: &[f64]| {
                let (mut t1, mut t2) = (vec![0.0; n2], vec![0.0; n2]);
                let (mut z2, mut u2) = (vec![0.0; n2], vec![0.0; n2]);
                matvec(a.as_ref(), z, &mut t1);
                matvec(b.as_ref(), u, &mut t2);
                for i in 0..n2 {
                    z2[i] = t1[i] + t2[i];
                }
                matvec(c.as_ref(), z, &mut t1);
                matvec(d.as_ref(), u, &mut t2);
                for i in 0..n2 {
                    u2[i] = t1[i] + t2[i];
                }
                (z2, u2)
            };
        let (mut vz, mut vu) = (fz, fu); // x_1
        let (mut rz, mut ru) = (vec![0.0; n2], vec![0.0; n2]);
        let mut k = int.steps;
        let mut span = 1usize;
        let mut steps_done = 0usize;
        loop {
            if k & 1 == 1 {
                let (pz, pu) = apply(&a, &b, &c, &d, &rz, &ru);
                rz = pz.iter().zip(&vz).map(|(p, v)| p + v).collect();
                ru = pu.iter().zip(&vu).map(|(p, v)| p + v).collect();
                steps_done += span;
            }
            k >>= 1;
            if k == 0 {
                break;
            }
            let (pz, pu) = apply(&a, &b, &c, &d, &vz, &vu);
            for i in 0..n2 {
                vz[i] += pz[i];
                vu[i] += pu[i];
            }
            // [[a,b],[c,d]]² with commuting blocks: [[a²+bc, b(a+d)], [c(a+d), d²+bc]].
            let bc = mul(b.as_ref(), c.as_ref());
            let apd = &a + &d;
            let a2 = &mul(a.as_ref(), a.as_ref()) + &bc;
            let d2 = &mul(d.as_ref(), d.as_ref()) + &bc;
            b = mul(b.as_ref(), apd.as_ref());
            c = mul(c.as_ref(), apd.as_ref());
            a = a2;
            d = d2;
            span *= 2;
            let level = [&a, &b, &c, &d]
                .iter()
                .map(|m| max_abs(m.as_ref()))
                .fold(0.0, f64::max);
            if level < stop {
                rz.copy_from_slice(&vz);
                ru.copy_from_slice(&vu);
                steps_done = span;
                break;
            }
        }
        let mut delta = vec![0.0; n1];
        matvec(self.b, &rz, &mut delta);
        (delta, ru, steps_done)
    }

    /// Damped Newton on `F(u) = W φ(B u) − α u − δ_l = 0`, `δ_{l-1} = B u`.
    /// Starts from `u = 0`, the initial state of the dynamics.
    pub fn steady_state(&self, target: &[f64], int: &Integration) -> Result<Inversion> {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let scale = norm(target).max(f64::MIN_POSITIVE);
        let tol = int.tol.unwrap_or(1e-13);
        if self.is_affine() && self.dynamics == Dynamics::Linear {
            let u = ndi_control(self.w, self.b, self.alpha, target)?;
            let mut delta = vec![0.0; n1];
            matvec(self.b, &u, &mut delta);
            let residual = self.derivative_norm(&delta, &u, target) / scale;
            return Ok(Inversion {
                delta,
                control: u,
                steps: 1,
                residual,
                solved_by: Solver::SteadyState,
            });
        }
        // Newton from the dynamics' initial state; if it finds no descent, follow the
        // fixed point from the zero target (u = 0) up to the real one, warm-starting each
        // Newton solve from the previous — the branch the dynamics start on.
        let (u, iters) = match self.newton(target, vec![0.0; n2], tol) {
            Ok(r) => r,
            Err(CoreError::NoSteadyState { .. }) => {
                let mut u = vec![0.0; n2];
                let mut total = 0;
                for k in 1..=8 {
                    let s = k as f64 / 8.0;
                    let scaled: Vec<f64> = target.iter().map(|t| s * t).collect();
                    let (next, it) = self.newton(&scaled, u, tol)?;
                    u = next;
                    total += it;
                }
                (u, total)
            }
            Err(e) => return Err(e),
        };
        let mut delta = vec![0.0; n1];
        matvec(self.b, &u, &mut delta);
        let residual = self.derivative_norm(&delta, &u, target) / scale;
        Ok(Inversion {
            delta,
            control: u,
            steps: iters,
            residual,
            solved_by: Solver::SteadyState,
        })
    }

    /// Damped Newton on `F(u) = W φ(B u) − α u − target` from `u`.
    fn newton(&self, target: &[f64], mut u: Vec<f64>, tol: f64) -> Result<(Vec<f64>, usize)> {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let scale = norm(target).max(f64::MIN_POSITIVE);
        let mut delta = vec![0.0; n1];
        let mut phi = vec![0.0; n1];
        let mut slope = vec![0.0; n1];
        let mut wphi = vec![0.0; n2];
        let residual_of =
            |u: &[f64], delta: &mut Vec<f64>, phi: &mut Vec<f64>, wphi: &mut Vec<f64>| {
                matvec(self.b, u, delta);
                self.readout_input(delta, phi);
                matvec(self.w, phi, wphi);
                (0..n2)
                    .map(|i| wphi[i] - self.alpha * u[i] - target[i])
                    .collect::<Vec<f64>>()
            };
        let mut f = residual_of(&u, &mut delta, &mut phi, &mut wphi);
        let mut fnorm = norm(&f);
        let max_iter = 100;
        let mut iters = 0;
        while fnorm > tol * scale {
            if iters == max_iter {
                return Err(CoreError::NoSteadyState {
                    layer: 0,
                    reason: format!(
                        "Newton stalled at relative residual {:.3e} after {max_iter} iterations",
                        fnorm / scale
                    ),
                });
            }
            iters += 1;
            // J = W diag(φ'(B u)) B − α I
            self.readout_slope(&delta, &mut slope);
            let mut db = self.b.to_owned();
            for i in 0..n1 {
                for j in 0..n2 {
                    db[(i, j)] *= slope[i];
                }
            }
            let mut jac = mul(self.w, db.as_ref());
            for i in 0..n2 {
                jac[(i, i)] -= self.alpha;
            }
            let neg_f: Vec<f64> = f.iter().map(|v| -v).collect();
            let step = crate::inverse::solve_square(jac.as_ref(), &neg_f)
                .or_else(|_| crate::inverse::min_norm_lstsq(jac.as_ref(), &neg_f))?;
            // Backtracking on ‖F‖.
            let mut t = 1.0;
            loop {
                let trial: Vec<f64> = u.iter().zip(&step).map(|(a, s)| a + t * s).collect();
                let f_trial = residual_of(&trial, &mut delta, &mut phi, &mut wphi);
                let n_trial = norm(&f_trial);
                if t < 1e-10 {
                    return Err(CoreError::NoSteadyState {
                        layer: 0,
                        reason: format!(
                            "no descent at relative residual {:.3e}: the dynamics may have no fixed point",
                            fnorm / scale
                        ),
                    });
                }
                if n_trial < (1.0 - 1e-4 * t) * fnorm {
                    u = trial;
                    f = f_trial;
                    fnorm = n_trial;
                    break;
                }
                t *= 0.5;
            }
            if !fnorm.is_finite() {
                return Err(CoreError::NonFinite {
                    what: "Newton iterate of the DI steady state".into(),
                });
            }
        }
        Ok((u, iters))
    }
}

/// The blocks `a, b, c, d` and forcing `(f_z, f_u)` of the reduced Euler map.
type ReducedMap = (Mat<f64>, Mat<f64>, Mat<f64>, Mat<f64>, Vec<f64>, Vec<f64>);

/// Below this, a power of the iteration matrix no longer changes an iterate.
fn stop_level(int: &Integration) -> f64 {
    int.tol.unwrap_or(0.0).max(1e-18)
}

/// The `K`-th iterate (`K = int.steps`) of `x ↦ A x + c` from `x_0 = 0`, i.e.
/// `Σ_{j<K} A^j c`, by binary powering: with `P = A^{2^i}` and `v = x_{2^i}`,
/// `x_{m+2^i} = P x_m + v`. Stops early once `A^{2^i}` is below rounding level
/// (every later iterate then equals the current one to working precision).
/// Returns the iterate and the number of steps it represents.
pub(crate) fn affine_power(a: Mat<f64>, c: Vec<f64>, int: &Integration) -> (Vec<f64>, usize) {
    let n = c.len();
    let stop = stop_level(int);
    let mut p = a;
    let mut v = c; // x_1
    let mut r = vec![0.0; n];
    let mut tmp = vec![0.0; n];
    let mut k = int.steps;
    let mut span = 1usize;
    let mut steps_done = 0usize;
    loop {
        if k & 1 == 1 {
            matvec(p.as_ref(), &r, &mut tmp);
            for i in 0..n {
                r[i] = tmp[i] + v[i];
            }
            steps_done += span;
        }
        k >>= 1;
        if k == 0 {
            break;
        }
        matvec(p.as_ref(), &v, &mut tmp);
        for i in 0..n {
            v[i] += tmp[i];
        }
        p = mul(p.as_ref(), p.as_ref());
        span *= 2;
        if max_abs(p.as_ref()) < stop {
            // A^{span} is negligible: x_m = x_∞ to working precision for every m ≥ span,
            // and the remaining bits ask for m ≥ span.
            r.copy_from_slice(&v);
            steps_done = span;
            break;
        }
    }
    (r, steps_done.min(int.steps))
}

fn max_abs(m: MatRef<'_, f64>) -> f64 {
    let mut s: f64 = 0.0;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            s = s.max(m[(i, j)].abs());
        }
    }
    s
}
