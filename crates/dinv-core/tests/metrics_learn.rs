//! Angles, normalisation and the update rule.

mod common;

use common::*;
use dinv_core::feedback::neg_transpose;
use dinv_core::metrics::{angle_deg, feedback_alignment_deg, matrix_angle_deg, normalise_by_max};
use dinv_core::{Activation, Credit, Feedback, Layer, Loss, Method, Network, UpdateRule};

#[test]
fn angles_between_vectors() {
    assert!((angle_deg(&[1.0, 0.0], &[0.0, 2.0]) - 90.0).abs() < 1e-12);
    assert!(angle_deg(&[1.0, 1.0], &[3.0, 3.0]).abs() < 1e-6);
    assert!((angle_deg(&[1.0, 1.0], &[-1.0, -1.0]) - 180.0).abs() < 1e-6);
    assert!((angle_deg(&[1.0, 0.0], &[1.0, 1.0]) - 45.0).abs() < 1e-12);
    assert!(angle_deg(&[0.0, 0.0], &[1.0, 0.0]).is_nan());
}

#[test]
fn angles_between_matrices() {
    let w = random(1, 4, 6, 1.0);
    let b = neg_transpose(w.as_ref(), 2.5);
    assert!(feedback_alignment_deg(b.as_ref(), w.as_ref()) < 1e-6);
    let b_pos = neg_transpose(w.as_ref(), -1.0);
    assert!((feedback_alignment_deg(b_pos.as_ref(), w.as_ref()) - 180.0).abs() < 1e-6);
    // Against the vector angle of the flattened matrices.
    let a = random(2, 3, 3, 1.0);
    let c = random(3, 3, 3, 1.0);
    let flat = |m: &faer::Mat<f64>| {
        (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .map(|(i, j)| m[(i, j)])
            .collect::<Vec<_>>()
    };
    assert!(
        (matrix_angle_deg(a.as_ref(), c.as_ref()) - angle_deg(&flat(&a), &flat(&c))).abs() < 1e-10
    );
}

#[test]
fn normalisation_by_global_max() {
    let mut s = vec![vec![1.0, 4.0], vec![2.0, f64::NAN, 8.0]];
    assert_eq!(normalise_by_max(&mut s), 8.0);
    assert_eq!(s[0], vec![0.125, 0.5]);
    assert_eq!(s[1][2], 1.0);
}

fn small_net() -> Network {
    Network::new(vec![
        Layer {
            w: random(10, 5, 4, 0.5),
            b: None,
            act: Activation::Linear,
        },
        Layer {
            w: random(11, 3, 5, 0.5),
            b: None,
            act: Activation::Linear,
        },
    ])
    .unwrap()
}

/// Fixed-norm updates change every layer by exactly `learning_rate` (Frobenius).
#[test]
fn fixed_norm_update_has_the_set_norm() {
    let mut net = small_net();
    let before = net.clone();
    let x = random_vec(12, 4);
    let t = random_vec(13, 3);
    let trace = net.forward(&x);
    let mut d = Vec::new();
    Loss::SquaredError.output_delta(&trace, &t, &mut d);
    let back = Credit::new(Method::Bp, 0.0)
        .backward(&net, &trace, &Feedback::none(2), &d)
        .unwrap();
    let rule = UpdateRule {
        fixed_norm: true,
        ..UpdateRule::sgd(0.01)
    };
    rule.apply(&mut net, &trace, &back.deltas);
    for l in 0..2 {
        let diff = &net.layers[l].w - &before.layers[l].w;
        assert!(
            (diff.norm_l2() - 0.01).abs() < 1e-12,
            "layer {l}: {}",
            diff.norm_l2()
        );
    }
    // Plain SGD: ΔW = −η δ h^T exactly.
    let mut net2 = before.clone();
    UpdateRule::sgd(0.1).apply(&mut net2, &trace, &back.deltas);
    for i in 0..3 {
        for j in 0..5 {
            let expect = before.layers[1].w[(i, j)] - 0.1 * back.deltas[1][i] * trace.h[1][j];
            assert!((net2.layers[1].w[(i, j)] - expect).abs() < 1e-15);
        }
    }
    // One small SGD step lowers the loss.
    let l0 = Loss::SquaredError.value(&before.forward(&x), &t);
    let mut net3 = before.clone();
    UpdateRule::sgd(1e-3).apply(&mut net3, &trace, &back.deltas);
    assert!(Loss::SquaredError.value(&net3.forward(&x), &t) < l0);
}

#[test]
fn delta_cap_limits_hidden_errors_only() {
    let rule = UpdateRule {
        delta_cap: Some(1.0),
        ..UpdateRule::sgd(0.1)
    };
    let mut deltas = vec![vec![3.0, 4.0], vec![0.3, 0.4], vec![30.0, 40.0]];
    rule.cap_hidden(&mut deltas);
    assert!((deltas[0][0] - 0.6).abs() < 1e-15 && (deltas[0][1] - 0.8).abs() < 1e-15);
    assert_eq!(deltas[1], vec![0.3, 0.4]);
    assert_eq!(
        deltas[2],
        vec![30.0, 40.0],
        "the output error is not capped"
    );
}

#[test]
fn weight_decay_shrinks_weights() {
    let mut net = small_net();
    let before = net.clone();
    let trace = net.forward(&[0.0; 4]);
    let zero = vec![vec![0.0; 5], vec![0.0; 3]];
    let rule = UpdateRule {
        weight_decay: 0.5,
        ..UpdateRule::sgd(0.1)
    };
    rule.apply(&mut net, &trace, &zero);
    assert!((net.layers[0].w[(1, 2)] - 0.95 * before.layers[0].w[(1, 2)]).abs() < 1e-15);
    assert!(UpdateRule::sgd(-1.0)
        .validate()
        .unwrap_err()
        .to_string()
        .contains("learning_rate"));
}

/// A mini-batch update applies the gradient summed over the batch (computed at the
/// same weights) with decay applied once; the two decay modes shrink by ηλ and λ.
#[test]
fn batch_update_is_the_summed_gradient() {
    use dinv_core::DecayMode;
    let mut net = small_net();
    net.layers[0].b = Some(vec![0.1; 5]);
    let before = net.clone();
    let xs: Vec<Vec<f64>> = (0..3).map(|k| random_vec(20 + k, 4)).collect();
    let ts: Vec<Vec<f64>> = (0..3).map(|k| random_vec(30 + k, 3)).collect();
    let mut inputs = vec![faer::Mat::zeros(4, 3), faer::Mat::zeros(5, 3)];
    let mut deltas = vec![faer::Mat::zeros(5, 3), faer::Mat::zeros(3, 3)];
    for k in 0..3 {
        let tr = before.forward(&xs[k]);
        let mut d = Vec::new();
        Loss::SquaredError.output_delta(&tr, &ts[k], &mut d);
        let back = Credit::new(Method::Bp, 0.0)
            .backward(&before, &tr, &Feedback::none(2), &d)
            .unwrap();
        for l in 0..2 {
            for i in 0..tr.h[l].len() {
                inputs[l][(i, k)] = tr.h[l][i];
            }
            for i in 0..back.deltas[l].len() {
                deltas[l][(i, k)] = back.deltas[l][i];
            }
        }
    }
    let rule = UpdateRule {
        weight_decay: 0.01,
        decay: DecayMode::PerUpdate,
        ..UpdateRule::sgd(0.1)
    };
    rule.apply_batch(&mut net, &inputs, &deltas);
    for l in 0..2 {
        for i in 0..net.layers[l].d_out() {
            for j in 0..net.layers[l].d_in() {
                let grad: f64 = (0..3).map(|k| deltas[l][(i, k)] * inputs[l][(j, k)]).sum();
                let want = 0.99 * before.layers[l].w[(i, j)] - 0.1 * grad;
                assert!((net.layers[l].w[(i, j)] - want).abs() < 1e-14);
            }
        }
    }
    let want_b = 0.99 * 0.1 - 0.1 * (0..3).map(|k| deltas[0][(2, k)]).sum::<f64>();
    assert!((net.layers[0].b.as_ref().unwrap()[2] - want_b).abs() < 1e-14);
    assert_eq!(rule.decay_factor(), 0.99);
    let coupled = UpdateRule {
        weight_decay: 0.01,
        ..UpdateRule::sgd(0.1)
    };
    assert!((coupled.decay_factor() - 0.999).abs() < 1e-15);
}
