//! The subsets shipped in `fixtures/subsets/`: always present, verified, and the first
//! examples of the full datasets (checked whenever the full data is installed).

mod common;

use dinv_data::mnist::{load, FASHION_MNIST, MNIST};
use dinv_data::subset;

#[test]
fn subsets_load_verified_with_every_class() {
    for (full, first_label) in [(&MNIST, 5), (&FASHION_MNIST, 9)] {
        let spec = subset::of(full).expect("every dataset has a shipped subset");
        let data = load(spec, &subset::dirs()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((data.train.n, data.test.n), (subset::TRAIN, subset::TEST));
        assert_eq!((data.train.rows, data.train.cols), (28, 28));
        for split in [&data.train, &data.test] {
            assert!(split.files.iter().all(|f| f.verified), "{:?}", split.files);
            assert!(split
                .files
                .iter()
                .all(|f| f.path.starts_with(subset::root())));
            // Enough of every class for a smoke run to learn from.
            let counts = split.label_counts();
            assert!(counts.iter().all(|&c| c >= split.n / 20), "{counts:?}");
        }
        // The first training label tells the datasets apart (5 in MNIST, an ankle
        // boot in Fashion-MNIST).
        assert_eq!(data.train.labels[0], first_label, "{}", spec.name);
    }
}

#[test]
fn subsets_are_the_first_examples_of_the_full_datasets() {
    for full in [&MNIST, &FASHION_MNIST] {
        let Some(data) = common::full_or_skip(full, "dinv-data/tests/subsets.rs") else {
            continue;
        };
        let sub = load(subset::of(full).unwrap(), &subset::dirs()).unwrap();
        for (s, f) in [(&sub.train, &data.train), (&sub.test, &data.test)] {
            let bytes = s.n * s.pixels_per_image();
            assert_eq!(s.images, f.images[..bytes], "{} images", full.name);
            assert_eq!(s.labels, f.labels[..s.n], "{} labels", full.name);
        }
    }
}
