//! Chained DI architectures (section 4.1), the expanding-layer controller (supp. 7.1)
//! and stabilisation of every simulated system.

mod common;

use common::*;
use dinv_core::chain::loop_neg_transpose;
use dinv_core::expanding::ExpandingSystem;
use dinv_core::feedback::neg_transpose;
use dinv_core::inverse::ndi_inverse;
use dinv_core::stability::{
    expanding_abscissa, expanding_system_matrix, spectral_abscissa, spectral_abscissa_dense,
};
use dinv_core::{
    Activation, Chain, Controller, CoreError, Credit, DiSettings, Dynamics, Feedback, Integration,
    Layer, Method, Network, Solver, SsaConfig, SsaSystem,
};

fn net(dims: &[usize], act: Activation, scale: f64, seed: u64) -> Network {
    let n = dims.len() - 1;
    Network::new(
        dims.windows(2)
            .enumerate()
            .map(|(i, d)| Layer {
                w: random(seed + i as u64, d[1], d[0], scale),
                b: None,
                act: if i + 1 == n { Activation::Linear } else { act },
            })
            .collect(),
    )
    .unwrap()
}

fn tr_feedback(n: &Network) -> Feedback {
    let mut fb = Feedback::none(n.depth());
    for i in 1..n.depth() {
        fb.b[i] = Some(neg_transpose(n.layers[i].w.as_ref(), 1.0));
    }
    let forward: Vec<_> = n.layers[1..].iter().map(|l| l.w.as_ref()).collect();
    fb.loop_b = Some(loop_neg_transpose(&forward));
    fb
}

fn di(
    method: Method,
    alpha: f64,
    chain: Chain,
    dynamics: Dynamics,
    solver: Solver,
    steps: usize,
) -> Credit {
    Credit::new(method, alpha).with_di(DiSettings {
        dynamics,
        solver,
        integration: Integration {
            dt: 0.1,
            steps,
            ..Integration::default()
        },
        chain,
        controller: Controller::Standard,
        gprime_after: false,
    })
}

/// Section 4.1: for a linear network (Tr-Init, α = 0), sequential, repeat-layer and
/// single-loop DI all reach chained NDI's error signals. (The weights are small enough
/// for the single loop to be stable at α = 0: with `U(−0.4, 0.4)` its spectral abscissa
/// is +0.025, and the result is refused even though these Euler steps happen to settle.)
#[test]
fn linear_chains_agree_with_chained_ndi() {
    let n = net(&[30, 20, 10, 10], Activation::Linear, 0.35, 1);
    let fb = tr_feedback(&n);
    let x = random_vec(2, 30);
    let trace = n.forward(&x);
    let d_out = random_vec(3, 10);
    let ndi = Credit::new(Method::Ndi, 0.0)
        .backward(&n, &trace, &fb, &d_out)
        .unwrap();
    for (method, chain) in [
        (Method::Di, Chain::Sequential),
        (Method::Di, Chain::RepeatLayer),
        (Method::Sdi, Chain::Sequential),
    ] {
        for solver in [Solver::Euler, Solver::PoweredEuler, Solver::SteadyState] {
            // α = 0: the loop's slowest mode needs many Euler steps.
            let c = di(method, 0.0, chain, Dynamics::Linear, solver, 400_000);
            let back = c.backward(&n, &trace, &fb, &d_out).unwrap();
            for l in 0..2 {
                let d = rel_diff(&back.deltas[l], &ndi.deltas[l]);
                assert!(
                    d < 1e-6,
                    "{method:?} {chain:?} {solver:?}: δ_{} differs from NDI by {d}",
                    l + 1
                );
            }
        }
    }
}

/// The repeat-layer architecture has the sequential steady state for any α and any
/// (stable) feedback, also with tanh dynamics.
#[test]
fn repeat_layer_settles_where_sequential_does() {
    let n = net(&[8, 12, 6, 5], Activation::Tanh, 0.5, 10);
    let mut fb = tr_feedback(&n);
    // A perturbed but still stable B_2.
    let p = random(11, 12, 6, 0.05);
    let b2 = fb.b[1].as_ref().unwrap() + &p;
    fb.b[1] = Some(b2);
    let trace = n.forward(&random_vec(12, 8));
    let d_out: Vec<f64> = random_vec(13, 5).iter().map(|v| 0.3 * v).collect();
    for dynamics in [Dynamics::Linear, Dynamics::Nonlinear, Dynamics::Linearised] {
        let seq = di(
            Method::Di,
            0.05,
            Chain::Sequential,
            dynamics,
            Solver::SteadyState,
            1,
        )
        .backward(&n, &trace, &fb, &d_out)
        .unwrap();
        let rep = di(
            Method::Di,
            0.05,
            Chain::RepeatLayer,
            dynamics,
            Solver::Euler,
            80_000,
        )
        .backward(&n, &trace, &fb, &d_out)
        .unwrap();
        for l in 0..2 {
            let d = rel_diff(&rep.deltas[l], &seq.deltas[l]);
            assert!(
                d < 1e-6,
                "{dynamics:?}: δ_{} repeat vs sequential {d}",
                l + 1
            );
        }
        assert!(rep.chain.unwrap().1 < 1e-6, "residual {:?}", rep.chain);
    }
}

/// Powering reproduces step-by-step Euler for both chains, also unconverged.
#[test]
fn chain_powering_reproduces_euler() {
    let n = net(&[8, 12, 6, 5], Activation::Tanh, 0.5, 20);
    let fb = tr_feedback(&n);
    let trace = n.forward(&random_vec(21, 8));
    let d_out = random_vec(22, 5);
    for (method, chain) in [
        (Method::Di, Chain::RepeatLayer),
        (Method::Sdi, Chain::Sequential),
    ] {
        for dynamics in [Dynamics::Linear, Dynamics::Linearised] {
            for steps in [1, 3, 250] {
                let e = di(method, 0.02, chain, dynamics, Solver::Euler, steps)
                    .backward(&n, &trace, &fb, &d_out)
                    .unwrap();
                let p = di(method, 0.02, chain, dynamics, Solver::PoweredEuler, steps)
                    .backward(&n, &trace, &fb, &d_out)
                    .unwrap();
                for l in 0..2 {
                    let d = rel_diff(&p.deltas[l], &e.deltas[l]);
                    assert!(d < 1e-10, "{method:?} {dynamics:?} {steps}: {d}");
                }
            }
        }
    }
}

/// SDI with tanh dynamics: Newton's fixed point is where Euler settles, and it
/// satisfies the loop's equations: δ_1 = B u, δ_2 = W_2 tanh(δ_1), W_3 tanh(δ_2) = δ_3 + α u.
#[test]
fn single_loop_tanh_fixed_point() {
    let n = net(&[8, 12, 6, 5], Activation::Tanh, 0.5, 30);
    let fb = tr_feedback(&n);
    let trace = n.forward(&random_vec(31, 8));
    let d_out: Vec<f64> = random_vec(32, 5).iter().map(|v| 0.2 * v).collect();
    let alpha = 0.05;
    let newton = di(
        Method::Sdi,
        alpha,
        Chain::Sequential,
        Dynamics::Nonlinear,
        Solver::SteadyState,
        1,
    )
    .backward(&n, &trace, &fb, &d_out)
    .unwrap();
    let euler = di(
        Method::Sdi,
        alpha,
        Chain::Sequential,
        Dynamics::Nonlinear,
        Solver::Euler,
        100_000,
    )
    .backward(&n, &trace, &fb, &d_out)
    .unwrap();
    for l in 0..2 {
        assert!(rel_diff(&euler.deltas[l], &newton.deltas[l]) < 1e-6);
    }
    let (d1, d2) = (&newton.deltas[0], &newton.deltas[1]);
    let t1: Vec<f64> = d1.iter().map(|v| v.tanh()).collect();
    assert!(
        rel_diff(&matvec(&n.layers[1].w, &t1), d2) < 1e-9,
        "δ_2 = W_2 tanh(δ_1)"
    );
    // u from δ_1 = B u (B has full column rank), then the output equation.
    let b = fb.loop_b.as_ref().unwrap();
    let u = dinv_core::inverse::min_norm_lstsq(b.as_ref(), d1).unwrap();
    assert!(rel_diff(&matvec(b, &u), d1) < 1e-9);
    let t2: Vec<f64> = d2.iter().map(|v| v.tanh()).collect();
    let lhs = matvec(&n.layers[2].w, &t2);
    let rhs: Vec<f64> = d_out.iter().zip(&u).map(|(t, u)| t + alpha * u).collect();
    assert!(rel_diff(&lhs, &rhs) < 1e-8, "Eq. 15 for the loop");
    // SDI reaches a different steady state than sequential DI in a tanh network (Fig. 3k).
    let seq = di(
        Method::Di,
        alpha,
        Chain::Sequential,
        Dynamics::Nonlinear,
        Solver::SteadyState,
        1,
    )
    .backward(&n, &trace, &fb, &d_out)
    .unwrap();
    assert!(rel_diff(&newton.deltas[0], &seq.deltas[0]) > 1e-3);
}

#[test]
fn single_loop_needs_two_hidden_layers() {
    let n = net(&[6, 5, 4], Activation::Tanh, 0.5, 40);
    let mut fb = tr_feedback(&n);
    fb.loop_b = Some(random(41, 5, 4, 0.5));
    let trace = n.forward(&random_vec(42, 6));
    let err = di(
        Method::Sdi,
        0.1,
        Chain::Sequential,
        Dynamics::Nonlinear,
        Solver::Euler,
        10,
    )
    .backward(&n, &trace, &fb, &random_vec(43, 4))
    .unwrap_err()
    .to_string();
    assert!(err.contains("two hidden layers"), "{err}");
}

/// Supp. 7.1: the S1–S2 controller settles at (B W − αI)^{-1} B δ_l, is stable at α = 0
/// on an expanding layer with Tr-Init (where the standard controller is marginal), and
/// its reduced eigenvalues match the dense ones.
#[test]
fn expanding_controller_closed_form_and_stability() {
    let w = random(50, 20, 10, 0.4); // d_l = 20 > d_{l-1} = 10
    let b = neg_transpose(w.as_ref(), 1.0);
    let t = random_vec(51, 20);
    for alpha in [0.0, 0.05] {
        let sys = ExpandingSystem {
            w: w.as_ref(),
            b: b.as_ref(),
            alpha,
            dynamics: Dynamics::Linear,
            act: Activation::Tanh,
            gprime: &[],
        };
        let closed = ndi_inverse(w.as_ref(), b.as_ref(), alpha, &t).unwrap();
        let int = Integration {
            dt: 0.1,
            steps: 40_000,
            ..Integration::default()
        };
        for solver in [Solver::Euler, Solver::PoweredEuler, Solver::SteadyState] {
            let inv = sys.invert(&t, solver, &int).unwrap();
            assert!(
                rel_diff(&inv.delta, &closed) < 1e-6,
                "α={alpha} {solver:?}: {}",
                rel_diff(&inv.delta, &closed)
            );
        }
        let m = expanding_system_matrix(w.as_ref(), b.as_ref(), alpha).unwrap();
        let dense = spectral_abscissa_dense(m.as_ref()).unwrap();
        let reduced = expanding_abscissa(w.as_ref(), b.as_ref(), alpha).unwrap();
        assert!(
            (dense - reduced).abs() < 1e-9,
            "dense {dense} vs reduced {reduced}"
        );
    }
    assert!(expanding_abscissa(w.as_ref(), b.as_ref(), 0.0).unwrap() < -1e-3);
    assert!(
        spectral_abscissa(w.as_ref(), b.as_ref(), 0.0)
            .unwrap()
            .abs()
            < 1e-12,
        "standard controller is marginal"
    );
    // Contracting layer under S1–S2: the reduced formula still matches the dense one.
    let w2 = random(52, 6, 9, 0.4);
    let b2 = random(53, 9, 6, 0.4);
    let m = expanding_system_matrix(w2.as_ref(), b2.as_ref(), 0.2).unwrap();
    let dense = spectral_abscissa_dense(m.as_ref()).unwrap();
    assert!((dense - expanding_abscissa(w2.as_ref(), b2.as_ref(), 0.2).unwrap()).abs() < 1e-9);
}

/// Re-stabilisation brings every simulated system back to a negative abscissa:
/// each layer of sequential DI, and SDI's loop.
#[test]
fn restabilise_every_layer_and_the_loop() {
    let n = net(&[8, 12, 6, 5], Activation::Tanh, 0.3, 60);
    let mut fb = tr_feedback(&n);
    for i in 1..3 {
        fb.b[i] = Some(neg_transpose(n.layers[i].w.as_ref(), -0.3)); // positive feedback: unstable
    }
    let cfg = SsaConfig {
        learning_rate: 0.5,
        max_iters: 2000,
        ..SsaConfig::default()
    };
    let c = di(
        Method::Di,
        0.0,
        Chain::Sequential,
        Dynamics::Nonlinear,
        Solver::SteadyState,
        1,
    );
    assert!(c.abscissae(&n, &fb).unwrap().iter().all(|(_, a)| *a > 0.0));
    let unstable = fb.clone();
    let events = c.restabilise(&n, &mut fb, &cfg, SsaSystem::Full).unwrap();
    assert_eq!(
        events.iter().map(|e| e.layer).collect::<Vec<_>>(),
        vec![2, 3]
    );
    assert!(c.abscissae(&n, &fb).unwrap().iter().all(|(_, a)| *a < 0.0));
    // The reduced system enforces the same constraint by another smoothing: stable
    // too, through another B.
    let mut reduced = unstable;
    let events = c
        .restabilise(&n, &mut reduced, &cfg, SsaSystem::Reduced)
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(c
        .abscissae(&n, &reduced)
        .unwrap()
        .iter()
        .all(|(_, a)| *a < 0.0));
    assert!(events
        .iter()
        .all(|e| e.abscissa_after < -cfg.margin + 1e-12));
    let (full_b2, reduced_b2) = (fb.b[1].as_ref().unwrap(), reduced.b[1].as_ref().unwrap());
    assert!((full_b2 - reduced_b2).norm_l2() > 0.0);

    let mut fb = tr_feedback(&n);
    let lb = fb.loop_b.as_ref().unwrap() * faer::Scale(-1.0);
    fb.loop_b = Some(lb);
    let s = di(
        Method::Sdi,
        0.0,
        Chain::Sequential,
        Dynamics::Nonlinear,
        Solver::SteadyState,
        1,
    );
    let before = s.abscissae(&n, &fb).unwrap();
    assert_eq!(before.len(), 1);
    assert!(before[0].1 > 0.0, "{before:?}");
    let events = s.restabilise(&n, &mut fb, &cfg, SsaSystem::Full).unwrap();
    assert_eq!(events.len(), 1);
    assert!(s.abscissae(&n, &fb).unwrap()[0].1 < 0.0);
}

/// The loop's reduced eigenproblem (eigenvalues of W_L ⋯ W_2 B mapped through
/// (λ+1)^{L−1}(λ+α) = μ) against the dense eigenvalues of its system matrix.
#[test]
fn single_loop_reduced_spectrum_matches_dense() {
    use dinv_core::chain::{ChainLayer, SingleLoop};
    for (k, dims) in [
        vec![8usize, 12, 6, 5],
        vec![6, 4, 7, 3, 5],
        vec![5, 3, 9, 6],
    ]
    .iter()
    .enumerate()
    {
        let n = net(dims, Activation::Tanh, 0.6, 70 + 10 * k as u64);
        let ones: Vec<Vec<f64>> = n.layers.iter().map(|l| vec![1.0; l.d_out()]).collect();
        for alpha in [0.0, 0.01, 0.3] {
            for scale in [0.05, 1.0] {
                let b = random(90 + k as u64, dims[1], *dims.last().unwrap(), scale);
                let sl = SingleLoop {
                    layers: (1..n.depth())
                        .map(|i| ChainLayer {
                            w: n.layers[i].w.as_ref(),
                            act_below: n.layers[i - 1].act,
                            gprime_below: &ones[i - 1],
                        })
                        .collect(),
                    b: b.as_ref(),
                    alpha,
                    dynamics: Dynamics::Nonlinear,
                    target: &[],
                };
                let dense = spectral_abscissa_dense(sl.system_matrix().unwrap().as_ref()).unwrap();
                let reduced = sl.abscissa().unwrap();
                assert!(
                    (dense - reduced).abs() < 1e-8 * (1.0 + dense.abs()),
                    "{dims:?} α={alpha}: dense {dense} reduced {reduced}"
                );
                assert!(
                    sl.reduced_eigenvalues().unwrap().len() >= sl.system_matrix().unwrap().nrows()
                );
            }
        }
    }
}

/// Newton finds the fixed point of the repeat-layer chain and of the single loop
/// whether or not the dynamics are stable there. With positive feedback (`B = +Wᵀ`,
/// and the loop's `+(W_3 W_2)ᵀ`) they are not, so `SteadyStateOrEuler` must run the
/// simulation instead (checked on the loop itself), and the backward pass refuses every
/// solver's result; with Tr-Init it keeps Newton's answer. The premise is checked
/// with dense eigenvalues: per layer for the chain (each controller sees only the layer
/// above, so its linearisation is block-triangular), the full loop matrix for SDI.
#[test]
fn chains_reject_unstable_fixed_points() {
    use dinv_core::chain::{ChainLayer, SingleLoop};
    use dinv_core::stability::system_matrix;
    let n = net(&[12, 10, 8, 6], Activation::Linear, 0.4, 40);
    let trace = n.forward(&random_vec(41, 12));
    let d_out = random_vec(42, 6);
    let alpha = 0.05;
    let stable_fb = tr_feedback(&n);
    let mut unstable_fb = stable_fb.clone();
    for b in unstable_fb.b.iter_mut().flatten() {
        *b = -&*b;
    }
    let loop_b = unstable_fb.loop_b.take().unwrap();
    unstable_fb.loop_b = Some(-&loop_b);
    let ones: Vec<Vec<f64>> = [10, 8].iter().map(|&k| vec![1.0; k]).collect();
    for (fb, stable) in [(&stable_fb, true), (&unstable_fb, false)] {
        // Premise, independently of the solver code under test.
        let per_layer = (1..3).all(|i| {
            let m = system_matrix(n.layers[i].w.as_ref(), fb.get(i).unwrap(), alpha).unwrap();
            spectral_abscissa_dense(m.as_ref()).unwrap() < 0.0
        });
        let sl = SingleLoop {
            layers: (1..3)
                .map(|i| ChainLayer {
                    w: n.layers[i].w.as_ref(),
                    act_below: Activation::Linear,
                    gprime_below: &ones[i - 1],
                })
                .collect(),
            b: fb.loop_b.as_ref().unwrap().as_ref(),
            alpha,
            dynamics: Dynamics::Linear,
            target: &d_out,
        };
        let loop_stable =
            spectral_abscissa_dense(sl.system_matrix().unwrap().as_ref()).unwrap() < 0.0;
        assert_eq!((per_layer, loop_stable), (stable, stable), "premise");
        for (method, chain) in [
            (Method::Di, Chain::RepeatLayer),
            (Method::Sdi, Chain::Sequential),
        ] {
            let run = |solver| {
                di(method, alpha, chain, Dynamics::Linear, solver, 40)
                    .backward(&n, &trace, fb, &d_out)
            };
            if !stable {
                for solver in [
                    Solver::Euler,
                    Solver::PoweredEuler,
                    Solver::SteadyState,
                    Solver::SteadyStateOrEuler,
                ] {
                    let refused = run(solver);
                    assert!(
                        matches!(refused, Err(CoreError::UnstableDynamics { .. })),
                        "{method:?} {chain:?} {solver:?}: {refused:?}"
                    );
                }
                continue;
            }
            let chosen = run(Solver::SteadyStateOrEuler).unwrap();
            let reference = run(Solver::SteadyState).unwrap();
            assert_eq!(
                chosen.chain.unwrap().2,
                Solver::SteadyState,
                "{method:?} {chain:?}"
            );
            assert_eq!(chosen.deltas, reference.deltas, "{method:?} {chain:?}");
        }
        if !stable {
            let int = Integration {
                dt: 0.1,
                steps: 40,
                ..Integration::default()
            };
            let chosen = sl.invert(Solver::SteadyStateOrEuler, &int).unwrap();
            assert_eq!(chosen.solved_by, Solver::Euler);
            assert_eq!(chosen, sl.invert(Solver::Euler, &int).unwrap());
        }
    }
}

/// The S1–S2 controller with positive feedback (`B = +Wᵀ`, so `B W` is positive
/// definite) has an unstable fixed point that Newton (here the closed form) still
/// returns: `SteadyStateOrEuler` must simulate instead. With Tr-Init it keeps the fixed
/// point. The premise is checked with the dense eigenvalues of the S1–S2 matrix.
#[test]
fn expanding_controller_rejects_unstable_fixed_points() {
    let w = random(54, 20, 10, 0.4);
    let t = random_vec(55, 20);
    let int = Integration {
        dt: 0.1,
        steps: 40,
        ..Integration::default()
    };
    for (sign, stable) in [(1.0, true), (-1.0, false)] {
        let b = neg_transpose(w.as_ref(), sign);
        let m = expanding_system_matrix(w.as_ref(), b.as_ref(), 0.05).unwrap();
        let dense = spectral_abscissa_dense(m.as_ref()).unwrap();
        assert_eq!(dense < 0.0, stable, "premise: abscissa {dense}");
        let sys = ExpandingSystem {
            w: w.as_ref(),
            b: b.as_ref(),
            alpha: 0.05,
            dynamics: Dynamics::Linear,
            act: Activation::Tanh,
            gprime: &[],
        };
        assert_falls_back_to_euler_when_unstable(
            stable,
            |solver| sys.invert(&t, solver, &int).unwrap(),
            |d| sys.stable_at(d).unwrap(),
        );
    }
}

/// `gprime_after` separates the two ways tanh DI's hidden error differs from NDI's: for
/// small output errors `tanh(δ) ≈ δ`, so the gated steady state `g'(a) ∘ B u` tends to
/// NDI's `g'(a) ∘ B (W B − αI)^{-1} δ`, while the plain steady state `B u` lacks the
/// `g'(a)` factor and stays at a finite angle from it.
#[test]
fn gated_tanh_di_tends_to_ndi_for_small_errors() {
    let n = net(&[8, 12, 6, 5], Activation::Tanh, 0.8, 40);
    let fb = tr_feedback(&n);
    let trace = n.forward(&random_vec(41, 8));
    let d_out: Vec<f64> = random_vec(42, 5).iter().map(|v| 1e-6 * v).collect();
    let ndi = Credit::new(Method::Ndi, 0.01)
        .backward(&n, &trace, &fb, &d_out)
        .unwrap();
    let tanh_di = |gated: bool| {
        let mut c = di(
            Method::Di,
            0.01,
            Chain::Sequential,
            Dynamics::Nonlinear,
            Solver::SteadyState,
            1,
        );
        c.di.gprime_after = gated;
        c.backward(&n, &trace, &fb, &d_out).unwrap()
    };
    let (gated, plain) = (tanh_di(true), tanh_di(false));
    for l in 0..2 {
        let d = rel_diff(&gated.deltas[l], &ndi.deltas[l]);
        assert!(d < 1e-6, "gated: δ_{} differs from NDI by {d}", l + 1);
        let d = rel_diff(&plain.deltas[l], &ndi.deltas[l]);
        assert!(d > 1e-2, "ungated: δ_{} within {d} of NDI", l + 1);
    }
    // The setting is checked where it would otherwise be ignored.
    let mut s = DiSettings {
        gprime_after: true,
        ..DiSettings::default()
    };
    assert!(s.check_gprime_after(Method::Di).is_err(), "linear dynamics");
    s.dynamics = Dynamics::Nonlinear;
    assert!(s.check_gprime_after(Method::Di).is_ok());
    assert!(s.check_gprime_after(Method::Sdi).is_err());
    s.chain = Chain::RepeatLayer;
    assert!(s.check_gprime_after(Method::Di).is_err());
}
