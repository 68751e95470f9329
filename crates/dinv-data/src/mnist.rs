//! MNIST-shaped datasets: four IDX files (train/test × images/labels) in one folder.
//!
//! A [`DatasetSpec`] names the folder and files and, where known, the SHA-256 of each
//! decompressed file. [`load`] finds the files through [`DataDirs`], validates their
//! structure, verifies the known checksums, and checks that images and labels agree.
//! Images stay `u8` (47 MB for MNIST); conversion to `f64` is done by
//! [`crate::preprocess`], one example or mini-batch at a time if wanted.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::idx::{read_idx_images_shaped, read_idx_labels_shaped, Hashed};
use crate::locate::DataDirs;

/// One IDX file of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// File name without `.gz`.
    pub name: &'static str,
    /// Lowercase hex SHA-256 of the decompressed file; `None`: no known checksum, the
    /// structure is still validated.
    pub sha256: Option<&'static str>,
    /// The dimensions the IDX header must declare (`[n, rows, cols]` or `[n]`); `None`:
    /// any, up to [`crate::idx::MAX_PAYLOAD_BYTES`]. Checked before the payload is read,
    /// so a damaged or hostile header cannot make the reader allocate.
    pub shape: Option<&'static [u32]>,
}

/// Where a dataset lives and what its files must hash to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Human name for messages ("MNIST").
    pub name: &'static str,
    /// Folder under a data root ("mnist").
    pub dir: &'static str,
    pub train_images: FileSpec,
    pub train_labels: FileSpec,
    pub test_images: FileSpec,
    pub test_labels: FileSpec,
    /// Public HTTPS base URLs under which the four gzip files (`<name>.gz`) are
    /// published, tried in order by [`crate::fetch`]. Empty: not downloadable.
    pub mirrors: &'static [&'static str],
    /// Environment variable whose comma-separated base URLs replace `mirrors`.
    pub mirrors_env: Option<&'static str>,
}

impl DatasetSpec {
    /// The four files: train images, train labels, test images, test labels.
    pub fn all_files(&self) -> [FileSpec; 4] {
        [
            self.train_images,
            self.train_labels,
            self.test_images,
            self.test_labels,
        ]
    }

    /// Images and labels file of one split.
    pub fn files(&self, split: SplitName) -> (FileSpec, FileSpec) {
        match split {
            SplitName::Train => (self.train_images, self.train_labels),
            SplitName::Test => (self.test_images, self.test_labels),
        }
    }
}

/// Shapes of the standard MNIST-format splits (60000 training and 10000 test images
/// of 28 × 28 pixels), shared by MNIST and Fashion-MNIST.
const TRAIN_IMAGES: &[u32] = &[60_000, 28, 28];
const TRAIN_LABELS: &[u32] = &[60_000];
const TEST_IMAGES: &[u32] = &[10_000, 28, 28];
const TEST_LABELS: &[u32] = &[10_000];

/// MNIST (LeCun, Cortes, Burges), with the SHA-256 of the decompressed files. The
/// original site refuses downloads; the mirrors are those torchvision
/// (`ossci-datasets`) and TensorFlow Datasets (`cvdf-datasets`) fetch from.
pub const MNIST: DatasetSpec = DatasetSpec {
    name: "MNIST",
    dir: "mnist",
    train_images: FileSpec {
        name: "train-images-idx3-ubyte",
        sha256: Some("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        shape: Some(TRAIN_IMAGES),
    },
    train_labels: FileSpec {
        name: "train-labels-idx1-ubyte",
        sha256: Some("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        shape: Some(TRAIN_LABELS),
    },
    test_images: FileSpec {
        name: "t10k-images-idx3-ubyte",
        sha256: Some("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        shape: Some(TEST_IMAGES),
    },
    test_labels: FileSpec {
        name: "t10k-labels-idx1-ubyte",
        sha256: Some("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        shape: Some(TEST_LABELS),
    },
    mirrors: &[
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    mirrors_env: Some("DINV_MNIST_MIRRORS"),
};

/// Fashion-MNIST (Xiao, Rasul, Vollgraf): same file names and format as MNIST. The
/// SHA-256 are of the decompressed files as Debian ships them (`dataset-fashion-mnist`
/// 0.0~git20200523.55506a9-1, from the authors' repository); upstream publishes only
/// the MD5 of its gzip files, which Debian recompressed. The mirrors: the Keras
/// dataset bucket and the authors' GitHub repository.
pub const FASHION_MNIST: DatasetSpec = DatasetSpec {
    name: "Fashion-MNIST",
    dir: "fashion-mnist",
    train_images: FileSpec {
        name: "train-images-idx3-ubyte",
        sha256: Some("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        shape: Some(TRAIN_IMAGES),
    },
    train_labels: FileSpec {
        name: "train-labels-idx1-ubyte",
        sha256: Some("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        shape: Some(TRAIN_LABELS),
    },
    test_images: FileSpec {
        name: "t10k-images-idx3-ubyte",
        sha256: Some("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        shape: Some(TEST_IMAGES),
    },
    test_labels: FileSpec {
        name: "t10k-labels-idx1-ubyte",
        sha256: Some("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        shape: Some(TEST_LABELS),
    },
    mirrors: &[
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    mirrors_env: Some("DINV_FASHION_MNIST_MIRRORS"),
};

/// Training or test split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SplitName {
    Train,
    Test,
}

impl fmt::Display for SplitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitName::Train => "train",
            SplitName::Test => "test",
        })
    }
}

/// A file a split was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    /// SHA-256 (lowercase hex) of the decompressed file: usable in cache keys.
    pub sha256: String,
    /// Whether `sha256` was checked against a known checksum.
    pub verified: bool,
}

/// One split: `n` images of `rows × cols` bytes and their labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// `n · rows · cols` bytes, image `k` at `[k·rows·cols ..][.. rows·cols]`, row-major.
    pub images: Vec<u8>,
    /// `n` labels in 0..=9.
    pub labels: Vec<u8>,
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    /// Images file then labels file; empty for a split built in memory.
    pub files: Vec<SourceFile>,
}

impl Split {
    /// `rows · cols` (784 for MNIST).
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// Pixels of image `k`.
    ///
    /// # Panics
    /// If `k >= n`.
    pub fn image(&self, k: usize) -> &[u8] {
        let p = self.pixels_per_image();
        &self.images[k * p..(k + 1) * p]
    }

    /// How often each label 0..=9 occurs (labels above 9 are not counted).
    pub fn label_counts(&self) -> [usize; 10] {
        let mut counts = [0; 10];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(usize::from(l)) {
                *c += 1;
            }
        }
        counts
    }
}

/// Both splits of a dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    pub train: Split,
    pub test: Split,
}

/// Loads and validates both splits; test images must have the training image size.
pub fn load(spec: &DatasetSpec, dirs: &DataDirs) -> Result<Dataset, DataError> {
    let train = load_split(spec, dirs, SplitName::Train)?;
    let test = load_split(spec, dirs, SplitName::Test)?;
    if (test.rows, test.cols) != (train.rows, train.cols) {
        return Err(DataError::ShapeMismatch {
            path: test
                .files
                .first()
                .map(|f| f.path.clone())
                .unwrap_or_default(),
            rows: test.rows,
            cols: test.cols,
            train_rows: train.rows,
            train_cols: train.cols,
        });
    }
    Ok(Dataset { train, test })
}

/// Loads and validates one split. Both files are located before either is read, so a
/// missing file is reported before any time is spent decompressing.
pub fn load_split(
    spec: &DatasetSpec,
    dirs: &DataDirs,
    split: SplitName,
) -> Result<Split, DataError> {
    let (images_spec, labels_spec) = spec.files(split);
    let images_path = dirs.find(spec.name, spec.dir, images_spec.name)?;
    let labels_path = dirs.find(spec.name, spec.dir, labels_spec.name)?;

    let images = read_idx_images_shaped(&images_path, images_spec.shape)?;
    let images_file = verify(&images_path, &images_spec, &images)?;
    let labels = read_idx_labels_shaped(&labels_path, labels_spec.shape)?;
    let labels_file = verify(&labels_path, &labels_spec, &labels)?;

    let images = images.value;
    let labels = labels.value;
    if images.n != labels.len() {
        return Err(DataError::CountMismatch {
            images_path,
            labels_path,
            images: images.n,
            labels: labels.len(),
        });
    }
    Ok(Split {
        images: images.pixels,
        labels,
        n: images.n,
        rows: images.rows,
        cols: images.cols,
        files: vec![images_file, labels_file],
    })
}

/// Reads one file of a dataset in full and checks it: its IDX structure and shape, and
/// its SHA-256 where known. Images or labels are told apart by the file name
/// (`…idx3…` or `…idx1…`).
pub fn verify_file(spec: &FileSpec, path: &Path) -> Result<SourceFile, DataError> {
    if spec.name.contains("idx3") {
        verify(path, spec, &read_idx_images_shaped(path, spec.shape)?)
    } else {
        verify(path, spec, &read_idx_labels_shaped(path, spec.shape)?)
    }
}

/// Checks the digest against the known one, if any.
fn verify<T>(path: &Path, spec: &FileSpec, read: &Hashed<T>) -> Result<SourceFile, DataError> {
    if let Some(expected) = spec.sha256 {
        if !expected.eq_ignore_ascii_case(&read.sha256) {
            return Err(DataError::ChecksumMismatch {
                path: path.to_owned(),
                expected: expected.to_owned(),
                actual: read.sha256.clone(),
            });
        }
    }
    Ok(SourceFile {
        path: path.to_owned(),
        sha256: read.sha256.clone(),
        verified: spec.sha256.is_some(),
    })
}
