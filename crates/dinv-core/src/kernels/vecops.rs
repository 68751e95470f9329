//! Small dense kernels on slices and faer matrices (column-major), written so the
//! hot loops of online learning do not allocate. Large products go through faer's
//! matmul (sequential: determinism must not depend on the thread count).

use faer::linalg::matmul::matmul;
use faer::{Accum, ColMut, ColRef, Mat, MatRef, Par};

/// Below this many multiply-adds a plain loop beats faer's dispatch overhead.
const SMALL: usize = 4096;

#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut s = 0.0;
    for (x, y) in a.iter().zip(b) {
        s += x * y;
    }
    s
}

#[inline]
pub fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// `y = alpha * y + beta * x`.
#[inline]
pub fn axpby(alpha: f64, y: &mut [f64], beta: f64, x: &[f64]) {
    debug_assert_eq!(x.len(), y.len());
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = alpha * *yi + beta * xi;
    }
}

/// `y = W x` (overwrites `y`).
pub fn matvec(w: MatRef<'_, f64>, x: &[f64], y: &mut [f64]) {
    debug_assert_eq!(w.ncols(), x.len());
    debug_assert_eq!(w.nrows(), y.len());
    if w.nrows() * w.ncols() <= SMALL {
        y.fill(0.0);
        for (j, &xj) in x.iter().enumerate() {
            if xj != 0.0 {
                let col = w.col(j);
                for (i, yi) in y.iter_mut().enumerate() {
                    *yi += col[i] * xj;
                }
            }
        }
    } else {
        matmul(
            ColMut::from_slice_mut(y).as_mat_mut(),
            Accum::Replace,
            w,
            ColRef::from_slice(x).as_mat(),
            1.0,
            Par::Seq,
        );
    }
}

/// `y = W^T x` (overwrites `y`).
pub fn matvec_t(w: MatRef<'_, f64>, x: &[f64], y: &mut [f64]) {
    debug_assert_eq!(w.nrows(), x.len());
    debug_assert_eq!(w.ncols(), y.len());
    if w.nrows() * w.ncols() <= SMALL {
        for (j, yj) in y.iter_mut().enumerate() {
            let col = w.col(j);
            let mut s = 0.0;
            for (i, &xi) in x.iter().enumerate() {
                s += col[i] * xi;
            }
            *yj = s;
        }
    } else {
        matmul(
            ColMut::from_slice_mut(y).as_mat_mut(),
            Accum::Replace,
            w.transpose(),
            ColRef::from_slice(x).as_mat(),
            1.0,
            Par::Seq,
        );
    }
}

/// `W = decay * W + scale * u v^T` in one pass over `W`.
pub fn rank1_update(w: &mut Mat<f64>, decay: f64, scale: f64, u: &[f64], v: &[f64]) {
    debug_assert_eq!(w.nrows(), u.len());
    debug_assert_eq!(w.ncols(), v.len());
    for (j, &vj) in v.iter().enumerate() {
        let c = scale * vj;
        let col = w.col_as_slice_mut(j);
        if decay == 1.0 {
            for (wij, &ui) in col.iter_mut().zip(u) {
                *wij += c * ui;
            }
        } else {
            for (wij, &ui) in col.iter_mut().zip(u) {
                *wij = decay * *wij + c * ui;
            }
        }
    }
}

/// Dense product `A B` (sequential).
pub fn mul(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::zeros(a.nrows(), b.ncols());
    matmul(c.as_mut(), Accum::Replace, a, b, 1.0, Par::Seq);
    c
}

/// Frobenius inner product `<A, B> = tr(A^T B)`.
pub fn frobenius_dot(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    debug_assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            s += a[(i, j)] * b[(i, j)];
        }
    }
    s
}

/// True when every entry is finite.
pub fn all_finite(a: MatRef<'_, f64>) -> bool {
    (0..a.ncols()).all(|j| (0..a.nrows()).all(|i| a[(i, j)].is_finite()))
}

/// `W diag(s)`: column `j` of `w` times `s[j]` (a layer's weights seen through the
/// readout slopes of its input, for linearisations).
pub fn scale_columns(w: MatRef<'_, f64>, s: &[f64]) -> Mat<f64> {
    debug_assert_eq!(w.ncols(), s.len());
    let mut out = w.to_owned();
    for (j, sj) in s.iter().enumerate() {
        for v in out.col_as_slice_mut(j) {
            *v *= sj;
        }
    }
    out
}
