//! Linear stability of dynamic inversion (section 3.2, supp. 7.1, 7.3).
//!
//! The linearised dynamics of one layer have the block system matrix of Eq. (S9),
//!
//! ```text
//!   M = [ −I   B  ]     (rows: δ_{l-1}, u_l)
//!       [  W  −αI ]
//! ```
//!
//! and the inversion is stable when its spectral abscissa (largest real part of an
//! eigenvalue) is negative. Because the diagonal blocks are multiples of the
//! identity, `det(λI − M) = (λ+1)^{d_{l-1}−d_l} det((λ+1)(λ+α)I − W B)` (and the
//! mirror formula with `B W` and `(λ+α)` when `d_l > d_{l-1}`): every eigenvalue `μ`
//! of the smaller product yields the two roots of `λ² + (1+α)λ + α − μ = 0`, and the
//! surplus dimensions sit at `−1` (contracting) or `−α` (expanding). That reduces the
//! eigenproblem to `min(d_l, d_{l-1})` — essential for the 1000-wide MNIST layer.
//!
//! Random feedback (R-Init) is made stable by minimising the smoothed spectral
//! abscissa (SSA; Vanbiervliet et al. 2009) over `B` only (supp. 7.3).

use faer::{Mat, MatRef};

use crate::error::{CoreError, Result};
use crate::inverse::check_feedback_shape;
use crate::kernels::vecops::mul;
use crate::linalg::solve_continuous_lyapunov;

/// The block system matrix of Eq. (S9).
pub fn system_matrix(w: MatRef<'_, f64>, b: MatRef<'_, f64>, alpha: f64) -> Result<Mat<f64>> {
    check_feedback_shape(w, b)?;
    let (n1, n2) = (w.ncols(), w.nrows());
    let mut m = Mat::zeros(n1 + n2, n1 + n2);
    for i in 0..n1 {
        m[(i, i)] = -1.0;
        for j in 0..n2 {
            m[(i, n1 + j)] = b[(i, j)];
        }
    }
    for i in 0..n2 {
        for j in 0..n1 {
            m[(n1 + i, j)] = w[(i, j)];
        }
        m[(n1 + i, n1 + i)] = -alpha;
    }
    Ok(m)
}

/// Largest real part of the eigenvalues of a square matrix (dense eigensolver).
pub fn spectral_abscissa_dense(m: MatRef<'_, f64>) -> Result<f64> {
    if m.nrows() != m.ncols() {
        return Err(CoreError::shape(
            "spectral abscissa",
            "a square matrix",
            format!("{}x{}", m.nrows(), m.ncols()),
        ));
    }
    if !crate::kernels::vecops::all_finite(m) {
        return Err(CoreError::NonFinite {
            what: "matrix passed to the eigensolver".into(),
        });
    }
    let ev = m.eigenvalues().map_err(|e| CoreError::NonFinite {
        what: format!("eigenvalues did not converge ({e:?})"),
    })?;
    Ok(ev.iter().map(|z| z.re).fold(f64::NEG_INFINITY, f64::max))
}

/// Eigenvalues of the system matrix of Eq. (S9), as `(re, im)`, via the reduced
/// eigenproblem described in the module docs.
pub fn system_eigenvalues(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
) -> Result<Vec<(f64, f64)>> {
    reduced_eigenvalues(w, b, alpha, false)
}

/// Eigenvalues of the expanding-layer controller (Eqs. S1–S2), whose linear system
/// matrix is `[[−αI, B], [W, −I]]` (rows `δ_{l-1}`, `δ̃_l`): the same quadratic in the
/// eigenvalues of `W B` / `B W`, but the surplus dimensions sit at `−1` for an
/// expanding layer (and at `−α` for a contracting one).
pub fn expanding_eigenvalues(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
) -> Result<Vec<(f64, f64)>> {
    reduced_eigenvalues(w, b, alpha, true)
}

/// Spectral abscissa of the expanding-layer controller.
pub fn expanding_abscissa(w: MatRef<'_, f64>, b: MatRef<'_, f64>, alpha: f64) -> Result<f64> {
    Ok(expanding_eigenvalues(w, b, alpha)?
        .iter()
        .map(|z| z.0)
        .fold(f64::NEG_INFINITY, f64::max))
}

/// The linear system matrix of the expanding-layer controller, `[[−αI, B], [W, −I]]`.
pub fn expanding_system_matrix(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
) -> Result<Mat<f64>> {
    check_feedback_shape(w, b)?;
    let (n1, n2) = (w.ncols(), w.nrows());
    let mut m = system_matrix(w, b, 0.0)?;
    for i in 0..n1 {
        m[(i, i)] = -alpha;
    }
    for i in 0..n2 {
        m[(n1 + i, n1 + i)] = -1.0;
    }
    Ok(m)
}

fn reduced_eigenvalues(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    expanding_controller: bool,
) -> Result<Vec<(f64, f64)>> {
    check_feedback_shape(w, b)?;
    let (n1, n2) = (w.ncols(), w.nrows());
    // Standard controller: surplus δ-directions (null space of W) decay at −1, surplus
    // u-directions (null space of B) at −α. The S1–S2 controller swaps the two rates.
    let (at_state, at_control) = if expanding_controller {
        (-alpha, -1.0)
    } else {
        (-1.0, -alpha)
    };
    let (product, surplus, surplus_value) = if n2 <= n1 {
        (mul(w, b), n1 - n2, at_state)
    } else {
        (mul(b, w), n2 - n1, at_control)
    };
    if !crate::kernels::vecops::all_finite(product.as_ref()) {
        return Err(CoreError::NonFinite {
            what: "feedback/forward product in the stability analysis".into(),
        });
    }
    let mus = product.eigenvalues().map_err(|e| CoreError::NonFinite {
        what: format!("eigenvalues did not converge ({e:?})"),
    })?;
    let mut out = Vec::with_capacity(n1 + n2);
    for mu in mus {
        // λ = (−(1+α) ± sqrt((1−α)² + 4μ)) / 2
        let disc = ((1.0 - alpha) * (1.0 - alpha) + 4.0 * mu.re, 4.0 * mu.im);
        let (sr, si) = complex_sqrt(disc);
        out.push(((-(1.0 + alpha) + sr) / 2.0, si / 2.0));
        out.push(((-(1.0 + alpha) - sr) / 2.0, -si / 2.0));
    }
    out.extend(std::iter::repeat_n((surplus_value, 0.0), surplus));
    Ok(out)
}

/// Spectral abscissa of Eq. (S9) — the stability measure plotted in Fig. 3c,h.
pub fn spectral_abscissa(w: MatRef<'_, f64>, b: MatRef<'_, f64>, alpha: f64) -> Result<f64> {
    Ok(system_eigenvalues(w, b, alpha)?
        .iter()
        .map(|z| z.0)
        .fold(f64::NEG_INFINITY, f64::max))
}

/// Principal square root of `re + i·im`.
fn complex_sqrt((re, im): (f64, f64)) -> (f64, f64) {
    let r = re.hypot(im);
    let sr = ((r + re) / 2.0).max(0.0).sqrt();
    let si = ((r - re) / 2.0).max(0.0).sqrt();
    (sr, if im < 0.0 { -si } else { si })
}

/// The ε-smoothed spectral abscissa `α̃_ε(A)` and its gradient `∇_A α̃_ε`.
///
/// `α̃_ε(A)` is the `s > α(A)` with `∫₀^∞ ‖e^{(A−sI)t}‖²_F dt = tr P(s) = 1/ε`,
/// where `(A−sI)P + P(A−sI)^T = −I`. With the dual Gramian `Q`,
/// `(A−sI)^T Q + Q(A−sI) = −I`, the gradient is `Q P / tr(Q P)` and
/// `d tr P / ds = −2 tr(Q P)` (Vanbiervliet et al. 2009).
#[derive(Clone, Debug)]
pub struct SmoothedAbscissa {
    pub value: f64,
    pub gradient: Mat<f64>,
}

pub fn smoothed_spectral_abscissa(a: MatRef<'_, f64>, epsilon: f64) -> Result<SmoothedAbscissa> {
    if !(epsilon > 0.0 && epsilon.is_finite()) {
        return Err(CoreError::param(
            "epsilon",
            epsilon,
            "the SSA smoothing must be positive",
        ));
    }
    let n = a.nrows();
    let target = 1.0 / epsilon;
    let abscissa = spectral_abscissa_dense(a)?;
    let scale = frob(a).max(1.0);
    // Gramians at shift s: P, Q and tr P.
    let gramians = |s: f64| -> Result<(Mat<f64>, Mat<f64>)> {
        let mut shifted = a.to_owned();
        for i in 0..n {
            shifted[(i, i)] -= s;
        }
        let neg_i = negative_identity(n);
        let p = solve_continuous_lyapunov(shifted.as_ref(), neg_i.as_ref())?;
        let q = solve_continuous_lyapunov(shifted.transpose(), neg_i.as_ref())?;
        Ok((p, q))
    };
    let trace = |m: &Mat<f64>| (0..m.nrows()).map(|i| m[(i, i)]).sum::<f64>();
    // Bracket the root in the distance d = s − α(A): f is convex and decreasing in d.
    let mut lo = 0.0_f64;
    let mut hi = (n as f64) * epsilon;
    loop {
        let (p, _) = gramians(abscissa + hi)?;
        if trace(&p) < target {
            break;
        }
        lo = hi;
        hi *= 2.0;
        if hi > 1e6 * scale {
            return Err(CoreError::NonFinite {
                what: "smoothed spectral abscissa bracket (Gramian trace does not decay)".into(),
            });
        }
    }
    // Safeguarded Newton from the left end of the bracket, where it converges monotonically.
    let mut d = if lo > 0.0 { lo } else { hi / 2.0 };
    for _ in 0..200 {
        let (p, q) = gramians(abscissa + d)?;
        let f = trace(&p) - target;
        if f > 0.0 {
            lo = d;
        } else {
            hi = d;
        }
        if f.abs() <= 1e-12 * target || (hi - lo) <= 1e-15 * (1.0 + abscissa.abs() + hi) {
            let qp = mul(q.as_ref(), p.as_ref());
            let tr = trace(&qp);
            let gradient = Mat::from_fn(n, n, |i, j| qp[(i, j)] / tr);
            return Ok(SmoothedAbscissa {
                value: abscissa + d,
                gradient,
            });
        }
        let slope = -2.0 * trace(&mul(q.as_ref(), p.as_ref()));
        let newton = d - f / slope;
        d = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
    }
    Err(CoreError::NonFinite {
        what: "smoothed spectral abscissa root finding did not converge".into(),
    })
}

fn negative_identity(n: usize) -> Mat<f64> {
    Mat::from_fn(n, n, |i, j| if i == j { -1.0 } else { 0.0 })
}

fn frob(a: MatRef<'_, f64>) -> f64 {
    crate::kernels::vecops::frobenius_dot(a, a).sqrt()
}

/// Settings of SSA stabilisation. Defaults follow the authors' linear-regression code
/// (step 0.05, 10–200 steps, target abscissa −0.01); ε = 1e-3 smoothing, which keeps
/// the gradient focused on the leading eigenvalues of these small-weight systems.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct SsaConfig {
    pub epsilon: f64,
    pub learning_rate: f64,
    pub min_iters: usize,
    pub max_iters: usize,
    /// Optimise until the spectral abscissa is below `−margin`.
    pub margin: f64,
}

impl Default for SsaConfig {
    fn default() -> Self {
        SsaConfig {
            epsilon: 1e-3,
            learning_rate: 0.05,
            min_iters: 10,
            max_iters: 200,
            margin: 0.01,
        }
    }
}

/// What one SSA run did.
#[derive(Clone, Debug)]
pub struct SsaOutcome {
    pub b: Mat<f64>,
    pub iterations: usize,
    pub abscissa_before: f64,
    pub abscissa_after: f64,
}

/// Gradient descent on the smoothed spectral abscissa of Eq. (S9) with respect to
/// the `B` block only (`W` stays untouched, supp. 7.3). Runs at least `min_iters`
/// steps and continues while the abscissa is above `−margin`, up to `max_iters`.
///
/// The step starts at `learning_rate` and adapts: a step that lowers the SSA is kept
/// and the next one is 1.5× longer; one that does not is rejected and the step
/// halved. (The authors' code uses a fixed step; near-marginal systems with small
/// weights — Tr-Init at α = 0 — then need thousands of steps to reach the margin.)
/// Fails with [`CoreError::StabilisationFailed`] if the abscissa is still ≥ 0.
pub fn ssa_stabilise(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    cfg: &SsaConfig,
    layer: usize,
) -> Result<SsaOutcome> {
    check_feedback_shape(w, b)?;
    ssa_optimise(
        b,
        &|b| system_matrix(w, b, alpha),
        (0, w.ncols()),
        &|b| spectral_abscissa(w, b, alpha),
        cfg,
        layer,
    )
}

/// [`ssa_stabilise`] for the expanding-layer controller (Eqs. S1–S2).
pub fn ssa_stabilise_expanding(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    cfg: &SsaConfig,
    layer: usize,
) -> Result<SsaOutcome> {
    check_feedback_shape(w, b)?;
    ssa_optimise(
        b,
        &|b| expanding_system_matrix(w, b, alpha),
        (0, w.ncols()),
        &|b| expanding_abscissa(w, b, alpha),
        cfg,
        layer,
    )
}

/// [`ssa_stabilise`] through the reduced system: the same abscissa constraint, but
/// the SSA is taken of a `2k × 2k` matrix with `k = min(d_l, d_{l-1})` instead of the
/// full `(d_l + d_{l-1})`-dimensional Eq. (S9) — what makes SSA affordable on the
/// 1000-wide MNIST layer, where a dense Lyapunov solve of size 1010 per step is not.
///
/// With `z = W δ_{l-1}` (contracting, `d_l ≤ d_{l-1}`) the linear dynamics close on
/// `(z, u)` with matrix `[[−I, W B], [I, −αI]]`; with `y = B u` (expanding) on
/// `(δ_{l-1}, y)` with `[[−I, I], [B W, −αI]]`. Both have exactly the non-trivial
/// eigenvalues of Eq. (S9) (the module docs' quadratic); the surplus ones sit at `−1`
/// or `−α` and no `B` moves them. The smoothed abscissa is not similarity-invariant,
/// so this is a different smoothing of the same constraint, not the same numbers as
/// [`ssa_stabilise`]; the gradient reaches `B` through the product, `W^T G` or `G W^T`.
pub fn ssa_stabilise_reduced(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    cfg: &SsaConfig,
    layer: usize,
) -> Result<SsaOutcome> {
    check_feedback_shape(w, b)?;
    let ssa_of = |b: MatRef<'_, f64>| reduced_ssa(w, b, alpha, cfg.epsilon);
    descend(b, &ssa_of, &|b| spectral_abscissa(w, b, alpha), cfg, layer)
}

/// The smoothed abscissa of the reduced system of [`ssa_stabilise_reduced`] and its
/// gradient with respect to `B`.
pub fn reduced_ssa(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    epsilon: f64,
) -> Result<(f64, Mat<f64>)> {
    check_feedback_shape(w, b)?;
    let contracting = w.nrows() <= w.ncols();
    let product = if contracting { mul(w, b) } else { mul(b, w) };
    let k = product.nrows();
    // Contracting: the product couples u into z (block (0, 1)); expanding: δ into y
    // (block (1, 0)).
    let (pr, pc) = if contracting { (0, k) } else { (k, 0) };
    let (ir, ic) = if contracting { (k, 0) } else { (0, k) };
    let mut r = Mat::zeros(2 * k, 2 * k);
    for i in 0..k {
        r[(i, i)] = -1.0;
        r[(k + i, k + i)] = -alpha;
        r[(ir + i, ic + i)] = 1.0;
        for j in 0..k {
            r[(pr + i, pc + j)] = product[(i, j)];
        }
    }
    let s = smoothed_spectral_abscissa(r.as_ref(), epsilon)?;
    let g = s.gradient.as_ref().submatrix(pr, pc, k, k);
    let grad = if contracting {
        mul(w.transpose(), g)
    } else {
        mul(g, w.transpose())
    };
    Ok((s.value, grad))
}

/// A function from a feedback matrix to a system matrix or its abscissa.
pub type SystemOf<'a, T> = &'a dyn Fn(MatRef<'_, f64>) -> Result<T>;

/// SSA descent on the block of `system(B)` that holds `B` (at `offset`), until
/// `abscissa(B)` is below `−margin` (see [`ssa_stabilise`]).
pub fn ssa_optimise(
    b: MatRef<'_, f64>,
    system: SystemOf<'_, Mat<f64>>,
    offset: (usize, usize),
    abscissa: SystemOf<'_, f64>,
    cfg: &SsaConfig,
    layer: usize,
) -> Result<SsaOutcome> {
    let (r0, c0) = offset;
    let (rows, cols) = (b.nrows(), b.ncols());
    let ssa_of = |b: MatRef<'_, f64>| -> Result<(f64, Mat<f64>)> {
        let m = system(b)?;
        let s = smoothed_spectral_abscissa(m.as_ref(), cfg.epsilon)?;
        Ok((
            s.value,
            s.gradient.as_ref().submatrix(r0, c0, rows, cols).to_owned(),
        ))
    };
    descend(b, &ssa_of, abscissa, cfg, layer)
}

/// Gradient descent on an SSA given as value and gradient with respect to `B`, with
/// the adaptive step of [`ssa_stabilise`].
fn descend(
    b: MatRef<'_, f64>,
    ssa_of: SystemOf<'_, (f64, Mat<f64>)>,
    abscissa: SystemOf<'_, f64>,
    cfg: &SsaConfig,
    layer: usize,
) -> Result<SsaOutcome> {
    if !(cfg.learning_rate > 0.0 && cfg.learning_rate.is_finite()) {
        return Err(CoreError::param(
            "ssa.learning_rate",
            cfg.learning_rate,
            "must be positive",
        ));
    }
    let mut b = b.to_owned();
    let before = abscissa(b.as_ref())?;
    let mut current = before;
    let mut ssa = ssa_of(b.as_ref())?;
    let mut step = cfg.learning_rate;
    let mut iters = 0;
    while iters < cfg.min_iters || (current >= -cfg.margin && iters < cfg.max_iters) {
        iters += 1;
        let mut trial = b.clone();
        for i in 0..trial.nrows() {
            for j in 0..trial.ncols() {
                trial[(i, j)] -= step * ssa.1[(i, j)];
            }
        }
        match ssa_of(trial.as_ref()) {
            Ok(next) if next.0 < ssa.0 => {
                b = trial;
                ssa = next;
                step *= 1.5;
                current = abscissa(b.as_ref())?;
            }
            _ => step *= 0.5,
        }
        if step < 1e-12 * cfg.learning_rate {
            break;
        }
    }
    if current >= 0.0 || !current.is_finite() {
        return Err(CoreError::StabilisationFailed {
            layer,
            abscissa: current,
            target: -cfg.margin,
            iterations: iters,
        });
    }
    Ok(SsaOutcome {
        b,
        iterations: iters,
        abscissa_before: before,
        abscissa_after: current,
    })
}
