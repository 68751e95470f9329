//! The TOML schema of the MNIST classification pipeline (Fig. 4a).

use dinv_core::{Activation, DiSettings, Integration, Method, SsaConfig, UpdateRule};
use serde::{Deserialize, Serialize};

use crate::mnist_data::{Dataset, Normalisation, Source};
use crate::regression::config::FigureSpec;
use crate::spec::{ModelSpec, PipelineHeader, Scaled};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassificationConfig {
    pub pipeline: PipelineHeader,
    pub data: DataSpec,
    pub network: NetworkSpec,
    pub training: TrainingSpec,
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
    #[serde(rename = "figure", default)]
    pub figures: Vec<FigureSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub dataset: Dataset,
    /// The full files or the shipped subset (default: the subset at smoke scale, the
    /// full files at paper scale). Normalisation statistics are fitted on the source's
    /// whole training split.
    #[serde(default = "Source::default_scaled")]
    pub source: Scaled<Source>,
    pub normalisation: Normalisation,
    /// Training images used (the first `n` of the standard 60000).
    pub train_examples: Scaled<usize>,
    /// Test images evaluated (the first `n` of the standard 10000).
    pub test_examples: Scaled<usize>,
}

/// A one-hidden-layer classifier `d_in → hidden → classes`, softmax + cross-entropy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub hidden: usize,
    pub activation: Activation,
    /// Weights `U(−s, s)`, biases zero.
    pub init_half_width: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    pub epochs: Scaled<usize>,
    /// Epochs for DI models, if fewer fit the budget (their error signal needs a
    /// nonlinear solve per example, and an Euler simulation where there is no fixed point).
    #[serde(default)]
    pub di_epochs: Option<Scaled<usize>>,
    pub update: UpdateRule,
    /// Test-set evaluations per epoch (plus one before training).
    pub evaluations_per_epoch: usize,
    /// DI settings (a model's own `di` overrides them); needed only by DI models.
    #[serde(default)]
    pub di: Option<DiSettings>,
    /// Every this many examples, DI's inversion is also simulated with plain Euler
    /// (`euler_reference`) and compared with the solver's result. 0 = never.
    #[serde(default)]
    pub euler_check_every: Scaled<usize>,
    #[serde(default)]
    pub euler_reference: Integration,
    /// DI models only: whenever the spectral abscissa of Eq. (S9) turns positive,
    /// re-stabilise `B_2` by SSA descent before the next example (the regression
    /// protocol, supp. 7.5.1; the SSA is taken of the reduced 20 × 20 system). Absent:
    /// `B_2` stays fixed and DI simulates wherever its fixed point is unstable.
    #[serde(default)]
    pub restabilise: Option<SsaConfig>,
    /// Examples per block of the exact online update (see `train.rs`); any value gives
    /// online SGD, larger blocks trade memory for matrix-product speed.
    #[serde(default = "default_window")]
    pub window: usize,
}

fn default_window() -> usize {
    32
}

impl ClassificationConfig {
    pub fn validate(&self) -> Result<(), String> {
        use crate::spec::Scale;
        if self.network.hidden == 0 {
            return Err("network.hidden must be positive".into());
        }
        if self.network.init_half_width.is_nan() || self.network.init_half_width <= 0.0 {
            return Err(format!(
                "network.init_half_width must be positive, found {}",
                self.network.init_half_width
            ));
        }
        self.training
            .update
            .validate()
            .map_err(|e| format!("training.update.{e}"))?;
        if self.training.window == 0 {
            return Err("training.window must be positive".into());
        }
        if self.training.evaluations_per_epoch == 0 {
            return Err("training.evaluations_per_epoch must be positive".into());
        }
        if let Some(di) = &self.training.di {
            di.integration
                .validate()
                .map_err(|e| format!("training.di.integration: {e}"))?;
        }
        self.training
            .euler_reference
            .validate()
            .map_err(|e| format!("training.euler_reference: {e}"))?;
        for s in [Scale::Smoke, Scale::Paper] {
            if self.training.epochs.at(s) == 0 {
                return Err(format!("training.epochs must be positive at scale {s}"));
            }
            self.data.source.at(s).check_counts(
                self.data.train_examples.at(s),
                self.data.test_examples.at(s),
                s,
            )?;
        }
        if self.data.normalisation == Normalisation::UnitInterval {
            return Err(
                "data.normalisation: classification uses `per_pixel` or `global` (supp. 7.5.4)"
                    .into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.models {
            m.validate()?;
            m.check_di_settings(self.training.di.as_ref())?;
            if m.method == Method::Di && m.di.is_none() && self.training.di.is_none() {
                return Err(format!(
                    "model `{}`: method `di` needs DI settings, in `training.di` or the model's own `di`",
                    m.name
                ));
            }
            if !seen.insert(&m.name) {
                return Err(format!("model name `{}` is used twice", m.name));
            }
            if m.method == Method::Sdi {
                return Err(format!(
                    "model `{}`: single-loop DI needs two hidden layers; this network has one",
                    m.name
                ));
            }
        }
        if self.models.is_empty() {
            return Err("at least one [[model]] is needed".into());
        }
        Ok(())
    }
}
