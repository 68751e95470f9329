//! Chained dynamic inversion of a whole network in one simulation (section 4.1, Fig. 2):
//!
//! * **repeat layer** (Algorithm 2): every hidden layer is controlled by the layer above
//!   and controls the layer below at the same time; each controller's target is the
//!   current state of the layer above, so the whole backward pass settles at once. Its
//!   steady state is the sequential one.
//! * **single loop** (Algorithm 3, SDI): the output controller `u_L` drives the first
//!   hidden layer through one feedback matrix `B`, and the forward weights carry the
//!   signal up through the other hidden layers:
//!   `dδ_1/dt = −δ_1 + B u`, `dδ_k/dt = −δ_k + W_k φ(δ_{k-1})`,
//!   `du/dt = −α u + W_L φ(δ_{L-1}) − δ_L`.
//!
//! Both are simulated on one state vector. For affine dynamics the Euler step is an
//! affine map whose matrix is read off the step function itself (so powering it cannot
//! disagree with step-by-step Euler), and its `K`-th iterate is computed by powering.

use faer::{Mat, MatRef};

use crate::activation::Activation;
use crate::dynamics::{affine_power, Dynamics, EulerOrder, Integration, LayerSystem, Solver};
use crate::error::{CoreError, Result};
use crate::inverse::check_feedback_shape;
use crate::kernels::vecops::{matvec, mul, norm};
use crate::newton;

/// Revision of the whole-network solvers' numbers (repeat layer, single loop): part of
/// the cache key of the stages that run them, beside
/// [`crate::dynamics::SOLVER_REVISION`]. (1: `SteadyStateOrEuler` rejects fixed points
/// where the linearised dynamics are unstable.)
pub const CHAIN_SOLVER_REVISION: u32 = 1;

/// One layer of a chain: `W_l`, the transfer function of the layer below (`g_{l-1}`)
/// and `g'(a_{l-1})` from the forward pass.
#[derive(Clone, Copy)]
pub struct ChainLayer<'a> {
    pub w: MatRef<'a, f64>,
    pub act_below: Activation,
    pub gprime_below: &'a [f64],
}

/// `φ_{l-1}(δ)` for a chain layer.
fn phi(dynamics: Dynamics, layer: &ChainLayer<'_>, delta: &[f64], out: &mut [f64]) {
    dynamics.phi(layer.act_below, layer.gprime_below, delta, out);
}

fn phi_slope(dynamics: Dynamics, layer: &ChainLayer<'_>, delta: &[f64], out: &mut [f64]) {
    dynamics.phi_slope(layer.act_below, layer.gprime_below, delta, out);
}

/// Error signals of every hidden layer (`result[k] = δ_{k+1}`) and the work done.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainInversion {
    pub deltas: Vec<Vec<f64>>,
    pub steps: usize,
    pub residual: f64,
    pub solved_by: Solver,
}

/// A dynamical system simulated by Euler steps on one flat state vector.
trait Flow {
    fn dim(&self) -> usize;
    /// One Euler step in place; returns `‖Δx‖²`.
    fn step(&self, x: &mut [f64], dt: f64, order: EulerOrder) -> f64;
    fn affine(&self) -> bool;
}

fn run_euler<F: Flow>(f: &F, int: &Integration, scale: f64) -> (Vec<f64>, usize) {
    let mut x = vec![0.0; f.dim()];
    let mut steps = 0;
    for _ in 0..int.steps {
        steps += 1;
        let change = f.step(&mut x, int.dt, int.order);
        if let Some(tol) = int.tol {
            if change.sqrt() / int.dt <= tol * scale {
                break;
            }
        }
    }
    (x, steps)
}

/// The exact Euler iterate of an affine flow: `A` and `c` are read off the step.
fn run_powered<F: Flow>(f: &F, int: &Integration) -> (Vec<f64>, usize) {
    let n = f.dim();
    let mut c = vec![0.0; n];
    f.step(&mut c, int.dt, int.order);
    let mut a = Mat::<f64>::zeros(n, n);
    let mut e = vec![0.0; n];
    for j in 0..n {
        e.fill(0.0);
        e[j] = 1.0;
        f.step(&mut e, int.dt, int.order);
        for i in 0..n {
            a[(i, j)] = e[i] - c[i];
        }
    }
    affine_power(a, c, int)
}

/// Relative norm of the time derivative at `x`: one Euler step of size `h`, divided by `h`.
fn derivative_norm<F: Flow>(f: &F, x: &[f64], scale: f64) -> f64 {
    let h = 1e-3;
    let mut y = x.to_vec();
    let change = f.step(&mut y, h, EulerOrder::StateFirst);
    change.sqrt() / h / scale
}

// ---------------------------------------------------------------- repeat layer

/// Algorithm 2 for any depth. `layers[0]` is the output layer `W_L`, then `W_{L-1}`,
/// down to `W_2`; `feedback[j]` pairs with `layers[j]`.
pub struct RepeatLayer<'a> {
    pub layers: Vec<ChainLayer<'a>>,
    pub feedback: Vec<MatRef<'a, f64>>,
    pub alpha: f64,
    pub dynamics: Dynamics,
    pub target: &'a [f64],
}

impl RepeatLayer<'_> {
    /// Offsets of each layer's `(δ_{l-1}, u_l)` block in the state.
    fn offsets(&self) -> Vec<(usize, usize, usize, usize)> {
        let mut off = 0;
        self.layers
            .iter()
            .map(|l| {
                let (n1, n2) = (l.w.ncols(), l.w.nrows());
                let o = (off, n1, off + n1, n2);
                off += n1 + n2;
                o
            })
            .collect()
    }

    /// The error signal passed on from a layer's state: `g' ∘ state` for linear
    /// dynamics (as in the sequential pass), the state itself otherwise.
    fn post(&self, j: usize, state: &[f64]) -> Vec<f64> {
        match self.dynamics {
            Dynamics::Linear => state
                .iter()
                .zip(self.layers[j].gprime_below)
                .map(|(s, g)| s * g)
                .collect(),
            _ => state.to_vec(),
        }
    }

    fn check(&self) -> Result<()> {
        if self.layers.is_empty() || self.layers.len() != self.feedback.len() {
            return Err(CoreError::Feedback(
                "repeat-layer DI needs one feedback matrix per inverted layer".into(),
            ));
        }
        for (j, (l, b)) in self.layers.iter().zip(&self.feedback).enumerate() {
            check_feedback_shape(l.w, *b)
                .map_err(|e| CoreError::Feedback(format!("repeat-layer DI, layer {j}: {e}")))?;
            if j > 0 && l.w.nrows() != self.layers[j - 1].w.ncols() {
                return Err(CoreError::shape(
                    "repeat-layer chain",
                    self.layers[j - 1].w.ncols(),
                    l.w.nrows(),
                ));
            }
        }
        if self.target.len() != self.layers[0].w.nrows() {
            return Err(CoreError::shape(
                "repeat-layer target δ_L",
                self.layers[0].w.nrows(),
                self.target.len(),
            ));
        }
        Ok(())
    }

    pub fn invert(&self, solver: Solver, int: &Integration) -> Result<ChainInversion> {
        self.check()?;
        int.validate()?;
        let scale = norm(self.target).max(f64::MIN_POSITIVE);
        let (x, steps) = match solver {
            Solver::Euler => run_euler(self, int, scale),
            Solver::PoweredEuler => {
                if !self.affine() {
                    return Err(CoreError::param(
                        "solver",
                        "powered_euler",
                        "needs linear or linearised dynamics",
                    ));
                }
                run_powered(self, int)
            }
            Solver::SteadyState => return self.steady_state(int).map(|(inv, _)| inv),
            Solver::SteadyStateOrEuler => match self.steady_state(int) {
                Ok((inv, true)) => return Ok(inv),
                Ok((_, false)) | Err(CoreError::NoSteadyState { .. }) => {
                    let (x, steps) = run_euler(self, int, scale);
                    return self.finish(&x, steps, scale, Solver::Euler);
                }
                Err(e) => return Err(e),
            },
        };
        self.finish(&x, steps, scale, solver)
    }

    fn finish(
        &self,
        x: &[f64],
        steps: usize,
        scale: f64,
        solved_by: Solver,
    ) -> Result<ChainInversion> {
        if x.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::NonFinite {
                what: format!(
                    "repeat-layer DI (alpha = {}) diverged; check each layer's stability",
                    self.alpha
                ),
            });
        }
        let offs = self.offsets();
        // Bottom layer first: deltas[k] = δ_{k+1}.
        let mut deltas: Vec<Vec<f64>> = offs
            .iter()
            .enumerate()
            .map(|(j, o)| self.post(j, &x[o.0..o.0 + o.1]))
            .collect();
        deltas.reverse();
        Ok(ChainInversion {
            deltas,
            steps,
            residual: derivative_norm(self, x, scale),
            solved_by,
        })
    }

    /// The fixed point is the sequential one: Eq. 15 solved layer by layer, top down
    /// (each layer by [`LayerSystem::steady_state`]). Also returns
    /// whether the dynamics are stable there: each controller sees only the layer above,
    /// so the linearisation is block-triangular and stable exactly when every layer's
    /// block is ([`LayerSystem::stable_at`]).
    fn steady_state(&self, int: &Integration) -> Result<(ChainInversion, bool)> {
        let mut target = self.target.to_vec();
        let mut deltas = Vec::new();
        let mut steps = 0;
        let mut residual: f64 = 0.0;
        let mut stable = true;
        for (j, l) in self.layers.iter().enumerate() {
            let sys = LayerSystem {
                w: l.w,
                b: self.feedback[j],
                alpha: self.alpha,
                dynamics: self.dynamics,
                act: l.act_below,
                gprime: l.gprime_below,
            };
            let inv = sys.steady_state(&target, int)?;
            stable = stable && sys.stable_at(&inv.delta)?;
            steps += inv.steps;
            residual = residual.max(inv.residual);
            target = self.post(j, &inv.delta);
            deltas.push(target.clone());
        }
        deltas.reverse();
        let inv = ChainInversion {
            deltas,
            steps,
            residual,
            solved_by: Solver::SteadyState,
        };
        Ok((inv, stable))
    }
}

impl Flow for RepeatLayer<'_> {
    fn dim(&self) -> usize {
        self.layers.iter().map(|l| l.w.ncols() + l.w.nrows()).sum()
    }

    fn affine(&self) -> bool {
        self.dynamics != Dynamics::Nonlinear
            || self
                .layers
                .iter()
                .all(|l| l.act_below == Activation::Linear)
    }

    fn step(&self, x: &mut [f64], dt: f64, order: EulerOrder) -> f64 {
        let offs = self.offsets();
        let mut change = 0.0;
        for (j, l) in self.layers.iter().enumerate() {
            let (d0, n1, u0, n2) = offs[j];
            let target = if j == 0 {
                self.target.to_vec()
            } else {
                let (a0, a1, _, _) = offs[j - 1];
                self.post(j - 1, &x[a0..a0 + a1])
            };
            let state_step = |x: &mut [f64]| {
                let mut bu = vec![0.0; n1];
                matvec(self.feedback[j], &x[u0..u0 + n2], &mut bu);
                let mut c = 0.0;
                for i in 0..n1 {
                    let inc = dt * (-x[d0 + i] + bu[i]);
                    x[d0 + i] += inc;
                    c += inc * inc;
                }
                c
            };
            let control_step = |x: &mut [f64]| {
                let mut p = vec![0.0; n1];
                phi(self.dynamics, l, &x[d0..d0 + n1], &mut p);
                let mut wp = vec![0.0; n2];
                matvec(l.w, &p, &mut wp);
                let mut c = 0.0;
                for i in 0..n2 {
                    let inc = dt * (-self.alpha * x[u0 + i] + wp[i] - target[i]);
                    x[u0 + i] += inc;
                    c += inc * inc;
                }
                c
            };
            match order {
                EulerOrder::StateFirst => {
                    change += state_step(x);
                    change += control_step(x);
                }
                EulerOrder::ControlFirst => {
                    change += control_step(x);
                    change += state_step(x);
                }
            }
        }
        change
    }
}

// ---------------------------------------------------------------- single loop

/// Algorithm 3 for any depth ≥ 2 hidden layers. `layers[k]` is `W_{k+2}` (from the
/// first hidden layer up to the output), `b` maps the output controller to `δ_1`.
pub struct SingleLoop<'a> {
    pub layers: Vec<ChainLayer<'a>>,
    pub b: MatRef<'a, f64>,
    pub alpha: f64,
    pub dynamics: Dynamics,
    pub target: &'a [f64],
}

impl SingleLoop<'_> {
    /// Sizes of the hidden states `δ_1 … δ_{L-1}` and of `u`.
    fn sizes(&self) -> (Vec<usize>, usize) {
        let hidden = self.layers.iter().map(|l| l.w.ncols()).collect();
        (hidden, self.layers.last().map(|l| l.w.nrows()).unwrap_or(0))
    }

    fn check(&self) -> Result<()> {
        self.check_structure()?;
        let (_, nu) = self.sizes();
        if self.target.len() != nu {
            return Err(CoreError::shape(
                "single-loop target δ_L",
                nu,
                self.target.len(),
            ));
        }
        Ok(())
    }

    fn check_structure(&self) -> Result<()> {
        if self.layers.len() < 2 {
            return Err(CoreError::Feedback(format!(
                "single-loop DI needs at least two hidden layers; this network has {}",
                self.layers.len()
            )));
        }
        let (hidden, nu) = self.sizes();
        if self.b.nrows() != hidden[0] || self.b.ncols() != nu {
            return Err(CoreError::shape(
                "single-loop feedback B (first hidden width × output width)",
                format!("{}x{nu}", hidden[0]),
                format!("{}x{}", self.b.nrows(), self.b.ncols()),
            ));
        }
        Ok(())
    }

    /// The error signal of hidden state `k` (`δ_{k+1}`): `g'(a_{k+1}) ∘ state` for
    /// linear dynamics, the state itself otherwise. `layers[k]` (`W_{k+2}`) carries
    /// `g'(a_{k+1})` as its `gprime_below`.
    fn post(&self, k: usize, state: &[f64]) -> Vec<f64> {
        match self.dynamics {
            Dynamics::Linear => state
                .iter()
                .zip(self.layers[k].gprime_below)
                .map(|(s, g)| s * g)
                .collect(),
            _ => state.to_vec(),
        }
    }

    pub fn invert(&self, solver: Solver, int: &Integration) -> Result<ChainInversion> {
        self.check()?;
        int.validate()?;
        let scale = norm(self.target).max(f64::MIN_POSITIVE);
        let (x, steps, solved_by) = match solver {
            Solver::Euler => {
                let (x, s) = run_euler(self, int, scale);
                (x, s, solver)
            }
            Solver::PoweredEuler => {
                if !self.affine() {
                    return Err(CoreError::param(
                        "solver",
                        "powered_euler",
                        "needs linear or linearised dynamics",
                    ));
                }
                let (x, s) = run_powered(self, int);
                (x, s, solver)
            }
            Solver::SteadyState => self.steady_state(int)?,
            Solver::SteadyStateOrEuler => match self.steady_state(int) {
                Ok(r) if self.stable_at(&r.0)? => r,
                Ok(_) | Err(CoreError::NoSteadyState { .. }) => {
                    let (x, steps) = run_euler(self, int, scale);
                    (x, steps, Solver::Euler)
                }
                Err(e) => return Err(e),
            },
        };
        if x.iter().any(|v| !v.is_finite()) {
            return Err(CoreError::NonFinite {
                what: format!(
                    "single-loop DI (alpha = {}) diverged; check the loop's stability",
                    self.alpha
                ),
            });
        }
        let (hidden, _) = self.sizes();
        let mut deltas = Vec::new();
        let mut off = 0;
        for (k, &n) in hidden.iter().enumerate() {
            deltas.push(self.post(k, &x[off..off + n]));
            off += n;
        }
        Ok(ChainInversion {
            deltas,
            steps,
            residual: derivative_norm(self, &x, scale),
            solved_by,
        })
    }

    /// Hidden states at the fixed point for a given `u`: `δ_1 = B u`, `δ_k = W_k φ(δ_{k-1})`.
    fn forward_states(&self, u: &[f64]) -> Vec<Vec<f64>> {
        let (hidden, _) = self.sizes();
        let mut states = vec![vec![0.0; hidden[0]]];
        matvec(self.b, u, &mut states[0]);
        for k in 1..hidden.len() {
            let l = &self.layers[k - 1];
            let mut p = vec![0.0; hidden[k - 1]];
            phi(self.dynamics, l, &states[k - 1], &mut p);
            let mut next = vec![0.0; hidden[k]];
            matvec(l.w, &p, &mut next);
            states.push(next);
        }
        states
    }

    fn loop_residual(&self, u: &[f64], states: &[Vec<f64>]) -> Vec<f64> {
        let top = self.layers.last().expect("checked");
        let last = states.last().expect("checked");
        let mut p = vec![0.0; last.len()];
        phi(self.dynamics, top, last, &mut p);
        let mut wp = vec![0.0; u.len()];
        matvec(top.w, &p, &mut wp);
        (0..u.len())
            .map(|i| wp[i] - self.alpha * u[i] - self.target[i])
            .collect()
    }

    /// The single loop's steady state, its Eq. 15: damped Newton on
    /// `F(u) = W_L φ(δ_{L-1}(u)) − α u − δ_L`.
    fn steady_state(&self, int: &Integration) -> Result<(Vec<f64>, usize, Solver)> {
        let (hidden, nu) = self.sizes();
        let scale = norm(self.target).max(f64::MIN_POSITIVE);
        let tol = int.tol.unwrap_or(1e-13);
        let residual = |u: &[f64]| {
            let states = self.forward_states(u);
            (self.loop_residual(u, &states), states)
        };
        // J = W_L Φ'_{L-1} ⋯ W_2 Φ'_1 B − α I, accumulated from the bottom.
        let jacobian = |_: &[f64], states: &Vec<Vec<f64>>| {
            let mut m = self.b.to_owned();
            for (k, l) in self.layers.iter().enumerate() {
                let mut slope = vec![0.0; hidden[k]];
                phi_slope(self.dynamics, l, &states[k], &mut slope);
                for i in 0..m.nrows() {
                    for j in 0..m.ncols() {
                        m[(i, j)] *= slope[i];
                    }
                }
                m = mul(l.w, m.as_ref());
            }
            for i in 0..nu {
                m[(i, i)] -= self.alpha;
            }
            m
        };
        match newton::solve(vec![0.0; nu], scale, tol, 60, residual, jacobian)? {
            Ok(s) => {
                let mut x: Vec<f64> = s.state.concat();
                x.extend_from_slice(&s.x);
                Ok((x, s.iters, Solver::SteadyState))
            }
            Err(f) => Err(f.into_error("the single loop's steady state", |r| {
                format!("single-loop Newton stalled at relative residual {r:.3e}")
            })),
        }
    }

    /// The loop's linear system matrix (state order `δ_1, …, δ_{L-1}, u`), linearised at
    /// the origin where the dynamics start (`φ' = g'(0)`, or `g'(a)` for linearised dynamics).
    pub fn system_matrix(&self) -> Result<Mat<f64>> {
        self.check_structure()?;
        Ok(self.system_matrix_unchecked())
    }

    /// The same loop with another feedback matrix (for SSA).
    pub fn with_b<'b>(&'b self, b: MatRef<'b, f64>) -> SingleLoop<'b> {
        SingleLoop {
            layers: self.layers.clone(),
            b,
            alpha: self.alpha,
            dynamics: self.dynamics,
            target: self.target,
        }
    }

    pub(crate) fn system_matrix_unchecked(&self) -> Mat<f64> {
        let (hidden, nu) = self.sizes();
        let n: usize = hidden.iter().sum::<usize>() + nu;
        let mut m = Mat::<f64>::zeros(n, n);
        let mut offs = vec![0];
        for h in &hidden {
            offs.push(offs.last().unwrap() + h);
        }
        for i in 0..offs[hidden.len()] {
            m[(i, i)] = -1.0;
        }
        for i in 0..nu {
            m[(offs[hidden.len()] + i, offs[hidden.len()] + i)] = -self.alpha;
        }
        for i in 0..hidden[0] {
            for j in 0..nu {
                m[(i, offs[hidden.len()] + j)] = self.b[(i, j)];
            }
        }
        for (k, l) in self.layers.iter().enumerate() {
            let zero = vec![0.0; hidden[k]];
            let mut slope = vec![0.0; hidden[k]];
            phi_slope(self.dynamics, l, &zero, &mut slope);
            let row0 = offs[k + 1];
            for i in 0..l.w.nrows() {
                for j in 0..l.w.ncols() {
                    m[(row0 + i, offs[k] + j)] = l.w[(i, j)] * slope[j];
                }
            }
        }
        m
    }

    /// Eigenvalues of [`Self::system_matrix`] through the loop's reduced problem:
    /// eliminating the hidden states gives `det(λI − M) = (λ+1)^{Σd_k − (L−1)d_L}
    /// det((λ+1)^{L−1}(λ+α) I − P)` with `P = W_L S_{L−1} ⋯ W_2 S_1 B` (`d_L × d_L`,
    /// `S_k` the readout slopes), so each eigenvalue `μ` of `P` yields the `L` roots of
    /// `(λ+1)^{L−1}(λ+α) = μ`, and the remaining eigenvalues sit at `−1`.
    pub fn reduced_eigenvalues(&self) -> Result<Vec<(f64, f64)>> {
        self.reduced_eigenvalues_at(None)
    }

    /// Whether the dynamics, linearised at the state `x` (`δ_1, …, δ_{L-1}, u`) of a
    /// fixed point, are stable: the reduced eigenproblem with the readout slopes taken
    /// there instead of at the origin. Newton converges to unstable fixed points too.
    pub fn stable_at(&self, x: &[f64]) -> Result<bool> {
        let (hidden, _) = self.sizes();
        let mut states = Vec::with_capacity(hidden.len());
        let mut off = 0;
        for &n in &hidden {
            states.push(&x[off..off + n]);
            off += n;
        }
        let max = self
            .reduced_eigenvalues_at(Some(&states))?
            .iter()
            .map(|z| z.0)
            .fold(f64::NEG_INFINITY, f64::max);
        Ok(max < 0.0)
    }

    /// [`Self::reduced_eigenvalues`] linearised at the hidden `states` (the origin if
    /// `None`).
    fn reduced_eigenvalues_at(&self, states: Option<&[&[f64]]>) -> Result<Vec<(f64, f64)>> {
        self.check_structure()?;
        let (hidden, nu) = self.sizes();
        let mut p = self.b.to_owned();
        for (k, l) in self.layers.iter().enumerate() {
            let zero = vec![0.0; hidden[k]];
            let at = states.map_or(zero.as_slice(), |s| s[k]);
            let mut slope = vec![0.0; hidden[k]];
            phi_slope(self.dynamics, l, at, &mut slope);
            for i in 0..p.nrows() {
                for j in 0..p.ncols() {
                    p[(i, j)] *= slope[i];
                }
            }
            p = mul(l.w, p.as_ref());
        }
        if !crate::kernels::vecops::all_finite(p.as_ref()) {
            return Err(CoreError::NonFinite {
                what: "single-loop product W_L ⋯ W_2 B".into(),
            });
        }
        let mus = p.eigenvalues().map_err(|e| CoreError::NonFinite {
            what: format!("eigenvalues of the loop product did not converge ({e:?})"),
        })?;
        let depth = self.layers.len(); // L − 1 hidden layers
        let mut out = Vec::new();
        for mu in mus {
            out.extend(loop_roots(depth, self.alpha, (mu.re, mu.im)));
        }
        let total: usize = hidden.iter().sum::<usize>() + nu;
        if total > out.len() {
            out.extend(std::iter::repeat_n((-1.0, 0.0), total - out.len()));
        }
        Ok(out)
    }

    /// Largest real part of [`Self::reduced_eigenvalues`].
    pub fn abscissa(&self) -> Result<f64> {
        Ok(self
            .reduced_eigenvalues()?
            .iter()
            .map(|z| z.0)
            .fold(f64::NEG_INFINITY, f64::max))
    }

    /// Row/column offset of the `B` block in [`Self::system_matrix`].
    pub fn b_block(&self) -> (usize, usize) {
        let (hidden, _) = self.sizes();
        (0, hidden.iter().sum())
    }
}

impl Flow for SingleLoop<'_> {
    fn dim(&self) -> usize {
        let (hidden, nu) = self.sizes();
        hidden.iter().sum::<usize>() + nu
    }

    fn affine(&self) -> bool {
        self.dynamics != Dynamics::Nonlinear
            || self
                .layers
                .iter()
                .all(|l| l.act_below == Activation::Linear)
    }

    fn step(&self, x: &mut [f64], dt: f64, order: EulerOrder) -> f64 {
        let (hidden, nu) = self.sizes();
        let u0: usize = hidden.iter().sum();
        let mut change = 0.0;
        let control = |x: &mut [f64]| {
            let top = self.layers.last().expect("checked");
            let last0 = u0 - hidden[hidden.len() - 1];
            let mut p = vec![0.0; hidden[hidden.len() - 1]];
            phi(self.dynamics, top, &x[last0..u0], &mut p);
            let mut wp = vec![0.0; nu];
            matvec(top.w, &p, &mut wp);
            let mut c = 0.0;
            for i in 0..nu {
                let inc = dt * (-self.alpha * x[u0 + i] + wp[i] - self.target[i]);
                x[u0 + i] += inc;
                c += inc * inc;
            }
            c
        };
        let states = |x: &mut [f64]| {
            let mut c = 0.0;
            let mut drive = vec![0.0; hidden[0]];
            matvec(self.b, &x[u0..u0 + nu], &mut drive);
            let mut off = 0;
            for k in 0..hidden.len() {
                if k > 0 {
                    let l = &self.layers[k - 1];
                    let prev0 = off - hidden[k - 1];
                    let mut p = vec![0.0; hidden[k - 1]];
                    phi(self.dynamics, l, &x[prev0..off], &mut p);
                    drive = vec![0.0; hidden[k]];
                    matvec(l.w, &p, &mut drive);
                }
                for i in 0..hidden[k] {
                    let inc = dt * (-x[off + i] + drive[i]);
                    x[off + i] += inc;
                    c += inc * inc;
                }
                off += hidden[k];
            }
            c
        };
        match order {
            EulerOrder::StateFirst => {
                change += states(x);
                change += control(x);
            }
            EulerOrder::ControlFirst => {
                change += control(x);
                change += states(x);
            }
        }
        change
    }
}

/// Tr-Init for the single loop: `B = −(W_L ⋯ W_2)^T`, the negative transpose of the
/// forward map from the first hidden layer to the output.
pub fn loop_neg_transpose(forward: &[MatRef<'_, f64>]) -> Mat<f64> {
    let mut p = forward[0].to_owned();
    for w in &forward[1..] {
        p = mul(*w, p.as_ref());
    }
    Mat::from_fn(p.ncols(), p.nrows(), |i, j| -p[(j, i)])
}

// ------------------------------------------------ roots of (λ+1)^k (λ+α) = μ

type C = (f64, f64);

fn cmul(a: C, b: C) -> C {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

fn cdiv(a: C, b: C) -> C {
    let d = b.0 * b.0 + b.1 * b.1;
    ((a.0 * b.0 + a.1 * b.1) / d, (a.1 * b.0 - a.0 * b.1) / d)
}

fn csub(a: C, b: C) -> C {
    (a.0 - b.0, a.1 - b.1)
}

/// The `k+1` roots `λ` of `(λ+1)^k (λ+α) − μ = 0`, by Durand–Kerner iteration on
/// `z = λ + 1`: `z^{k+1} − (1−α) z^k − μ = 0`, then one Newton polish per root.
fn loop_roots(k: usize, alpha: f64, mu: C) -> Vec<C> {
    let deg = k + 1;
    let poly = |z: C| -> C {
        let mut zk = (1.0, 0.0);
        for _ in 0..k {
            zk = cmul(zk, z);
        }
        csub(cmul(zk, csub(z, (1.0 - alpha, 0.0))), mu)
    };
    let dpoly = |z: C| -> C {
        // d/dz [z^{k+1} − (1−α) z^k] = (k+1) z^k − k (1−α) z^{k−1}
        let mut zk1 = (1.0, 0.0);
        for _ in 0..k.saturating_sub(1) {
            zk1 = cmul(zk1, z);
        }
        let zk = cmul(zk1, z);
        csub(
            ((deg as f64) * zk.0, (deg as f64) * zk.1),
            (
                k as f64 * (1.0 - alpha) * zk1.0,
                k as f64 * (1.0 - alpha) * zk1.1,
            ),
        )
    };
    let radius = 1.0 + (1.0 - alpha).abs() + (mu.0.hypot(mu.1)).powf(1.0 / deg as f64);
    let mut z: Vec<C> = (0..deg)
        .map(|j| {
            let t = 0.4 + std::f64::consts::TAU * j as f64 / deg as f64;
            (radius * t.cos(), radius * t.sin())
        })
        .collect();
    for _ in 0..500 {
        let mut moved: f64 = 0.0;
        for i in 0..deg {
            let mut den = (1.0, 0.0);
            for j in 0..deg {
                if i != j {
                    den = cmul(den, csub(z[i], z[j]));
                }
            }
            let step = cdiv(poly(z[i]), den);
            z[i] = csub(z[i], step);
            moved = moved.max(step.0.hypot(step.1));
        }
        if moved <= 1e-15 * radius {
            break;
        }
    }
    for zi in z.iter_mut() {
        let d = dpoly(*zi);
        if d.0.hypot(d.1) > 1e-300 {
            let next = csub(*zi, cdiv(poly(*zi), d));
            if poly(next).0.hypot(poly(next).1) < poly(*zi).0.hypot(poly(*zi).1) {
                *zi = next;
            }
        }
    }
    z.into_iter().map(|(re, im)| (re - 1.0, im)).collect()
}
