//! The TOML schema of the MNIST classification pipeline (Fig. 4a).

use dinv_core::{Activation, DiSettings, Integration, Method, SsaConfig, UpdateRule};
use serde::{Deserialize, Serialize};

use crate::curves::spec::FigureSpec;
use crate::mnist_data::{Dataset, Normalisation, Source};
use crate::spec::{
    check_at_most, check_positive, check_scaled_at_most, check_ssa, field_error, limits,
    MemoryEstimate, ModelSpec, PipelineHeader, Scale, Scaled, F64,
};

pub use crate::mnist_data::PIXELS;
/// Digit or clothing classes, the output width.
pub const CLASSES: usize = 10;

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
    /// Claims judged from the summary (see [`crate::claim`]).
    #[serde(rename = "claim", default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<crate::claim::ClaimSpec>,
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
    /// Log weight norms and hidden saturation at each evaluation, and DI's spectral
    /// abscissa at every stability check (summarised per evaluation interval).
    #[serde(default)]
    pub diagnostics: bool,
}

fn default_window() -> usize {
    32
}

impl ClassificationConfig {
    /// Checks everything serde cannot: names, value ranges, sizes (see
    /// [`crate::spec::limits`]) and the figures. The message names the offending entry.
    pub fn validate(&self) -> Result<(), String> {
        self.pipeline.validate()?;
        if self.network.hidden == 0 {
            return Err("network.hidden must be positive".into());
        }
        check_at_most(
            "network.hidden",
            self.network.hidden,
            limits::MAX_WIDTH,
            "units per layer",
        )?;
        if self.network.init_half_width.is_nan() || self.network.init_half_width <= 0.0 {
            return Err(format!(
                "network.init_half_width must be positive, found {}",
                self.network.init_half_width
            ));
        }
        check_positive("network.init_half_width", self.network.init_half_width)?;
        self.training
            .update
            .validate()
            .map_err(|e| field_error("training.update", e))?;
        if self.training.window == 0 {
            return Err("training.window must be positive".into());
        }
        check_at_most(
            "training.window",
            self.training.window,
            limits::MAX_EXAMPLES,
            "examples",
        )?;
        if self.training.evaluations_per_epoch == 0 {
            return Err("training.evaluations_per_epoch must be positive".into());
        }
        check_at_most(
            "training.evaluations_per_epoch",
            self.training.evaluations_per_epoch,
            limits::MAX_EVALUATIONS,
            "evaluations",
        )?;
        if let Some(di) = &self.training.di {
            di.integration
                .validate()
                .map_err(|e| field_error("training.di.integration", e))?;
        }
        self.training
            .euler_reference
            .validate()
            .map_err(|e| field_error("training.euler_reference", e))?;
        if let Some(ssa) = &self.training.restabilise {
            check_ssa("training.restabilise", ssa)?;
        }
        check_scaled_at_most(
            "training.epochs",
            &self.training.epochs,
            limits::MAX_EPOCHS,
            "epochs",
        )?;
        if let Some(e) = &self.training.di_epochs {
            check_scaled_at_most("training.di_epochs", e, limits::MAX_EPOCHS, "epochs")?;
        }
        for s in [Scale::Smoke, Scale::Paper] {
            if self.training.epochs.at(s) == 0 {
                return Err(format!("training.epochs must be positive at scale {s}"));
            }
            self.data.source.at(s).check_counts(
                self.data.train_examples.at(s),
                self.data.test_examples.at(s),
                s,
            )?;
            check_at_most(
                &format!("training.epochs × data.train_examples (scale {s})"),
                self.training.epochs.at(s) * self.data.train_examples.at(s),
                limits::MAX_PRESENTATIONS,
                "examples presented in one training stage",
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
            if m.init_scale.is_some() {
                return Err(format!(
                    "model `{}`: init_scale is supported by regression pipelines only",
                    m.name
                ));
            }
            m.check_di_settings(self.training.di.as_ref())?;
            if m.method == Method::Di && m.di.is_none() && self.training.di.is_none() {
                return Err(format!(
                    "model `{}`: method `di` needs DI settings, in `training.di` or the model's own `di`",
                    m.name
                ));
            }
            if let Some(di) = &m.di {
                di.integration
                    .validate()
                    .map_err(|e| field_error(&format!("model `{}`: di.integration", m.name), e))?;
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
            if m.method == Method::Dfa {
                return Err(format!(
                    "model `{}`: with one hidden layer DFA is FA (its one direct matrix is \
                     B_2); use method = \"fa\"",
                    m.name
                ));
            }
        }
        if self.models.is_empty() {
            return Err("at least one [[model]] is needed".into());
        }
        let names = self.models.iter().map(|m| m.name.as_str());
        crate::claim::validate_claims(
            &self.claims,
            &[super::RUN],
            names,
            self.figures.iter().map(|f| f.id.as_str()),
        )?;
        let mut ids = std::collections::BTreeSet::new();
        for f in &self.figures {
            f.validate(&self.pipeline.name, &[super::RUN], &self.models, Some(2))?;
            if f.source != crate::curves::spec::FigureSource::Analysis {
                return Err(format!(
                    "figure `{}`: source = {:?}: a classification pipeline has only the `analysis` source",
                    f.id, f.source
                ));
            }
            if !ids.insert(f.id.as_str()) {
                return Err(format!("figure id `{}` is used twice", f.id));
            }
        }
        for s in [Scale::Smoke, Scale::Paper] {
            self.memory(s).check(s)?;
        }
        Ok(())
    }

    /// The memory a training stage needs at scale `s`, roughly: the network and its
    /// copies, the block products, the images, each epoch's example order and the
    /// recorded curves.
    pub fn memory(&self, s: Scale) -> MemoryEstimate {
        let (d, c, h) = (PIXELS as f64, CLASSES as f64, self.network.hidden as f64);
        let k = self.training.window as f64;
        let (train, test) = (
            self.data.train_examples.at(s) as f64,
            self.data.test_examples.at(s) as f64,
        );
        let epochs = self.training.epochs.at(s) as f64;
        let evals = (self.training.evaluations_per_epoch as f64).min(train);
        let checks = match self.training.euler_check_every.at(s) {
            0 => 0.0,
            every => train / every as f64,
        };
        let mut m = MemoryEstimate::new();
        m.add(
            "network.hidden (weights, feedback and their copies)",
            F64 * h * (d + c) * 8.0,
        );
        m.add(
            "training.window with network.hidden (the block's products)",
            F64 * k * (d + 2.0 * h + k + c),
        );
        m.add(
            "data.train_examples and data.test_examples (images)",
            (train + test) * d * (F64 + 1.0),
        );
        m.add(
            "training.epochs × data.train_examples (each epoch's example order)",
            F64 * epochs * train,
        );
        m.add(
            "training.epochs × training.evaluations_per_epoch and euler_check_every (recorded curves)",
            epochs * (evals * 10.0 + checks * 4.0) * 64.0,
        );
        m
    }
}
