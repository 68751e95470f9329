//! The real Fashion-MNIST files, found through the default search order, which ends in
//! `/usr/share/datasets` where Debian's `dataset-fashion-mnist` installs them (`.ci/run`
//! installs that package). Absent data skips this test with a notice, or fails it under
//! `DINV_REQUIRE_FULL_DATA=1`.

mod common;

use dinv_data::mnist::FASHION_MNIST;

#[test]
fn fashion_mnist_is_the_published_balanced_dataset() {
    let Some(data) = common::full_or_skip(&FASHION_MNIST, "dinv-data/tests/fashion_real.rs") else {
        return;
    };
    for (split, n) in [(&data.train, 60_000), (&data.test, 10_000)] {
        assert_eq!((split.n, split.rows, split.cols), (n, 28, 28));
        assert!(split.files.iter().all(|f| f.verified), "{:?}", split.files);
        // Xiao et al. built both splits with the same number of images per class.
        assert_eq!(split.label_counts(), [n / 10; 10]);
    }
    // Not MNIST under another name: the first training label of Fashion-MNIST is
    // 9 (ankle boot), MNIST's is 5.
    assert_eq!(data.train.labels[0], 9);
}
