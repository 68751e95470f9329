//! The TOML schema of the MNIST autoencoder pipeline (Fig. 4b–d, supp. 7.5.5): data,
//! network, mini-batch training, model variants (method × weight initialisation) and
//! the two models whose reconstructions and codes are shown in Fig. 4c–d.

use std::collections::BTreeSet;

use dinv_core::{FeedbackInit, Method, UpdateRule};
use serde::{Deserialize, Serialize};

use crate::mnist_data::{Dataset, Source, PIXELS};
use crate::spec::{
    check_at_most, check_positive, check_scaled_at_most, field_error, limits, MemoryEstimate,
    ModelSpec, NetworkSpec, PipelineHeader, Scale, Scaled, F64,
};
use crate::tsne::TsneConfig;

/// The figures (file stems) the pipeline draws besides the composite (named after the
/// pipeline): fixed, so a `[[claim]]` can name them.
pub(crate) const FIGURES: [&str; 3] = ["fig4b", "fig4c", "fig4d"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderConfig {
    pub pipeline: PipelineHeader,
    pub data: DataSpec,
    pub network: NetworkSpec,
    pub training: TrainingSpec,
    #[serde(rename = "model")]
    pub models: Vec<AeModelSpec>,
    pub detail: DetailSpec,
    /// Claims judged from the summary (see [`crate::claim`]).
    #[serde(rename = "claim", default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<crate::claim::ClaimSpec>,
}

/// Which images are used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub dataset: Dataset,
    /// The full files or the shipped subset (default: the subset at smoke scale, the
    /// full files at paper scale).
    #[serde(default = "Source::default_scaled")]
    pub source: Scaled<Source>,
    /// The first this many training images are the training set (60000: all of them).
    pub train_examples: Scaled<usize>,
    /// The first this many test images give the test reconstruction error (never
    /// trained on; the paper reports the training error only).
    pub test_examples: Scaled<usize>,
}

/// Mini-batch training, shared by every model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    pub epochs: Scaled<usize>,
    pub batch_size: Scaled<usize>,
    /// Applied to the gradient summed over the batch; `decay = "per_update"` is the
    /// authors' `W ← (1 − λ) W − η ΔW`.
    pub update: UpdateRule,
    /// Also store each model's final weights and biases (`final_weights`, ≈ 8 MB per
    /// model at 784-500-250-30): no analysis reads them, so by default they are not
    /// kept, and the training entries stay small enough to archive.
    #[serde(default)]
    pub keep_weights: bool,
}

/// The initial forward weights; every model of one kind starts from the same copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightInit {
    /// `U(−s, s)` with `s = network.init_half_width` (the authors' code calls it
    /// 'normal'; the paper's text says "random Gaussian").
    Random,
    /// Orthonormal rows or columns (Saxe et al. 2013), like the code's sliced
    /// `scipy.stats.ortho_group`.
    Orthogonal,
}

impl WeightInit {
    pub const ALL: [WeightInit; 2] = [WeightInit::Random, WeightInit::Orthogonal];

    pub fn name(self) -> &'static str {
        match self {
            WeightInit::Random => "random",
            WeightInit::Orthogonal => "orthogonal",
        }
    }
}

/// One model variant: a credit-assignment method and a weight initialisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AeModelSpec {
    /// Short id used in stage ids and summary keys (`[A-Za-z0-9_.-]`).
    pub name: String,
    pub label: String,
    /// `bp`, `fa`, `pbp` or `ndi` (the paper simulates no DI on this task).
    pub method: Method,
    #[serde(default)]
    pub alpha: f64,
    /// Feedback initialisation (FA, NDI).
    #[serde(default)]
    pub feedback: Option<FeedbackInit>,
    pub init: WeightInit,
}

impl AeModelSpec {
    /// The shared model description (for validation and the figure styles).
    pub fn as_model(&self) -> ModelSpec {
        ModelSpec {
            name: self.name.clone(),
            label: self.label.clone(),
            method: self.method,
            alpha: self.alpha,
            feedback: self.feedback.clone(),
            di: None,
            init_scale: None,
        }
    }
}

/// The models shown digit by digit (Fig. 4c) and as a t-SNE map of their codes (Fig. 4d).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailSpec {
    pub models: Vec<String>,
    /// Codes of the first this many test images are embedded.
    pub codes: Scaled<usize>,
    pub tsne: TsneSpec,
}

/// t-SNE settings; the defaults are [`TsneConfig::default`]'s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsneSpec {
    #[serde(default = "default_perplexity")]
    pub perplexity: f64,
    pub iterations: Scaled<usize>,
    #[serde(default = "default_exaggeration_iters")]
    pub exaggeration_iters: Scaled<usize>,
    #[serde(default = "default_learning_rate")]
    pub learning_rate: f64,
    #[serde(default = "default_early_exaggeration")]
    pub early_exaggeration: f64,
}

fn default_perplexity() -> f64 {
    TsneConfig::default().perplexity
}

fn default_exaggeration_iters() -> Scaled<usize> {
    Scaled::Same(TsneConfig::default().exaggeration_iters)
}

fn default_learning_rate() -> f64 {
    TsneConfig::default().learning_rate
}

fn default_early_exaggeration() -> f64 {
    TsneConfig::default().early_exaggeration
}

impl TsneSpec {
    /// The t-SNE settings at `scale`, seeded by the caller.
    pub fn at(&self, scale: Scale, seed: u64) -> TsneConfig {
        TsneConfig {
            perplexity: self.perplexity,
            iterations: self.iterations.at(scale),
            learning_rate: self.learning_rate,
            early_exaggeration: self.early_exaggeration,
            exaggeration_iters: self.exaggeration_iters.at(scale),
            seed,
            neighbours: None,
        }
    }
}

impl AutoencoderConfig {
    /// Checks everything serde cannot: names, shapes and value ranges. The message names
    /// the offending entry.
    pub fn validate(&self) -> Result<(), String> {
        self.pipeline.validate()?;
        self.network.validate("network")?;
        let names = self.models.iter().map(|m| m.name.as_str());
        crate::claim::validate_claims(&self.claims, &[super::RUN], names, FIGURES)?;
        let dims = &self.network.dims;
        if dims.first() != dims.last() {
            return Err(format!(
                "network.dims must end with the input width to reconstruct the input, found {dims:?}"
            ));
        }
        if dims[0] != PIXELS {
            return Err(format!(
                "network.dims[0] = {}: must be {PIXELS}, the pixel count of the dataset's 28 × 28 images",
                dims[0]
            ));
        }
        check_scaled_at_most(
            "training.epochs",
            &self.training.epochs,
            limits::MAX_EPOCHS,
            "epochs",
        )?;
        for s in [Scale::Smoke, Scale::Paper] {
            let positive = |what: &str, v: usize| {
                if v == 0 {
                    Err(format!("{what} must be positive at scale {s}, found 0"))
                } else {
                    Ok(())
                }
            };
            let (train, test) = (
                self.data.train_examples.at(s),
                self.data.test_examples.at(s),
            );
            positive("data.train_examples", train)?;
            positive("data.test_examples", test)?;
            positive("training.epochs", self.training.epochs.at(s))?;
            positive("training.batch_size", self.training.batch_size.at(s))?;
            positive("detail.codes", self.detail.codes.at(s))?;
            positive("detail.tsne.iterations", self.detail.tsne.iterations.at(s))?;
            let source = self.data.source.at(s);
            source.check_counts(train, test, s)?;
            check_at_most(
                &format!("training.batch_size (scale {s})"),
                self.training.batch_size.at(s),
                train,
                "examples: data.train_examples at this scale",
            )?;
            check_at_most(
                &format!("training.epochs × data.train_examples (scale {s})"),
                self.training.epochs.at(s) * train,
                limits::MAX_PRESENTATIONS,
                "examples presented in one training stage",
            )?;
            check_at_most(
                &format!("detail.tsne.exaggeration_iters (scale {s})"),
                self.detail.tsne.exaggeration_iters.at(s),
                self.detail.tsne.iterations.at(s),
                "iterations: detail.tsne.iterations at this scale",
            )?;
            let (codes, test_split) = (self.detail.codes.at(s), source.test_images());
            if codes > test_split {
                return Err(format!(
                    "detail.codes is {codes} at scale {s}, but the test split of data.source = {source:?} has {test_split} images"
                ));
            }
            let codes = self.detail.codes.at(s) as f64;
            if self.detail.tsne.perplexity * 3.0 >= codes {
                return Err(format!(
                    "detail.tsne.perplexity {} needs more than {} codes at scale {s} (3 × perplexity neighbours), found {codes}",
                    self.detail.tsne.perplexity,
                    (3.0 * self.detail.tsne.perplexity).floor()
                ));
            }
        }
        if !(self.detail.tsne.perplexity > 0.0 && self.detail.tsne.perplexity.is_finite()) {
            return Err(format!(
                "detail.tsne.perplexity must be positive, found {}",
                self.detail.tsne.perplexity
            ));
        }
        check_positive("detail.tsne.learning_rate", self.detail.tsne.learning_rate)?;
        check_positive(
            "detail.tsne.early_exaggeration",
            self.detail.tsne.early_exaggeration,
        )?;
        self.training
            .update
            .validate()
            .map_err(|e| field_error("training.update", e))?;
        if self.training.update.fixed_norm || self.training.update.delta_cap.is_some() {
            return Err(
                "training.update: fixed_norm and delta_cap are not used by the autoencoder (supp. 7.5.1: no cap was needed); remove them"
                    .into(),
            );
        }
        if self.models.is_empty() {
            return Err("at least one [[model]] is needed".into());
        }
        let mut seen = BTreeSet::new();
        for m in &self.models {
            m.as_model().validate()?;
            if !seen.insert(m.name.as_str()) {
                return Err(format!("model name `{}` is used twice", m.name));
            }
            if m.method.is_dynamic() || m.method == Method::Dfa {
                return Err(format!(
                    "model `{}`: method {} is not supported by the autoencoder (the paper uses NDI as the proxy for DI here); use bp, fa, pbp, ndi or sign_symmetry",
                    m.name,
                    m.method.name()
                ));
            }
        }
        if self.detail.models.is_empty() {
            return Err("detail.models must name at least one model".into());
        }
        let mut shown = BTreeSet::new();
        for d in &self.detail.models {
            if !seen.contains(d.as_str()) {
                return Err(format!(
                    "detail.models refers to unknown model `{d}`; known: {}",
                    seen.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
            if !shown.insert(d.as_str()) {
                return Err(format!("detail.models lists `{d}` twice"));
            }
        }
        for s in [Scale::Smoke, Scale::Paper] {
            self.memory(s).check(s)?;
        }
        Ok(())
    }

    /// The memory a training stage needs at scale `s`, roughly: the network's matrices
    /// with their copies and kept square products, a batch's activations and errors,
    /// the images, and the codes with their t-SNE.
    pub fn memory(&self, s: Scale) -> MemoryEstimate {
        let net = &self.network;
        let w = net.weight_entries();
        let squares: f64 = net
            .dims
            .windows(2)
            .map(|p| (p[0].min(p[1]) as f64).powi(2))
            .sum();
        let batch = self.training.batch_size.at(s) as f64;
        let (train, test) = (
            self.data.train_examples.at(s) as f64,
            self.data.test_examples.at(s) as f64,
        );
        let codes = self.detail.codes.at(s) as f64;
        let neighbours = 3.0 * self.detail.tsne.perplexity;
        let code_width = net.dims.iter().copied().min().unwrap_or(0) as f64;
        let mut m = MemoryEstimate::new();
        m.add(
            format!(
                "{} (weights, feedback, updates and their copies)",
                net.describe("network")
            ),
            F64 * w * 8.0,
        );
        m.add(
            format!(
                "{} (kept square products, factorised)",
                net.describe("network")
            ),
            F64 * squares * 4.0,
        );
        m.add(
            format!(
                "training.batch_size with {} (a batch's activations and errors)",
                net.describe("network")
            ),
            F64 * batch * net.units() * 6.0,
        );
        m.add(
            "data.train_examples and data.test_examples (images)",
            (train + test) * net.dims[0] as f64 * (F64 + 1.0),
        );
        m.add(
            "detail.codes and detail.tsne.perplexity (codes and their t-SNE)",
            codes * (F64 * code_width + 48.0 * neighbours + 16.0 * F64),
        );
        m
    }

    pub fn model(&self, name: &str) -> Option<&AeModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }
}
