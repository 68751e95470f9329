//! Random initialisers drawing from a caller-owned, seeded generator.
//!
//! Draw order is fixed (row-major, like numpy) so a matrix is a pure function of
//! the generator state; callers own one `ChaCha8Rng` stream per pipeline stage.

use faer::Mat;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};

/// Entries i.i.d. `U(lo, hi)`.
pub fn uniform_mat<R: Rng + ?Sized>(
    rng: &mut R,
    rows: usize,
    cols: usize,
    lo: f64,
    hi: f64,
) -> Mat<f64> {
    let mut m = Mat::zeros(rows, cols);
    for i in 0..rows {
        for j in 0..cols {
            m[(i, j)] = rng.random_range(lo..hi);
        }
    }
    m
}

/// Entries i.i.d. `U(lo, hi)`.
pub fn uniform_vec<R: Rng + ?Sized>(rng: &mut R, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Entries i.i.d. `N(0, std²)`.
pub fn normal_mat<R: Rng + ?Sized>(rng: &mut R, rows: usize, cols: usize, std: f64) -> Mat<f64> {
    let mut m = Mat::zeros(rows, cols);
    for i in 0..rows {
        for j in 0..cols {
            let z: f64 = StandardNormal.sample(rng);
            m[(i, j)] = std * z;
        }
    }
    m
}

/// A `rows × cols` matrix with orthonormal rows or columns (whichever are fewer),
/// scaled by `gain`: the Q factor of a Gaussian matrix with the signs of R's
/// diagonal folded in, which makes it Haar-distributed (Mezzadri 2007).
pub fn orthogonal_mat<R: Rng + ?Sized>(
    rng: &mut R,
    rows: usize,
    cols: usize,
    gain: f64,
) -> Mat<f64> {
    let (tall_r, tall_c) = if rows >= cols {
        (rows, cols)
    } else {
        (cols, rows)
    };
    let g = normal_mat(rng, tall_r, tall_c, 1.0);
    let qr = g.qr();
    let q = qr.compute_thin_Q();
    let r = qr.thin_R();
    let mut q = q;
    for j in 0..tall_c {
        let s = if r[(j, j)] < 0.0 { -1.0 } else { 1.0 };
        for i in 0..tall_r {
            q[(i, j)] *= s * gain;
        }
    }
    if rows >= cols {
        q
    } else {
        q.transpose().to_owned()
    }
}
