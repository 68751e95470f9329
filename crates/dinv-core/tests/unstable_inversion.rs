//! Dynamic inversion never passes off the result of unstable dynamics as an error
//! signal. Layers are built with a chosen spectral abscissa of Eq. (S9): with
//! `B = W^+ M` (contracting) or `B = M W^+` (expanding), `W B` or `B W` is the diagonal
//! `M`, and an eigenvalue `μ` of it gives the root `λ` with `μ = (λ + 1)(λ + α)`.

mod common;

use common::*;
use dinv_core::activation::Activation;
use dinv_core::dynamics::{Dynamics, Integration, Inversion, LayerSystem, Solver};
use dinv_core::feedback::neg_transpose;
use dinv_core::inverse::ndi_inverse;
use dinv_core::{
    Chain, Controller, CoreError, Credit, DiSettings, Feedback, Layer, Method, Network,
};
use faer::Mat;

const ALPHA: f64 = 0.1;
const SOLVERS: [Solver; 4] = [
    Solver::Euler,
    Solver::PoweredEuler,
    Solver::SteadyState,
    Solver::SteadyStateOrEuler,
];

/// `(W, B)` for a `d_l × d_{l-1}` layer whose linear dynamics have spectral abscissa
/// `abscissa`, with the other modes at `μ = −0.3, −0.4, …` (stable).
fn layer_with_abscissa(
    d_l: usize,
    d_below: usize,
    abscissa: f64,
    seed: u64,
) -> (Mat<f64>, Mat<f64>) {
    let w = random(seed, d_l, d_below, 0.5);
    let pinv = w.as_ref().thin_svd().unwrap().pseudoinverse();
    let k = d_l.min(d_below);
    let m = Mat::from_fn(k, k, |i, j| match (i == j, i) {
        (false, _) => 0.0,
        (true, 0) => (abscissa + 1.0) * (abscissa + ALPHA),
        (true, _) => -0.2 - 0.1 * i as f64,
    });
    let b = if d_l <= d_below {
        &pinv * &m
    } else {
        &m * &pinv
    };
    (w, b)
}

fn system<'a>(w: &'a Mat<f64>, b: &'a Mat<f64>, dynamics: Dynamics) -> LayerSystem<'a> {
    LayerSystem {
        w: w.as_ref(),
        b: b.as_ref(),
        alpha: ALPHA,
        dynamics,
        act: Activation::Tanh,
        gprime: &[],
    }
}

fn target(seed: u64, n: usize) -> Vec<f64> {
    random_vec(seed, n).iter().map(|v| 0.1 * v).collect()
}

/// At abscissa +0.6 and +0.02 every solver's result is refused, for linear and tanh
/// dynamics, contracting and expanding layers, and the error names the abscissa. (What
/// would have been returned: linear Euler reaches |δ| ~ 1e8 at +0.02 and overflows at
/// +0.6; tanh Euler settles, but on a saturated state far from the inversion.)
#[test]
fn unstable_dynamics_are_refused_by_every_solver() {
    for (k, &(d_l, d_below)) in [(10, 20), (20, 10)].iter().enumerate() {
        for abscissa in [0.6, 0.02] {
            let (w, b) = layer_with_abscissa(d_l, d_below, abscissa, 10 + k as u64);
            let t = target(20 + k as u64, d_l);
            let inversion = ndi_inverse(w.as_ref(), b.as_ref(), ALPHA, &t).unwrap();
            for dynamics in [Dynamics::Linear, Dynamics::Nonlinear] {
                let sys = system(&w, &b, dynamics);
                let int = Integration::default();
                let raw = sys.euler(&t, &int);
                assert!(
                    rel_diff(&raw.delta, &inversion) > 0.5,
                    "premise: the simulation does not invert ({dynamics:?}, {abscissa})"
                );
                for solver in SOLVERS {
                    let what = format!("{d_l}x{d_below} {abscissa} {dynamics:?} {solver:?}");
                    match sys.invert(&t, solver, &int) {
                        Err(CoreError::UnstableDynamics { abscissa: a, .. }) => {
                            assert!((a - abscissa).abs() < 1e-9, "{what}: abscissa {a}");
                        }
                        // Matrix powers refuse nonlinear dynamics before any solve.
                        Err(CoreError::InvalidParameter { .. })
                            if solver == Solver::PoweredEuler
                                && dynamics == Dynamics::Nonlinear => {}
                        other => panic!("{what}: {other:?}"),
                    }
                }
                let message = sys
                    .invert(&t, Solver::SteadyStateOrEuler, &int)
                    .unwrap_err()
                    .to_string();
                assert!(
                    message.contains(&format!("{abscissa:+.3e} > 0")),
                    "{message}"
                );
            }
        }
    }
}

/// Stable dynamics are untouched: `invert` returns exactly the solver's own result (and
/// the linear steady state is Eq. (10)'s closed form), converged after the paper's
/// 10000 steps.
#[test]
fn stable_dynamics_are_returned_bit_for_bit() {
    for (k, &(d_l, d_below)) in [(10, 20), (20, 10)].iter().enumerate() {
        let (w, b) = layer_with_abscissa(d_l, d_below, -0.05, 30 + k as u64);
        let t = target(40 + k as u64, d_l);
        let int = Integration::default();
        for dynamics in [Dynamics::Linear, Dynamics::Nonlinear] {
            let sys = system(&w, &b, dynamics);
            let newton = sys.steady_state(&t, &int).unwrap();
            let expected = |solver: Solver| -> Inversion {
                match solver {
                    Solver::Euler => sys.euler(&t, &int),
                    Solver::PoweredEuler => sys.powered_euler(&t, &int),
                    _ => newton.clone(),
                }
            };
            for solver in SOLVERS {
                if solver == Solver::PoweredEuler && dynamics == Dynamics::Nonlinear {
                    continue;
                }
                let inv = sys.invert(&t, solver, &int).unwrap();
                assert_eq!(inv, expected(solver), "{dynamics:?} {solver:?}");
                assert!(inv.converged(&int), "{dynamics:?} {solver:?}");
            }
        }
        let closed = ndi_inverse(w.as_ref(), b.as_ref(), ALPHA, &t).unwrap();
        let linear = system(&w, &b, Dynamics::Linear);
        let steady = linear.invert(&t, Solver::SteadyState, &int).unwrap();
        assert!(rel_diff(&steady.delta, &closed) < 1e-12);
    }
}

/// A stable simulation that has not settled in its steps (tiny weights, `α = 0`: the
/// slowest mode decays at about 1e-4 per unit time) is the paper's finite DI: returned,
/// with a residual that shows it. With `α = 0` an Euler multiplier sits at 1 up to
/// rounding, which must not count as amplification.
#[test]
fn slow_stable_dynamics_are_returned_unconverged() {
    let w = random(70, 10, 20, 0.01);
    let b = neg_transpose(w.as_ref(), 1.0);
    let t = random_vec(71, 10);
    let sys = LayerSystem {
        alpha: 0.0,
        ..system(&w, &b, Dynamics::Linear)
    };
    let int = Integration::default();
    assert!(sys.rest_abscissa().unwrap() <= 0.0, "premise");
    for solver in [Solver::Euler, Solver::PoweredEuler] {
        let inv = sys.invert(&t, solver, &int).unwrap();
        assert!(!inv.converged(&int) && inv.residual > 1e-3, "{solver:?}");
    }
    let fixed = ndi_inverse(w.as_ref(), b.as_ref(), 0.0, &t).unwrap();
    let steady = sys.invert(&t, Solver::SteadyState, &int).unwrap();
    assert!(steady.converged(&int) && rel_diff(&steady.delta, &fixed) < 1e-8);
}

/// Stable dynamics whose Euler steps amplify (a mode at `μ = −500`: `dt = 0.1` is too
/// long for it) are refused for the simulations, while the steady state is kept.
#[test]
fn euler_steps_that_amplify_are_refused() {
    let w = random(80, 10, 20, 0.5);
    let pinv = w.as_ref().thin_svd().unwrap().pseudoinverse();
    let m = Mat::from_fn(10, 10, |i, j| if i == j { -500.0 - i as f64 } else { 0.0 });
    let b = &pinv * &m;
    let sys = system(&w, &b, Dynamics::Linear);
    assert!(sys.rest_abscissa().unwrap() < 0.0, "premise");
    let t = target(81, 10);
    let int = Integration {
        steps: 40,
        ..Integration::default()
    };
    for solver in [Solver::Euler, Solver::PoweredEuler] {
        match sys.invert(&t, solver, &int) {
            Err(CoreError::UnstableDynamics { reason, .. }) => {
                assert!(reason.contains("lower dt"), "{reason}");
            }
            other => panic!("{solver:?}: {other:?}"),
        }
    }
    let steady = sys.invert(&t, Solver::SteadyStateOrEuler, &int).unwrap();
    assert_eq!(steady.solved_by, Solver::SteadyState);
}

/// The backward pass refuses unstable dynamics wherever they run and names the layer:
/// sequential DI with the standard and with the S1–S2 controller (the whole-network
/// chains are covered in `chains.rs`). Tr-Init feedback is kept as it was.
#[test]
fn backward_refuses_unstable_layers_and_names_them() {
    let net = Network::new(vec![
        Layer {
            w: random(90, 20, 8, 0.5),
            b: None,
            act: Activation::Tanh,
        },
        Layer {
            w: random(91, 10, 20, 0.5),
            b: None,
            act: Activation::Linear,
        },
    ])
    .unwrap();
    let trace = net.forward(&random_vec(92, 8));
    let d_out = target(93, 10);
    let w2 = net.layers[1].w.as_ref();
    let mut stable = Feedback::none(2);
    stable.b[1] = Some(neg_transpose(w2, 1.0));
    let mut unstable = Feedback::none(2);
    unstable.b[1] = Some(neg_transpose(w2, -1.0));
    for controller in [Controller::Standard, Controller::Expanding] {
        for dynamics in [Dynamics::Linear, Dynamics::Nonlinear] {
            for solver in SOLVERS {
                if solver == Solver::PoweredEuler && dynamics == Dynamics::Nonlinear {
                    continue;
                }
                let credit = Credit::new(Method::Di, ALPHA).with_di(DiSettings {
                    dynamics,
                    solver,
                    integration: Integration {
                        steps: 2000,
                        ..Integration::default()
                    },
                    chain: Chain::Sequential,
                    controller,
                    gprime_after: false,
                });
                let what = format!("{controller:?} {dynamics:?} {solver:?}");
                credit
                    .backward(&net, &trace, &stable, &d_out)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                match credit.backward(&net, &trace, &unstable, &d_out) {
                    Err(e @ CoreError::UnstableDynamics { layer: 2, .. }) => {
                        assert!(e.to_string().contains("of layer 2"), "{what}: {e}");
                    }
                    other => panic!("{what}: {other:?}"),
                }
            }
        }
    }
}
