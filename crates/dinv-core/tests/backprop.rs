//! BP's error signals and weight gradients against central finite differences of
//! the loss — an independent check of the forward pass, Eq. (2) and Eq. (3).

mod common;

use common::*;
use dinv_core::{Activation, Credit, Feedback, Layer, Loss, Method, Network};

fn network(seed: u64, dims: &[usize], acts: &[Activation], bias: bool) -> Network {
    let layers = dims
        .windows(2)
        .zip(acts)
        .enumerate()
        .map(|(i, (d, &act))| Layer {
            w: random(seed + i as u64, d[1], d[0], 0.8),
            b: bias.then(|| random_vec(seed + 100 + i as u64, d[1])),
            act,
        })
        .collect();
    Network::new(layers).unwrap()
}

fn loss(net: &Network, loss: Loss, x: &[f64], t: &[f64]) -> f64 {
    loss.value(&net.forward(x), t)
}

fn check(net: &Network, kind: Loss, x: &[f64], t: &[f64]) {
    let trace = net.forward(x);
    let mut d_out = Vec::new();
    kind.output_delta(&trace, t, &mut d_out);
    let back = Credit::new(Method::Bp, 0.0)
        .backward(net, &trace, &Feedback::none(net.depth()), &d_out)
        .unwrap();
    let h = 1e-6;
    for (l, layer) in net.layers.iter().enumerate() {
        // dL/dW_ij = δ_i h_j (Eq. 2).
        for i in 0..layer.d_out() {
            for j in 0..layer.d_in() {
                let mut plus = net.clone();
                plus.layers[l].w[(i, j)] += h;
                let mut minus = net.clone();
                minus.layers[l].w[(i, j)] -= h;
                let fd = (loss(&plus, kind, x, t) - loss(&minus, kind, x, t)) / (2.0 * h);
                let analytic = back.deltas[l][i] * trace.h[l][j];
                assert!(
                    (fd - analytic).abs() <= 1e-7 * (1.0 + fd.abs()),
                    "layer {l} W[{i},{j}]: finite difference {fd}, analytic {analytic}"
                );
            }
            // δ_l = dL/da_l = dL/db_l.
            if layer.b.is_some() {
                let mut plus = net.clone();
                plus.layers[l].b.as_mut().unwrap()[i] += h;
                let mut minus = net.clone();
                minus.layers[l].b.as_mut().unwrap()[i] -= h;
                let fd = (loss(&plus, kind, x, t) - loss(&minus, kind, x, t)) / (2.0 * h);
                assert!((fd - back.deltas[l][i]).abs() <= 1e-7 * (1.0 + fd.abs()));
            }
        }
    }
}

#[test]
fn bp_matches_finite_differences_squared_error() {
    let net = network(
        1,
        &[6, 5, 4, 3],
        &[Activation::Tanh, Activation::Tanh, Activation::Linear],
        true,
    );
    check(
        &net,
        Loss::SquaredError,
        &random_vec(7, 6),
        &random_vec(8, 3),
    );
    let net = network(
        2,
        &[5, 7, 3],
        &[Activation::Linear, Activation::Tanh],
        false,
    );
    check(
        &net,
        Loss::SquaredError,
        &random_vec(9, 5),
        &random_vec(10, 3),
    );
}

#[test]
fn bp_matches_finite_differences_softmax_cross_entropy() {
    let net = network(3, &[6, 8, 4], &[Activation::Tanh, Activation::Linear], true);
    let t = [0.0, 0.0, 1.0, 0.0];
    check(&net, Loss::SoftmaxCrossEntropy, &random_vec(11, 6), &t);
}

/// Softmax stays finite for huge logits (it is max-shifted).
#[test]
fn softmax_is_numerically_safe() {
    let mut out = Vec::new();
    dinv_core::net::softmax_into(&[1000.0, 999.0, -1000.0], &mut out);
    assert!(out.iter().all(|v| v.is_finite()));
    let e = (-1.0f64).exp();
    assert!((out[0] - 1.0 / (1.0 + e)).abs() < 1e-12);
    assert!((dinv_core::net::log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-9);
}

/// A network whose layers do not chain is rejected with the layer named.
#[test]
fn mismatched_layers_are_rejected() {
    let layers = vec![
        Layer {
            w: random(1, 5, 4, 1.0),
            b: None,
            act: Activation::Tanh,
        },
        Layer {
            w: random(2, 3, 6, 1.0),
            b: None,
            act: Activation::Linear,
        },
    ];
    let err = Network::new(layers).unwrap_err().to_string();
    assert!(err.contains("W_2") && err.contains("5 columns"), "{err}");
}
