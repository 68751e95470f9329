//! IDX reader, dataset loader and preprocessing on small files made here: every
//! validation rule has a file that breaks it, and each error is checked for its variant
//! and for a message that names the file and the expectation.

use std::io::Write;
use std::path::{Path, PathBuf};

use dinv_data::error::DataError;
use dinv_data::idx::{
    parse_idx_images, parse_idx_labels, read_idx_images, read_idx_labels, sha256_hex,
};
use dinv_data::locate::DataDirs;
use dinv_data::mnist::{load, load_split, DatasetSpec, FileSpec, Split, SplitName};
use dinv_data::preprocess::{one_hot, one_hot_batch_into, Centering, Normaliser, PixelStats};
use faer::Mat;
use flate2::write::GzEncoder;
use flate2::Compression;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tempfile::TempDir;

const N: usize = 5;
const ROWS: usize = 4;
const COLS: usize = 3;
const LABELS: [u8; N] = [3, 0, 9, 1, 3];

// ---------------------------------------------------------------- IDX builders

fn idx_bytes(type_code: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_code, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn pixels() -> Vec<u8> {
    // Distinct, position-dependent values so that any reordering would be caught.
    (0..N * ROWS * COLS).map(|i| (i * 7 % 256) as u8).collect()
}

fn images_bytes() -> Vec<u8> {
    idx_bytes(0x08, &[N as u32, ROWS as u32, COLS as u32], &pixels())
}

fn labels_bytes(labels: &[u8]) -> Vec<u8> {
    idx_bytes(0x08, &[labels.len() as u32], labels)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Asserts that the message names the file and contains every expected fragment
/// (fragments ignore case: "Re-copy" at the start of a sentence is "re-copy").
fn assert_message(err: &DataError, file: &str, fragments: &[&str]) {
    let msg = err.to_string();
    assert!(msg.contains(file), "message does not name {file}: {msg}");
    for f in fragments {
        assert!(
            msg.to_lowercase().contains(&f.to_lowercase()),
            "message lacks {f:?}: {msg}"
        );
    }
}

// ---------------------------------------------------------------- valid files

#[test]
fn valid_files_round_trip_raw_and_gzip() {
    let dir = TempDir::new().unwrap();
    for (suffix, enc) in [("raw", false), ("gz", true)] {
        let maybe_gz = |b: Vec<u8>| if enc { gzip(&b) } else { b };
        let img = write(
            dir.path(),
            &format!("img.{suffix}"),
            &maybe_gz(images_bytes()),
        );
        let lab = write(
            dir.path(),
            &format!("lab.{suffix}"),
            &maybe_gz(labels_bytes(&LABELS)),
        );

        let images = read_idx_images(&img).unwrap();
        assert_eq!(
            (images.value.n, images.value.rows, images.value.cols),
            (N, ROWS, COLS)
        );
        assert_eq!(images.value.pixels, pixels());
        // The digest is of the decompressed bytes, whatever the compression.
        assert_eq!(images.sha256, sha256_hex(&images_bytes()));

        let labels = read_idx_labels(&lab).unwrap();
        assert_eq!(labels.value, LABELS);
        assert_eq!(labels.sha256, sha256_hex(&labels_bytes(&LABELS)));
    }
}

#[test]
fn gzip_is_detected_by_content_not_name() {
    let dir = TempDir::new().unwrap();
    // Compressed without .gz, raw with .gz: both read correctly.
    let a = write(dir.path(), "images", &gzip(&images_bytes()));
    let b = write(dir.path(), "images.gz", &images_bytes());
    assert_eq!(read_idx_images(a).unwrap().value.pixels, pixels());
    assert_eq!(read_idx_images(b).unwrap().value.pixels, pixels());
}

#[test]
fn in_memory_variants_match_files() {
    let images = parse_idx_images(&gzip(&images_bytes()), "mem-images").unwrap();
    assert_eq!(images.value.pixels, pixels());
    let labels = parse_idx_labels(&labels_bytes(&LABELS), "mem-labels").unwrap();
    assert_eq!(labels.value, LABELS);
}

// ---------------------------------------------------------------- structural errors

#[test]
fn truncated_payload_reports_expected_and_found_bytes() {
    let mut bytes = images_bytes();
    bytes.truncate(bytes.len() - 2);
    for (name, data) in [
        ("short-images", bytes.clone()),
        ("short-images.gz", gzip(&bytes)),
    ] {
        let err = parse_idx_images(&data, name).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 60,
                    found: 58,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_message(
            &err,
            name,
            &["5 × 4 × 3", "60 bytes", "found 58", "re-copy"],
        );
    }
}

#[test]
fn trailing_bytes_are_an_error() {
    let mut bytes = labels_bytes(&LABELS);
    bytes.extend_from_slice(&[1, 2, 3]);
    let err = parse_idx_labels(&gzip(&bytes), "long-labels.gz").unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TrailingBytes {
                expected: 5,
                found: 8,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "long-labels.gz", &["trailing", "5 bytes", "found 8"]);
}

#[test]
fn wrong_magic_is_rejected() {
    let mut bytes = images_bytes();
    bytes[0] = 0x50;
    bytes[1] = 0x4b; // a zip file, say
    let err = parse_idx_images(&bytes, "zip-images").unwrap_err();
    assert!(matches!(err, DataError::BadMagic { .. }), "{err:?}");
    assert_message(
        &err,
        "zip-images",
        &[
            "expected the magic to start with 00 00",
            "found 50 4b 08 03",
        ],
    );
}

#[test]
fn float_type_code_is_named() {
    let bytes = idx_bytes(
        0x0D,
        &[N as u32, ROWS as u32, COLS as u32],
        &[0; N * ROWS * COLS * 4],
    );
    let err = parse_idx_images(&bytes, "float-images").unwrap_err();
    assert!(
        matches!(err, DataError::UnsupportedType { code: 0x0D, .. }),
        "{err:?}"
    );
    assert_message(
        &err,
        "float-images",
        &["0x0D (f32)", "expected 0x08 (unsigned byte)"],
    );
}

#[test]
fn wrong_dimension_count_is_rejected() {
    // A labels file given as images, and an images file given as labels.
    let err = parse_idx_images(&labels_bytes(&LABELS), "labels-as-images").unwrap_err();
    assert!(
        matches!(
            err,
            DataError::WrongDimensions {
                expected: 3,
                found: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        "labels-as-images",
        &["expected", "3 dimension(s), found 1"],
    );

    let err = parse_idx_labels(&images_bytes(), "images-as-labels").unwrap_err();
    assert!(
        matches!(
            err,
            DataError::WrongDimensions {
                expected: 1,
                found: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "images-as-labels", &["1 dimension(s), found 3"]);
}

#[test]
fn label_ten_is_rejected() {
    let err = parse_idx_labels(&labels_bytes(&[1, 2, 10, 3]), "bad-labels").unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 2,
                value: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        "bad-labels",
        &["index 2 is 10", "expected a digit class 0..=9"],
    );
}

#[test]
fn truncated_gzip_stream_is_rejected() {
    let gz = gzip(&images_bytes());
    let cut = &gz[..gz.len() / 2];
    let err = parse_idx_images(cut, "cut-images.gz").unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert_message(
        &err,
        "cut-images.gz",
        &[
            "not an intact gzip stream",
            "Expected a complete .gz",
            "re-copy",
        ],
    );
}

#[test]
fn empty_file_is_rejected() {
    let dir = TempDir::new().unwrap();
    let path = write(dir.path(), "empty-labels", &[]);
    let err = read_idx_labels(&path).unwrap_err();
    assert!(matches!(err, DataError::Empty { .. }), "{err:?}");
    assert_message(
        &err,
        "empty-labels",
        &["is empty", "expected an IDX labels", "found 0 bytes"],
    );
}

#[test]
fn truncated_header_is_rejected() {
    let bytes = &images_bytes()[..9];
    let err = parse_idx_images(bytes, "stub-images").unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TruncatedHeader {
                expected: 16,
                found: 9,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "stub-images", &["expected 16 header bytes, found 9"]);
}

#[test]
fn huge_declared_size_does_not_allocate_or_panic() {
    let bytes = idx_bytes(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]);
    let err = parse_idx_images(&bytes, "huge-images").unwrap_err();
    assert!(matches!(err, DataError::TooLarge { .. }), "{err:?}");
    assert_message(&err, "huge-images", &["MAX_PAYLOAD_BYTES", "damaged"]);
    // Just within the bound, a short payload is a truncation, not an allocation.
    let rows = (dinv_data::idx::MAX_PAYLOAD_BYTES / (28 * 28)) as u32;
    let bytes = idx_bytes(0x08, &[rows, 28, 28], &[1, 2, 3]);
    let err = parse_idx_images(&bytes, "big-images").unwrap_err();
    assert!(
        matches!(err, DataError::Truncated { found: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn unreadable_path_names_the_file() {
    let dir = TempDir::new().unwrap();
    // A folder where a file is expected.
    let err = read_idx_images(dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    assert_message(&err, &dir.path().display().to_string(), &["cannot read"]);
}

// ---------------------------------------------------------------- datasets

/// A dataset in `<root>/tiny/` built from the small files, with optional checksums.
const TINY: DatasetSpec = DatasetSpec {
    name: "Tiny",
    dir: "tiny",
    train_images: FileSpec {
        name: "train-images-idx3-ubyte",
        sha256: None,
        shape: None,
    },
    train_labels: FileSpec {
        name: "train-labels-idx1-ubyte",
        sha256: None,
        shape: None,
    },
    test_images: FileSpec {
        name: "t10k-images-idx3-ubyte",
        sha256: None,
        shape: None,
    },
    test_labels: FileSpec {
        name: "t10k-labels-idx1-ubyte",
        sha256: None,
        shape: None,
    },
    mirrors: &[],
    mirrors_env: None,
};

/// Writes the tiny dataset (train gzipped, test raw) and returns its root.
fn tiny_root(train_labels: &[u8]) -> TempDir {
    let root = TempDir::new().unwrap();
    let dir = root.path().join("tiny");
    std::fs::create_dir(&dir).unwrap();
    write(&dir, "train-images-idx3-ubyte.gz", &gzip(&images_bytes()));
    write(
        &dir,
        "train-labels-idx1-ubyte.gz",
        &gzip(&labels_bytes(train_labels)),
    );
    write(&dir, "t10k-images-idx3-ubyte", &images_bytes());
    write(&dir, "t10k-labels-idx1-ubyte", &labels_bytes(&LABELS));
    root
}

#[test]
fn dataset_loads_with_and_without_checksums() {
    let root = tiny_root(&LABELS);
    let dirs = DataDirs::new([root.path()]);
    let data = load(&TINY, &dirs).unwrap();
    assert_eq!(data.train.images, pixels());
    assert_eq!(data.test.labels, LABELS);
    assert_eq!(
        (data.test.n, data.test.rows, data.test.cols),
        (N, ROWS, COLS)
    );
    assert!(data.train.files.iter().all(|f| !f.verified));

    let known = DatasetSpec {
        train_images: FileSpec {
            name: "train-images-idx3-ubyte",
            sha256: Some(leak(sha256_hex(&images_bytes()))),
            shape: None,
        },
        ..TINY
    };
    let train = load_split(&known, &dirs, SplitName::Train).unwrap();
    assert!(train.files[0].verified);
    assert!(train.files[0]
        .path
        .ends_with("tiny/train-images-idx3-ubyte.gz"));
    assert_eq!(train.files[1].sha256, sha256_hex(&labels_bytes(&LABELS)));
}

#[test]
fn checksum_mismatch_names_expected_and_actual() {
    let root = tiny_root(&LABELS);
    let wrong = "00".repeat(32);
    let spec = DatasetSpec {
        test_labels: FileSpec {
            name: "t10k-labels-idx1-ubyte",
            sha256: Some(leak(wrong.clone())),
            shape: None,
        },
        ..TINY
    };
    let err = load_split(&spec, &DataDirs::new([root.path()]), SplitName::Test).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err:?}");
    let actual = sha256_hex(&labels_bytes(&LABELS));
    assert_message(
        &err,
        "t10k-labels-idx1-ubyte",
        &[
            &format!("expected SHA-256 {wrong}"),
            &format!("found {actual}"),
            "re-copy",
        ],
    );
}

#[test]
fn image_label_count_mismatch_is_rejected() {
    let root = tiny_root(&LABELS[..4]);
    let err = load_split(&TINY, &DataDirs::new([root.path()]), SplitName::Train).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 5,
                labels: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        "train-labels-idx1-ubyte.gz",
        &[
            "train-images-idx3-ubyte.gz",
            "5 images",
            "4 labels",
            "expected the same count",
        ],
    );
}

#[test]
fn missing_file_lists_every_place_looked() {
    let first = TempDir::new().unwrap();
    let second = tiny_root(&LABELS);
    std::fs::remove_file(second.path().join("tiny/t10k-images-idx3-ubyte")).unwrap();
    let dirs = DataDirs::new([first.path(), second.path()]);
    let err = load(&TINY, &dirs).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    let first_dir = first.path().join("tiny").display().to_string();
    let second_dir = second.path().join("tiny").display().to_string();
    assert_message(
        &err,
        "t10k-images-idx3-ubyte(.gz)",
        &[
            "Tiny file not found",
            &first_dir,
            "folder does not exist",
            &second_dir,
            "contains tiny/",
        ],
    );
}

#[test]
fn earlier_root_wins_and_gz_before_raw() {
    let a = tiny_root(&LABELS);
    let b = tiny_root(&LABELS);
    // In `a`, give train labels both forms; the raw one is broken, so reading it would fail.
    write(&a.path().join("tiny"), "train-labels-idx1-ubyte", &[]);
    let dirs = DataDirs::new([a.path(), b.path()]);
    let train = load_split(&TINY, &dirs, SplitName::Train).unwrap();
    assert!(train.files[1].path.starts_with(a.path()));
    assert!(train.files[1].path.extension().is_some_and(|e| e == "gz"));
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

// ---------------------------------------------------------------- preprocessing

fn random_split(n: usize, pixels: usize, seed: u64, bright: bool) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let images = (0..n * pixels)
        .map(|i| {
            // Pixel-dependent means, so that per-pixel and global centering differ.
            let base: u8 = if bright { 100 } else { (i % pixels * 20) as u8 };
            base.saturating_add(rng.random_range(0..=100u8))
        })
        .collect();
    Split {
        images,
        labels: (0..n).map(|k| (k % 10) as u8).collect(),
        n,
        rows: pixels,
        cols: 1,
        files: Vec::new(),
    }
}

fn row_means(m: &Mat<f64>) -> Vec<f64> {
    (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| m[(i, j)]).sum::<f64>() / m.ncols() as f64)
        .collect()
}

fn mean_and_var(m: &Mat<f64>) -> (f64, f64) {
    let count = (m.nrows() * m.ncols()) as f64;
    let values = || (0..m.ncols()).flat_map(move |j| (0..m.nrows()).map(move |i| m[(i, j)]));
    let mean = values().sum::<f64>() / count;
    let var = values().map(|x| (x - mean).powi(2)).sum::<f64>() / count;
    (mean, var)
}

#[test]
fn per_pixel_centering_gives_zero_pixel_means_and_unit_variance() {
    let train = random_split(500, 12, 1, false);
    let stats = PixelStats::fit(&train).unwrap();
    let x = stats.normaliser(Centering::PerPixel).transform(&train);
    assert_eq!((x.nrows(), x.ncols()), (12, 500));
    for m in row_means(&x) {
        assert!(m.abs() < 1e-12, "pixel mean {m}");
    }
    let (_, var) = mean_and_var(&x);
    assert!((var - 1.0).abs() < 1e-12, "variance {var}");
}

#[test]
fn global_centering_gives_zero_mean_and_unit_std() {
    let train = random_split(500, 12, 2, false);
    let stats = PixelStats::fit(&train).unwrap();
    let x = stats.normaliser(Centering::Global).transform(&train);
    let (mean, var) = mean_and_var(&x);
    assert!(mean.abs() < 1e-12, "mean {mean}");
    assert!((var - 1.0).abs() < 1e-12, "variance {var}");
    // Pixel means differ in this data, so global centering leaves them non-zero.
    assert!(row_means(&x).iter().any(|m| m.abs() > 0.5));
}

#[test]
fn test_split_uses_training_statistics() {
    let train = random_split(300, 12, 3, false);
    let test = random_split(200, 12, 4, true);
    let stats = PixelStats::fit(&train).unwrap();
    for centering in [Centering::PerPixel, Centering::Global] {
        let norm = stats.normaliser(centering);
        let x = norm.transform(&test);
        // Element-wise: (x - train offset) / train scale.
        for (k, i) in [(0, 0), (7, 5), (199, 11)] {
            let expected = (f64::from(test.image(k)[i]) - norm.offset()[i]) / norm.scale();
            assert_eq!(x[(i, k)], expected);
        }
        // Fitting on the test split instead would have centred it; the training statistics do not.
        let (mean, _) = mean_and_var(&x);
        assert!(
            mean.abs() > 0.1,
            "{centering:?}: test mean {mean} looks test-fitted"
        );
    }
}

#[test]
fn batch_and_example_variants_match_the_whole_transform() {
    let train = random_split(50, 12, 5, false);
    let norm = PixelStats::fit(&train)
        .unwrap()
        .normaliser(Centering::PerPixel);
    let full = norm.transform(&train);
    let indices = [4, 0, 49, 4];
    let mut batch = Mat::<f64>::zeros(12, indices.len());
    norm.batch_into(&train, &indices, batch.as_mut());
    // Also into a row-major matrix, whose columns are not contiguous.
    let mut row_major = Mat::<f64>::zeros(indices.len(), 12);
    norm.batch_into(&train, &indices, row_major.as_mut().transpose_mut());
    let mut one = vec![0.0; 12];
    for (j, &k) in indices.iter().enumerate() {
        norm.example_into(train.image(k), &mut one);
        for i in 0..12 {
            assert_eq!(batch[(i, j)], full[(i, k)]);
            assert_eq!(row_major[(j, i)], full[(i, k)]);
            assert_eq!(one[i], full[(i, k)]);
        }
    }
}

#[test]
fn unit_interval_maps_0_to_0_and_255_to_1() {
    let split = Split {
        images: vec![0, 255, 51, 0, 255, 102],
        labels: vec![0, 1],
        n: 2,
        rows: 1,
        cols: 3,
        files: Vec::new(),
    };
    let x = Normaliser::unit_interval(3).transform(&split);
    assert_eq!(x[(0, 0)], 0.0);
    assert_eq!(x[(1, 0)], 1.0);
    assert_eq!(x[(2, 0)], 0.2);
    assert_eq!(x[(2, 1)], 0.4);
}

#[test]
fn one_hot_has_one_one_per_column() {
    let labels = [3, 0, 9];
    let y = one_hot(&labels);
    assert_eq!((y.nrows(), y.ncols()), (10, 3));
    for (j, &l) in labels.iter().enumerate() {
        for i in 0..10 {
            assert_eq!(y[(i, j)], if i == usize::from(l) { 1.0 } else { 0.0 });
        }
    }
    let mut batch = Mat::<f64>::from_fn(10, 2, |_, _| 7.0);
    one_hot_batch_into(&labels, &[2, 0], batch.as_mut());
    assert_eq!(batch.col(0).iter().sum::<f64>(), 1.0);
    assert_eq!((batch[(9, 0)], batch[(3, 1)]), (1.0, 1.0));
}

#[test]
fn fitting_identical_images_is_an_error_not_a_nan() {
    let split = Split {
        images: vec![5, 6, 5, 6],
        labels: vec![0, 1],
        n: 2,
        rows: 1,
        cols: 2,
        files: Vec::new(),
    };
    let err = PixelStats::fit(&split).unwrap_err();
    assert!(matches!(err, DataError::Degenerate { .. }), "{err:?}");
    assert!(
        err.to_string().contains("expected pixel values that vary"),
        "{err}"
    );
}

/// Fashion-MNIST has MNIST's file names and format: its own folder under the same data
/// root loads through the same reader, a root without it names the folder it wanted,
/// and files that are not the published ones fail their checksum.
#[test]
fn fashion_mnist_loads_from_its_own_folder() {
    use dinv_data::mnist::FASHION_MNIST;
    let root = tiny_root(&LABELS);
    let err = load(&FASHION_MNIST, &DataDirs::new([root.path()])).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("fashion-mnist") && text.contains("train-images-idx3-ubyte"),
        "{text}"
    );
    std::fs::rename(root.path().join("tiny"), root.path().join("fashion-mnist")).unwrap();
    // Files that are not the published ones: their header already declares another
    // shape than Fashion-MNIST's, which is rejected before the payload is read.
    let err = load(&FASHION_MNIST, &DataDirs::new([root.path()])).unwrap_err();
    assert!(matches!(err, DataError::UnexpectedShape { .. }), "{err:?}");
    assert_message(&err, "train-images", &["60000 × 28 × 28", "5 × 4 × 3"]);
    // With the shape unchecked, the checksum still rejects them.
    let shape_free = DatasetSpec {
        train_images: FileSpec {
            shape: None,
            ..FASHION_MNIST.train_images
        },
        ..FASHION_MNIST
    };
    let err = load(&shape_free, &DataDirs::new([root.path()])).unwrap_err();
    assert!(matches!(err, DataError::ChecksumMismatch { .. }), "{err:?}");
    // The same files under a spec without checksums: the structure alone is checked.
    let unverified = DatasetSpec {
        train_images: FileSpec {
            sha256: None,
            shape: None,
            ..FASHION_MNIST.train_images
        },
        train_labels: FileSpec {
            sha256: None,
            shape: None,
            ..FASHION_MNIST.train_labels
        },
        test_images: FileSpec {
            sha256: None,
            shape: None,
            ..FASHION_MNIST.test_images
        },
        test_labels: FileSpec {
            sha256: None,
            shape: None,
            ..FASHION_MNIST.test_labels
        },
        ..FASHION_MNIST
    };
    let data = load(&unverified, &DataDirs::new([root.path()])).unwrap();
    assert_eq!(data.train.images, pixels());
    assert_eq!(data.test.labels, LABELS);
    assert_eq!((data.test.rows, data.test.cols), (ROWS, COLS));
    assert!(data.train.files.iter().all(|f| !f.verified));
}
