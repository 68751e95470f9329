//! Explicit (non-dynamic) inversions: the pseudoinverse of PBP (Eq. 4) and the
//! closed-form steady state of leaky integral control used by NDI (Eq. 10, Alg. 4).

use faer::{Mat, MatRef};

use crate::error::{CoreError, Result};
use crate::kernels::vecops::{matvec, matvec_t, mul};

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

/// Largest estimated 1-norm condition number of a Gram matrix `G` (`A^T A` or `A A^T`)
/// whose Cholesky solution [`pinv_apply`] accepts.
///
/// The normal equations square the condition number: their relative error grows like
/// `cond(G) · ε = cond(A)² · ε`, where the SVD's grows like `cond(A) · ε`. Accepting an
/// estimated `cond₁(G) ≤ 1e8` keeps it below about `1e8 · ε ≈ 2e-8`. For a symmetric
/// `G`, `cond₁(G) ≥ cond₂(G) = cond(A)²`, and the estimate (a lower bound of `cond₁`)
/// has come out 2–8 times `cond(A)²` for the matrices tried, so `A` with `cond(A) ≥ 1e4`
/// goes to the SVD (tested from 1e4 to 1e8, square, tall and wide). The pipelines' Gram
/// matrices stay well below: the largest seen, in the randomly initialised
/// autoencoder's second layer under PBP, is about 7e6 after three epochs of 60000
/// images.
pub const MAX_GRAM_CONDITION: f64 = 1e8;

/// `‖G‖₁` of a symmetric matrix of which only the lower triangle is read.
pub fn symmetric_lower_norm1(g: MatRef<'_, f64>) -> f64 {
    let n = g.nrows();
    let mut col_sums = vec![0.0_f64; n];
    for j in 0..n {
        for i in j..n {
            let v = g[(i, j)].abs();
            col_sums[j] += v;
            if i != j {
                col_sums[i] += v;
            }
        }
    }
    // (written so that a NaN entry makes the norm NaN)
    col_sums
        .into_iter()
        .fold(0.0, |m, v| if v.is_nan() || v > m { v } else { m })
}

/// Estimate of `‖G⁻¹‖₁` for a symmetric positive definite `G = L L^T` from its Cholesky
/// factor (only the lower triangle of `l` is read), by Hager's method as refined by
/// Higham (LAPACK's `dlacn2`): at most eleven and usually four or five solves with the
/// factor, `O(n²)` each, instead of the `O(n³)` of forming the inverse. The estimate is
/// `‖G⁻¹ x‖₁` for some `‖x‖₁ = 1`, hence a lower bound; NaN if the factor holds NaN.
pub fn cholesky_inverse_norm1_estimate(l: MatRef<'_, f64>) -> f64 {
    use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
    use faer::linalg::cholesky::llt::solve::solve_in_place_with_conj;
    let n = l.nrows();
    if n == 0 {
        return 0.0;
    }
    let mut x = Mat::<f64>::zeros(n, 1);
    // G^{-1} x in place (G is symmetric, so this is also G^{-T} x).
    let solve = |x: &mut Mat<f64>| {
        solve_in_place_with_conj(
            l,
            faer::Conj::No,
            x.as_mut(),
            faer::Par::Seq,
            MemStack::new(&mut MemBuffer::new(StackReq::EMPTY)),
        )
    };
    let norm1 = |x: &Mat<f64>| (0..n).map(|i| x[(i, 0)].abs()).sum::<f64>();
    let signs = |x: &Mat<f64>| -> Vec<f64> {
        (0..n)
            .map(|i| if x[(i, 0)] >= 0.0 { 1.0 } else { -1.0 })
            .collect()
    };
    let argmax = |x: &Mat<f64>| {
        (0..n).fold(0, |best, i| {
            if x[(i, 0)].abs() > x[(best, 0)].abs() {
                i
            } else {
                best
            }
        })
    };
    for i in 0..n {
        x[(i, 0)] = 1.0 / n as f64;
    }
    solve(&mut x);
    if n == 1 {
        return x[(0, 0)].abs();
    }
    let mut est = norm1(&x);
    if est.is_nan() {
        return f64::NAN;
    }
    let mut sign = signs(&x);
    for i in 0..n {
        x[(i, 0)] = sign[i];
    }
    solve(&mut x);
    let mut j = argmax(&x);
    for iter in 2.. {
        x.fill(0.0);
        x[(j, 0)] = 1.0;
        solve(&mut x);
        let old = est;
        est = est.max(norm1(&x));
        let next = signs(&x);
        // A repeated sign vector (converged) or no increase (cycling) ends the search.
        if next == sign || est <= old {
            break;
        }
        sign = next;
        for i in 0..n {
            x[(i, 0)] = sign[i];
        }
        solve(&mut x);
        let last = j;
        j = argmax(&x);
        if x[(last, 0)].abs() == x[(j, 0)].abs() || iter >= 5 {
            break;
        }
    }
    // Higham's extra test vector, which catches the matrices that fool the search.
    for i in 0..n {
        let magnitude = 1.0 + i as f64 / (n - 1) as f64;
        x[(i, 0)] = if i % 2 == 0 { magnitude } else { -magnitude };
    }
    solve(&mut x);
    let alternative = 2.0 * norm1(&x) / (3.0 * n as f64);
    if alternative.is_nan() {
        return f64::NAN;
    }
    est.max(alternative)
}

/// Whether the Cholesky factor `l` (lower triangle) of a Gram matrix with `‖G‖₁ =
/// gram_norm1` solves the normal equations accurately: its pivots have not collapsed
/// and the estimated `cond₁(G)` is at most [`MAX_GRAM_CONDITION`]. `O(n²)`. The test
/// [`pinv_apply`] applies, shared with the experiments that keep their own factors.
pub fn gram_factor_is_accurate(l: MatRef<'_, f64>, gram_norm1: f64) -> bool {
    let n = l.nrows();
    let (lo, hi) = (0..n)
        .map(|i| l[(i, i)] * l[(i, i)])
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    // (written so that NaN pivots, norms or estimates count as inaccurate)
    if lo.is_nan() || lo <= 1e-12 * hi {
        return false;
    }
    let condition = gram_norm1 * cholesky_inverse_norm1_estimate(l);
    condition <= MAX_GRAM_CONDITION
}

/// `A^+ y` for many right-hand sides at once (columns of `y`), through the normal
/// equations of the smaller Gram matrix: `(A^T A)^{-1} A^T y` for tall `A`,
/// `A^T (A A^T)^{-1} y` for wide `A`, solved by Cholesky. Mini-batch training needs
/// this: one factorisation per batch instead of one SVD per example.
///
/// The normal equations are accurate only for well-conditioned `A` (their error grows
/// like `cond(A)² · ε`), so the Cholesky solution is kept only when
/// [`gram_factor_is_accurate`]: `cond₁(G)`, estimated from the factor in `O(n²)`, is at
/// most [`MAX_GRAM_CONDITION`]. Otherwise (ill-conditioned or rank-deficient `A`) the
/// SVD gives the pseudoinverse, backward stable, with error `∝ cond(A) · ε`.
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
    let gram_norm1 = symmetric_lower_norm1(gram.as_ref());
    let llt = gram
        .llt(Side::Lower)
        .ok()
        .filter(|c| gram_factor_is_accurate(c.L(), gram_norm1));
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
