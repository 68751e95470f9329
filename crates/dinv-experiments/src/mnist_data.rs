//! MNIST for the Fig. 4 experiments: which dataset, its identity for cache keys, and
//! loading it inside a stage with errors that say what to do.

use dinv_data::locate::DataDirs;
use dinv_data::mnist::{load_split, DatasetSpec, Split, SplitName, FASHION_MNIST, MNIST};
use dinv_data::preprocess::Centering;
use dinv_pipeline::StageError;
use serde::{Deserialize, Serialize};

/// The datasets the experiments accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    Mnist,
    FashionMnist,
}

impl Dataset {
    pub fn spec(self) -> &'static DatasetSpec {
        match self {
            Dataset::Mnist => &MNIST,
            Dataset::FashionMnist => &FASHION_MNIST,
        }
    }

    /// What identifies the data in a cache key: the known SHA-256 of every file, or,
    /// for a dataset without published checksums, the hashes of the files found now
    /// (so replacing them invalidates the cache).
    pub fn identity(self) -> Result<serde_json::Value, String> {
        let spec = self.spec();
        let files = [
            spec.train_images,
            spec.train_labels,
            spec.test_images,
            spec.test_labels,
        ];
        if files.iter().all(|f| f.sha256.is_some()) {
            return Ok(serde_json::json!({
                "dataset": spec.name,
                "sha256": files.iter().map(|f| f.sha256.unwrap_or_default()).collect::<Vec<_>>(),
            }));
        }
        let dirs = DataDirs::from_env();
        let mut hashes = Vec::new();
        for split in [SplitName::Train, SplitName::Test] {
            let s = load_split(spec, &dirs, split).map_err(|e| e.to_string())?;
            hashes.extend(s.files.iter().map(|f| f.sha256.clone()));
        }
        Ok(serde_json::json!({ "dataset": spec.name, "sha256": hashes }))
    }

    /// Loads one split through the documented search order (`$DINV_DATA_DIR`, `./data`,
    /// `<workspace>/data`), verifying checksums.
    pub fn load(self, split: SplitName) -> Result<Split, StageError> {
        load_split(self.spec(), &DataDirs::from_env(), split).map_err(StageError::new)
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
