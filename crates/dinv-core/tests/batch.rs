//! The batch forms of credit assignment (`dinv_core::batch`) against the per-example
//! ones: the mini-batch backward pass equals `Credit::backward` column by column, the
//! kept products of PBP and NDI follow the rank-k weight updates, and the updates are
//! bitwise independent of the thread count.

use dinv_core::batch::{self, Inverter, Learner};
use dinv_core::init::uniform_mat;
use dinv_core::{Activation, Credit, Feedback, Layer, Loss, Method, Network};
use rand::SeedableRng;

/// A small autoencoder-shaped network (contracting, then expanding layers) with
/// weights large enough for well-conditioned inversions.
fn small_network(rng: &mut rand_chacha::ChaCha8Rng) -> Network {
    let dims = [12, 8, 5, 3, 5, 8, 12];
    let acts = [
        Activation::Tanh,
        Activation::Tanh,
        Activation::Linear,
        Activation::Tanh,
        Activation::Tanh,
        Activation::Linear,
    ];
    let layers = (1..dims.len())
        .map(|l| Layer {
            w: uniform_mat(rng, dims[l], dims[l - 1], -0.6, 0.6),
            b: Some(dinv_core::init::uniform_vec(rng, dims[l], -0.1, 0.1)),
            act: acts[l - 1],
        })
        .collect();
    Network::new(layers).unwrap()
}

/// The mini-batch backward pass equals the per-example `Credit::backward`, column by
/// column, for every method (the inversions included).
#[test]
fn batch_backward_matches_per_example() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let net = small_network(&mut rng);
    let depth = net.depth();
    let x = uniform_mat(&mut rng, 12, 9, 0.0, 1.0);
    let mut fa = Feedback::none(depth);
    let mut tr = Feedback::none(depth);
    for i in 1..depth {
        let w = &net.layers[i].w;
        fa.b[i] = Some(uniform_mat(&mut rng, w.ncols(), w.nrows(), -0.5, 0.5));
        tr.b[i] = Some(dinv_core::feedback::neg_transpose(w.as_ref(), 1.0));
    }
    // NDI away from Tr-Init too, where it differs from PBP.
    let mut perturbed = tr.clone();
    for b in perturbed.b.iter_mut().flatten() {
        let noise = uniform_mat(&mut rng, b.nrows(), b.ncols(), -0.2, 0.2);
        *b = &*b + &noise;
    }
    let cases = [
        (Credit::new(Method::Bp, 0.0), &tr),
        (Credit::new(Method::Fa, 0.0), &fa),
        (Credit::new(Method::Pbp, 0.0), &tr),
        (Credit::new(Method::Ndi, 0.0), &tr),
        (Credit::new(Method::Ndi, 0.01), &tr),
        (Credit::new(Method::Ndi, 0.0), &perturbed),
        (Credit::new(Method::Ndi, 0.01), &perturbed),
    ];
    for (credit, fb) in cases {
        let mut trace = batch::BatchTrace::default();
        batch::forward(&net, x.as_ref(), &mut trace);
        let delta_out = batch::output_delta(&trace, &x);
        let mut inverter = Inverter::new(&credit, &net);
        let deltas = credit
            .backward_batch(&net, &trace, fb, &mut inverter, delta_out)
            .unwrap();
        assert_matches_per_example(&credit, &net, fb, &x, &deltas, 1e-9);
    }
}

/// Compares every column of `deltas` with the per-example backward pass.
fn assert_matches_per_example(
    credit: &Credit,
    net: &Network,
    fb: &Feedback,
    x: &faer::Mat<f64>,
    deltas: &[faer::Mat<f64>],
    tol: f64,
) {
    for j in 0..x.ncols() {
        let xj: Vec<f64> = (0..x.nrows()).map(|i| x[(i, j)]).collect();
        let t = net.forward(&xj);
        let mut d_out = Vec::new();
        Loss::SquaredError.output_delta(&t, &xj, &mut d_out);
        let per = credit.backward(net, &t, fb, &d_out).unwrap();
        for (l, (batch_d, d)) in deltas.iter().zip(&per.deltas).enumerate() {
            let scale = d.iter().fold(1e-12_f64, |m, v| m.max(v.abs()));
            for (i, v) in d.iter().enumerate() {
                let diff = (batch_d[(i, j)] - v).abs();
                assert!(
                    diff <= tol * scale,
                    "{:?} α={}: δ_{} [{i}, {j}] batch {} vs per-example {v}",
                    credit.method,
                    credit.alpha,
                    l + 1,
                    batch_d[(i, j)]
                );
            }
        }
    }
}

/// PBP and NDI keep the matrices they factorise up to date through the weight updates
/// instead of recomputing them: after many updates (across exact refreshes) the kept
/// products still equal the direct ones, and the error signals the per-example ones.
#[test]
fn kept_products_follow_the_updates() {
    use dinv_core::batch::kept::REFRESH;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let net = small_network(&mut rng);
    let update = dinv_core::UpdateRule {
        learning_rate: 2e-3,
        weight_decay: 1e-4,
        delta_cap: None,
        fixed_norm: false,
        decay: dinv_core::DecayMode::PerUpdate,
    };
    for (method, alpha) in [(Method::Pbp, 0.0), (Method::Ndi, 0.0), (Method::Ndi, 0.01)] {
        let mut fb = Feedback::none(net.depth());
        for i in 1..net.depth() {
            fb.b[i] = Some(dinv_core::feedback::neg_transpose(
                net.layers[i].w.as_ref(),
                1.0,
            ));
        }
        let credit = Credit::new(method, alpha);
        let mut learner = Learner::new(net.clone(), fb, credit, update);
        let w0 = learner.net().layers[5].w.clone();
        for k in 0..(2 * REFRESH + REFRESH / 2) {
            let x = uniform_mat(&mut rng, 12, 7, 0.0, 1.0);
            learner.step(&x, &x).unwrap();
            if k % 25 == 24 {
                let drift = learner.drift().unwrap();
                assert!(
                    drift < 1e-12,
                    "{method:?} α={alpha}, update {k}: drift {drift:e}"
                );
            }
        }
        // The weights moved, so the check is not vacuous.
        let moved = (&learner.net().layers[5].w - &w0).norm_l2() / w0.norm_l2();
        assert!(moved > 0.05, "{method:?}: weights moved by only {moved}");
        let x = uniform_mat(&mut rng, 12, 9, 0.0, 1.0);
        let deltas = learner.backward(&x, &x).unwrap();
        assert_matches_per_example(
            &credit,
            learner.net(),
            learner.feedback(),
            &x,
            &deltas,
            1e-8,
        );
    }
}

/// The autoencoder's methods and leaks (supp. 7.5.5).
const METHODS: [(Method, f64); 5] = [
    (Method::Bp, 0.0),
    (Method::Fa, 0.0),
    (Method::Pbp, 0.0),
    (Method::Ndi, 0.0),
    (Method::Ndi, 0.01),
];

/// FA's `U(−0.5, 0.5)` feedback, Tr-Init otherwise.
fn feedback_for(method: Method, net: &Network, rng: &mut rand_chacha::ChaCha8Rng) -> Feedback {
    let mut fb = Feedback::none(net.depth());
    for i in 1..net.depth() {
        let w = &net.layers[i].w;
        fb.b[i] = Some(match method {
            Method::Fa => uniform_mat(rng, w.ncols(), w.nrows(), -0.5, 0.5),
            _ => dinv_core::feedback::neg_transpose(w.as_ref(), 1.0),
        });
    }
    fb
}

/// A mini-batch uses both cores (products and solves in two fixed halves, the
/// factorisations beside the forward pass), and the weights after several updates are
/// bitwise the same on a one-thread and a two-thread pool, for every method. The
/// network is large enough that every split is taken.
#[test]
fn batch_updates_do_not_depend_on_the_thread_count() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    let dims = [300, 160, 80, 20, 80, 160, 300];
    let layers: Vec<Layer> = (1..dims.len())
        .map(|l| Layer {
            w: dinv_core::init::orthogonal_mat(&mut rng, dims[l], dims[l - 1], 1.0),
            b: Some(vec![0.0; dims[l]]),
            act: if l == 3 || l == 6 {
                Activation::Linear
            } else {
                Activation::Tanh
            },
        })
        .collect();
    let net = Network::new(layers).unwrap();
    let batches: Vec<faer::Mat<f64>> = (0..4)
        .map(|_| uniform_mat(&mut rng, 300, 64, 0.0, 1.0))
        .collect();
    let update = dinv_core::UpdateRule {
        learning_rate: 1e-3,
        weight_decay: 1e-6,
        delta_cap: None,
        fixed_norm: false,
        decay: dinv_core::DecayMode::PerUpdate,
    };
    for (method, alpha) in METHODS {
        let fb = feedback_for(method, &net, &mut rng);
        let weights = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut l =
                    Learner::new(net.clone(), fb.clone(), Credit::new(method, alpha), update);
                for x in &batches {
                    l.step(x, x).unwrap();
                }
                l.into_net()
            })
        };
        let (one, two) = (weights(1), weights(2));
        for (l, (a, b)) in one.layers.iter().zip(&two.layers).enumerate() {
            let same = (0..a.w.ncols())
                .all(|j| (0..a.w.nrows()).all(|i| a.w[(i, j)].to_bits() == b.w[(i, j)].to_bits()));
            assert!(
                same,
                "{method:?} α={alpha}: layer {} differs between 1 and 2 threads",
                l + 1
            );
        }
        let moved = (&two.layers[5].w - &net.layers[5].w).norm_l2();
        assert!(
            moved > 0.0,
            "{method:?}: the updates must change the weights"
        );
    }
}
