//! Explicit (non-dynamic) inversions: the pseudoinverse of PBP (Eq. 4) and the
//! closed-form steady state of leaky integral control used by NDI (Eq. 10, Alg. 4).

use faer::{Mat, MatRef};

use crate::error::{CoreError, Result};
use crate::vecops::{matvec, matvec_t, mul};

/// Minimum-norm least-squares solution of `A x = b` via the SVD, treating singular
/// values below `eps · max(m, n) · σ_max` as zero (the LAPACK/numpy default).
pub fn min_norm_lstsq(a: MatRef<'_, f64>, b: &[f64]) -> Result<Vec<f64>> {
    if a.nrows() != b.len() {
        return Err(CoreError::shape(
            "least-squares right-hand side",
            a.nrows(),
            b.len(),
        ));
    }
    let svd = a.thin_svd().map_err(|e| CoreError::NonFinite {
        what: format!("SVD of a {}x{} matrix ({e:?})", a.nrows(), a.ncols()),
    })?;
    let (u, s, v) = (svd.U(), svd.S(), svd.V());
    let k = s.dim();
    let s_max = if k > 0 { s[0] } else { 0.0 };
    let cutoff = f64::EPSILON * (a.nrows().max(a.ncols()) as f64) * s_max;
    let mut ub = vec![0.0; k];
    matvec_t(u, b, &mut ub);
    for i in 0..k {
        ub[i] = if s[i] > cutoff { ub[i] / s[i] } else { 0.0 };
    }
    let mut x = vec![0.0; a.ncols()];
    matvec(v, &ub, &mut x);
    Ok(x)
}

/// Which closed form of Eq. (10) applies to a layer `W_l` (d_l × d_{l-1}).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerShape {
    /// `d_l ≤ d_{l-1}`: solve `(W B − αI) u = δ_l`, then `δ_{l-1} = B u`.
    Contracting,
    /// `d_l > d_{l-1}`: `δ_{l-1} = (B W − αI)^{-1} B δ_l`.
    Expanding,
}

impl LayerShape {
    pub fn of(w: MatRef<'_, f64>) -> Self {
        if w.nrows() > w.ncols() {
            LayerShape::Expanding
        } else {
            LayerShape::Contracting
        }
    }
}

/// `δ_{l-1}` of non-dynamic inversion before the `g'` factor (Eq. 10 / Alg. 4),
/// with least squares in place of the inverse so the `α = 0` singular cases
/// degrade gracefully, as in the authors' implementation.
pub fn ndi_inverse(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    delta: &[f64],
) -> Result<Vec<f64>> {
    check_feedback_shape(w, b)?;
    if delta.len() != w.nrows() {
        return Err(CoreError::shape("NDI target δ_l", w.nrows(), delta.len()));
    }
    match LayerShape::of(w) {
        LayerShape::Contracting => {
            let m = shifted(mul(w, b), alpha);
            let u = min_norm_lstsq(m.as_ref(), delta)?;
            let mut out = vec![0.0; b.nrows()];
            matvec(b, &u, &mut out);
            Ok(out)
        }
        LayerShape::Expanding => {
            let m = shifted(mul(b, w), alpha);
            let mut bd = vec![0.0; b.nrows()];
            matvec(b, delta, &mut bd);
            min_norm_lstsq(m.as_ref(), &bd)
        }
    }
}

/// The control signal `u_l` at the steady state, `(W B − αI)^{-1} δ_l` (least squares).
pub fn ndi_control(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    delta: &[f64],
) -> Result<Vec<f64>> {
    check_feedback_shape(w, b)?;
    let m = shifted(mul(w, b), alpha);
    min_norm_lstsq(m.as_ref(), delta)
}

/// `M − αI` for a square `M`.
pub(crate) fn shifted(mut m: Mat<f64>, alpha: f64) -> Mat<f64> {
    for i in 0..m.nrows() {
        m[(i, i)] -= alpha;
    }
    m
}

/// `B_l` must be `d_{l-1} × d_l` for `W_l` of shape `d_l × d_{l-1}`.
pub fn check_feedback_shape(w: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Result<()> {
    if b.nrows() != w.ncols() || b.ncols() != w.nrows() {
        return Err(CoreError::shape(
            "feedback matrix B (must be the shape of W^T)",
            format!("{}x{}", w.ncols(), w.nrows()),
            format!("{}x{}", b.nrows(), b.ncols()),
        ));
    }
    Ok(())
}

/// Solves a square system `A x = b` by LU with partial pivoting. Fails (so the caller
/// can fall back to least squares) when `A` is numerically singular or the result is
/// not finite.
pub fn solve_square(a: MatRef<'_, f64>, b: &[f64]) -> Result<Vec<f64>> {
    use faer::linalg::solvers::Solve;
    let n = a.nrows();
    if a.ncols() != n || b.len() != n {
        return Err(CoreError::shape(
            "square solve",
            format!("{n}x{n} and {n}"),
            format!("{}x{} and {}", a.nrows(), a.ncols(), b.len()),
        ));
    }
    let lu = a.partial_piv_lu();
    let scale = (0..n)
        .flat_map(|j| (0..n).map(move |i| (i, j)))
        .map(|(i, j)| a[(i, j)].abs())
        .fold(0.0, f64::max);
    let u = lu.U();
    let min_pivot = (0..n)
        .map(|i| u[(i, i)].abs())
        .fold(f64::INFINITY, f64::min);
    // (written so that a NaN pivot also counts as singular)
    if n > 0 && (min_pivot.is_nan() || min_pivot <= 1e3 * f64::EPSILON * scale * n as f64) {
        return Err(CoreError::NonFinite {
            what: format!(
                "square solve: matrix is numerically singular (smallest pivot {min_pivot:.3e})"
            ),
        });
    }
    let rhs = faer::Mat::from_fn(n, 1, |i, _| b[i]);
    let x = lu.solve(&rhs);
    let out: Vec<f64> = (0..n).map(|i| x[(i, 0)]).collect();
    if out.iter().any(|v| !v.is_finite()) {
        return Err(CoreError::NonFinite {
            what: "square solve produced a non-finite value".into(),
        });
    }
    Ok(out)
}

/// `A^+ y` for many right-hand sides at once (columns of `y`), through the normal
/// equations of the smaller Gram matrix: `(A^T A)^{-1} A^T y` for tall `A`,
/// `A^T (A A^T)^{-1} y` for wide `A`, solved by Cholesky. Falls back to the SVD when
/// the Gram matrix is not numerically positive definite (rank deficiency). Mini-batch
/// training needs this: one factorisation per batch instead of one SVD per example.
pub fn pinv_apply(a: MatRef<'_, f64>, y: MatRef<'_, f64>) -> Result<Mat<f64>> {
    use faer::linalg::solvers::Solve;
    use faer::Side;
    if y.nrows() != a.nrows() {
        return Err(CoreError::shape(
            "pseudoinverse right-hand side",
            a.nrows(),
            y.nrows(),
        ));
    }
    let tall = a.nrows() >= a.ncols();
    let gram = if tall {
        mul(a.transpose(), a)
    } else {
        mul(a, a.transpose())
    };
    let llt = gram.llt(Side::Lower).ok().filter(|c| {
        // Reject a factorisation whose pivots collapsed: cond(A)² beyond ~1e12.
        let l = c.L();
        let d: Vec<f64> = (0..l.nrows()).map(|i| l[(i, i)] * l[(i, i)]).collect();
        let (lo, hi) = d.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
        lo > 1e-12 * hi
    });
    match llt {
        Some(c) if tall => Ok(c.solve(mul(a.transpose(), y).as_ref())),
        Some(c) => Ok(mul(a.transpose(), c.solve(y).as_ref())),
        None => {
            let svd = a.thin_svd().map_err(|e| CoreError::NonFinite {
                what: format!("SVD of a {}x{} matrix ({e:?})", a.nrows(), a.ncols()),
            })?;
            Ok(mul(svd.pseudoinverse().as_ref(), y))
        }
    }
}

/// NDI's closed form (Eq. 10 / Alg. 4) for many targets at once (columns of `y`),
/// one LU factorisation for the whole batch; least squares if it is singular.
pub fn ndi_apply(
    w: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    y: MatRef<'_, f64>,
) -> Result<Mat<f64>> {
    use faer::linalg::solvers::Solve;
    check_feedback_shape(w, b)?;
    if y.nrows() != w.nrows() {
        return Err(CoreError::shape("NDI targets", w.nrows(), y.nrows()));
    }
    let solve = |m: Mat<f64>, rhs: Mat<f64>| -> Result<Mat<f64>> {
        let n = m.nrows();
        let lu = m.partial_piv_lu();
        let u = lu.U();
        let scale = (0..n)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .map(|(i, j)| m[(i, j)].abs())
            .fold(0.0, f64::max);
        let min_pivot = (0..n)
            .map(|i| u[(i, i)].abs())
            .fold(f64::INFINITY, f64::min);
        if n == 0 || min_pivot > 1e3 * f64::EPSILON * scale * n as f64 {
            Ok(lu.solve(rhs.as_ref()))
        } else {
            pinv_apply(m.as_ref(), rhs.as_ref())
        }
    };
    match LayerShape::of(w) {
        LayerShape::Contracting => {
            let u = solve(shifted(mul(w, b), alpha), y.to_owned())?;
            Ok(mul(b, u.as_ref()))
        }
        LayerShape::Expanding => solve(shifted(mul(b, w), alpha), mul(b, y)),
    }
}
