//! Dynamic inversion against the closed forms of section 3.1.

mod common;

use common::*;
use dinv_core::activation::Activation;
use dinv_core::dynamics::{Dynamics, EulerOrder, Integration, LayerSystem, Solver};
use dinv_core::feedback::neg_transpose;
use dinv_core::inverse::{min_norm_lstsq, ndi_inverse};
use faer::Mat;

fn system<'a>(
    w: &'a Mat<f64>,
    b: &'a Mat<f64>,
    alpha: f64,
    dynamics: Dynamics,
    gp: &'a [f64],
) -> LayerSystem<'a> {
    LayerSystem {
        w: w.as_ref(),
        b: b.as_ref(),
        alpha,
        dynamics,
        act: Activation::Tanh,
        gprime: gp,
    }
}

/// (d_l, d_{l-1}) for a contracting, an expanding and a square layer.
const SHAPES: [(usize, usize); 3] = [(10, 20), (20, 10), (12, 12)];

/// Eq. (10): the linear dynamics settle at `B (W B − αI)^{-1} δ_l`. Checked against an
/// independent dense solve of the steady-state equations `−δ + B u = 0`,
/// `W δ − α u = t` (no code shared with `ndi_inverse`).
#[test]
fn euler_steady_state_matches_closed_form() {
    for (k, &(dl, dl1)) in SHAPES.iter().enumerate() {
        let w = random(10 + k as u64, dl, dl1, 0.5);
        let b = neg_transpose(w.as_ref(), 1.0);
        let alpha = 0.1;
        let t = random_vec(20 + k as u64, dl);
        // Independent reference: solve the (d_{l-1}+d_l) block system with LU.
        let n = dl1 + dl;
        let mut m = Mat::<f64>::zeros(n, n);
        let mut rhs = Mat::<f64>::zeros(n, 1);
        for i in 0..dl1 {
            m[(i, i)] = -1.0;
            for j in 0..dl {
                m[(i, dl1 + j)] = b[(i, j)];
            }
        }
        for i in 0..dl {
            for j in 0..dl1 {
                m[(dl1 + i, j)] = w[(i, j)];
            }
            m[(dl1 + i, dl1 + i)] = -alpha;
            rhs[(dl1 + i, 0)] = t[i];
        }
        use faer::linalg::solvers::Solve;
        let x = m.partial_piv_lu().solve(&rhs);
        let reference: Vec<f64> = (0..dl1).map(|i| x[(i, 0)]).collect();

        let ndi = ndi_inverse(w.as_ref(), b.as_ref(), alpha, &t).unwrap();
        assert!(
            rel_diff(&ndi, &reference) < 1e-10,
            "NDI closed form vs block solve, shape {dl}x{dl1}"
        );

        let sys = system(&w, &b, alpha, Dynamics::Linear, &[]);
        let int = Integration {
            dt: 0.1,
            steps: 20_000,
            ..Integration::default()
        };
        for order in [EulerOrder::StateFirst, EulerOrder::ControlFirst] {
            let int = Integration { order, ..int };
            let euler = sys.invert(&t, Solver::Euler, &int).unwrap();
            assert!(
                rel_diff(&euler.delta, &reference) < 1e-6,
                "Euler ({order:?}) vs closed form for {dl}x{dl1}: {}",
                rel_diff(&euler.delta, &reference)
            );
            let powered = sys.invert(&t, Solver::PoweredEuler, &int).unwrap();
            assert!(rel_diff(&powered.delta, &reference) < 1e-6);
        }
        let steady = sys.invert(&t, Solver::SteadyState, &int).unwrap();
        assert!(rel_diff(&steady.delta, &reference) < 1e-10);
        assert!(steady.residual < 1e-10);
    }
}

/// The powered iterate is the Euler iterate itself, also far from convergence.
#[test]
fn powered_euler_reproduces_step_by_step_euler() {
    for (k, &(dl, dl1)) in SHAPES.iter().enumerate() {
        let w = random(30 + k as u64, dl, dl1, 0.3);
        let b = random(40 + k as u64, dl1, dl, 0.3);
        let gp: Vec<f64> = random_vec(50 + k as u64, dl1)
            .iter()
            .map(|v| 0.5 + 0.5 * v.abs())
            .collect();
        let t = random_vec(60 + k as u64, dl);
        for dynamics in [Dynamics::Linear, Dynamics::Linearised] {
            for order in [EulerOrder::StateFirst, EulerOrder::ControlFirst] {
                for steps in [1, 2, 7, 100, 1234] {
                    let sys = system(&w, &b, 0.05, dynamics, &gp);
                    let int = Integration {
                        dt: 0.1,
                        steps,
                        order,
                        tol: None,
                    };
                    let euler = sys.euler(&t, &int);
                    let powered = sys.powered_euler(&t, &int);
                    assert_eq!(euler.steps, steps);
                    let d = rel_diff(&powered.delta, &euler.delta);
                    assert!(
                        d < 1e-10,
                        "{dynamics:?} {order:?} {steps} steps: rel diff {d}"
                    );
                    assert!(rel_diff(&powered.control, &euler.control) < 1e-10);
                }
            }
        }
    }
}

/// With tiny `α` and small weights the dynamics are slow: 10000 steps do not reach
/// the steady state, and the powered solver must show exactly that (not the fixed point).
#[test]
fn slow_dynamics_are_not_mistaken_for_converged() {
    let w = random(70, 10, 20, 0.01);
    let b = neg_transpose(w.as_ref(), 1.0);
    let t = random_vec(71, 10);
    let sys = system(&w, &b, 0.0, Dynamics::Linear, &[]);
    let int = Integration::default();
    let powered = sys.powered_euler(&t, &int);
    let euler = sys.euler(&t, &int);
    assert!(rel_diff(&powered.delta, &euler.delta) < 1e-9);
    let fixed = ndi_inverse(w.as_ref(), b.as_ref(), 0.0, &t).unwrap();
    assert!(
        rel_diff(&euler.delta, &fixed) > 1e-3,
        "should not have converged"
    );
    assert!(euler.residual > 1e-6);
}

/// Eq. (12): for a contracting layer with Tr-Init, NDI tends to PBP as α → 0.
#[test]
fn ndi_approaches_pbp_as_alpha_vanishes() {
    let w = random(80, 10, 20, 1.0);
    let b = neg_transpose(w.as_ref(), 1.0);
    let t = random_vec(81, 10);
    let pbp = min_norm_lstsq(w.as_ref(), &t).unwrap();
    let mut prev = f64::INFINITY;
    for alpha in [1e-1, 1e-2, 1e-3, 1e-4, 1e-6] {
        let ndi = ndi_inverse(w.as_ref(), b.as_ref(), alpha, &t).unwrap();
        let d = rel_diff(&ndi, &pbp);
        assert!(d < prev, "distance to PBP must shrink with alpha");
        prev = d;
    }
    assert!(prev < 1e-5);
    let exact = ndi_inverse(w.as_ref(), b.as_ref(), 0.0, &t).unwrap();
    assert!(rel_diff(&exact, &pbp) < 1e-10);
}

/// PBP: exact inversion for an expanding layer when the target is in range(W);
/// otherwise the residual is orthogonal to range(W). For a contracting layer the
/// solution is exact and of minimum norm (lies in the row space of W).
#[test]
fn pbp_is_the_least_squares_inverse() {
    // Expanding: W is 20x10.
    let w = random(90, 20, 10, 1.0);
    let x_true = random_vec(91, 10);
    let t = matvec(&w, &x_true);
    let x = min_norm_lstsq(w.as_ref(), &t).unwrap();
    assert!(rel_diff(&x, &x_true) < 1e-10);
    let t2 = random_vec(92, 20);
    let x2 = min_norm_lstsq(w.as_ref(), &t2).unwrap();
    let r: Vec<f64> = matvec(&w, &x2)
        .iter()
        .zip(&t2)
        .map(|(a, b)| a - b)
        .collect();
    let wt_r = matvec(&transpose(&w), &r);
    assert!(
        wt_r.iter().map(|v| v.abs()).fold(0.0, f64::max) < 1e-10,
        "normal equations"
    );
    assert!(
        r.iter().map(|v| v * v).sum::<f64>() > 1e-3,
        "a generic target is not reachable"
    );
    // Contracting: W is 10x20: exact, and x = W^T y for some y (row space).
    let w = random(93, 10, 20, 1.0);
    let t = random_vec(94, 10);
    let x = min_norm_lstsq(w.as_ref(), &t).unwrap();
    assert!(rel_diff(&matvec(&w, &x), &t) < 1e-10);
    let y = min_norm_lstsq(transpose(&w).as_ref(), &x).unwrap();
    assert!(rel_diff(&matvec(&transpose(&w), &y), &x) < 1e-10);
}

/// Eq. (15): the nonlinear (tanh) dynamics settle where `W g(δ_{l-1}) = δ_l + α u_l`
/// and `δ_{l-1} = B u_l`; Euler and the Newton steady state agree.
#[test]
fn tanh_dynamics_fixed_point_satisfies_eq15() {
    for (k, &(dl, dl1)) in [(10usize, 20usize), (10, 10)].iter().enumerate() {
        let w = random(100 + k as u64, dl, dl1, 0.4);
        let b = neg_transpose(w.as_ref(), 1.0);
        let t: Vec<f64> = random_vec(110 + k as u64, dl)
            .iter()
            .map(|v| 0.2 * v)
            .collect();
        let alpha = 0.1;
        let sys = system(&w, &b, alpha, Dynamics::Nonlinear, &[]);
        let int = Integration {
            dt: 0.1,
            steps: 40_000,
            ..Integration::default()
        };
        let euler = sys.invert(&t, Solver::Euler, &int).unwrap();
        let newton = sys.invert(&t, Solver::SteadyState, &int).unwrap();
        for inv in [&euler, &newton] {
            let g: Vec<f64> = inv.delta.iter().map(|d| d.tanh()).collect();
            let lhs = matvec(&w, &g);
            let rhs: Vec<f64> = t
                .iter()
                .zip(&inv.control)
                .map(|(ti, ui)| ti + alpha * ui)
                .collect();
            assert!(
                rel_diff(&lhs, &rhs) < 1e-6,
                "Eq. 15 residual {}",
                rel_diff(&lhs, &rhs)
            );
            assert!(rel_diff(&matvec(&b, &inv.control), &inv.delta) < 1e-6);
        }
        assert!(rel_diff(&euler.delta, &newton.delta) < 1e-6);
        // The powered solver refuses nonlinear dynamics instead of giving a wrong answer.
        assert!(sys.invert(&t, Solver::PoweredEuler, &int).is_err());
    }
}

/// The convergence tolerance stops early and reports the steps it used.
#[test]
fn tolerance_stops_early_and_reports_steps() {
    let w = random(120, 10, 20, 0.5);
    let b = neg_transpose(w.as_ref(), 1.0);
    let t = random_vec(121, 10);
    let sys = system(&w, &b, 0.1, Dynamics::Linear, &[]);
    let int = Integration {
        tol: Some(1e-8),
        ..Integration::default()
    };
    let inv = sys.invert(&t, Solver::Euler, &int).unwrap();
    assert!(inv.steps < 10_000, "steps used: {}", inv.steps);
    assert!(inv.residual < 1e-7);
    let fixed = ndi_inverse(w.as_ref(), b.as_ref(), 0.1, &t).unwrap();
    assert!(rel_diff(&inv.delta, &fixed) < 1e-5);
}

#[test]
fn bad_shapes_and_parameters_are_errors() {
    let w = random(130, 10, 20, 0.5);
    let b_wrong = random(131, 10, 20, 0.5);
    let t = random_vec(132, 10);
    let sys = system(&w, &b_wrong, 0.1, Dynamics::Linear, &[]);
    let err = sys
        .invert(&t, Solver::Euler, &Integration::default())
        .unwrap_err();
    assert!(err.to_string().contains("20x10"), "{err}");
    let b = neg_transpose(w.as_ref(), 1.0);
    let sys = system(&w, &b, 0.1, Dynamics::Linear, &[]);
    let bad_dt = Integration {
        dt: 0.0,
        ..Integration::default()
    };
    assert!(sys
        .invert(&t, Solver::Euler, &bad_dt)
        .unwrap_err()
        .to_string()
        .contains("dt"));
    assert!(sys
        .invert(&t[..5], Solver::Euler, &Integration::default())
        .is_err());
}

/// An unstable system diverges: that is an error, not a NaN passed on to learning.
#[test]
fn divergence_is_reported() {
    let w = random(140, 10, 20, 0.5);
    let b = neg_transpose(w.as_ref(), -3.0); // B = +3 W^T: positive feedback
    let t = random_vec(141, 10);
    let sys = system(&w, &b, 0.0, Dynamics::Linear, &[]);
    let err = sys
        .invert(&t, Solver::Euler, &Integration::default())
        .unwrap_err();
    assert!(err.to_string().contains("diverged"), "{err}");
}

/// The batched forms agree with the per-example ones, column by column, for tall,
/// wide and square layers, and for a rank-deficient matrix (SVD fallback).
#[test]
fn batched_inversions_match_per_example() {
    use dinv_core::inverse::{ndi_apply, pinv_apply};
    for (k, &(dl, dl1)) in SHAPES.iter().enumerate() {
        let w = random(150 + k as u64, dl, dl1, 0.5);
        let b = random(160 + k as u64, dl1, dl, 0.5);
        let y = random(170 + k as u64, dl, 7, 1.0);
        let p = pinv_apply(w.as_ref(), y.as_ref()).unwrap();
        let n = ndi_apply(w.as_ref(), b.as_ref(), 0.05, y.as_ref()).unwrap();
        for j in 0..7 {
            let col: Vec<f64> = (0..dl).map(|i| y[(i, j)]).collect();
            let p_ref = min_norm_lstsq(w.as_ref(), &col).unwrap();
            let n_ref = ndi_inverse(w.as_ref(), b.as_ref(), 0.05, &col).unwrap();
            let pj: Vec<f64> = (0..dl1).map(|i| p[(i, j)]).collect();
            let nj: Vec<f64> = (0..dl1).map(|i| n[(i, j)]).collect();
            assert!(rel_diff(&pj, &p_ref) < 1e-9, "pinv {dl}x{dl1} column {j}");
            assert!(rel_diff(&nj, &n_ref) < 1e-9, "ndi {dl}x{dl1} column {j}");
        }
    }
    // Rank 3 matrix 8x6: the Gram matrix is singular, so the SVD path runs.
    let u = random(180, 8, 3, 1.0);
    let v = random(181, 3, 6, 1.0);
    let a = dinv_core::kernels::vecops::mul(u.as_ref(), v.as_ref());
    let y = random(182, 8, 2, 1.0);
    let p = pinv_apply(a.as_ref(), y.as_ref()).unwrap();
    for j in 0..2 {
        let col: Vec<f64> = (0..8).map(|i| y[(i, j)]).collect();
        let pj: Vec<f64> = (0..6).map(|i| p[(i, j)]).collect();
        assert!(rel_diff(&pj, &min_norm_lstsq(a.as_ref(), &col).unwrap()) < 1e-8);
    }
}

/// A fixed point the dynamics leave is not DI's answer. With positive feedback
/// `B = +c Wᵀ`, `W B` has positive eigenvalues and the linear dynamics are unstable;
/// Newton still finds the fixed point (the NDI closed form), but neither it nor the
/// simulation that `SteadyStateOrEuler` hands over to is an inversion: every solver's
/// result is refused. With `B = −Wᵀ` the same fixed-point solve is stable and kept.
/// Stability is checked independently with the dense eigenvalues of the full block
/// matrix `[[−I, B], [W, −αI]]`.
#[test]
fn unstable_fixed_points_go_to_the_simulation() {
    let w = random(71, 6, 15, 0.3);
    let t: Vec<f64> = (0..6).map(|i| 0.1 * (i as f64 - 2.5)).collect();
    let gp = vec![1.0; 15];
    let int = Integration {
        dt: 0.1,
        steps: 40,
        order: EulerOrder::StateFirst,
        tol: None,
    };
    for (sign, stable) in [(-1.0, true), (1.0, false)] {
        let b = neg_transpose(w.as_ref(), -sign);
        let sys = system(&w, &b, 0.1, Dynamics::Linear, &gp);
        // Independent check of the premise on the full (n1 + n2)-dimensional matrix.
        let n = 21;
        let full = Mat::from_fn(n, n, |i, j| match (i < 15, j < 15) {
            (true, true) => -f64::from(u8::from(i == j)),
            (true, false) => b[(i, j - 15)],
            (false, true) => w[(i - 15, j)],
            (false, false) => -0.1 * f64::from(u8::from(i == j)),
        });
        let abscissa = dinv_core::stability::spectral_abscissa_dense(full.as_ref()).unwrap();
        assert_eq!(abscissa < 0.0, stable, "premise: abscissa {abscissa}");
        if stable {
            assert_falls_back_to_euler_when_unstable(
                stable,
                |solver| sys.invert(&t, solver, &int).unwrap(),
                |d| sys.stable_at(d).unwrap(),
            );
            continue;
        }
        let newton = sys.steady_state(&t, &int).unwrap();
        assert!(newton.residual < 1e-10 && !sys.stable_at(&newton.delta).unwrap());
        for solver in [
            Solver::Euler,
            Solver::PoweredEuler,
            Solver::SteadyState,
            Solver::SteadyStateOrEuler,
        ] {
            let refused = sys.invert(&t, solver, &int);
            assert!(
                matches!(
                    refused,
                    Err(dinv_core::CoreError::UnstableDynamics { abscissa, .. })
                        if (abscissa - dinv_core::stability::spectral_abscissa_dense(full.as_ref()).unwrap()).abs() < 1e-9
                ),
                "{solver:?}: {refused:?}"
            );
        }
    }
}

/// One example's step of Eq. (3) through `Credit::propagate_layer`: PBP and NDI give
/// the same vector whether solved by the SVD or by factorising the small product (up to
/// rounding), equal to `W^+ δ` and to Eq. (10), `B (W B − αI)^{-1} δ` or
/// `(B W − αI)^{-1} B δ`, solved by a plain LU here, each times `g'`; a missing `B`
/// names the layer.
#[test]
fn closed_forms_agree_through_propagate_layer() {
    use dinv_core::{ClosedForm, Credit, LayerLink, Method};
    for (k, &(dl, dlm1)) in SHAPES.iter().enumerate() {
        let w = random(40 + k as u64, dl, dlm1, 1.0);
        let b = random(50 + k as u64, dlm1, dl, 1.0);
        let delta = random_vec(60 + k as u64, dl);
        let gp: Vec<f64> = (0..dlm1).map(|i| 0.5 + 0.01 * i as f64).collect();
        let link = LayerLink {
            w: w.as_ref(),
            b: Some(b.as_ref()),
            layer: 3,
            act_below: Activation::Tanh,
            gprime_below: &gp,
        };
        for (method, alpha) in [(Method::Pbp, 0.0), (Method::Ndi, 0.1), (Method::Ndi, 0.0)] {
            let credit = Credit::new(method, alpha);
            // Independent dense references.
            let raw = match method {
                Method::Pbp => {
                    let pinv = w.as_ref().thin_svd().unwrap().pseudoinverse();
                    (0..dlm1)
                        .map(|i| (0..dl).map(|j| pinv[(i, j)] * delta[j]).sum::<f64>())
                        .collect::<Vec<f64>>()
                }
                _ => {
                    use faer::linalg::solvers::Solve;
                    let d = Mat::from_fn(dl, 1, |i, _| delta[i]);
                    let out = if dl <= dlm1 {
                        let wb = &w * &b - Mat::<f64>::identity(dl, dl) * faer::Scale(alpha);
                        &b * wb.partial_piv_lu().solve(d.as_ref())
                    } else {
                        let bw = &b * &w - Mat::<f64>::identity(dlm1, dlm1) * faer::Scale(alpha);
                        bw.partial_piv_lu().solve((&b * &d).as_ref())
                    };
                    (0..dlm1).map(|i| out[(i, 0)]).collect()
                }
            };
            let reference: Vec<f64> = raw.iter().zip(&gp).map(|(r, g)| r * g).collect();
            let scale = reference.iter().fold(1e-12_f64, |m, v| m.max(v.abs()));
            for form in [ClosedForm::Svd, ClosedForm::Factored] {
                let (got, record) = credit.propagate_layer(&link, &delta, form).unwrap();
                assert!(record.is_none());
                for (g, r) in got.iter().zip(&reference) {
                    assert!(
                        (g - r).abs() <= 1e-8 * scale,
                        "{method:?} α={alpha} {dl}x{dlm1} {form:?}: {g} vs {r}"
                    );
                }
            }
        }
        let missing = LayerLink { b: None, ..link };
        let err = Credit::new(Method::Ndi, 0.1)
            .propagate_layer(&missing, &delta, ClosedForm::Factored)
            .unwrap_err()
            .to_string();
        assert!(err.contains("B_3"), "{err}");
    }
}
