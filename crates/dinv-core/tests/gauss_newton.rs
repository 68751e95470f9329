//! Block Gauss–Newton (supp. 7.2) against independent computations: Jacobians and
//! gradients by central finite differences of the network, the normal equations of
//! each step, and the paper's closed form (Eq. S7) on a linear network with whitened
//! inputs.

mod common;

use common::*;
use dinv_core::gauss_newton::{block_gauss_newton, simplified_penultimate_delta, Damping, GnLayer};
use dinv_core::init::orthogonal_mat;
use dinv_core::{Activation, Layer, Network};
use faer::linalg::solvers::DenseSolveCore;
use faer::Mat;

fn network(seed: u64, dims: &[usize], acts: &[Activation], bias: bool, half: f64) -> Network {
    let layers = dims
        .windows(2)
        .zip(acts)
        .enumerate()
        .map(|(i, (d, &act))| Layer {
            w: random(seed + i as u64, d[1], d[0], half),
            b: bias.then(|| random_vec(seed + 100 + i as u64, d[1])),
            act,
        })
        .collect();
    Network::new(layers).unwrap()
}

fn column(m: &Mat<f64>, j: usize) -> Vec<f64> {
    (0..m.nrows()).map(|i| m[(i, j)]).collect()
}

/// The network's output when the pre-activation of `layers[l]` is replaced by `a`.
fn output_from_preact(net: &Network, l: usize, a: &[f64]) -> Vec<f64> {
    let mut h: Vec<f64> = a.iter().map(|&v| net.layers[l].act.apply(v)).collect();
    for layer in &net.layers[l + 1..] {
        let mut next = matvec(&layer.w, &h);
        if let Some(b) = &layer.b {
            next.iter_mut().zip(b).for_each(|(v, bi)| *v += bi);
        }
        h = next.iter().map(|&v| layer.act.apply(v)).collect();
    }
    h
}

/// `(1/N) Σ ½‖y_n − t_n‖²`.
fn batch_loss(net: &Network, x: &Mat<f64>, t: &Mat<f64>) -> f64 {
    (0..x.ncols())
        .map(|n| {
            let y = net.predict(&column(x, n));
            0.5 * y
                .iter()
                .zip(column(t, n))
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f64>()
        })
        .sum::<f64>()
        / x.ncols() as f64
}

fn frob(m: &Mat<f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            s += m[(i, j)] * m[(i, j)];
        }
    }
    s.sqrt()
}

fn max_rel(a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    let d = Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[(i, j)] - b[(i, j)]);
    frob(&d) / frob(b).max(1e-300)
}

fn plus_identity(m: &Mat<f64>, g: f64) -> Mat<f64> {
    Mat::from_fn(m.nrows(), m.ncols(), |i, j| {
        m[(i, j)] + if i == j { g } else { 0.0 }
    })
}

fn product(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), b.ncols(), |i, j| {
        (0..a.ncols()).map(|k| a[(i, k)] * b[(k, j)]).sum()
    })
}

/// A tanh network with biases, and a batch of targets to fit.
fn tanh_case(output: Activation) -> (Network, Mat<f64>, Mat<f64>) {
    let net = network(
        7,
        &[4, 6, 5, 3],
        &[Activation::Tanh, Activation::Tanh, output],
        true,
        0.9,
    );
    (net, random(40, 4, 9, 1.5), random(41, 3, 9, 0.8))
}

#[test]
fn preact_gn_is_the_mean_of_finite_difference_jacobian_products() {
    for output in [Activation::Linear, Activation::Tanh] {
        let (net, x, t) = tanh_case(output);
        let gn = block_gauss_newton(&net, x.as_ref(), t.as_ref(), Damping::Absolute(1e-3)).unwrap();
        let n = x.ncols();
        let eps = 1e-5;
        for (l, layer) in gn.iter().enumerate() {
            let d_l = net.layers[l].d_out();
            let d_out = 3;
            let mut expect = Mat::<f64>::zeros(d_l, d_l);
            for s in 0..n {
                let a = net.forward(&column(&x, s)).a[l].clone();
                // J = ∂y/∂a_l by central differences, column by column.
                let j = Mat::from_fn(d_out, d_l, |r, k| {
                    let (mut ap, mut am) = (a.clone(), a.clone());
                    ap[k] += eps;
                    am[k] -= eps;
                    (output_from_preact(&net, l, &ap)[r] - output_from_preact(&net, l, &am)[r])
                        / (2.0 * eps)
                });
                let jtj = product(&transpose(&j), &j);
                for p in 0..d_l {
                    for q in 0..d_l {
                        expect[(p, q)] += jtj[(p, q)] / n as f64;
                    }
                }
            }
            let err = max_rel(&layer.preact_gn, &expect);
            assert!(err < 1e-8, "{output:?} layer {l}: 𝒢 differs by {err:e}");
        }
        if output == Activation::Linear {
            // Linear output: 𝒢_L = I.
            let top = &gn.last().unwrap().preact_gn;
            assert!(max_rel(top, &Mat::identity(3, 3)) < 1e-14);
        }
    }
}

#[test]
fn gradient_and_input_covariance_match_finite_differences_and_definitions() {
    let (net, x, t) = tanh_case(Activation::Linear);
    let gn = block_gauss_newton(&net, x.as_ref(), t.as_ref(), Damping::Absolute(1e-3)).unwrap();
    let h = 1e-6;
    for (l, layer) in gn.iter().enumerate() {
        let w = &net.layers[l].w;
        let fd = Mat::from_fn(w.nrows(), w.ncols(), |i, j| {
            let (mut p, mut m) = (net.clone(), net.clone());
            p.layers[l].w[(i, j)] += h;
            m.layers[l].w[(i, j)] -= h;
            (batch_loss(&p, &x, &t) - batch_loss(&m, &x, &t)) / (2.0 * h)
        });
        let err = max_rel(&layer.gradient, &fd);
        assert!(err < 1e-7, "layer {l}: gradient differs by {err:e}");
        // Q_l = (1/N) Σ h h^T of the layer's inputs.
        let mut q = Mat::<f64>::zeros(w.ncols(), w.ncols());
        for s in 0..x.ncols() {
            let hin = net.forward(&column(&x, s)).h[l].clone();
            for a in 0..hin.len() {
                for b in 0..hin.len() {
                    q[(a, b)] += hin[a] * hin[b] / x.ncols() as f64;
                }
            }
        }
        assert!(max_rel(&layer.input_cov, &q) < 1e-13);
    }
}

/// `G = (1/N) Σ_n J_n^T J_n`, `J_n = ∂y_n/∂vec(W_l)` by central differences.
fn fd_block_gn(net: &Network, l: usize, x: &Mat<f64>) -> Mat<f64> {
    let (d_l, d_in) = (net.layers[l].d_out(), net.layers[l].d_in());
    let p = d_l * d_in;
    let n = x.ncols();
    let eps = 1e-5;
    let mut g = Mat::<f64>::zeros(p, p);
    for s in 0..n {
        let xs = column(x, s);
        let j = Mat::from_fn(net.layers.last().unwrap().d_out(), p, |r, k| {
            let (a, jj) = (k % d_l, k / d_l);
            let (mut pn, mut mn) = (net.clone(), net.clone());
            pn.layers[l].w[(a, jj)] += eps;
            mn.layers[l].w[(a, jj)] -= eps;
            (pn.predict(&xs)[r] - mn.predict(&xs)[r]) / (2.0 * eps)
        });
        let jtj = product(&transpose(&j), &j);
        for a in 0..p {
            for b in 0..p {
                g[(a, b)] += jtj[(a, b)] / n as f64;
            }
        }
    }
    g
}

fn check_steps(gn: &[GnLayer], net: &Network, x: &Mat<f64>) {
    for (l, layer) in gn.iter().enumerate() {
        let exact = layer
            .exact
            .as_ref()
            .expect("small layers are solved exactly");
        let err = max_rel(&exact.matrix, &fd_block_gn(net, l, x));
        assert!(err < 1e-8, "layer {l}: exact GN matrix differs by {err:e}");
        // (G + γI) vec(ΔW) = −vec(g).
        let (d_l, d_in) = (layer.gradient.nrows(), layer.gradient.ncols());
        let v: Vec<f64> = (0..d_l * d_in)
            .map(|k| exact.update[(k % d_l, k / d_l)])
            .collect();
        let gv = matvec(&plus_identity(&exact.matrix, exact.damping), &v);
        let g: Vec<f64> = (0..d_l * d_in)
            .map(|k| -layer.gradient[(k % d_l, k / d_l)])
            .collect();
        let res = rel_diff(&gv, &g);
        assert!(res <= 1e-9, "layer {l}: exact-step residual {res:e}");
        // (𝒢 + γI) ΔW (Q + γI) = −g and (𝒢 + γI) ΔW_white = −g.
        let lhs = product(
            &product(
                &plus_identity(&layer.preact_gn, layer.damping_preact),
                &layer.kron_update,
            ),
            &plus_identity(&layer.input_cov, layer.damping_input),
        );
        let minus_g = Mat::from_fn(d_l, d_in, |a, j| -layer.gradient[(a, j)]);
        let res = max_rel(&lhs, &minus_g);
        assert!(res <= 1e-9, "layer {l}: Kronecker-step residual {res:e}");
        let lhs = product(
            &plus_identity(&layer.preact_gn, layer.damping_preact),
            &layer.whitened_update,
        );
        let res = max_rel(&lhs, &minus_g);
        assert!(res <= 1e-9, "layer {l}: whitened-step residual {res:e}");
    }
}

#[test]
fn exact_and_kronecker_steps_solve_their_equations() {
    let (net, x, t) = tanh_case(Activation::Tanh);
    let gn = block_gauss_newton(&net, x.as_ref(), t.as_ref(), Damping::Absolute(1e-4)).unwrap();
    for layer in &gn {
        assert_eq!(layer.damping_preact, 1e-4);
        assert_eq!(layer.damping_input, 1e-4);
        assert_eq!(layer.exact.as_ref().unwrap().damping, 1e-4);
    }
    check_steps(&gn, &net, &x);

    // Relative damping: γ times the mean eigenvalue of each matrix.
    let gn = block_gauss_newton(&net, x.as_ref(), t.as_ref(), Damping::Relative(1e-3)).unwrap();
    for layer in &gn {
        let mean_eig =
            |m: &Mat<f64>| (0..m.nrows()).map(|i| m[(i, i)]).sum::<f64>() / m.nrows() as f64;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-14 * b.abs();
        assert!(close(
            layer.damping_preact,
            1e-3 * mean_eig(&layer.preact_gn)
        ));
        assert!(close(
            layer.damping_input,
            1e-3 * mean_eig(&layer.input_cov)
        ));
        let ex = layer.exact.as_ref().unwrap();
        assert!(close(ex.damping, 1e-3 * mean_eig(&ex.matrix)));
    }
    check_steps(&gn, &net, &x);
}

/// `N` inputs of dimension `d` with `X X^T / N = I` exactly.
fn whitened_inputs(seed: u64, d: usize, n: usize) -> Mat<f64> {
    let x = orthogonal_mat(&mut rng(seed), d, n, (n as f64).sqrt());
    let q = product(&x, &transpose(&x));
    for i in 0..d {
        for j in 0..d {
            let want = if i == j { n as f64 } else { 0.0 };
            assert!((q[(i, j)] - want).abs() < 1e-10, "inputs are not whitened");
        }
    }
    x
}

/// `W^+ = W^T (W W^T)^{-1}` for a wide `W` of full row rank.
fn pinv_wide(w: &Mat<f64>) -> Mat<f64> {
    let wwt = product(w, &transpose(w));
    product(&transpose(w), &wwt.partial_piv_lu().inverse())
}

#[test]
fn whitened_linear_network_reduces_to_the_papers_closed_form() {
    // 6-5-3 linear network: the penultimate layer W_1 sees whitened inputs and W_2 is a
    // well-conditioned contracting layer, so 𝒢_1 = W_2^T W_2 is singular (rank 3 of 5).
    let mut net = network(
        3,
        &[6, 5, 3],
        &[Activation::Linear, Activation::Linear],
        false,
        1.0,
    );
    net.layers[1].w = orthogonal_mat(&mut rng(9), 3, 5, 1.0);
    for i in 0..3 {
        for j in 0..5 {
            net.layers[1].w[(i, j)] *= [1.0, 1.5, 0.7][i];
        }
    }
    let n = 12;
    let x = whitened_inputs(11, 6, n);
    let t = random(12, 3, n, 1.0);
    // Eq. (S7) with D = I, averaged over the batch: −W_2^+ (1/N) Σ e_n x_n^T.
    let mut e_xt = Mat::<f64>::zeros(3, 6);
    for s in 0..n {
        let xs = column(&x, s);
        let y = net.predict(&xs);
        for a in 0..3 {
            for j in 0..6 {
                e_xt[(a, j)] += (y[a] - t[(a, s)]) * xs[j] / n as f64;
            }
        }
    }
    let closed = product(&pinv_wide(&net.layers[1].w), &e_xt);
    let closed = Mat::from_fn(5, 6, |a, j| -closed[(a, j)]);

    let mut errors = Vec::new();
    for gamma in [1e-2, 1e-4, 1e-6] {
        let gn =
            block_gauss_newton(&net, x.as_ref(), t.as_ref(), Damping::Absolute(gamma)).unwrap();
        let pen = &gn[0];
        assert!(max_rel(&pen.input_cov, &Mat::identity(6, 6)) < 1e-12);
        errors.push(max_rel(&pen.kron_update, &closed));
        // With Q = I the exact block is I ⊗ 𝒢 and the two steps differ only by the
        // factor (1 + γ) of the damped input covariance.
        let exact = &pen.exact.as_ref().unwrap().update;
        let scaled = Mat::from_fn(5, 6, |a, j| (1.0 + gamma) * pen.kron_update[(a, j)]);
        let err = max_rel(exact, &scaled);
        assert!(err < 1e-9, "γ = {gamma}: exact vs Kronecker {err:e}");
        // The whitened-input step is the exact one.
        assert!(max_rel(&pen.whitened_update, exact) < 1e-9);
    }
    // Undamped, the (singular) GN step is the minimum-norm one: the closed form itself.
    let gn = block_gauss_newton(&net, x.as_ref(), t.as_ref(), Damping::Absolute(0.0)).unwrap();
    let err = max_rel(&gn[0].kron_update, &closed);
    assert!(err < 1e-10, "undamped: {err:e}");
    let err = max_rel(&gn[0].exact.as_ref().unwrap().update, &closed);
    assert!(err < 1e-10, "undamped exact: {err:e}");
    // Convergence to the closed form, linearly in γ.
    assert!(errors[0] < 0.1, "{errors:?}");
    assert!(
        errors[1] < 2e-2 * errors[0] && errors[2] < 2e-2 * errors[1],
        "{errors:?}"
    );
    assert!(errors[2] < 1e-5, "{errors:?}");
}

#[test]
fn simplified_delta_is_the_pseudoinverse_of_the_top_layer() {
    // Linear, one example: δ = W_L^+ e, for a contracting and an expanding top layer.
    for dims in [[6usize, 5, 3], [4, 3, 5]] {
        let net = network(
            21,
            &dims,
            &[Activation::Linear, Activation::Linear],
            false,
            1.0,
        );
        let x = random_vec(22, dims[0]);
        let target = random_vec(23, dims[2]);
        let trace = net.forward(&x);
        let e: Vec<f64> = trace
            .output()
            .iter()
            .zip(&target)
            .map(|(y, t)| y - t)
            .collect();
        let delta = simplified_penultimate_delta(&net, &trace, &e).unwrap();
        let w = &net.layers[1].w;
        let pinv = if dims[2] < dims[1] {
            pinv_wide(w)
        } else {
            transpose(&pinv_wide(&transpose(w)))
        };
        let expect = matvec(&pinv, &e);
        let err = rel_diff(&delta, &expect);
        assert!(err < 1e-12, "dims {dims:?}: {err:e}");
    }
    // tanh hidden layer: δ = (W_L D_{L−1})^+ e, so W_L D δ = e for a wide top layer.
    let net = network(
        31,
        &[6, 5, 3],
        &[Activation::Tanh, Activation::Linear],
        true,
        1.0,
    );
    let trace = net.forward(&random_vec(32, 6));
    let e = random_vec(33, 3);
    let delta = simplified_penultimate_delta(&net, &trace, &e).unwrap();
    let wd = Mat::from_fn(3, 5, |i, j| net.layers[1].w[(i, j)] * trace.gprime[0][j]);
    let expect = matvec(&pinv_wide(&wd), &e);
    assert!(rel_diff(&delta, &expect) < 1e-12);
    assert!(rel_diff(&matvec(&wd, &delta), &e) < 1e-12);
}

#[test]
fn bad_inputs_are_errors() {
    let (net, x, t) = tanh_case(Activation::Linear);
    assert!(block_gauss_newton(&net, x.as_ref(), t.as_ref(), Damping::Relative(-1.0)).is_err());
    assert!(block_gauss_newton(&net, t.as_ref(), t.as_ref(), Damping::Absolute(1e-4)).is_err());
    assert!(block_gauss_newton(&net, x.as_ref(), x.as_ref(), Damping::Absolute(1e-4)).is_err());
    let single = network(1, &[3, 2], &[Activation::Linear], false, 1.0);
    let trace = single.forward(&[1.0, 2.0, 3.0]);
    assert!(simplified_penultimate_delta(&single, &trace, &[1.0, 0.0]).is_err());
}
