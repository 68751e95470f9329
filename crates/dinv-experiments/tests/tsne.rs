//! t-SNE for Fig. 4d: bit-reproducible, separates clusters, decreases the KL
//! divergence after early exaggeration, and rejects bad input with a clear error.

use dinv_experiments::tsne::{tsne, Embedding, TsneConfig, TsneError};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Standard normal samples by Box–Muller.
fn normals(rng: &mut ChaCha8Rng, count: usize) -> Vec<f64> {
    (0..count)
        .map(|_| {
            let u1 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect()
}

/// `per_blob` points around each of `blobs` centres `spacing · e_b` in `d` dimensions
/// with unit noise; returns the data (row-major) and each point's blob.
fn blobs(
    blobs: usize,
    per_blob: usize,
    d: usize,
    spacing: f64,
    seed: u64,
) -> (Vec<f64>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(blobs * per_blob * d);
    let mut label = Vec::with_capacity(blobs * per_blob);
    for b in 0..blobs {
        for _ in 0..per_blob {
            let noise = normals(&mut rng, d);
            data.extend(
                noise
                    .iter()
                    .enumerate()
                    .map(|(c, z)| z + if c == b % d { spacing } else { 0.0 }),
            );
            label.push(b);
        }
    }
    (data, label)
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn bits(e: &Embedding) -> Vec<[u64; 2]> {
    e.points
        .iter()
        .map(|p| [p[0].to_bits(), p[1].to_bits()])
        .collect()
}

fn cfg(seed: u64) -> TsneConfig {
    TsneConfig {
        seed,
        ..TsneConfig::default()
    }
}

#[test]
fn same_seed_gives_bit_identical_points_whatever_the_thread_count() {
    let (data, _) = blobs(3, 40, 10, 6.0, 1);
    let c = TsneConfig {
        iterations: 300,
        ..cfg(11)
    };
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| tsne(&data, 120, 10, &c).unwrap())
    };
    let first = run(1);
    let second = run(2);
    assert_eq!(bits(&first), bits(&second));
    assert_eq!(
        first.kl_divergence.to_bits(),
        second.kl_divergence.to_bits()
    );

    let other = tsne(&data, 120, 10, &TsneConfig { seed: 12, ..c }).unwrap();
    let moved = first
        .points
        .iter()
        .zip(&other.points)
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        moved > 100,
        "only {moved} of 120 points moved with another seed"
    );
}

#[test]
fn three_blobs_become_three_clusters() {
    let (n, d) = (180, 10);
    let (data, label) = blobs(3, 60, d, 10.0, 2);
    let e = tsne(&data, n, d, &cfg(3)).unwrap();
    assert_eq!(e.points.len(), n);

    for i in 0..n {
        let nearest = (0..n)
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                dist(e.points[i], e.points[a]).total_cmp(&dist(e.points[i], e.points[b]))
            })
            .unwrap();
        assert_eq!(
            label[i], label[nearest],
            "point {i}'s nearest embedded neighbour {nearest} is from another blob"
        );
    }

    let centroid = |b: usize| {
        let members: Vec<_> = (0..n).filter(|&i| label[i] == b).collect();
        let m = members.len() as f64;
        let s = members.iter().fold([0.0, 0.0], |s, &i| {
            [s[0] + e.points[i][0], s[1] + e.points[i][1]]
        });
        ([s[0] / m, s[1] / m], members)
    };
    let clusters: Vec<_> = (0..3).map(centroid).collect();
    // Spread: root-mean-square distance of a cluster's points to its centroid.
    let spread = clusters
        .iter()
        .map(|(c, members)| {
            let ms = members
                .iter()
                .map(|&i| dist(e.points[i], *c).powi(2))
                .sum::<f64>()
                / members.len() as f64;
            ms.sqrt()
        })
        .fold(0.0, f64::max);
    let mut separation = f64::INFINITY;
    for a in 0..3 {
        for b in a + 1..3 {
            separation = separation.min(dist(clusters[a].0, clusters[b].0));
        }
    }
    assert!(
        separation > 4.0 * spread,
        "closest centroids {separation:.3} apart, largest spread {spread:.3}"
    );
}

#[test]
fn kl_divergence_decreases_after_early_exaggeration() {
    let (data, _) = blobs(4, 50, 10, 4.0, 4);
    let at = |iterations: usize| {
        tsne(
            &data,
            200,
            10,
            &TsneConfig {
                iterations,
                ..cfg(5)
            },
        )
        .unwrap()
        .kl_divergence
    };
    let (end_of_exaggeration, middle, end) = (at(250), at(500), at(1000));
    assert!(end_of_exaggeration.is_finite() && end > 0.0);
    // The descent need not be monotone, but it must not climb back.
    assert!(
        end < 0.5 * end_of_exaggeration && end <= middle,
        "KL after 250 / 500 / 1000 iterations: {end_of_exaggeration} / {middle} / {end}"
    );
}

#[test]
fn embedding_is_centred() {
    let (data, _) = blobs(2, 50, 5, 5.0, 6);
    let e = tsne(
        &data,
        100,
        5,
        &TsneConfig {
            iterations: 200,
            perplexity: 10.0,
            ..cfg(7)
        },
    )
    .unwrap();
    for c in 0..2 {
        let mean = e.points.iter().map(|p| p[c]).sum::<f64>() / 100.0;
        assert!(mean.abs() < 1e-12, "coordinate {c} has mean {mean}");
    }
}

#[test]
fn auto_learning_rate_is_n_over_12_with_a_floor_of_50() {
    let auto = TsneConfig {
        learning_rate: TsneConfig::AUTO_LEARNING_RATE,
        ..TsneConfig::default()
    };
    assert_eq!(auto.learning_rate_for(2400), 200.0);
    assert_eq!(auto.learning_rate_for(300), 50.0);
    assert_eq!(TsneConfig::default().learning_rate_for(2400), 200.0);
    assert_eq!(TsneConfig::default().neighbours_for(), 90);
}

#[test]
fn too_few_points_for_the_perplexity_is_an_error() {
    let (data, _) = blobs(1, 90, 3, 0.0, 8);
    let err = tsne(&data, 90, 3, &cfg(0)).unwrap_err();
    assert_eq!(
        err,
        TsneError::TooFewPoints {
            n: 90,
            perplexity: 30.0,
            neighbours: 90
        }
    );
    assert!(err.to_string().contains("lower the perplexity"), "{err}");
    // One more point is enough.
    let (data, _) = blobs(1, 91, 3, 0.0, 8);
    let c = TsneConfig {
        iterations: 10,
        ..cfg(0)
    };
    assert!(tsne(&data, 91, 3, &c).is_ok());
}

#[test]
fn non_finite_input_is_an_error_naming_the_point() {
    let (mut data, _) = blobs(1, 100, 4, 0.0, 9);
    data[37 * 4 + 2] = f64::NAN;
    match tsne(&data, 100, 4, &cfg(0)) {
        Err(TsneError::NonFinite { point, coord, .. }) => assert_eq!((point, coord), (37, 2)),
        other => panic!("expected NonFinite, got {other:?}"),
    }
    data[37 * 4 + 2] = f64::INFINITY;
    assert!(matches!(
        tsne(&data, 100, 4, &cfg(0)),
        Err(TsneError::NonFinite { point: 37, .. })
    ));
}

#[test]
fn data_length_must_be_n_times_d() {
    let data = vec![0.5; 400];
    for (n, d) in [(100, 5), (99, 4), (400, 0)] {
        assert_eq!(
            tsne(&data, n, d, &cfg(0)).unwrap_err(),
            TsneError::BadShape { len: 400, n, d }
        );
    }
}

#[test]
fn settings_that_cannot_work_are_errors() {
    let (data, _) = blobs(1, 200, 3, 0.0, 10);
    for bad in [
        TsneConfig {
            perplexity: 0.5,
            ..cfg(0)
        },
        TsneConfig {
            perplexity: f64::NAN,
            ..cfg(0)
        },
        TsneConfig {
            neighbours: Some(30),
            ..cfg(0)
        },
        TsneConfig {
            learning_rate: f64::INFINITY,
            ..cfg(0)
        },
        TsneConfig {
            early_exaggeration: 0.0,
            ..cfg(0)
        },
    ] {
        assert!(
            matches!(tsne(&data, 200, 3, &bad), Err(TsneError::Config(_))),
            "{bad:?} was accepted"
        );
    }
}

/// The size of Fig. 4d: 2000 codes of dimension 30 in ten classes. Slow in an
/// unoptimised build, so run on demand: `cargo test --test tsne -- --ignored`.
#[test]
fn fig4d_sized_run_separates_ten_classes() {
    let (n, d) = (2000, 30);
    let (data, label) = blobs(10, 200, d, 8.0, 12);
    let start = std::time::Instant::now();
    let e = tsne(&data, n, d, &cfg(13)).unwrap();
    eprintln!(
        "t-SNE n = {n}, d = {d}, 1000 iterations: {:.2} s, KL = {:.4}",
        start.elapsed().as_secs_f64(),
        e.kl_divergence
    );
    let agree = (0..n)
        .filter(|&i| {
            let nearest = (0..n)
                .filter(|&j| j != i)
                .min_by(|&a, &b| {
                    dist(e.points[i], e.points[a]).total_cmp(&dist(e.points[i], e.points[b]))
                })
                .unwrap();
            label[i] == label[nearest]
        })
        .count();
    assert!(agree as f64 > 0.99 * n as f64, "1-NN agreement {agree}/{n}");
}
