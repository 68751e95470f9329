//! Checks of the real Schur decomposition and the Lyapunov solver against the
//! mathematics: reconstruction, orthogonality, structure, eigenvalues from faer's
//! independent eigensolver or from closed forms, and Lyapunov solutions from an
//! independent Kronecker-product solve or from closed forms.

use dinv_core::linalg::{real_schur, solve_continuous_lyapunov, LinalgError, RealSchur};
use faer::prelude::*;
use faer::Side;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::f64::consts::PI;

// ---------------------------------------------------------------- helpers

fn normal_matrix(n: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(n, n, |_, _| rng.sample::<f64, _>(StandardNormal))
}

fn uniform_matrix(n: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(n, n, |_, _| rng.random_range(-1.0..1.0))
}

fn frob(m: MatRef<'_, f64>) -> f64 {
    m.norm_l2()
}

/// An orthogonal matrix: the Q factor of a random Gaussian matrix.
fn random_orthogonal(n: usize, seed: u64) -> Mat<f64> {
    normal_matrix(n, seed).qr().compute_Q()
}

/// Spectral abscissa from faer's eigensolver (independent of the code under test).
fn faer_abscissa(a: MatRef<'_, f64>) -> f64 {
    a.eigenvalues()
        .expect("faer eigenvalues")
        .iter()
        .map(|z| z.re)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// A stable matrix: a random matrix shifted by -(spectral abscissa + 1) I.
fn stable_matrix(n: usize, seed: u64) -> Mat<f64> {
    let mut a = normal_matrix(n, seed);
    let shift = faer_abscissa(a.as_ref()) + 1.0;
    for i in 0..n {
        a[(i, i)] -= shift;
    }
    a
}

fn sorted(mut eig: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    eig.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)));
    eig
}

/// Multiset comparison: every eigenvalue in `got` is matched to a distinct one in
/// `want` within `tol`.
fn assert_eigenvalues_match(got: &[(f64, f64)], want: &[(f64, f64)], tol: f64) {
    assert_eq!(got.len(), want.len(), "number of eigenvalues");
    let mut used = vec![false; want.len()];
    for &(re, im) in got {
        let best = want
            .iter()
            .enumerate()
            .filter(|(j, _)| !used[*j])
            .map(|(j, &(wr, wi))| (j, (re - wr).hypot(im - wi)))
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .expect("an unmatched eigenvalue");
        assert!(
            best.1 <= tol,
            "eigenvalue ({re}, {im}) has no partner within {tol} (closest at {})\n got {:?}\n want {:?}",
            best.1,
            sorted(got.to_vec()),
            sorted(want.to_vec())
        );
        used[best.0] = true;
    }
}

fn faer_eigenvalues(a: MatRef<'_, f64>) -> Vec<(f64, f64)> {
    a.eigenvalues()
        .expect("faer eigenvalues")
        .iter()
        .map(|z| (z.re, z.im))
        .collect()
}

/// Structural and numerical properties every real Schur form must have.
fn assert_valid_schur(a: MatRef<'_, f64>, s: &RealSchur) {
    let n = a.nrows();
    let (t, z) = (&s.t, &s.z);
    assert_eq!((t.nrows(), t.ncols(), z.nrows(), z.ncols()), (n, n, n, n));

    // A = Z T Z^T.
    let recon = z * t * z.transpose();
    let a_norm = frob(a).max(f64::MIN_POSITIVE);
    let rel = frob((&recon - a).as_ref()) / a_norm;
    assert!(rel <= 1e-12, "n={n}: ||A - Z T Z^T|| / ||A|| = {rel:e}");

    // Z^T Z = I.
    let ztz = z.transpose() * z;
    let orth = frob((&ztz - Mat::<f64>::identity(n, n)).as_ref());
    assert!(orth <= 1e-12, "n={n}: ||Z^T Z - I|| = {orth:e}");

    // Quasi-triangular: exact zeros below the subdiagonal, no two consecutive
    // non-zero subdiagonal entries.
    for j in 0..n {
        for i in j + 2..n {
            assert_eq!(t[(i, j)], 0.0, "n={n}: T[{i},{j}] below the subdiagonal");
        }
    }
    for k in 1..n.saturating_sub(1) {
        assert!(
            t[(k, k - 1)] == 0.0 || t[(k + 1, k)] == 0.0,
            "n={n}: consecutive non-zero subdiagonals at {k}"
        );
    }

    // Blocks: sizes cover n, and every 2x2 block is standardised.
    let sizes = s.block_sizes();
    assert_eq!(sizes.iter().sum::<usize>(), n);
    let mut k = 0;
    for &size in &sizes {
        assert!(size == 1 || size == 2);
        if size == 1 {
            if k + 1 < n {
                assert_eq!(t[(k + 1, k)], 0.0, "1x1 block with a subdiagonal");
            }
        } else {
            assert_eq!(
                t[(k, k)],
                t[(k + 1, k + 1)],
                "unequal diagonal in a 2x2 block"
            );
            let (b, c) = (t[(k, k + 1)], t[(k + 1, k)]);
            assert!(
                b != 0.0 && c != 0.0 && b.signum() != c.signum(),
                "2x2 block off-diagonals {b}, {c} not of opposite sign"
            );
        }
        k += size;
    }

    // Eigenvalues: count, conjugate pairs, trace, and agreement with faer.
    let eig = s.eigenvalues();
    assert_eq!(eig.len(), n);
    let trace: f64 = (0..n).map(|i| a[(i, i)]).sum();
    let re_sum: f64 = eig.iter().map(|e| e.0).sum();
    let scale = frob(a) * (n as f64).sqrt() + f64::MIN_POSITIVE;
    assert!(
        (trace - re_sum).abs() <= 1e-12 * scale,
        "trace {trace} vs sum of eigenvalues {re_sum}"
    );
    let im_sum: f64 = eig.iter().map(|e| e.1).sum();
    assert!(
        im_sum.abs() <= 1e-12 * scale,
        "imaginary parts do not cancel"
    );
}

// ---------------------------------------------------------------- Schur

#[test]
fn schur_of_random_matrices() {
    for (n, seed) in [(1, 1), (2, 2), (3, 3), (5, 4), (10, 5), (30, 6), (60, 7)] {
        for a in [normal_matrix(n, seed), uniform_matrix(n, seed + 100)] {
            let s = real_schur(a.as_ref()).expect("schur");
            assert_valid_schur(a.as_ref(), &s);
            assert_eigenvalues_match(
                &s.eigenvalues(),
                &faer_eigenvalues(a.as_ref()),
                1e-9 * frob(a.as_ref()),
            );
        }
    }
}

#[test]
fn schur_of_a_200x200_matrix() {
    let a = normal_matrix(200, 42);
    let s = real_schur(a.as_ref()).expect("schur");
    assert_valid_schur(a.as_ref(), &s);
    assert!(s.block_sizes().contains(&2), "expected complex pairs");
    assert_eigenvalues_match(
        &s.eigenvalues(),
        &faer_eigenvalues(a.as_ref()),
        1e-8 * frob(a.as_ref()),
    );
}

#[test]
fn schur_of_triangular_and_diagonal_matrices() {
    let n = 8;
    let r = normal_matrix(n, 11);
    let upper = Mat::from_fn(n, n, |i, j| if i <= j { r[(i, j)] } else { 0.0 });
    let s = real_schur(upper.as_ref()).expect("schur");
    assert_valid_schur(upper.as_ref(), &s);
    let diag: Vec<(f64, f64)> = (0..n).map(|i| (upper[(i, i)], 0.0)).collect();
    assert_eigenvalues_match(&s.eigenvalues(), &diag, 1e-12);

    let d = Mat::from_fn(n, n, |i, j| if i == j { i as f64 - 3.5 } else { 0.0 });
    let s = real_schur(d.as_ref()).expect("schur");
    assert_valid_schur(d.as_ref(), &s);
    let diag: Vec<(f64, f64)> = (0..n).map(|i| (i as f64 - 3.5, 0.0)).collect();
    assert_eigenvalues_match(&s.eigenvalues(), &diag, 1e-14);
}

#[test]
fn schur_of_rotations_gives_complex_pairs() {
    let th = 0.7_f64;
    let rot2 = mat![[th.cos(), -th.sin()], [th.sin(), th.cos()]];
    let s = real_schur(rot2.as_ref()).expect("schur");
    assert_valid_schur(rot2.as_ref(), &s);
    assert_eq!(s.block_sizes(), vec![2]);
    assert_eigenvalues_match(
        &s.eigenvalues(),
        &[(th.cos(), th.sin()), (th.cos(), -th.sin())],
        1e-14,
    );

    // A 3D rotation by `th` about a random axis (Rodrigues): eigenvalues 1, e^{±i th}.
    let q = random_orthogonal(3, 5);
    let r = mat![
        [1.0, 0.0, 0.0],
        [0.0, th.cos(), -th.sin()],
        [0.0, th.sin(), th.cos()]
    ];
    let rot3 = &q * &r * q.transpose();
    let s = real_schur(rot3.as_ref()).expect("schur");
    assert_valid_schur(rot3.as_ref(), &s);
    assert_eigenvalues_match(
        &s.eigenvalues(),
        &[(1.0, 0.0), (th.cos(), th.sin()), (th.cos(), -th.sin())],
        1e-13,
    );
}

#[test]
fn standardisation_keeps_the_eigenvalues_of_a_2x2_block() {
    // [a b; c d] with (a-d)^2/4 + bc < 0: eigenvalues (a+d)/2 ± i sqrt(-((a-d)^2/4 + bc)).
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut tested = 0;
    while tested < 200 {
        let [a, b, c, d]: [f64; 4] = std::array::from_fn(|_| rng.random_range(-2.0..2.0));
        let disc = 0.25 * (a - d) * (a - d) + b * c;
        if disc > -1e-3 {
            continue;
        }
        tested += 1;
        let m = mat![[a, b], [c, d]];
        let s = real_schur(m.as_ref()).expect("schur");
        assert_valid_schur(m.as_ref(), &s);
        assert_eq!(s.block_sizes(), vec![2]);
        let (re, im) = (0.5 * (a + d), (-disc).sqrt());
        assert_eigenvalues_match(&s.eigenvalues(), &[(re, im), (re, -im)], 1e-13);
    }
}

#[test]
fn schur_with_repeated_eigenvalues() {
    // S diag(2, 2, 2, -1, -1, 0.5) S^{-1} with a well-conditioned S.
    let n = 6;
    let mut s_mat = normal_matrix(n, 21);
    for i in 0..n {
        s_mat[(i, i)] += 4.0;
    }
    let d = [2.0, 2.0, 2.0, -1.0, -1.0, 0.5];
    let dmat = Mat::from_fn(n, n, |i, j| if i == j { d[i] } else { 0.0 });
    let s_inv = s_mat.partial_piv_lu().solve(Mat::<f64>::identity(n, n));
    let a = &s_mat * &dmat * &s_inv;
    let s = real_schur(a.as_ref()).expect("schur");
    assert_valid_schur(a.as_ref(), &s);
    let want: Vec<(f64, f64)> = d.iter().map(|&x| (x, 0.0)).collect();
    assert_eigenvalues_match(&s.eigenvalues(), &want, 1e-8);
}

#[test]
fn schur_of_a_jordan_block() {
    // J_5(3) conjugated by an orthogonal matrix. The eigenvalue 3 is defective, so
    // a backward error of size eps moves it by up to about eps^(1/5) ~ 7e-4; the
    // mean of the eigenvalues (trace / 5) stays accurate.
    let n = 5;
    let j = Mat::from_fn(n, n, |r, c| {
        if r == c {
            3.0
        } else if c == r + 1 {
            1.0
        } else {
            0.0
        }
    });
    let q = random_orthogonal(n, 8);
    let a = &q * &j * q.transpose();
    let s = real_schur(a.as_ref()).expect("schur");
    assert_valid_schur(a.as_ref(), &s);
    let want = vec![(3.0, 0.0); n];
    assert_eigenvalues_match(&s.eigenvalues(), &want, 5e-3);
    let mean: f64 = s.eigenvalues().iter().map(|e| e.0).sum::<f64>() / n as f64;
    assert!((mean - 3.0).abs() < 1e-13);
}

#[test]
fn schur_of_zero_and_empty_matrices() {
    let zero = Mat::<f64>::zeros(4, 4);
    let s = real_schur(zero.as_ref()).expect("schur");
    assert_eq!(s.block_sizes(), vec![1; 4]);
    assert_eigenvalues_match(&s.eigenvalues(), &[(0.0, 0.0); 4], 0.0);
    let orth = frob((s.z.transpose() * &s.z - Mat::<f64>::identity(4, 4)).as_ref());
    assert!(orth <= 1e-15);

    let empty = Mat::<f64>::zeros(0, 0);
    let s = real_schur(empty.as_ref()).expect("schur");
    assert!(s.eigenvalues().is_empty() && s.block_sizes().is_empty());
}

/// Companion matrix of the monic polynomial with coefficients `c` (constant first):
/// x^n + c[n-1] x^{n-1} + ... + c[0].
fn companion(c: &[f64]) -> Mat<f64> {
    let n = c.len();
    Mat::from_fn(n, n, |i, j| {
        if j == n - 1 {
            -c[i]
        } else if i == j + 1 {
            1.0
        } else {
            0.0
        }
    })
}

#[test]
fn schur_of_companion_matrices() {
    // (x - 1)(x - 2)(x + 3)(x^2 + 1), expanded by hand:
    // (x-1)(x-2) = x^2 - 3x + 2; times (x+3) = x^3 - 7x + 6;
    // times (x^2 + 1) = x^5 - 6x^3 + 6x^2 - 7x + 6.
    let a = companion(&[6.0, -7.0, 6.0, -6.0, 0.0]);
    let s = real_schur(a.as_ref()).expect("schur");
    assert_valid_schur(a.as_ref(), &s);
    let want = [(1.0, 0.0), (2.0, 0.0), (-3.0, 0.0), (0.0, 1.0), (0.0, -1.0)];
    assert_eigenvalues_match(&s.eigenvalues(), &want, 1e-10);

    // x^n - 1: the cyclic shift, a classic case where plain Francis shifts stall
    // (all eigenvalues on the unit circle); roots of unity e^{2πik/n}.
    for n in [4, 7, 12] {
        let mut c = vec![0.0; n];
        c[0] = -1.0;
        let a = companion(&c);
        let s = real_schur(a.as_ref()).expect("schur");
        assert_valid_schur(a.as_ref(), &s);
        let want: Vec<(f64, f64)> = (0..n)
            .map(|k| {
                let phi = 2.0 * PI * k as f64 / n as f64;
                (phi.cos(), phi.sin())
            })
            .collect();
        assert_eigenvalues_match(&s.eigenvalues(), &want, 1e-12);
    }
}

#[test]
fn schur_of_a_highly_non_normal_matrix() {
    // Q (D + N) Q^T with D = diag(-1..-8) and a strong strictly upper N.
    let n = 8;
    let r = normal_matrix(n, 31);
    let tri = Mat::from_fn(n, n, |i, j| {
        if i == j {
            -(i as f64 + 1.0)
        } else if j > i {
            10.0 * r[(i, j)]
        } else {
            0.0
        }
    });
    let q = random_orthogonal(n, 32);
    let a = &q * &tri * q.transpose();
    let s = real_schur(a.as_ref()).expect("schur");
    assert_valid_schur(a.as_ref(), &s);
    let want: Vec<(f64, f64)> = (0..n).map(|i| (-(i as f64 + 1.0), 0.0)).collect();
    // Non-normality amplifies eigenvalue errors by the eigenvalue condition
    // numbers, hence a looser tolerance than for the random matrices.
    assert_eigenvalues_match(&s.eigenvalues(), &want, 1e-9);
    assert_eigenvalues_match(&s.eigenvalues(), &faer_eigenvalues(a.as_ref()), 1e-9);
}

#[test]
fn schur_of_badly_scaled_matrices() {
    for scale in [1e-200, 1e200] {
        let base = normal_matrix(6, 41);
        let a = Mat::from_fn(6, 6, |i, j| base[(i, j)] * scale);
        let s = real_schur(a.as_ref()).expect("schur");
        assert_valid_schur(a.as_ref(), &s);
        let want: Vec<(f64, f64)> = faer_eigenvalues(base.as_ref())
            .iter()
            .map(|&(re, im)| (re * scale, im * scale))
            .collect();
        assert_eigenvalues_match(&s.eigenvalues(), &want, 1e-10 * scale);
    }
}

#[test]
fn schur_rejects_bad_input() {
    let rect = Mat::<f64>::zeros(2, 3);
    assert_eq!(
        real_schur(rect.as_ref()).unwrap_err(),
        LinalgError::NotSquare { rows: 2, cols: 3 }
    );
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut a = normal_matrix(3, 1);
        a[(1, 2)] = bad;
        assert_eq!(real_schur(a.as_ref()).unwrap_err(), LinalgError::NonFinite);
    }
}

// ---------------------------------------------------------------- Lyapunov

/// ‖A X + X A^T − Q‖_F / (‖A‖_F ‖X‖_F + ‖Q‖_F).
fn lyapunov_residual(a: MatRef<'_, f64>, x: MatRef<'_, f64>, q: MatRef<'_, f64>) -> f64 {
    let r = a * x + x * a.transpose() - q;
    frob(r.as_ref()) / (frob(a) * frob(x) + frob(q))
}

/// Independent solve: (I ⊗ A + A ⊗ I) vec X = vec Q with column-major vec and LU.
fn kronecker_lyapunov(a: MatRef<'_, f64>, q: MatRef<'_, f64>) -> Mat<f64> {
    let n = a.nrows();
    let kron = Mat::from_fn(n * n, n * n, |row, col| {
        let (i, j) = (row % n, row / n);
        let (k, l) = (col % n, col / n);
        let mut v = 0.0;
        if j == l {
            v += a[(i, k)];
        }
        if i == k {
            v += a[(j, l)];
        }
        v
    });
    let vec_q = Mat::from_fn(n * n, 1, |row, _| q[(row % n, row / n)]);
    let vec_x = kron.partial_piv_lu().solve(&vec_q);
    Mat::from_fn(n, n, |i, j| vec_x[(i + n * j, 0)])
}

fn symmetric_matrix(n: usize, seed: u64) -> Mat<f64> {
    let r = normal_matrix(n, seed);
    Mat::from_fn(n, n, |i, j| r[(i, j)] + r[(j, i)])
}

#[test]
fn lyapunov_residual_for_stable_random_matrices() {
    for (idx, n) in [1, 2, 3, 4, 5, 7, 10, 16, 25, 40, 60]
        .into_iter()
        .enumerate()
    {
        let seed = 1000 + idx as u64;
        let a = stable_matrix(n, seed);
        for q in [symmetric_matrix(n, seed + 1), normal_matrix(n, seed + 2)] {
            let x = solve_continuous_lyapunov(a.as_ref(), q.as_ref()).expect("solve");
            let res = lyapunov_residual(a.as_ref(), x.as_ref(), q.as_ref());
            assert!(res <= 1e-9, "n={n}: residual {res:e}");
        }
    }
}

#[test]
fn lyapunov_exercises_complex_blocks() {
    // Guard for the test above: its matrices do have 2x2 Schur blocks, so the
    // 1x2, 2x1 and 2x2 block systems are reached.
    let a = stable_matrix(10, 1006);
    let s = real_schur(a.as_ref()).expect("schur");
    let sizes = s.block_sizes();
    assert!(sizes.contains(&2) && sizes.contains(&1), "{sizes:?}");
}

#[test]
fn lyapunov_agrees_with_kronecker_solve() {
    for n in 1..=12 {
        let seed = 2000 + n as u64;
        // Stable A, and an unstable but nonsingular one (eigenvalues shifted to
        // real parts >= 1, so no two sum to zero).
        let stable = stable_matrix(n, seed);
        let mut unstable = normal_matrix(n, seed + 50);
        let min_re = unstable
            .as_ref()
            .eigenvalues()
            .expect("faer eigenvalues")
            .iter()
            .map(|z| z.re)
            .fold(f64::INFINITY, f64::min);
        for i in 0..n {
            unstable[(i, i)] += 1.0 - min_re;
        }
        for a in [stable, unstable] {
            for q in [symmetric_matrix(n, seed + 1), normal_matrix(n, seed + 2)] {
                let x = solve_continuous_lyapunov(a.as_ref(), q.as_ref()).expect("solve");
                let x_ref = kronecker_lyapunov(a.as_ref(), q.as_ref());
                let rel = frob((&x - &x_ref).as_ref()) / frob(x_ref.as_ref());
                assert!(rel <= 1e-9, "n={n}: relative difference {rel:e}");
            }
        }
    }
}

#[test]
fn lyapunov_with_negative_identity_gives_spd_solution() {
    for (n, seed) in [(1, 3001), (4, 3002), (15, 3003), (40, 3004)] {
        let a = stable_matrix(n, seed);
        let q = -Mat::<f64>::identity(n, n);
        let x = solve_continuous_lyapunov(a.as_ref(), q.as_ref()).expect("solve");
        for i in 0..n {
            for j in 0..n {
                assert_eq!(x[(i, j)], x[(j, i)], "X not exactly symmetric");
            }
        }
        assert!(
            x.llt(Side::Lower).is_ok(),
            "n={n}: X is not positive definite"
        );
        let min_eig = x
            .self_adjoint_eigenvalues(Side::Lower)
            .expect("eigenvalues")
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        assert!(min_eig > 0.0, "n={n}: smallest eigenvalue {min_eig}");
    }
}

#[test]
fn lyapunov_with_diagonal_matrix_matches_closed_form() {
    let d = [-0.5, -1.0, -2.5, 3.0, -7.0];
    let n = d.len();
    let a = Mat::from_fn(n, n, |i, j| if i == j { d[i] } else { 0.0 });
    let q = normal_matrix(n, 4001);
    let x = solve_continuous_lyapunov(a.as_ref(), q.as_ref()).expect("solve");
    for i in 0..n {
        for j in 0..n {
            let want = q[(i, j)] / (d[i] + d[j]);
            assert!(
                (x[(i, j)] - want).abs() <= 1e-14 * want.abs().max(1.0),
                "X[{i},{j}] = {} vs {want}",
                x[(i, j)]
            );
        }
    }
}

#[test]
fn lyapunov_scalar_case() {
    let x = solve_continuous_lyapunov(mat![[-2.0]].as_ref(), mat![[3.0]].as_ref()).expect("solve");
    assert_eq!((x.nrows(), x.ncols()), (1, 1));
    assert!((x[(0, 0)] + 0.75).abs() < 1e-15);

    let empty = Mat::<f64>::zeros(0, 0);
    let x = solve_continuous_lyapunov(empty.as_ref(), empty.as_ref()).expect("solve");
    assert_eq!((x.nrows(), x.ncols()), (0, 0));
}

#[test]
fn lyapunov_rejects_bad_input() {
    let a = stable_matrix(3, 5001);
    let q = symmetric_matrix(3, 5002);
    assert_eq!(
        solve_continuous_lyapunov(Mat::<f64>::zeros(3, 2).as_ref(), q.as_ref()).unwrap_err(),
        LinalgError::NotSquare { rows: 3, cols: 2 }
    );
    assert_eq!(
        solve_continuous_lyapunov(a.as_ref(), Mat::<f64>::zeros(3, 4).as_ref()).unwrap_err(),
        LinalgError::ShapeMismatch {
            n: 3,
            rows: 3,
            cols: 4
        }
    );
    let mut bad_a = a.clone();
    bad_a[(0, 1)] = f64::NAN;
    assert_eq!(
        solve_continuous_lyapunov(bad_a.as_ref(), q.as_ref()).unwrap_err(),
        LinalgError::NonFinite
    );
    let mut bad_q = q.clone();
    bad_q[(2, 2)] = f64::INFINITY;
    assert_eq!(
        solve_continuous_lyapunov(a.as_ref(), bad_q.as_ref()).unwrap_err(),
        LinalgError::NonFinite
    );
}

#[test]
fn lyapunov_reports_singular_equations() {
    let q = Mat::<f64>::identity(3, 3);
    // A = 0: every λ_i + λ_j vanishes.
    let zero = Mat::<f64>::zeros(3, 3);
    assert!(matches!(
        solve_continuous_lyapunov(zero.as_ref(), q.as_ref()),
        Err(LinalgError::Singular(..))
    ));
    // Eigenvalues 1 and -1 (hidden by an orthogonal similarity).
    let o = random_orthogonal(3, 6001);
    let d = mat![[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -2.0]];
    let a = &o * &d * o.transpose();
    assert!(matches!(
        solve_continuous_lyapunov(a.as_ref(), q.as_ref()),
        Err(LinalgError::Singular(..))
    ));
    // A purely imaginary pair ±i: λ + conj(λ) = 0 within one 2x2 block.
    let rot = mat![[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]];
    let a = &o * &rot * o.transpose();
    assert!(matches!(
        solve_continuous_lyapunov(a.as_ref(), q.as_ref()),
        Err(LinalgError::Singular(..))
    ));
}

#[test]
fn lyapunov_300x300() {
    let n = 300;
    let a = stable_matrix(n, 7001);
    let q = symmetric_matrix(n, 7002);
    let x = solve_continuous_lyapunov(a.as_ref(), q.as_ref()).expect("solve");
    let res = lyapunov_residual(a.as_ref(), x.as_ref(), q.as_ref());
    assert!(res <= 1e-9, "residual {res:e}");
}

#[test]
fn frobenius_helper_is_entrywise() {
    // The tolerances above are stated for the Frobenius norm; faer's `norm_l2` of a
    // matrix is entrywise (5 here, where the spectral norm would be 4).
    assert_eq!(frob(mat![[3.0, 0.0], [0.0, 4.0]].as_ref()), 5.0);
}
