//! The real MNIST files, found through the default search order (`$DINV_DATA_DIR`,
//! `./data`, `<workspace>/data`). Absent data skips these tests with a notice, or fails
//! them under `DINV_REQUIRE_FULL_DATA=1` (as `.ci/run` sets).

mod common;

use std::sync::OnceLock;
use std::time::Instant;

use dinv_data::locate::DataDirs;
use dinv_data::mnist::{load_split, Dataset, SplitName, MNIST};
use dinv_data::preprocess::{Centering, PixelStats};

/// Published statistics of the training pixels after dividing by 255, rounded to four
/// decimals: the tests require agreement to that rounding (5e-5).
const MEAN: f64 = 0.1307;
const STD: f64 = 0.3081;

/// The dataset, loaded once for all tests; `None` when absent and not required.
fn mnist() -> Option<&'static Dataset> {
    static DATA: OnceLock<Option<Dataset>> = OnceLock::new();
    DATA.get_or_init(|| {
        let start = Instant::now();
        let data = common::full_or_skip(&MNIST, "dinv-data/tests/mnist_real.rs")?;
        eprintln!(
            "loaded and verified MNIST (train + test) in {:.2?}",
            start.elapsed()
        );
        Some(data)
    })
    .as_ref()
}

#[test]
fn sizes_and_checksums() {
    let Some(data) = mnist() else { return };
    assert_eq!(
        (data.train.n, data.train.rows, data.train.cols),
        (60_000, 28, 28)
    );
    assert_eq!(
        (data.test.n, data.test.rows, data.test.cols),
        (10_000, 28, 28)
    );
    assert_eq!(data.train.images.len(), 60_000 * 784);
    assert_eq!(data.test.labels.len(), 10_000);
    for split in [&data.train, &data.test] {
        assert_eq!(split.files.len(), 2);
        assert!(split.files.iter().all(|f| f.verified), "{:?}", split.files);
    }
    assert_eq!(
        data.train.files[0].sha256,
        MNIST.train_images.sha256.unwrap()
    );
}

#[test]
fn every_class_occurs_and_counts_add_up() {
    let Some(data) = mnist() else { return };
    for split in [&data.train, &data.test] {
        let counts = split.label_counts();
        assert_eq!(counts.iter().sum::<usize>(), split.n);
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    }
    // Published class counts of the training set.
    assert_eq!(
        data.train.label_counts(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
}

#[test]
fn training_pixel_statistics_match_published_values() {
    let Some(data) = mnist() else { return };
    let stats = PixelStats::fit(&data.train).unwrap();
    let mean = stats.global_mean / 255.0;
    let std = stats.global_std / 255.0;
    assert!((mean - MEAN).abs() < 5e-5, "mean {mean}");
    assert!((std - STD).abs() < 5e-5, "std {std}");
}

#[test]
fn per_pixel_centering_on_the_training_set() {
    let Some(data) = mnist() else { return };
    let stats = PixelStats::fit(&data.train).unwrap();
    let x = stats.normaliser(Centering::PerPixel).transform(&data.train);
    assert_eq!((x.nrows(), x.ncols()), (784, 60_000));
    let n = x.ncols() as f64;
    let mut sum = vec![0.0; 784];
    let mut sum_sq = 0.0;
    for j in 0..x.ncols() {
        for (i, &v) in x.col_as_slice(j).iter().enumerate() {
            sum[i] += v;
            sum_sq += v * v;
        }
    }
    for (i, s) in sum.iter().enumerate() {
        assert!((s / n).abs() < 1e-9, "pixel {i}: mean {}", s / n);
    }
    // The per-pixel means are zero, so the mean square is the variance.
    let var = sum_sq / (n * 784.0);
    assert!((var - 1.0).abs() < 1e-9, "variance {var}");
}

#[test]
fn training_split_alone_loads_and_verifies() {
    if mnist().is_none() {
        return;
    }
    let start = Instant::now();
    let train = load_split(&MNIST, &DataDirs::from_env(), SplitName::Train).unwrap();
    eprintln!(
        "loaded and verified the MNIST training split in {:.2?}",
        start.elapsed()
    );
    assert_eq!(train.n, 60_000);
    assert_eq!(train, mnist().unwrap().train);
}
