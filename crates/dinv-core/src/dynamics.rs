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
//!
//! [`LayerSystem::invert`] is the checked entry point: it refuses, with
//! [`CoreError::UnstableDynamics`], any result of dynamics that are unstable at rest
//! (where every simulation starts: the spectral abscissa of Eq. (S9), the quantity the
//! experiments keep negative by SSA), a fixed point the dynamics would leave, and an
//! Euler simulation whose steps amplify. Such a result is not an inversion of the layer
//! (a diverging simulation returned |δ| up to 1e294), and an error, unlike a flag,
//! cannot be passed on unread. A *stable* simulation that has not settled within its
//! steps is the paper's own finite DI (10000 steps of `dt = 0.1`; at `α = 0.001` it
//! may not have converged) and is returned: [`Inversion::residual`] and
//! [`Inversion::converged`] show how far it is from the steady state. The solvers
//! themselves ([`LayerSystem::euler`], [`LayerSystem::powered_euler`],
//! [`LayerSystem::steady_state`]) are unchecked, for analyses.

use faer::{Mat, MatRef};

use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::inverse::{check_feedback_shape, ndi_control};
use crate::kernels::vecops::{matvec, mul, norm};
use crate::newton;

/// Revision of the DI solvers' numbers: part of the cache key of every stage that
/// runs DI, so that a change here recomputes those stages and nothing else. Bump it
/// whenever a solver's results change. (2: the fused Euler kernel, whose sums are
/// ordered differently; `SteadyStateOrEuler` rejects unstable fixed points.)
pub const SOLVER_REVISION: u32 = 2;

/// What the controlled layer's readout applies to its state `δ_{l-1}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
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

impl Dynamics {
    /// The readout `φ(δ)` of the controlled layer's state (Eq. 8: `δ`; Eq. 14: `g(δ)`;
    /// linearised: `g'(a) ∘ δ`) into `out`. `act` is the transfer function of the layer
    /// the state belongs to, `gprime` its `g'(a)` from the forward pass. The one home of
    /// φ for the single-layer, chained and expanding systems.
    pub(crate) fn phi(self, act: Activation, gprime: &[f64], delta: &[f64], out: &mut [f64]) {
        match self {
            Dynamics::Linear => out.copy_from_slice(delta),
            Dynamics::Nonlinear => {
                for (o, d) in out.iter_mut().zip(delta) {
                    *o = act.apply(*d);
                }
            }
            Dynamics::Linearised => {
                for ((o, d), g) in out.iter_mut().zip(delta).zip(gprime) {
                    *o = g * d;
                }
            }
        }
    }

    /// `φ'(δ)`, the diagonal of φ's Jacobian, into `out` (arguments as for [`Self::phi`]).
    pub(crate) fn phi_slope(self, act: Activation, gprime: &[f64], delta: &[f64], out: &mut [f64]) {
        match self {
            Dynamics::Linear => out.fill(1.0),
            Dynamics::Nonlinear => {
                for (o, d) in out.iter_mut().zip(delta) {
                    *o = act.derivative(*d);
                }
            }
            Dynamics::Linearised => out.copy_from_slice(gprime),
        }
    }
}

/// The order of the two Euler updates within one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum EulerOrder {
    /// Algorithm 1 of the paper: update `δ_{l-1}`, then `u_l` with the new `δ_{l-1}`.
    #[default]
    StateFirst,
    /// The authors' public code: update `u_l` first, then `δ_{l-1}` with the new `u_l`.
    ControlFirst,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
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
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct Integration {
    pub dt: f64,
    pub steps: usize,
    #[cfg_attr(feature = "serde", serde(default))]
    pub order: EulerOrder,
    /// Stop early once `‖(dδ/dt, du/dt)‖ ≤ tol · ‖δ_l‖` (Euler), or Newton's
    /// residual falls below it (steady state). `None`: run all `steps`.
    #[cfg_attr(feature = "serde", serde(default))]
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

/// The relative residual below which an inversion counts as converged when
/// [`Integration::tol`] is not set (the paper's fixed number of Euler steps).
pub const CONVERGED_RESIDUAL: f64 = 1e-6;

/// Euler steps whose linearisation at rest amplifies by more than this per step
/// diverge; up to it, the multiplier is 1 within rounding (leak `α = 0`).
const EULER_GROWTH_TOL: f64 = 1e-9;

impl Inversion {
    /// Whether the dynamics had settled: the residual is within `int.tol`, or within
    /// [`CONVERGED_RESIDUAL`] when no tolerance is set. An unconverged result of
    /// stable dynamics is still DI's answer (the paper's finite simulation); unstable
    /// ones never reach the caller ([`LayerSystem::invert`]).
    pub fn converged(&self, int: &Integration) -> bool {
        self.residual <= int.tol.unwrap_or(CONVERGED_RESIDUAL)
    }
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
        self.dynamics.phi(self.act, self.gprime, delta, out);
    }

    /// `φ'(δ)` as a diagonal.
    fn readout_slope(&self, delta: &[f64], out: &mut [f64]) {
        self.dynamics.phi_slope(self.act, self.gprime, delta, out);
    }

    /// `φ'(δ)`.
    pub(crate) fn readout_slopes(&self, delta: &[f64]) -> Vec<f64> {
        let mut slope = vec![0.0; delta.len()];
        self.readout_slope(delta, &mut slope);
        slope
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
        Ok(self.abscissa_at(delta)? < 0.0)
    }

    /// The spectral abscissa of the dynamics linearised at the state `δ_{l-1}` (see
    /// [`Self::stable_at`]).
    pub fn abscissa_at(&self, delta: &[f64]) -> Result<f64> {
        let slope = self.readout_slopes(delta);
        let wd = crate::kernels::vecops::scale_columns(self.w, &slope);
        crate::stability::spectral_abscissa(wd.as_ref(), self.b, self.alpha)
    }

    /// Eigenvalues `(re, im)` of Eq. (S9) for the dynamics linearised at rest
    /// (`δ_{l-1} = 0`, `u_l = 0`), where every simulation starts: `W` itself for linear
    /// dynamics and for `tanh` (`g'(0) = 1`), `W diag(g'(a_{l-1}))` for linearised ones.
    /// With `W` itself these are the numbers of [`crate::stability::spectral_abscissa`]
    /// that the experiments' re-stabilisation reads.
    pub fn rest_eigenvalues(&self) -> Result<Vec<(f64, f64)>> {
        // φ'(0) of a nonlinear readout is the one number g'(0): evaluating it per unit
        // would cost as much as the eigenproblem on MNIST's 1000 units.
        let n1 = self.w.ncols();
        let scaled = match self.dynamics {
            Dynamics::Linear => None,
            Dynamics::Nonlinear => Some(vec![self.act.derivative(0.0); n1]),
            Dynamics::Linearised => Some(self.gprime.to_vec()),
        }
        .filter(|slope| slope.iter().any(|&s| s != 1.0))
        .map(|slope| crate::kernels::vecops::scale_columns(self.w, &slope));
        match &scaled {
            Some(wd) => crate::stability::system_eigenvalues(wd.as_ref(), self.b, self.alpha),
            None => crate::stability::system_eigenvalues(self.w, self.b, self.alpha),
        }
    }

    /// The spectral abscissa of Eq. (S9) at rest ([`Self::rest_eigenvalues`]).
    pub fn rest_abscissa(&self) -> Result<f64> {
        Ok(abscissa_of(&self.rest_eigenvalues()?))
    }

    /// "a 10x1000 layer, alpha = 0.01, nonlinear dynamics, solver euler".
    fn describe(&self, solver: Solver) -> String {
        format!(
            "a {}x{} layer, alpha = {}, {} dynamics, solver {}",
            self.w.nrows(),
            self.w.ncols(),
            self.alpha,
            self.dynamics.name(),
            solver.name()
        )
    }

    /// Refuses a result of unstable dynamics (see the module docs): the rest state's
    /// spectral abscissa must not be positive, a steady state from Newton must be one
    /// the dynamics settle on, and Euler steps must not amplify. Costs one reduced
    /// eigenproblem (about 40 µs on MNIST's 10 × 1000 read-out, a tenth of a Newton
    /// solve); none when `SteadyStateOrEuler` kept a fixed point of affine dynamics,
    /// whose stability it has just checked, and a second one for the fixed point of
    /// the pure `SteadyState` solver with nonlinear dynamics.
    fn verify(&self, inv: &Inversion, solver: Solver, int: &Integration) -> Result<()> {
        let affine = self.is_affine();
        if solver == Solver::SteadyStateOrEuler && inv.solved_by == Solver::SteadyState && affine {
            // `stable_at` kept it; the linearisation of affine dynamics is the same
            // everywhere, the rest state included.
            return Ok(());
        }
        let refuse = |abscissa: f64, reason: String| CoreError::UnstableDynamics {
            layer: 0,
            system: self.describe(solver),
            abscissa,
            residual: inv.residual,
            reason,
        };
        let eigenvalues = self.rest_eigenvalues()?;
        let rest = abscissa_of(&eigenvalues);
        if rest > 0.0 {
            return Err(refuse(rest, unstable_at_rest(rest)));
        }
        match inv.solved_by {
            // (`SteadyStateOrEuler` kept only a fixed point `stable_at` accepted.)
            Solver::SteadyState if !affine && solver == Solver::SteadyState => {
                let at = self.abscissa_at(&inv.delta)?;
                if at > 0.0 {
                    return Err(refuse(at, unstable_fixed_point(at)));
                }
            }
            Solver::Euler | Solver::PoweredEuler => {
                let growth = euler_growth(&eigenvalues, self.alpha, int.dt);
                if growth > 1.0 + EULER_GROWTH_TOL {
                    return Err(refuse(
                        f64::NAN,
                        format!(
                            "the dynamics are stable (spectral abscissa {rest:+.3e}) but Euler \
                             steps of dt = {} amplify by {growth:.6} per step, so the \
                             simulation diverges; lower dt",
                            int.dt
                        ),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
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
        self.verify(&out, solver, int)?;
        Ok(out)
    }

    /// Algorithm 1, step by step (the fused kernel in `kernels/simulate.rs`).
    pub fn euler(&self, target: &[f64], int: &Integration) -> Inversion {
        let scale = norm(target).max(f64::MIN_POSITIVE);
        use crate::kernels::simulate::{simulate, Plant, Readout, Steps};
        let plant = Plant {
            w: self.w,
            b: self.b,
            alpha: self.alpha,
            readout: match self.dynamics {
                Dynamics::Linear => Readout::Identity,
                Dynamics::Nonlinear => Readout::Act(self.act),
                Dynamics::Linearised => Readout::Scaled(self.gprime),
            },
        };
        let steps = Steps {
            dt: int.dt,
            steps: int.steps,
            control_first: int.order == EulerOrder::ControlFirst,
            tol: int.tol,
        };
        let (delta, u, steps) = simulate(&plant, target, &steps);
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

    /// The steady state of the dynamics, Eq. 15: `W_l φ(δ_{l-1}) = δ_l + α u_l` with
    /// `δ_{l-1} = B_l u_l` (Eq. 9), by damped Newton on `F(u) = W φ(B u) − α u − δ_l`.
    /// Starts from `u = 0`, the initial state of the dynamics. (For linear `φ` this is
    /// Eq. 10's closed form, NDI.)
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
    fn newton(&self, target: &[f64], u: Vec<f64>, tol: f64) -> Result<(Vec<f64>, usize)> {
        let (n1, n2) = (self.w.ncols(), self.w.nrows());
        let scale = norm(target).max(f64::MIN_POSITIVE);
        // F(u) and the hidden error δ = B u it was computed at.
        let residual = |u: &[f64]| {
            let mut delta = vec![0.0; n1];
            let mut phi = vec![0.0; n1];
            let mut wphi = vec![0.0; n2];
            matvec(self.b, u, &mut delta);
            self.readout_input(&delta, &mut phi);
            matvec(self.w, &phi, &mut wphi);
            let f = (0..n2)
                .map(|i| wphi[i] - self.alpha * u[i] - target[i])
                .collect::<Vec<f64>>();
            (f, delta)
        };
        // J = W diag(φ'(B u)) B − α I
        let jacobian = |_: &[f64], delta: &Vec<f64>| {
            let mut slope = vec![0.0; n1];
            self.readout_slope(delta, &mut slope);
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
            jac
        };
        let max_iter = 100;
        match newton::solve(u, scale, tol, max_iter, residual, jacobian)? {
            Ok(s) => Ok((s.x, s.iters)),
            Err(f) => Err(f.into_error("the DI steady state", |r| {
                format!("Newton stalled at relative residual {r:.3e} after {max_iter} iterations")
            })),
        }
    }
}

impl Dynamics {
    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Dynamics::Linear => "linear",
            Dynamics::Nonlinear => "nonlinear",
            Dynamics::Linearised => "linearised",
        }
    }
}

impl Solver {
    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Euler => "euler",
            Solver::PoweredEuler => "powered_euler",
            Solver::SteadyState => "steady_state",
            Solver::SteadyStateOrEuler => "steady_state_or_euler",
        }
    }
}

/// Why a result of dynamics unstable at rest is refused.
pub(crate) fn unstable_at_rest(abscissa: f64) -> String {
    format!(
        "at rest, where the dynamics start, their spectral abscissa is {abscissa:+.3e} > 0, \
         so they move away from the inversion instead of settling on it; re-stabilise B (SSA) \
         or raise alpha"
    )
}

/// Why a fixed point the dynamics leave is refused.
pub(crate) fn unstable_fixed_point(abscissa: f64) -> String {
    format!(
        "the fixed point Newton found is unstable (spectral abscissa {abscissa:+.3e} there): \
         the dynamics never settle on it; steady_state_or_euler simulates them instead"
    )
}

/// Largest real part, folded as [`crate::stability::spectral_abscissa`] folds it.
fn abscissa_of(eigenvalues: &[(f64, f64)]) -> f64 {
    eigenvalues
        .iter()
        .map(|z| z.0)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Spectral radius of one Euler step (either order) linearised at rest, from the
/// eigenvalues `λ` of Eq. (S9). Each `λ` belongs to an eigenvalue `μ = (λ+1)(λ+α)` of
/// `W B` (or `B W`), and in the coordinates of [`LayerSystem::powered_euler`] the step
/// acts on that mode through a 2×2 block with characteristic polynomial
/// `x² − (ds + dc + dt² μ) x + ds·dc`, `ds = 1 − dt`, `dc = 1 − dt α`, for both update
/// orders. `λ = −1` and `λ = −α` (`μ = 0`, or the surplus directions, which decay at
/// exactly one of those rates) step by `ds` and `dc` alone.
fn euler_growth(eigenvalues: &[(f64, f64)], alpha: f64, dt: f64) -> f64 {
    let (ds, dc) = (1.0 - dt, 1.0 - dt * alpha);
    let mul = |(a, b): (f64, f64), (c, d): (f64, f64)| (a * c - b * d, a * d + b * c);
    eigenvalues
        .iter()
        .map(|&(re, im)| {
            if im == 0.0 && re == -1.0 {
                return ds.abs();
            }
            if im == 0.0 && re == -alpha {
                return dc.abs();
            }
            let mu = mul((re + 1.0, im), (re + alpha, im));
            let t = (ds + dc + dt * dt * mu.0, dt * dt * mu.1);
            let t2 = mul(t, t);
            let root = complex_sqrt((t2.0 - 4.0 * ds * dc, t2.1));
            let plus = (0.5 * (t.0 + root.0)).hypot(0.5 * (t.1 + root.1));
            let minus = (0.5 * (t.0 - root.0)).hypot(0.5 * (t.1 - root.1));
            plus.max(minus)
        })
        .fold(0.0, f64::max)
}

/// Principal square root of `re + i·im`.
fn complex_sqrt((re, im): (f64, f64)) -> (f64, f64) {
    let r = re.hypot(im);
    let sr = ((r + re) / 2.0).max(0.0).sqrt();
    let si = ((r - re) / 2.0).max(0.0).sqrt();
    (sr, if im < 0.0 { -si } else { si })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::uniform_mat;
    use rand::SeedableRng;

    /// [`euler_growth`] is the spectral radius of the Euler map itself (dense
    /// eigenvalues of [`LayerSystem::euler_map`]), for both update orders, contracting
    /// and expanding layers, linear and linearised readouts, stable and unstable
    /// feedback, and a step long enough to amplify.
    #[test]
    fn euler_growth_is_the_spectral_radius_of_the_euler_map() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for (d_l, d_below) in [(4, 7), (7, 4), (5, 5)] {
            let w = uniform_mat(&mut rng, d_l, d_below, -0.8, 0.8);
            let r = uniform_mat(&mut rng, d_below, d_l, -0.8, 0.8);
            let gp: Vec<f64> = (0..d_below).map(|i| 0.4 + 0.1 * i as f64).collect();
            for b in [r, crate::feedback::neg_transpose(w.as_ref(), 3.0)] {
                for dynamics in [Dynamics::Linear, Dynamics::Linearised] {
                    for (alpha, dt) in [(0.0, 0.1), (0.05, 0.1), (0.05, 0.7)] {
                        let sys = LayerSystem {
                            w: w.as_ref(),
                            b: b.as_ref(),
                            alpha,
                            dynamics,
                            act: Activation::Tanh,
                            gprime: &gp,
                        };
                        for order in [EulerOrder::StateFirst, EulerOrder::ControlFirst] {
                            let int = Integration {
                                dt,
                                order,
                                ..Integration::default()
                            };
                            let (a, _) = sys.euler_map(&vec![0.0; d_l], &int);
                            let dense = a
                                .eigenvalues()
                                .unwrap()
                                .iter()
                                .map(|z| z.re.hypot(z.im))
                                .fold(0.0, f64::max);
                            let growth = euler_growth(&sys.rest_eigenvalues().unwrap(), alpha, dt);
                            assert!(
                                (growth - dense).abs() < 1e-9 * dense,
                                "{d_l}x{d_below} {dynamics:?} α={alpha} dt={dt} {order:?}: \
                                 {growth} vs dense {dense}"
                            );
                        }
                    }
                }
            }
        }
    }
}
