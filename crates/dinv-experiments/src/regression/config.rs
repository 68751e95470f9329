//! The TOML schema of a regression pipeline (Fig. 3): network, teacher, training
//! runs, model variants and figure panels.

use dinv_core::{DiSettings, SsaConfig, UpdateRule};
use serde::{Deserialize, Serialize};

use crate::spec::{ModelSpec, NetworkSpec, PipelineHeader, Scaled};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressionConfig {
    pub pipeline: PipelineHeader,
    pub network: NetworkSpec,
    pub teacher: TeacherSpec,
    pub training: TrainingSpec,
    #[serde(rename = "run")]
    pub runs: Vec<RunSpec>,
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
    #[serde(rename = "figure", default)]
    pub figures: Vec<FigureSpec>,
}

/// Where the targets come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TeacherSpec {
    /// `t = T x`, `T ~ U(−s, s)` (supp. 7.5.2).
    Linear { half_width: f64 },
    /// A random network of the student's architecture, weights and biases `U(−s, s)`
    /// (supp. 7.5.3).
    Network { half_width: f64 },
}

/// Settings shared by every run and model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    /// DI's dynamics and solver (a model's own `di` overrides it).
    pub di: DiSettings,
    /// SSA settings for R-Init and for re-stabilisation during training.
    #[serde(default)]
    pub ssa: SsaConfig,
    /// Re-run SSA whenever a layer's spectral abscissa turns positive (supp. 7.5.1).
    #[serde(default = "yes")]
    pub restabilise: bool,
    /// Gauss–Newton analysis (runs with `checkpoints`): the first this many training
    /// examples form the batch on which every checkpoint is compared with block GN.
    #[serde(default = "gn_batch")]
    pub gn_batch: usize,
    /// Relative Tikhonov damping of the GN matrices: this times each matrix's mean
    /// eigenvalue is added to its diagonal (see `dinv_core::gauss_newton::Damping`).
    #[serde(default = "gn_damping")]
    pub gn_damping: f64,
}

fn yes() -> bool {
    true
}

fn gn_batch() -> usize {
    500
}

fn gn_damping() -> f64 {
    1e-4
}

/// One training protocol (e.g. fixed learning rate for Fig. 3a, fixed-norm updates
/// for Fig. 3b); every model is trained once per run, on data of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    pub name: String,
    /// Training examples, presented once each in a random order.
    pub examples: Scaled<usize>,
    pub update: UpdateRule,
    /// Evaluate the training-set error every this many examples (default 1)...
    #[serde(default = "one")]
    pub eval_every: Scaled<usize>,
    /// ...and after every example up to this one (default 0).
    #[serde(default = "zero")]
    pub eval_dense_until: Scaled<usize>,
    /// Number of evenly spaced checkpoints (besides step 0) at which weights and
    /// feedback are saved for the Gauss–Newton analysis (default 0: none). Left out of
    /// the serialised form when zero, so runs without checkpoints keep their cache keys.
    #[serde(default = "zero", skip_serializing_if = "never")]
    pub checkpoints: Scaled<usize>,
}

impl RunSpec {
    /// Checkpoint steps at a scale: 0 and `k` evenly spaced steps up to the last.
    pub fn checkpoint_steps(&self, scale: crate::spec::Scale) -> Vec<usize> {
        let (k, n) = (self.checkpoints.at(scale), self.examples.at(scale));
        if k == 0 {
            return Vec::new();
        }
        let mut v: Vec<usize> = (0..=k).map(|i| i * n / k).collect();
        v.dedup();
        v
    }
}

fn one() -> Scaled<usize> {
    Scaled::Same(1)
}

fn zero() -> Scaled<usize> {
    Scaled::Same(0)
}

/// True for a count that is zero at every scale.
fn never(v: &Scaled<usize>) -> bool {
    v.at(crate::spec::Scale::Smoke) == 0 && v.at(crate::spec::Scale::Paper) == 0
}

/// Which stage a figure panel reads its curves from.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FigureSource {
    /// The per-run analysis (training metrics, normalised error).
    #[default]
    Analysis,
    /// The Gauss–Newton comparison at the run's checkpoints (`gn_*` metrics).
    GaussNewton,
}

impl FigureSource {
    fn is_analysis(&self) -> bool {
        *self == FigureSource::Analysis
    }
}

/// One figure panel, drawn from one run's analysed metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureSpec {
    /// Output file stem, e.g. `fig3a`.
    pub id: String,
    pub title: String,
    pub run: String,
    /// A metric recorded by training or analysis: `nmse`, `abscissa`,
    /// `b_angle_deg`, `angle_ndi_deg`, `angle_pbp_deg`, ...
    pub metric: String,
    pub y_label: String,
    #[serde(default)]
    pub log_y: bool,
    /// Restrict to these methods (`bp`, `fa`, `pbp`, `ndi`, `di`, `sdi`); empty: all.
    #[serde(default)]
    pub methods: Vec<dinv_core::Method>,
    /// Zoom the x axis to `[0, x_max]` examples (the paper zooms to 500).
    #[serde(default)]
    pub x_max: Option<f64>,
    #[serde(default)]
    pub y_range: Option<(f64, f64)>,
    /// Horizontal reference line (e.g. 0 for eigenvalues, 45 for angles).
    #[serde(default)]
    pub hline: Option<f64>,
    /// x-axis label (default "examples").
    #[serde(default)]
    pub x_label: Option<String>,
    /// Examples per x-axis unit, e.g. 60000 to plot epochs (default 1).
    #[serde(default)]
    pub x_per_unit: Option<f64>,
    /// Multiply the metric by this before plotting (e.g. 100 for percent).
    #[serde(default)]
    pub y_factor: Option<f64>,
    /// Where the metric comes from: `analysis` (default) or `gauss_newton`.
    #[serde(default, skip_serializing_if = "FigureSource::is_analysis")]
    pub source: FigureSource,
    /// Plot only these layers (paper numbering); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<i64>,
}

impl RegressionConfig {
    /// Checks everything serde cannot: names, shapes and value ranges. The message
    /// names the offending entry.
    pub fn validate(&self) -> Result<(), String> {
        self.network.validate("network")?;
        match self.teacher {
            TeacherSpec::Linear { half_width } | TeacherSpec::Network { half_width }
                if half_width.is_nan() || half_width <= 0.0 =>
            {
                return Err(format!(
                    "teacher.half_width must be positive, found {half_width}"
                ));
            }
            _ => {}
        }
        self.training
            .di
            .integration
            .validate()
            .map_err(|e| format!("training.di.integration: {e}"))?;
        if self.runs.is_empty() {
            return Err("at least one [[run]] is needed".into());
        }
        for r in &self.runs {
            r.update
                .validate()
                .map_err(|e| format!("run `{}`: update.{e}", r.name))?;
            for s in [crate::spec::Scale::Smoke, crate::spec::Scale::Paper] {
                if r.examples.at(s) == 0 {
                    return Err(format!(
                        "run `{}`: examples must be positive at scale {s}",
                        r.name
                    ));
                }
                if r.eval_every.at(s) == 0 {
                    return Err(format!(
                        "run `{}`: eval_every must be positive at scale {s}",
                        r.name
                    ));
                }
            }
        }
        if self.models.is_empty() {
            return Err("at least one [[model]] is needed".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.models {
            m.validate()?;
            m.check_di_settings(Some(&self.training.di))?;
            if !seen.insert(&m.name) {
                return Err(format!("model name `{}` is used twice", m.name));
            }
            if let Some(di) = &m.di {
                di.integration
                    .validate()
                    .map_err(|e| format!("model `{}`: di.integration: {e}", m.name))?;
            }
            if m.method == dinv_core::Method::Sdi && self.network.depth() < 3 {
                return Err(format!(
                    "model `{}`: single-loop DI (sdi) needs at least two hidden layers; network.dims {:?} has {}",
                    m.name,
                    self.network.dims,
                    self.network.depth() - 1
                ));
            }
        }
        if self.training.gn_batch == 0 {
            return Err("training.gn_batch must be positive".into());
        }
        if !(self.training.gn_damping >= 0.0 && self.training.gn_damping.is_finite()) {
            return Err(format!(
                "training.gn_damping must be non-negative, found {}",
                self.training.gn_damping
            ));
        }
        for f in &self.figures {
            let Some(run) = self.runs.iter().find(|r| r.name == f.run) else {
                return Err(format!(
                    "figure `{}` refers to unknown run `{}`",
                    f.id, f.run
                ));
            };
            if f.source == FigureSource::GaussNewton
                && [crate::spec::Scale::Smoke, crate::spec::Scale::Paper]
                    .iter()
                    .any(|&s| run.checkpoints.at(s) == 0)
            {
                return Err(format!(
                    "figure `{}` plots the Gauss–Newton analysis of run `{}`, which saves no checkpoints at some scale; set e.g. checkpoints = {{ smoke = 5, paper = 20 }} in that [[run]]",
                    f.id, f.run
                ));
            }
        }
        Ok(())
    }
}
