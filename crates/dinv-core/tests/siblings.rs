//! DI's siblings beyond the paper: sign symmetry (`M_l = sign(W_l)^T`) and direct
//! feedback alignment (`δ_l = D_l δ_L ∘ g'(a_l)`), per example and per batch, against
//! the rules written out here entry by entry, and against FA where DFA must equal it.

use dinv_core::batch::{BatchTrace, Inverter};
use dinv_core::init::{uniform_mat, uniform_vec};
use dinv_core::{Activation, Credit, Feedback, Layer, Loss, Method, Network};
use faer::Mat;
use rand::SeedableRng;

fn network(dims: &[usize], seed: u64) -> Network {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let layers = (1..dims.len())
        .map(|l| Layer {
            w: uniform_mat(&mut rng, dims[l], dims[l - 1], -0.7, 0.7),
            b: Some(uniform_vec(&mut rng, dims[l], -0.1, 0.1)),
            act: if l + 1 == dims.len() {
                Activation::Linear
            } else {
                Activation::Tanh
            },
        })
        .collect();
    Network::new(layers).unwrap()
}

/// DFA's matrices `D_l` (`d_l × d_L`) for every hidden layer.
fn direct(net: &Network, seed: u64) -> Feedback {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let out = net.layers.last().unwrap().d_out();
    let mut fb = Feedback::none(net.depth());
    fb.direct = net.layers[..net.depth() - 1]
        .iter()
        .map(|l| Some(uniform_mat(&mut rng, l.d_out(), out, -0.5, 0.5)))
        .collect();
    fb
}

fn example(net: &Network, seed: u64) -> (Vec<f64>, dinv_core::Trace, Vec<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x = uniform_vec(&mut rng, net.layers[0].d_in(), -1.0, 1.0);
    let target = uniform_vec(&mut rng, net.layers.last().unwrap().d_out(), -1.0, 1.0);
    let trace = net.forward(&x);
    let mut delta = Vec::new();
    Loss::SquaredError.output_delta(&trace, &target, &mut delta);
    (x, trace, delta)
}

fn close(a: &[f64], b: &[f64], what: &str) {
    let scale = b.iter().fold(1e-12_f64, |m, v| m.max(v.abs()));
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-12 * scale, "{what}[{i}]: {x} vs {y}");
    }
    assert_eq!(a.len(), b.len(), "{what}: lengths");
}

#[test]
fn sign_symmetry_sends_errors_through_the_signs_of_the_weights() {
    let net = network(&[7, 9, 6, 4], 1);
    let (_, trace, delta_out) = example(&net, 2);
    let got = Credit::new(Method::SignSymmetry, 0.0)
        .backward(&net, &trace, &Feedback::none(net.depth()), &delta_out)
        .unwrap();
    // By hand: δ_{l-1}[j] = Σ_i sign(W_l[i, j]) δ_l[i] · g'(a_{l-1})[j].
    let mut expected = delta_out.clone();
    for l in (1..net.depth()).rev() {
        let w = &net.layers[l].w;
        let below: Vec<f64> = (0..w.ncols())
            .map(|j| {
                let s: f64 = (0..w.nrows())
                    .map(|i| {
                        let sign = if w[(i, j)] > 0.0 { 1.0 } else { -1.0 };
                        sign * expected[i]
                    })
                    .sum();
                s * trace.gprime[l - 1][j]
            })
            .collect();
        close(&got.deltas[l - 1], &below, &format!("SS δ_{l}"));
        expected = below;
    }
    // Not BP: magnitudes are dropped, so the hidden errors differ from the gradient's.
    let bp = Credit::new(Method::Bp, 0.0)
        .backward(&net, &trace, &Feedback::none(net.depth()), &delta_out)
        .unwrap();
    assert!(got.deltas[0]
        .iter()
        .zip(&bp.deltas[0])
        .any(|(a, b)| (a - b).abs() > 1e-3));
}

#[test]
fn dfa_sends_the_output_error_to_every_hidden_layer() {
    let net = network(&[7, 9, 6, 4], 3);
    let fb = direct(&net, 4);
    let (_, trace, delta_out) = example(&net, 5);
    let got = Credit::new(Method::Dfa, 0.0)
        .backward(&net, &trace, &fb, &delta_out)
        .unwrap();
    for l in 0..net.depth() - 1 {
        let d = fb.direct[l].as_ref().unwrap();
        let by_hand: Vec<f64> = (0..d.nrows())
            .map(|i| {
                (0..d.ncols())
                    .map(|k| d[(i, k)] * delta_out[k])
                    .sum::<f64>()
                    * trace.gprime[l][i]
            })
            .collect();
        close(&got.deltas[l], &by_hand, &format!("DFA δ_{}", l + 1));
    }
    assert_eq!(got.deltas[net.depth() - 1], delta_out);
}

/// With one hidden layer, DFA's only matrix is FA's `B_2`: the two rules coincide.
#[test]
fn dfa_with_one_hidden_layer_is_fa() {
    let net = network(&[7, 9, 4], 6);
    let fb_dfa = direct(&net, 7);
    let mut fb_fa = Feedback::none(net.depth());
    fb_fa.b[1] = fb_dfa.direct[0].clone();
    let (_, trace, delta_out) = example(&net, 8);
    let dfa = Credit::new(Method::Dfa, 0.0)
        .backward(&net, &trace, &fb_dfa, &delta_out)
        .unwrap();
    let fa = Credit::new(Method::Fa, 0.0)
        .backward(&net, &trace, &fb_fa, &delta_out)
        .unwrap();
    assert_eq!(dfa.deltas, fa.deltas);
}

/// The batch forms equal the per-example ones column by column.
#[test]
fn batch_forms_match_per_example() {
    let net = network(&[7, 9, 6, 4], 9);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(10);
    let x = uniform_mat(&mut rng, 7, 5, -1.0, 1.0);
    let t = uniform_mat(&mut rng, 4, 5, -1.0, 1.0);
    for (method, fb) in [
        (Method::SignSymmetry, Feedback::none(net.depth())),
        (Method::Dfa, direct(&net, 11)),
    ] {
        let credit = Credit::new(method, 0.0);
        let mut trace = BatchTrace::default();
        dinv_core::batch::forward(&net, x.as_ref(), &mut trace);
        let delta_out = dinv_core::batch::output_delta(&trace, &t);
        let mut inverter = Inverter::new(&credit, &net);
        let deltas = credit
            .backward_batch(&net, &trace, &fb, &mut inverter, delta_out)
            .unwrap();
        for j in 0..x.ncols() {
            let xj: Vec<f64> = (0..7).map(|i| x[(i, j)]).collect();
            let tj: Vec<f64> = (0..4).map(|i| t[(i, j)]).collect();
            let tr = net.forward(&xj);
            let mut d_out = Vec::new();
            // The batch's output error is (y − t) ∘ g', the squared error's.
            Loss::SquaredError.output_delta(&tr, &tj, &mut d_out);
            let per = credit.backward(&net, &tr, &fb, &d_out).unwrap();
            for (l, d) in per.deltas.iter().enumerate() {
                let col: Vec<f64> = (0..d.len()).map(|i| deltas[l][(i, j)]).collect();
                close(&col, d, &format!("{method:?} batch δ_{} column {j}", l + 1));
            }
        }
    }
}

/// A missing or misshapen `D_l` is an error naming the layer, per example and per
/// batch, never a panic.
#[test]
fn dfa_without_fitting_matrices_is_an_error() {
    let net = network(&[7, 9, 6, 4], 12);
    let (_, trace, delta_out) = example(&net, 13);
    let dfa = Credit::new(Method::Dfa, 0.0);
    let err = dfa
        .backward(&net, &trace, &Feedback::none(net.depth()), &delta_out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("D_1"), "{err}");
    let mut fb = direct(&net, 14);
    fb.direct[1] = Some(Mat::zeros(5, 4));
    let err = dfa
        .backward(&net, &trace, &fb, &delta_out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("D_2") && err.contains("6x4"), "{err}");
    let x = Mat::<f64>::zeros(7, 3);
    let mut bt = BatchTrace::default();
    dinv_core::batch::forward(&net, x.as_ref(), &mut bt);
    let d_out = dinv_core::batch::output_delta(&bt, &Mat::zeros(4, 3));
    let err = dfa
        .backward_batch(&net, &bt, &fb, &mut Inverter::new(&dfa, &net), d_out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("D_2") && err.contains("6x4"), "{err}");
    // Layer by layer DFA is refused: it has no per-layer step.
    let link = dinv_core::LayerLink {
        w: net.layers[1].w.as_ref(),
        b: None,
        layer: 2,
        act_below: Activation::Tanh,
        gprime_below: &trace.gprime[0],
    };
    assert!(dfa
        .propagate_layer(&link, &trace.gprime[1], dinv_core::ClosedForm::Svd)
        .is_err());
}
