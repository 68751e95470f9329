//! The real Fashion-MNIST files, found through the default search order, which ends in
//! `/usr/share/datasets` where Debian's `dataset-fashion-mnist` installs them (`.ci/run`
//! installs that package). Absent data fails these tests with the loader's message,
//! unless `DINV_SKIP_REAL_DATA=1` says to skip them.

use dinv_data::error::DataError;
use dinv_data::locate::DataDirs;
use dinv_data::mnist::{load, FASHION_MNIST};

#[test]
fn fashion_mnist_is_the_published_balanced_dataset() {
    let data = match load(&FASHION_MNIST, &DataDirs::from_env()) {
        Ok(data) => data,
        Err(err @ DataError::NotFound { .. })
            if std::env::var("DINV_SKIP_REAL_DATA").is_ok_and(|v| v == "1") =>
        {
            eprintln!("skipping real Fashion-MNIST test (DINV_SKIP_REAL_DATA=1): {err}");
            return;
        }
        Err(err) => panic!("{err}\n(set DINV_SKIP_REAL_DATA=1 to skip the real-data tests)"),
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
