//! `pinv_apply` against exact solutions at chosen condition numbers.
//!
//! `A = U Σ V^T` with orthonormal `U`, `V` (thin QR factors of random matrices) and
//! singular values spaced geometrically from 1 to `1/cond`. With `X = V Z` in the row
//! space of `A` and `Y = U (Σ Z)`, the exact `A^+ Y` is `X`, for square, tall and wide
//! `A` alike. The batched normal equations lose accuracy like `cond(A)² · ε` and must
//! hand over to the SVD before that shows; the reference is the SVD path
//! ([`min_norm_lstsq`], one column at a time). The table of errors prints with
//! `cargo test -p dinv-core --test pinv_conditioning -- --nocapture`.

mod common;

use common::*;
use dinv_core::inverse::{min_norm_lstsq, pinv_apply};
use faer::Mat;

/// `rows × cols` with orthonormal columns.
fn orthonormal(seed: u64, rows: usize, cols: usize) -> Mat<f64> {
    random(seed, rows, cols, 1.0).qr().compute_thin_Q()
}

/// `(A, Y, X)` with `A^+ Y = X` exactly; `A` is `m × n` with condition number `cond`.
fn case(m: usize, n: usize, cond: f64, seed: u64) -> (Mat<f64>, Mat<f64>, Mat<f64>) {
    let k = m.min(n);
    let u = orthonormal(seed, m, k);
    let v = orthonormal(seed + 1, n, k);
    let sigma: Vec<f64> = (0..k)
        .map(|i| cond.powf(-(i as f64) / (k - 1) as f64))
        .collect();
    let us = Mat::from_fn(m, k, |i, j| u[(i, j)] * sigma[j]);
    let a = &us * v.transpose();
    let z = random(seed + 2, k, 8, 1.0);
    let x = &v * &z;
    let y = &us * &z;
    (a, y, x)
}

/// Largest relative error of a column of `got` against `exact`.
fn worst_column_error(got: &Mat<f64>, exact: &Mat<f64>) -> f64 {
    (0..exact.ncols())
        .map(|j| {
            let g: Vec<f64> = (0..exact.nrows()).map(|i| got[(i, j)]).collect();
            let e: Vec<f64> = (0..exact.nrows()).map(|i| exact[(i, j)]).collect();
            rel_diff(&g, &e)
        })
        .fold(0.0, f64::max)
}

fn svd_path(a: &Mat<f64>, y: &Mat<f64>) -> Mat<f64> {
    let cols: Vec<Vec<f64>> = (0..y.ncols())
        .map(|j| {
            let col: Vec<f64> = (0..y.nrows()).map(|i| y[(i, j)]).collect();
            min_norm_lstsq(a.as_ref(), &col).unwrap()
        })
        .collect();
    Mat::from_fn(a.ncols(), y.ncols(), |i, j| cols[j][i])
}

const SHAPES: [(&str, usize, usize); 3] = [("square", 40, 40), ("tall", 60, 40), ("wide", 40, 60)];

/// At every condition number from 1e4 to 1e8 the batched pseudoinverse is within 10× of
/// the SVD's error (the normal equations alone were 1e3–1e7× worse).
#[test]
fn pinv_apply_is_as_accurate_as_the_svd_when_ill_conditioned() {
    let mut failures = Vec::new();
    println!("shape   cond     pinv_apply   SVD          ratio");
    for (s, &(name, m, n)) in SHAPES.iter().enumerate() {
        for (c, cond) in [1e4, 1e5, 1e6, 1e7, 1e8].into_iter().enumerate() {
            let (a, y, x) = case(m, n, cond, 1000 + 10 * s as u64 + c as u64);
            let batched = worst_column_error(&pinv_apply(a.as_ref(), y.as_ref()).unwrap(), &x);
            let svd = worst_column_error(&svd_path(&a, &y), &x);
            println!(
                "{name:7} {cond:.0e}  {batched:.3e}   {svd:.3e}   {:.2}",
                batched / svd
            );
            if batched > 10.0 * svd {
                failures.push(format!(
                    "{name} cond {cond:.0e}: {batched:.3e} vs SVD {svd:.3e}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Well-conditioned matrices keep the Cholesky solution of the normal equations bit
/// for bit (the autoencoder's results depend on those bits); its error is then at the
/// SVD's level anyway.
#[test]
fn pinv_apply_keeps_the_cholesky_bits_when_well_conditioned() {
    use faer::linalg::solvers::Solve;
    for (s, &(name, m, n)) in SHAPES.iter().enumerate() {
        for (c, cond) in [1.0, 10.0, 100.0].into_iter().enumerate() {
            let (a, y, x) = case(m, n, cond, 2000 + 10 * s as u64 + c as u64);
            let got = pinv_apply(a.as_ref(), y.as_ref()).unwrap();
            let cholesky = if m >= n {
                let llt = (a.transpose() * &a).llt(faer::Side::Lower).unwrap();
                llt.solve(a.transpose() * &y)
            } else {
                let llt = (&a * a.transpose()).llt(faer::Side::Lower).unwrap();
                a.transpose() * llt.solve(&y)
            };
            assert_eq!(got, cholesky, "{name} cond {cond}: not the Cholesky path");
            assert!(worst_column_error(&got, &x) < 1e-11, "{name} cond {cond}");
        }
    }
}

/// The condition estimate from the Cholesky factor is a lower bound of the true
/// `cond₁(G)` and close to it (Hager–Higham), for Gram matrices of the test cases.
#[test]
fn condition_estimate_is_a_tight_lower_bound() {
    use dinv_core::inverse::{cholesky_inverse_norm1_estimate, symmetric_lower_norm1};
    use faer::linalg::solvers::DenseSolveCore;
    for (s, &(_, m, n)) in SHAPES.iter().enumerate() {
        for (c, cond) in [1.0, 1e2, 1e3].into_iter().enumerate() {
            let (a, _, _) = case(m, n, cond, 3000 + 10 * s as u64 + c as u64);
            let g = if m >= n {
                a.transpose() * &a
            } else {
                &a * a.transpose()
            };
            let llt = g.llt(faer::Side::Lower).unwrap();
            let estimate = cholesky_inverse_norm1_estimate(llt.L());
            let inverse = g.partial_piv_lu().inverse();
            let exact = (0..inverse.ncols())
                .map(|j| (0..inverse.nrows()).map(|i| inverse[(i, j)].abs()).sum())
                .fold(0.0, f64::max);
            assert!(
                estimate <= exact * (1.0 + 1e-8) && estimate >= exact / 3.0,
                "cond {cond}: estimate {estimate:e}, exact {exact:e}"
            );
            let norm = (0..g.ncols())
                .map(|j| (0..g.nrows()).map(|i| g[(i, j)].abs()).sum())
                .fold(0.0, f64::max);
            let lower = symmetric_lower_norm1(g.as_ref());
            assert!((lower - norm).abs() <= 1e-12 * norm, "{lower} vs {norm}");
        }
    }
}
