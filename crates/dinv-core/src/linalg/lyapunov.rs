//! Continuous Lyapunov equation `A X + X A^T = Q` by the Bartels–Stewart method
//! (R. H. Bartels & G. W. Stewart, "Solution of the matrix equation AX + XB = C",
//! Comm. ACM 15(9), 1972; Golub & Van Loan, *Matrix Computations*, §7.6 on the
//! Sylvester equation).
//!
//! With `A = Z T Z^T` in real Schur form, `Y = Z^T X Z` solves the quasi-triangular
//! equation `T Y + Y T^T = Z^T Q Z`, which is solved block column by block column
//! from the right; inside a block column, a back-substitution over the diagonal
//! blocks of `T` needs only 1×1, 1×2, 2×1 and 2×2 systems (at most 4 unknowns).

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

use super::schur::{block_sizes, real_schur};
use super::LinalgError;

/// Solves the continuous Lyapunov equation `A X + X A^T = Q` (the convention of
/// `scipy.linalg.solve_continuous_lyapunov`) by Bartels & Stewart (1972).
///
/// The equation has a unique solution iff no two eigenvalues of `A` sum to zero;
/// otherwise (relative to the size of `A`) the result is `Singular`. For a stable
/// `A` and `Q = -B B^T`, `X` is the controllability Gramian. A symmetric `Q` gives
/// an exactly symmetric `X`.
pub fn solve_continuous_lyapunov(
    a: MatRef<'_, f64>,
    q: MatRef<'_, f64>,
) -> Result<Mat<f64>, LinalgError> {
    let n = a.nrows();
    if a.ncols() != n {
        return Err(LinalgError::NotSquare {
            rows: n,
            cols: a.ncols(),
        });
    }
    if q.nrows() != n || q.ncols() != n {
        return Err(LinalgError::ShapeMismatch {
            n,
            rows: q.nrows(),
            cols: q.ncols(),
        });
    }
    if !a.is_all_finite() || !q.is_all_finite() {
        return Err(LinalgError::NonFinite);
    }
    let schur = real_schur(a)?;
    let z = schur.z.as_ref();

    // Block-sums λ_i + λ_j below this size are indistinguishable from rounding in T.
    let pivot_floor = (4.0 * f64::EPSILON * a.norm_l2()).max(f64::MIN_POSITIVE);

    let mut y = congruence(z.transpose(), q, z);
    solve_quasi_triangular(&schur.t, &mut y, pivot_floor)?;
    let mut x = congruence(z, y.as_ref(), z.transpose());

    if is_symmetric(q) {
        for j in 0..n {
            for i in 0..j {
                let s = 0.5 * (x[(i, j)] + x[(j, i)]);
                x[(i, j)] = s;
                x[(j, i)] = s;
            }
        }
    }
    Ok(x)
}

/// `L M R` with sequential matmuls.
fn congruence(l: MatRef<'_, f64>, m: MatRef<'_, f64>, r: MatRef<'_, f64>) -> Mat<f64> {
    let n = m.nrows();
    let mut lm = Mat::<f64>::zeros(n, n);
    matmul(lm.as_mut(), Accum::Replace, l, m, 1.0, Par::Seq);
    let mut out = Mat::<f64>::zeros(n, n);
    matmul(out.as_mut(), Accum::Replace, lm.as_ref(), r, 1.0, Par::Seq);
    out
}

fn is_symmetric(q: MatRef<'_, f64>) -> bool {
    let n = q.nrows();
    (0..n).all(|j| (0..j).all(|i| q[(i, j)] == q[(j, i)]))
}

/// Overwrites `c` with the solution `Y` of `T Y + Y T^T = C` for upper
/// quasi-triangular `T` (the back-substitution of Bartels & Stewart 1972).
///
/// Block `(k, l)` satisfies
/// `T_kk Y_kl + Y_kl T_ll^T = C_kl - Σ_{m>k} T_km Y_ml - Σ_{m>l} Y_km T_lm^T`,
/// so block columns are solved from right to left and, within one, block rows
/// from bottom to top.
fn solve_quasi_triangular(
    t: &Mat<f64>,
    c: &mut Mat<f64>,
    pivot_floor: f64,
) -> Result<(), LinalgError> {
    let n = t.nrows();
    let sizes = block_sizes(t.as_ref());
    let starts: Vec<usize> = sizes
        .iter()
        .scan(0, |acc, &s| {
            let start = *acc;
            *acc += s;
            Some(start)
        })
        .collect();

    for (&l0, &sl) in starts.iter().zip(&sizes).rev() {
        let l1 = l0 + sl;
        // C[:, l] -= Y[:, l1..] T[l, l1..]^T (the columns to the right are solved).
        {
            let (left, right) = c.as_mut().split_at_col_mut(l1);
            matmul(
                left.subcols_mut(l0, sl),
                Accum::Add,
                right.as_ref(),
                t.submatrix(l0, l1, sl, n - l1).transpose(),
                -1.0,
                Par::Seq,
            );
        }
        let t_ll = diagonal_block(t.as_ref(), l0, sl);
        for (&k0, &sk) in starts.iter().zip(&sizes).rev() {
            let t_kk = diagonal_block(t.as_ref(), k0, sk);
            let mut rhs = [0.0; 4];
            for q in 0..sl {
                for p in 0..sk {
                    rhs[p + sk * q] = c[(k0 + p, l0 + q)];
                }
            }
            let sol = solve_block(&t_kk, sk, &t_ll, sl, rhs, pivot_floor)
                .ok_or(LinalgError::Singular(t[(k0, k0)], t[(l0, l0)]))?;
            // Store Y_kl and remove T[..k0, k] Y_kl from the rows above.
            for q in 0..sl {
                let col = c.col_as_slice_mut(l0 + q);
                for p in 0..sk {
                    let y = sol[p + sk * q];
                    col[k0 + p] = y;
                    let t_col = &t.col_as_slice(k0 + p)[..k0];
                    for (ci, ti) in col[..k0].iter_mut().zip(t_col) {
                        *ci -= ti * y;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The `size`×`size` diagonal block of `t` starting at `k0`, zero-padded to 2×2.
fn diagonal_block(t: MatRef<'_, f64>, k0: usize, size: usize) -> [[f64; 2]; 2] {
    let mut b = [[0.0; 2]; 2];
    for (r, row) in b.iter_mut().enumerate().take(size) {
        for (s, entry) in row.iter_mut().enumerate().take(size) {
            *entry = t[(k0 + r, k0 + s)];
        }
    }
    b
}

/// Solves `T_kk Y + Y T_ll^T = R` for the `sk`×`sl` block `Y` (column-major in
/// the returned array, as is `rhs`), as the Kronecker system
/// `(I ⊗ T_kk + T_ll ⊗ I) vec Y = vec R` of at most 4 unknowns.
/// `None` if the system is numerically singular.
fn solve_block(
    t_kk: &[[f64; 2]; 2],
    sk: usize,
    t_ll: &[[f64; 2]; 2],
    sl: usize,
    rhs: [f64; 4],
    pivot_floor: f64,
) -> Option<[f64; 4]> {
    let dim = sk * sl;
    let mut m = [[0.0; 4]; 4];
    for q in 0..sl {
        for p in 0..sk {
            let row = p + sk * q;
            for r in 0..sk {
                m[row][r + sk * q] += t_kk[p][r];
            }
            for s in 0..sl {
                m[row][p + sk * s] += t_ll[q][s];
            }
        }
    }
    solve_complete_pivoting(&mut m, rhs, dim, pivot_floor)
}

/// Gaussian elimination with complete pivoting on the leading `dim`×`dim` part of
/// `m` (Golub & Van Loan §3.4). `None` if a pivot is not larger than `pivot_floor`.
fn solve_complete_pivoting(
    m: &mut [[f64; 4]; 4],
    mut b: [f64; 4],
    dim: usize,
    pivot_floor: f64,
) -> Option<[f64; 4]> {
    let mut col_perm = [0, 1, 2, 3];
    for k in 0..dim {
        let (mut pr, mut pc, mut best) = (k, k, -1.0);
        for (r, row) in m.iter().enumerate().take(dim).skip(k) {
            for (c, entry) in row.iter().enumerate().take(dim).skip(k) {
                if entry.abs() > best {
                    (pr, pc, best) = (r, c, entry.abs());
                }
            }
        }
        if best <= pivot_floor {
            return None;
        }
        m.swap(k, pr);
        b.swap(k, pr);
        for row in m.iter_mut() {
            row.swap(k, pc);
        }
        col_perm.swap(k, pc);
        let (upper, lower) = m.split_at_mut(k + 1);
        let pivot_row = &upper[k];
        for (r, row) in lower[..dim - k - 1].iter_mut().enumerate() {
            let f = row[k] / pivot_row[k];
            for (x, p) in row[k..dim].iter_mut().zip(&pivot_row[k..dim]) {
                *x -= f * p;
            }
            b[k + 1 + r] -= f * b[k];
        }
    }
    let mut x = [0.0; 4];
    for k in (0..dim).rev() {
        let s: f64 = (k + 1..dim).map(|c| m[k][c] * x[c]).sum();
        x[k] = (b[k] - s) / m[k][k];
    }
    let mut out = [0.0; 4];
    for k in 0..dim {
        out[col_perm[k]] = x[k];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_pivoting_solves_a_permuted_system() {
        // x = (1, 2, 3, 4) for a matrix whose first pivot must come from the corner.
        let a = [
            [0.0, 1.0, 2.0, 9.0],
            [1.0, 0.0, 3.0, 1.0],
            [4.0, 1.0, 0.0, 2.0],
            [1.0, 5.0, 1.0, 0.0],
        ];
        let x = [1.0, 2.0, 3.0, 4.0];
        let b: [f64; 4] = std::array::from_fn(|r| (0..4).map(|c| a[r][c] * x[c]).sum());
        let mut m = a;
        let sol = solve_complete_pivoting(&mut m, b, 4, 1e-300).expect("regular");
        for (s, e) in sol.iter().zip(&x) {
            assert!((s - e).abs() < 1e-13, "{sol:?}");
        }
    }

    #[test]
    fn complete_pivoting_reports_singular() {
        let mut m = [
            [1.0, 2.0, 0.0, 0.0],
            [2.0, 4.0, 0.0, 0.0],
            [0.0; 4],
            [0.0; 4],
        ];
        assert!(solve_complete_pivoting(&mut m, [1.0, 2.0, 0.0, 0.0], 2, 1e-12).is_none());
    }

    #[test]
    fn two_by_two_block_equation_is_solved() {
        // T_kk Y + Y T_ll^T = R with a known Y.
        let tk = [[-1.0, 2.0], [-3.0, -1.0]];
        let tl = [[-2.0, 0.5], [-4.0, -2.0]];
        let y = [[1.0, -2.0], [0.5, 3.0]];
        let r: [[f64; 2]; 2] = std::array::from_fn(|p| {
            std::array::from_fn(|q| {
                (0..2).map(|i| tk[p][i] * y[i][q]).sum::<f64>()
                    + (0..2).map(|s| y[p][s] * tl[q][s]).sum::<f64>()
            })
        });
        let rhs = [r[0][0], r[1][0], r[0][1], r[1][1]];
        let sol = solve_block(&tk, 2, &tl, 2, rhs, 1e-300).expect("regular");
        let expect = [y[0][0], y[1][0], y[0][1], y[1][1]];
        for (s, e) in sol.iter().zip(&expect) {
            assert!((s - e).abs() < 1e-13, "{sol:?}");
        }
    }
}
