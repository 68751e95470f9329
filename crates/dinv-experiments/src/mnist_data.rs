//! MNIST for the Fig. 4 experiments: which dataset, which files of it (the full
//! standard files, or the subset shipped in the repository), their identity for cache
//! keys, and loading them inside a stage with errors that say what to do.

use dinv_data::locate::DataDirs;
use dinv_data::mnist::{load_split, DatasetSpec, Split, SplitName, FASHION_MNIST, MNIST};
use dinv_data::preprocess::Centering;
use dinv_data::subset;
use dinv_pipeline::StageError;
use serde::{Deserialize, Serialize};

use crate::spec::{Scale, Scaled};

/// Pixels of an MNIST or Fashion-MNIST image (28 × 28), the input width.
pub const PIXELS: usize = 784;

/// Which files of a dataset a pipeline reads (`data.source`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The standard 60000 + 10000 examples, found through the data search order.
    #[default]
    Full,
    /// The first 3000 + 1000 examples, shipped in the repository
    /// (`crates/dinv-data/fixtures/subsets/`): no installed data needed.
    Subset,
}

impl Source {
    /// The default of `data.source`: the shipped subset at smoke scale, so that tests
    /// and quick runs never depend on installed data; the full files at paper scale.
    pub fn default_scaled() -> Scaled<Source> {
        Scaled::PerScale {
            smoke: Source::Subset,
            paper: Source::Full,
        }
    }

    /// Whether this is [`Source::Full`] (which cache keys leave out, so that the keys
    /// of full-data stages are those they had before sources existed).
    pub fn is_full(&self) -> bool {
        *self == Source::Full
    }

    /// Images in the training split of this source.
    pub fn train_images(self) -> usize {
        match self {
            Source::Full => 60_000,
            Source::Subset => subset::TRAIN,
        }
    }

    /// Images in the test split of this source.
    pub fn test_images(self) -> usize {
        match self {
            Source::Full => 10_000,
            Source::Subset => subset::TEST,
        }
    }

    /// Checks that a scale's example counts fit this source; errors name the field.
    pub fn check_counts(self, train: usize, test: usize, scale: Scale) -> Result<(), String> {
        let (max_train, max_test) = (self.train_images(), self.test_images());
        for (what, n, max) in [
            ("train_examples", train, max_train),
            ("test_examples", test, max_test),
        ] {
            if n == 0 || n > max {
                let source = match self {
                    Source::Full => "the full dataset".to_owned(),
                    Source::Subset => format!(
                        "data.source = \"subset\" (the shipped subset of {} training and {} test images; use source = \"full\" for more)",
                        subset::TRAIN,
                        subset::TEST
                    ),
                };
                return Err(format!(
                    "data.{what} is {n} at scale {scale}: expected 1..={max} with {source}"
                ));
            }
        }
        Ok(())
    }
}

/// The datasets the experiments accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    Mnist,
    FashionMnist,
}

impl Dataset {
    /// The full dataset.
    pub fn full_spec(self) -> &'static DatasetSpec {
        match self {
            Dataset::Mnist => &MNIST,
            Dataset::FashionMnist => &FASHION_MNIST,
        }
    }

    /// The files `source` names, and where to look for them.
    pub fn spec(self, source: Source) -> (&'static DatasetSpec, DataDirs) {
        let full = self.full_spec();
        match source {
            Source::Full => (full, DataDirs::from_env()),
            // Every dataset here has a shipped subset (tested).
            Source::Subset => (subset::of(full).unwrap_or(full), subset::dirs()),
        }
    }

    /// What identifies the data in a cache key: the known SHA-256 of every file, or,
    /// for a dataset without published checksums, the hashes of the files found now
    /// (so replacing them invalidates the cache).
    pub fn identity(self, source: Source) -> Result<serde_json::Value, String> {
        let (spec, dirs) = self.spec(source);
        let files = spec.all_files();
        if files.iter().all(|f| f.sha256.is_some()) {
            return Ok(serde_json::json!({
                "dataset": spec.name,
                "sha256": files.iter().map(|f| f.sha256.unwrap_or_default()).collect::<Vec<_>>(),
            }));
        }
        let mut hashes = Vec::new();
        for split in [SplitName::Train, SplitName::Test] {
            let s = load_split(spec, &dirs, split).map_err(|e| e.to_string())?;
            hashes.extend(s.files.iter().map(|f| f.sha256.clone()));
        }
        Ok(serde_json::json!({ "dataset": spec.name, "sha256": hashes }))
    }

    /// Loads one split of `source` (the full files through the documented search
    /// order, or the shipped subset), verifying checksums.
    pub fn load(self, source: Source, split: SplitName) -> Result<Split, StageError> {
        let (spec, dirs) = self.spec(source);
        load_split(spec, &dirs, split).map_err(StageError::new)
    }
}

/// Input normalisation for classification (supp. 7.5.4), as a config value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalisation {
    /// Paper text: subtract each pixel's training mean, scale all pixels by one factor
    /// so the variance over all pixels is 1.
    PerPixel,
    /// The authors' code: one global mean and standard deviation.
    Global,
    /// Pixels / 255 in [0, 1] (autoencoder, supp. 7.5.5).
    UnitInterval,
}

impl Normalisation {
    pub fn centering(self) -> Option<Centering> {
        match self {
            Normalisation::PerPixel => Some(Centering::PerPixel),
            Normalisation::Global => Some(Centering::Global),
            Normalisation::UnitInterval => None,
        }
    }
}
