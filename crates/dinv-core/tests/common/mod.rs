//! Shared helpers for the dinv-core integration tests.
#![allow(dead_code)]

use dinv_core::init::uniform_mat;
use faer::Mat;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn random(seed: u64, rows: usize, cols: usize, half: f64) -> Mat<f64> {
    uniform_mat(&mut rng(seed), rows, cols, -half, half)
}

pub fn random_vec(seed: u64, n: usize) -> Vec<f64> {
    dinv_core::init::uniform_vec(&mut rng(seed), n, -1.0, 1.0)
}

pub fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| y * y).sum::<f64>().sqrt().max(1e-300);
    num / den
}

pub fn matvec(m: &Mat<f64>, x: &[f64]) -> Vec<f64> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)] * x[j]).sum())
        .collect()
}

pub fn transpose(m: &Mat<f64>) -> Mat<f64> {
    m.transpose().to_owned()
}

/// `SteadyStateOrEuler` keeps Newton's fixed point exactly when it is stable
/// (`stable_at` agrees with the expected `stable`), and otherwise returns the Euler
/// simulation itself. `invert` runs the system with the given solver.
pub fn assert_falls_back_to_euler_when_unstable(
    stable: bool,
    invert: impl Fn(dinv_core::dynamics::Solver) -> dinv_core::dynamics::Inversion,
    stable_at: impl Fn(&[f64]) -> bool,
) {
    use dinv_core::dynamics::Solver;
    let newton = invert(Solver::SteadyState);
    assert_eq!(stable_at(&newton.delta), stable);
    let chosen = invert(Solver::SteadyStateOrEuler);
    if stable {
        assert_eq!(chosen, newton);
    } else {
        assert_eq!(chosen.solved_by, Solver::Euler);
        assert_eq!(chosen, invert(Solver::Euler));
    }
}
