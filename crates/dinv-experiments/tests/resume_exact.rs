//! Training resumed from the state at *any* point the training loops offer to a
//! checkpoint ends bit for bit where uninterrupted training ends: the classification
//! loop at every block boundary (DI re-stabilising its feedback on the way), the
//! autoencoder's at every batch boundary (PBP and NDI, whose kept products drift
//! between exact recomputations, across one). In memory, on small synthetic data; the
//! checkpoint files and a real kill are tested in `checkpoint_resume.rs`.

use dinv_core::dynamics::{Dynamics, Integration, Solver};
use dinv_core::init::uniform_mat;
use dinv_core::{Activation, Credit, DiSettings, Feedback, Layer, Method, Network, UpdateRule};
use dinv_data::mnist::Split;
use dinv_data::preprocess::{Centering, Normaliser, PixelStats};
use faer::Mat;
use rand::{RngExt, SeedableRng};

fn split(n: usize, seed: u64) -> Split {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Split {
        images: (0..n * 16).map(|_| rng.random_range(0..=255u8)).collect(),
        labels: (0..n).map(|_| rng.random_range(0..10u8)).collect(),
        n,
        rows: 4,
        cols: 4,
        files: Vec::new(),
    }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn mat_bits(m: &Mat<f64>) -> Vec<u64> {
    (0..m.ncols())
        .flat_map(|j| bits(m.col_as_slice(j)))
        .collect()
}

#[test]
fn classification_resumes_exactly_from_every_block_boundary() {
    use dinv_experiments::classification::train::{train_from, Classifier, Output, Setup};
    let train_set = split(40, 4);
    let test_set = split(10, 5);
    let norm = PixelStats::fit(&train_set)
        .unwrap()
        .normaliser(Centering::PerPixel);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let (h, c, d) = (30, 10, 16);
    let w1 = uniform_mat(&mut rng, h, d, -0.3, 0.3);
    let w2 = uniform_mat(&mut rng, c, h, -0.3, 0.3);
    // Two epochs of 40 in blocks of at most 8, evaluated every 14 examples: blocks end
    // at evaluations, at epochs' ends and in between.
    let orders: Vec<Vec<usize>> = vec![(0..40).collect(), (0..40).rev().collect()];
    let di = Credit::new(Method::Di, 0.05).with_di(DiSettings {
        dynamics: Dynamics::Nonlinear,
        solver: Solver::SteadyStateOrEuler,
        integration: Integration {
            dt: 0.1,
            steps: 2000,
            ..Integration::default()
        },
        ..DiSettings::default()
    });
    for (credit, b_sign, restabilise) in [
        // B = +W_2^T: unstable, so B_2 is re-stabilised along the way.
        (di, -1.0, Some(dinv_core::SsaConfig::default())),
        (Credit::new(Method::Ndi, 0.01), 1.0, None),
    ] {
        let b_fb = dinv_core::feedback::neg_transpose(w2.as_ref(), b_sign);
        let setup = || Setup {
            name: "t",
            model: Classifier {
                w1: w1.clone(),
                b1: vec![0.0; h],
                w2: w2.clone(),
                b2: vec![0.0; c],
                b_fb: Some(b_fb.clone()),
                act: Activation::Tanh,
            },
            credit,
            update: UpdateRule::sgd(0.01),
            train: &train_set,
            test: &test_set,
            normaliser: &norm,
            orders: &orders,
            evaluations_per_epoch: 3,
            window: 8,
            euler_check_every: 25,
            euler_reference: Integration {
                dt: 0.1,
                steps: 500,
                ..Integration::default()
            },
            restabilise,
            diagnostics: true,
        };
        let mut states = Vec::new();
        let full = train_from(setup(), None, |_| {}, |st| states.push(st.clone())).unwrap();
        let key = |o: &Output| {
            let m = &o.model;
            (
                [mat_bits(&m.w1), mat_bits(&m.w2), bits(&m.b1), bits(&m.b2)],
                mat_bits(m.b_fb.as_ref().unwrap()),
                (o.log.step.clone(), o.log.metric.clone(), bits(&o.log.value)),
            )
        };
        if restabilise.is_some() {
            assert!(full.log.metric.contains(&"restabilised_from"));
            assert!(full.log.metric.contains(&"check_max"));
        }
        assert!(states.len() > 12, "{} block ends", states.len());
        assert!(states.iter().any(|s| s.pos == 0 && s.step == 40));
        for st in states {
            let at = (st.epoch, st.pos);
            let resumed = train_from(setup(), Some(st), |_| {}, |_| {}).unwrap();
            assert!(
                key(&resumed) == key(&full),
                "{:?}: resumed at {at:?} differs",
                credit.method
            );
        }
    }
}

#[test]
fn autoencoder_resumes_exactly_from_every_batch_boundary() {
    use dinv_core::batch::kept::REFRESH;
    use dinv_core::batch::Learner;
    use dinv_experiments::autoencoder::train::{train_from, Images, TrainSetup};
    let train_set = split(20, 7);
    let test_set = split(6, 8);
    let norm = Normaliser::unit_interval(16);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let dims = [16, 12, 6, 12, 16];
    let acts = [
        Activation::Tanh,
        Activation::Linear,
        Activation::Tanh,
        Activation::Linear,
    ];
    let net = Network::new(
        (1..dims.len())
            .map(|l| Layer {
                w: uniform_mat(&mut rng, dims[l], dims[l - 1], -0.5, 0.5),
                b: Some(vec![0.0; dims[l]]),
                act: acts[l - 1],
            })
            .collect(),
    )
    .unwrap();
    let mut fb = Feedback::none(net.depth());
    for i in 1..net.depth() {
        fb.b[i] = Some(dinv_core::feedback::neg_transpose(
            net.layers[i].w.as_ref(),
            1.0,
        ));
    }
    let update = UpdateRule {
        learning_rate: 5e-3,
        weight_decay: 1e-4,
        decay: dinv_core::DecayMode::PerUpdate,
        ..UpdateRule::sgd(5e-3)
    };
    // 10 batches per epoch, 12 epochs: 120 updates, across the exact recomputation of
    // the kept products after update 100.
    let (batch_size, epochs) = (2, 12);
    assert!(epochs * 10 > REFRESH && epochs * 10 < 2 * REFRESH);
    for (method, alpha) in [(Method::Pbp, 0.0), (Method::Ndi, 0.01)] {
        let credit = Credit::new(method, alpha);
        let setup = |learner: Learner| TrainSetup {
            name: "t",
            learner,
            train: Images {
                split: &train_set,
                n: 20,
                normaliser: &norm,
            },
            test: Images {
                split: &test_set,
                n: 6,
                normaliser: &norm,
            },
            epochs,
            batch_size,
            order_seed: 42,
        };
        let fresh = || Learner::new(net.clone(), fb.clone(), credit, update);
        type Products = (Vec<Option<Vec<u64>>>, usize);
        let products = |l: &Learner| -> Products {
            let (p, updates) = l.kept_products();
            (p.iter().map(|p| p.map(mat_bits)).collect(), updates)
        };
        let mut saved = Vec::new();
        let mut last = None;
        let full = train_from(
            setup(fresh()),
            None,
            |_| {},
            |at, l| {
                let (p, updates) = l.kept_products();
                saved.push((
                    at.clone(),
                    l.net().clone(),
                    p.iter().map(|p| p.cloned()).collect::<Vec<_>>(),
                    updates,
                ));
                last = Some(products(l));
            },
        )
        .unwrap();
        let full_products = last.unwrap();
        assert_eq!(full_products.1, 120);
        assert!(full_products.0.iter().flatten().count() == 3);
        let net_bits = |n: &Network| -> Vec<Vec<u64>> {
            n.layers
                .iter()
                .flat_map(|l| [mat_bits(&l.w), bits(l.b.as_ref().unwrap())])
                .collect()
        };
        assert_eq!(saved.len(), 120);
        for (at, net_then, products_then, updates) in saved {
            let mut learner = fresh();
            learner.restore(net_then, products_then, updates).unwrap();
            let where_ = (at.epoch, at.batch);
            let mut last = None;
            let resumed = train_from(
                setup(learner),
                Some(at),
                |_| {},
                |_, l| last = Some(products(l)),
            )
            .unwrap();
            assert!(
                net_bits(&resumed.net) == net_bits(&full.net),
                "{method:?}: resumed at {where_:?}: weights differ"
            );
            assert!(
                resumed.log == full.log && bits(&resumed.log.value) == bits(&full.log.value),
                "{method:?}: resumed at {where_:?}: metrics differ"
            );
            if let Some(p) = last {
                assert!(
                    p == full_products,
                    "{method:?}: resumed at {where_:?}: kept products differ"
                );
            }
        }
    }
}
