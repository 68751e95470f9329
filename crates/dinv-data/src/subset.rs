//! The small subsets of MNIST and Fashion-MNIST shipped in the repository.
//!
//! The first [`TRAIN`] training and first [`TEST`] test images and labels of each
//! dataset, as gzip IDX files in `crates/dinv-data/fixtures/subsets/` (see the README
//! there for licences and attribution). Tests and the smoke scale read them, so both
//! run on a fresh machine with no data installed and no network, and smoke results
//! never depend on what else is installed. They are made from the full files by
//! `cargo xtask data make-subsets`; the SHA-256 below are of the decompressed files.

use std::path::PathBuf;

use crate::locate::DataDirs;
use crate::mnist::{DatasetSpec, FileSpec, FASHION_MNIST, MNIST};

/// Training images in each subset.
pub const TRAIN: usize = 3000;
/// Test images in each subset.
pub const TEST: usize = 1000;

const TRAIN_IMAGES: &[u32] = &[TRAIN as u32, 28, 28];
const TRAIN_LABELS: &[u32] = &[TRAIN as u32];
const TEST_IMAGES: &[u32] = &[TEST as u32, 28, 28];
const TEST_LABELS: &[u32] = &[TEST as u32];

/// The folder holding `mnist/` and `fashion-mnist/` subsets: a data root of its own.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("subsets")
}

/// A search order holding only the subsets' root.
pub fn dirs() -> DataDirs {
    DataDirs::new([root()])
}

/// The subset of a full dataset (`None` for a dataset without a shipped subset).
pub fn of(full: &DatasetSpec) -> Option<&'static DatasetSpec> {
    [&MNIST_SUBSET, &FASHION_MNIST_SUBSET]
        .into_iter()
        .find(|s| s.dir == full.dir)
}

/// The first 3000 / 1000 examples of [`MNIST`].
pub const MNIST_SUBSET: DatasetSpec = DatasetSpec {
    name: "MNIST (shipped subset)",
    dir: MNIST.dir,
    train_images: FileSpec {
        name: MNIST.train_images.name,
        sha256: Some("fc10080e92e48998cf561522ec74cfcd9fdc1d3eb6d815e4b8d6392c71460463"),
        shape: Some(TRAIN_IMAGES),
    },
    train_labels: FileSpec {
        name: MNIST.train_labels.name,
        sha256: Some("fb68983ef4dddd9fd08a65eeffd7110e567eb77e5ef20f1b57f69a7269e7d425"),
        shape: Some(TRAIN_LABELS),
    },
    test_images: FileSpec {
        name: MNIST.test_images.name,
        sha256: Some("de7c252b04f05e1f8309634180ccdf286dc6dbac8c579b74e76e02ae0331ca52"),
        shape: Some(TEST_IMAGES),
    },
    test_labels: FileSpec {
        name: MNIST.test_labels.name,
        sha256: Some("832c0d20f0dc42e575488c75a83a970787d4c8d4d05831b2ef03701b4a478a90"),
        shape: Some(TEST_LABELS),
    },
    mirrors: &[],
    mirrors_env: None,
};

/// The first 3000 / 1000 examples of [`FASHION_MNIST`].
pub const FASHION_MNIST_SUBSET: DatasetSpec = DatasetSpec {
    name: "Fashion-MNIST (shipped subset)",
    dir: FASHION_MNIST.dir,
    train_images: FileSpec {
        name: FASHION_MNIST.train_images.name,
        sha256: Some("85a0ed91fc149c8f56cbcd4faffd965abbddf9bb83d5e7308ec20af22a3a8c87"),
        shape: Some(TRAIN_IMAGES),
    },
    train_labels: FileSpec {
        name: FASHION_MNIST.train_labels.name,
        sha256: Some("d91bcde777777d8b779ccfade8da8df64050ef1cde830c67b3036ee13e26ec28"),
        shape: Some(TRAIN_LABELS),
    },
    test_images: FileSpec {
        name: FASHION_MNIST.test_images.name,
        sha256: Some("7a6d8e07ea021ec5bc73135ebd0a5770799557ec6f8242d8749c4f32a3cf4643"),
        shape: Some(TEST_IMAGES),
    },
    test_labels: FileSpec {
        name: FASHION_MNIST.test_labels.name,
        sha256: Some("b40abac7ec8228f434940f579deb7cf7b6e3103b5274cb91d1545771f5ef1c8b"),
        shape: Some(TEST_LABELS),
    },
    mirrors: &[],
    mirrors_env: None,
};

/// Writes the first [`TRAIN`] / [`TEST`] examples of `full` into `dir` as gzip IDX
/// files (`cargo xtask data make-subsets`). Returns each file name with the SHA-256 of
/// its decompressed content, the values [`MNIST_SUBSET`] and [`FASHION_MNIST_SUBSET`]
/// must hold.
pub fn write(
    full: &crate::mnist::Dataset,
    dir: &std::path::Path,
) -> std::io::Result<Vec<(String, String)>> {
    use crate::idx::{encode_idx_images, encode_idx_labels, sha256_hex};
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for (split, n, images, labels) in [
        (
            &full.train,
            TRAIN,
            MNIST.train_images.name,
            MNIST.train_labels.name,
        ),
        (
            &full.test,
            TEST,
            MNIST.test_images.name,
            MNIST.test_labels.name,
        ),
    ] {
        let n = n.min(split.n);
        let pixels = &split.images[..n * split.pixels_per_image()];
        for (name, bytes) in [
            (images, encode_idx_images(n, split.rows, split.cols, pixels)),
            (labels, encode_idx_labels(&split.labels[..n])),
        ] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&bytes)?;
            let path = dir.join(format!("{name}.gz"));
            let tmp = dir.join(format!(".{name}.gz.tmp"));
            std::fs::write(&tmp, gz.finish()?)?;
            std::fs::rename(&tmp, &path)?;
            out.push((name.to_owned(), sha256_hex(&bytes)));
        }
    }
    Ok(out)
}
