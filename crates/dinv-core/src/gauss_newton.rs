//! Block-diagonal Gauss–Newton (GN) for squared-error regression (Botev et al. 2017;
//! supp. 7.2, Eqs. S3–S7): the second-order update the paper says dynamic inversion
//! approximates (section 4.3, Eq. 17), computed exactly so the claim can be measured.
//!
//! For a batch of `N` examples and the loss `(1/N) Σ_n ½‖y_n − t_n‖²`, the GN matrix of
//! the block `W_l` is `G_l = (1/N) Σ_n (h_{l−1,n} h_{l−1,n}^T) ⊗ (C_n^T C_n)` with
//! `C_n = ∂y_n/∂a_{l,n}` (Eq. S4). Replacing the mean of the Kronecker products by the
//! Kronecker product of the means (Eq. S3) gives `G_l ≈ Q_l ⊗ 𝒢_l`, and the GN step
//! becomes two small solves, `ΔW_l = −(𝒢_l + γI)^{-1} g_l (Q_l + γI)^{-1}`. Under the
//! paper's whitened-input assumption (`Q_l = I`) and one example, the penultimate layer's
//! step is `−(W_L D_{L−1})^+ e h^T` (Eq. S7), i.e. the error signal `(W_L D_{L−1})^+ e`.
//!
//! Only the weight blocks are treated (biases form blocks of their own); `vec` stacks
//! columns, so entry `(a, j)` of `W_l` is element `a + j·d_l` of `vec(W_l)`.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

use crate::error::{CoreError, Result};
use crate::inverse::{min_norm_lstsq, pinv_apply};
use crate::kernels::vecops::mul;
use crate::net::{Network, Trace};

/// Largest block (`d_l · d_{l−1}` weights) whose exact GN matrix is formed and solved:
/// 2500 weights make a 2500 × 2500 system (50 MB, a second or so to factorise).
pub const EXACT_MAX_PARAMS: usize = 2500;

/// Tikhonov damping of the GN matrices, which are singular whenever a layer is wider
/// than the output (`rank 𝒢_l ≤ d_L`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Damping {
    /// `γ` added to the diagonal of every matrix: `𝒢 + γI`, `Q + γI`, `G + γI`.
    Absolute(f64),
    /// `γ` times each matrix's mean eigenvalue `tr(M)/dim`, so the damping scales with
    /// the weights and inputs (small initial weights make `𝒢_l` tiny in deep layers),
    /// in the spirit of K-FAC's factored Tikhonov damping (Martens & Grosse 2015, 6.3).
    Relative(f64),
}

impl Damping {
    fn validate(self) -> Result<()> {
        let (Damping::Absolute(g) | Damping::Relative(g)) = self;
        if !(g >= 0.0 && g.is_finite()) {
            return Err(CoreError::param(
                "damping",
                g,
                "must be non-negative and finite",
            ));
        }
        Ok(())
    }

    /// The value added to the diagonal of the square matrix `m`.
    pub fn for_matrix(self, m: MatRef<'_, f64>) -> f64 {
        match self {
            Damping::Absolute(g) => g,
            Damping::Relative(g) => {
                let n = m.nrows().max(1);
                g * (0..m.nrows()).map(|i| m[(i, i)]).sum::<f64>() / n as f64
            }
        }
    }
}

/// The exact (non-factored) block GN step of one layer.
#[derive(Clone, Debug)]
pub struct ExactGn {
    /// `G_l = (1/N) Σ_n (h h^T) ⊗ (C_n^T C_n)`, `P × P` with `P = d_l · d_{l−1}`.
    pub matrix: Mat<f64>,
    /// `γ` added to its diagonal.
    pub damping: f64,
    /// `ΔW_l` with `(G_l + γI) vec(ΔW_l) = −vec(g_l)` (shape of `W_l`).
    pub update: Mat<f64>,
}

/// Block GN quantities of one weight matrix `W_l` over a batch.
#[derive(Clone, Debug)]
pub struct GnLayer {
    /// `g_l = (1/N) Σ_n δ_{l,n} h_{l−1,n}^T`, the mean BP gradient (`d_l × d_{l−1}`).
    pub gradient: Mat<f64>,
    /// `Q_l = (1/N) Σ_n h_{l−1,n} h_{l−1,n}^T` (`d_{l−1} × d_{l−1}`).
    pub input_cov: Mat<f64>,
    /// `𝒢_l = (1/N) Σ_n C_n^T C_n`, the pre-activation GN matrix (`d_l × d_l`).
    pub preact_gn: Mat<f64>,
    /// `γ` added to `𝒢_l`.
    pub damping_preact: f64,
    /// `γ` added to `Q_l`.
    pub damping_input: f64,
    /// Kronecker-factored step `−(𝒢_l + γI)^{-1} g_l (Q_l + γI)^{-1}` (Eq. S3).
    pub kron_update: Mat<f64>,
    /// The step under the paper's whitened-input assumption, `−(𝒢_l + γI)^{-1} g_l`
    /// (Eq. S5: `Q_l` taken to be `I`).
    pub whitened_update: Mat<f64>,
    /// The exact block step, for blocks of at most [`EXACT_MAX_PARAMS`] weights.
    pub exact: Option<ExactGn>,
}

/// Block-diagonal GN of every layer (`result[i]` for `layers[i]`, i.e. `W_{i+1}`) for the
/// squared-error loss on the batch whose examples are the columns of `x` and `t`.
pub fn block_gauss_newton(
    net: &Network,
    x: MatRef<'_, f64>,
    t: MatRef<'_, f64>,
    damping: Damping,
) -> Result<Vec<GnLayer>> {
    damping.validate()?;
    let dims = net.dims();
    let (depth, d_out, n) = (net.depth(), dims[net.depth()], x.ncols());
    if x.nrows() != dims[0] {
        return Err(CoreError::shape("GN batch inputs", dims[0], x.nrows()));
    }
    if t.nrows() != d_out || t.ncols() != n {
        return Err(CoreError::shape(
            "GN batch targets",
            format!("{d_out}x{n}"),
            format!("{}x{}", t.nrows(), t.ncols()),
        ));
    }
    if n == 0 {
        return Err(CoreError::shape("GN batch", "at least one example", 0));
    }
    let batch = Batch::collect(net, x, t);
    let inv_n = 1.0 / n as f64;
    (0..depth)
        .map(|i| {
            let (h, c, delta) = (&batch.h[i], &batch.c[i], &batch.delta[i]);
            let input_cov = scaled_gram(h.as_ref(), inv_n);
            let preact_gn = scaled_product(c.transpose(), c.as_ref(), inv_n);
            let gradient = scaled_product(delta.as_ref(), h.transpose(), inv_n);
            let damping_preact = damping.for_matrix(preact_gn.as_ref());
            let damping_input = damping.for_matrix(input_cov.as_ref());
            let left = solve_damped(&preact_gn, damping_preact, gradient.as_ref())?;
            let right = solve_damped(&input_cov, damping_input, left.transpose())?;
            let kron_update = Mat::from_fn(left.nrows(), left.ncols(), |a, j| -right[(j, a)]);
            let whitened_update = Mat::from_fn(left.nrows(), left.ncols(), |a, j| -left[(a, j)]);
            let exact = if dims[i] * dims[i + 1] <= EXACT_MAX_PARAMS {
                Some(exact_step(
                    h.as_ref(),
                    c.as_ref(),
                    d_out,
                    &gradient,
                    damping,
                )?)
            } else {
                None
            };
            Ok(GnLayer {
                gradient,
                input_cov,
                preact_gn,
                damping_preact,
                damping_input,
                kron_update,
                whitened_update,
                exact,
            })
        })
        .collect()
}

/// Per-layer quantities of every example, stacked: `h[i]` has the inputs `h_{i,n}` of
/// `layers[i]` as columns, `delta[i]` the BP errors `δ_{i+1,n} = C_n^T e_n` as columns,
/// and `c[i]` the Jacobians `C_n = ∂y_n/∂a_{i+1,n}` as row blocks (`N·d_L × d_{i+1}`).
struct Batch {
    h: Vec<Mat<f64>>,
    delta: Vec<Mat<f64>>,
    c: Vec<Mat<f64>>,
}

impl Batch {
    fn collect(net: &Network, x: MatRef<'_, f64>, t: MatRef<'_, f64>) -> Batch {
        let dims = net.dims();
        let (depth, d_out, n) = (net.depth(), dims[net.depth()], x.ncols());
        let mut b = Batch {
            h: (0..depth).map(|i| Mat::zeros(dims[i], n)).collect(),
            delta: (0..depth).map(|i| Mat::zeros(dims[i + 1], n)).collect(),
            c: (0..depth)
                .map(|i| Mat::zeros(n * d_out, dims[i + 1]))
                .collect(),
        };
        let mut trace = Trace::default();
        let mut xn = vec![0.0; dims[0]];
        for col in 0..n {
            for (k, v) in xn.iter_mut().enumerate() {
                *v = x[(k, col)];
            }
            net.forward_into(&xn, &mut trace);
            let e: Vec<f64> = (0..d_out)
                .map(|k| trace.output()[k] - t[(k, col)])
                .collect();
            // C_L = D_L; C_l = C_{l+1} W_{l+1} D_l (Eq. S4).
            let mut c = Mat::from_fn(d_out, d_out, |r, s| {
                if r == s {
                    trace.gprime[depth - 1][r]
                } else {
                    0.0
                }
            });
            for i in (0..depth).rev() {
                for k in 0..dims[i] {
                    b.h[i][(k, col)] = trace.h[i][k];
                }
                for a in 0..dims[i + 1] {
                    b.delta[i][(a, col)] = (0..d_out).map(|r| c[(r, a)] * e[r]).sum();
                    for r in 0..d_out {
                        b.c[i][(col * d_out + r, a)] = c[(r, a)];
                    }
                }
                if i > 0 {
                    c = mul(c.as_ref(), net.layers[i].w.as_ref());
                    for (a, g) in trace.gprime[i - 1].iter().enumerate() {
                        for r in 0..d_out {
                            c[(r, a)] *= g;
                        }
                    }
                }
            }
        }
        b
    }
}

/// Exact block GN step from the stacked inputs `h` (`d_{l−1} × N`) and Jacobians `c`.
///
/// `G[(a, j), (a', j')] = (1/N) Σ_n h_j h_{j'} (C_n^T C_n)[a, a']` is one product of an
/// `N × d_{l−1}(d_{l−1}+1)/2` table of `h h^T` with an `N × d_l(d_l+1)/2` table of
/// `C^T C` (both symmetric, so one triangle each), which costs about `N d_{l−1}² d_l² / 4`
/// instead of `N d_L d_{l−1}² d_l²` for the stacked Jacobians.
fn exact_step(
    h: MatRef<'_, f64>,
    c: MatRef<'_, f64>,
    d_out: usize,
    gradient: &Mat<f64>,
    damping: Damping,
) -> Result<ExactGn> {
    let (d_in, d_l, n) = (h.nrows(), c.ncols(), h.ncols());
    let (pairs_in, pairs_l) = (triangle(d_in), triangle(d_l));
    let hh = Mat::from_fn(n, pairs_in.len(), |s, k| {
        let (j, j2) = pairs_in[k];
        h[(j, s)] * h[(j2, s)]
    });
    let mut cc = Mat::<f64>::zeros(n, pairs_l.len());
    for s in 0..n {
        let cn = c.subrows(s * d_out, d_out);
        let m = mul(cn.transpose(), cn);
        for (k, &(a, a2)) in pairs_l.iter().enumerate() {
            cc[(s, k)] = m[(a, a2)];
        }
    }
    let r = scaled_product(hh.transpose(), cc.as_ref(), 1.0 / n as f64);
    let p = d_in * d_l;
    let matrix = Mat::from_fn(p, p, |row, col| {
        let (a, j) = (row % d_l, row / d_l);
        let (a2, j2) = (col % d_l, col / d_l);
        r[(triangle_index(j, j2), triangle_index(a, a2))]
    });
    let gamma = damping.for_matrix(matrix.as_ref());
    let rhs = Mat::from_fn(p, 1, |k, _| -gradient[(k % d_l, k / d_l)]);
    let v = solve_damped(&matrix, gamma, rhs.as_ref())?;
    Ok(ExactGn {
        matrix,
        damping: gamma,
        update: Mat::from_fn(d_l, d_in, |a, j| v[(a + j * d_l, 0)]),
    })
}

/// The index pairs `(i, k)`, `i ≤ k < d`, of a symmetric matrix's upper triangle, in
/// the order of [`triangle_index`].
fn triangle(d: usize) -> Vec<(usize, usize)> {
    (0..d).flat_map(|k| (0..=k).map(move |i| (i, k))).collect()
}

/// Position of the unordered pair `{i, k}` in [`triangle`].
fn triangle_index(i: usize, k: usize) -> usize {
    let (lo, hi) = if i <= k { (i, k) } else { (k, i) };
    hi * (hi + 1) / 2 + lo
}

/// Eq. (17)/(S7): GN's error signal for the penultimate layer of one example,
/// `δ^{GN}_{L−1} = (D_L W_L D_{L−1})^+ e` (minimum-norm least squares), where `e = y − t`
/// is the output error and `D_L = I` for a linear output, as in the paper. (For a
/// nonlinear output this is Eq. S6 with `C_L = D_L`, since `C_L^+ δ_L = e`.)
pub fn simplified_penultimate_delta(
    net: &Network,
    trace: &Trace,
    error: &[f64],
) -> Result<Vec<f64>> {
    let depth = net.depth();
    if depth < 2 {
        return Err(CoreError::shape(
            "network for Eq. (S7)",
            "at least one hidden layer",
            "none",
        ));
    }
    let w = net.layers[depth - 1].w.as_ref();
    if trace.gprime.len() != depth {
        return Err(CoreError::shape(
            "forward trace",
            format!("{depth} layers"),
            trace.gprime.len(),
        ));
    }
    let (d_top, d_below) = (&trace.gprime[depth - 1], &trace.gprime[depth - 2]);
    if d_top.len() != w.nrows() || d_below.len() != w.ncols() {
        return Err(CoreError::shape(
            "forward trace (g' of the top two layers)",
            format!("{} and {}", w.nrows(), w.ncols()),
            format!("{} and {}", d_top.len(), d_below.len()),
        ));
    }
    let a = Mat::from_fn(w.nrows(), w.ncols(), |r, s| {
        d_top[r] * w[(r, s)] * d_below[s]
    });
    min_norm_lstsq(a.as_ref(), error)
}

/// `A + γI`.
fn shifted(a: &Mat<f64>, gamma: f64) -> Mat<f64> {
    let mut m = a.clone();
    for i in 0..m.nrows() {
        m[(i, i)] += gamma;
    }
    m
}

/// `s · A B` (sequential).
fn scaled_product(a: MatRef<'_, f64>, b: MatRef<'_, f64>, s: f64) -> Mat<f64> {
    let mut c = Mat::zeros(a.nrows(), b.ncols());
    matmul(c.as_mut(), Accum::Replace, a, b, s, Par::Seq);
    c
}

/// `s · H H^T`.
fn scaled_gram(h: MatRef<'_, f64>, s: f64) -> Mat<f64> {
    scaled_product(h, h.transpose(), s)
}

/// `(A + γI)^{-1} B` for a symmetric positive semi-definite `A`: by Cholesky when
/// `γ > 0` (the pseudoinverse should the factorisation fail), and the minimum-norm
/// solution `A^+ B` when `γ = 0`, since an undamped GN matrix is usually singular.
fn solve_damped(a: &Mat<f64>, gamma: f64, b: MatRef<'_, f64>) -> Result<Mat<f64>> {
    use faer::linalg::solvers::Solve;
    if gamma == 0.0 {
        return pinv_apply(a.as_ref(), b);
    }
    let damped = shifted(a, gamma);
    match damped.llt(faer::Side::Lower) {
        Ok(c) => Ok(c.solve(b)),
        Err(_) => pinv_apply(damped.as_ref(), b),
    }
}
