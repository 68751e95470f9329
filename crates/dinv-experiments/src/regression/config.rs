//! The TOML schema of a regression pipeline (Fig. 3): network, teacher, training
//! runs, model variants and figure panels.

use dinv_core::{DiSettings, SsaConfig, UpdateRule};
use serde::{Deserialize, Serialize};

use crate::curves::spec::{FigureSource, FigureSpec};
use crate::spec::{
    check_at_most, check_name, check_non_negative, check_scaled_at_most, check_ssa, field_error,
    limits, MemoryEstimate, ModelSpec, NetworkSpec, PipelineHeader, Scale, Scaled, F64,
};

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
    /// Claims judged from the summary (see [`crate::claim`]).
    #[serde(rename = "claim", default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<crate::claim::ClaimSpec>,
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

impl RegressionConfig {
    /// Checks everything serde cannot: names, shapes, value ranges and sizes (see
    /// [`crate::spec::limits`]). The message names the offending entry.
    pub fn validate(&self) -> Result<(), String> {
        self.pipeline.validate()?;
        self.network.validate("network")?;
        match self.teacher {
            TeacherSpec::Linear { half_width } | TeacherSpec::Network { half_width }
                if !(half_width > 0.0 && half_width.is_finite()) =>
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
            .map_err(|e| field_error("training.di.integration", e))?;
        check_ssa("training.ssa", &self.training.ssa)?;
        if self.runs.is_empty() {
            return Err("at least one [[run]] is needed".into());
        }
        let mut run_names = std::collections::BTreeSet::new();
        for r in &self.runs {
            check_name("run name", &r.name)?;
            if !run_names.insert(r.name.as_str()) {
                return Err(format!("run name `{}` is used twice", r.name));
            }
            r.update
                .validate()
                .map_err(|e| field_error(&format!("run `{}`: update", r.name), e))?;
            let field = |f: &str| format!("run `{}`: {f}", r.name);
            check_scaled_at_most(
                &field("examples"),
                &r.examples,
                limits::MAX_EXAMPLES,
                "examples",
            )?;
            check_scaled_at_most(
                &field("eval_dense_until"),
                &r.eval_dense_until,
                limits::MAX_EXAMPLES,
                "examples",
            )?;
            for s in [Scale::Smoke, Scale::Paper] {
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
                check_at_most(
                    &format!("run `{}`: checkpoints (scale {s})", r.name),
                    r.checkpoints.at(s),
                    r.examples.at(s),
                    "checkpoints: one per example (examples at this scale)",
                )?;
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
                    .map_err(|e| field_error(&format!("model `{}`: di.integration", m.name), e))?;
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
        check_at_most(
            "training.gn_batch",
            self.training.gn_batch,
            limits::MAX_EXAMPLES,
            "examples",
        )?;
        check_non_negative("training.gn_damping", self.training.gn_damping)?;
        let runs: Vec<&str> = self.runs.iter().map(|r| r.name.as_str()).collect();
        let names = self.models.iter().map(|m| m.name.as_str());
        crate::claim::validate_claims(
            &self.claims,
            &runs,
            names,
            self.figures.iter().map(|f| f.id.as_str()),
        )?;
        let mut ids = std::collections::BTreeSet::new();
        for f in &self.figures {
            f.validate(
                &self.pipeline.name,
                &runs,
                &self.models,
                Some(self.network.depth()),
            )?;
            if !ids.insert(f.id.as_str()) {
                return Err(format!("figure id `{}` is used twice", f.id));
            }
            let Some(run) = self.runs.iter().find(|r| r.name == f.run) else {
                unreachable!("checked by FigureSpec::validate")
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
        for s in [Scale::Smoke, Scale::Paper] {
            for r in &self.runs {
                self.memory(r, s).check(s)?;
            }
        }
        Ok(())
    }

    /// The memory a stage of run `r` needs at scale `s`, roughly: the network's
    /// matrices and their copies, the run's data, its recorded curves and checkpoints,
    /// and the Gauss–Newton batch.
    pub fn memory(&self, r: &RunSpec, s: Scale) -> MemoryEstimate {
        let net = &self.network;
        let dims = &net.dims;
        let (w, units) = (net.weight_entries(), net.units());
        let squares: f64 = dims.iter().map(|&d| d as f64 * d as f64).sum();
        let n = r.examples.at(s) as f64;
        let (d_in, d_out) = (dims[0] as f64, dims[dims.len() - 1] as f64);
        let rows = (r.eval_dense_until.at(s) as f64).min(n) + n / r.eval_every.at(s) as f64 + 2.0;
        let run = |f: &str| format!("run `{}`: {f}", r.name);
        let mut m = MemoryEstimate::new();
        m.add(
            format!(
                "{} (weights, feedback and their copies)",
                net.describe("network")
            ),
            F64 * w * 8.0,
        );
        m.add(
            format!(
                "{} (square products of the inversions and of Gauss–Newton)",
                net.describe("network")
            ),
            F64 * squares * 4.0,
        );
        m.add(
            run("examples (inputs, targets and their order)"),
            F64 * n * (2.0 * (d_in + d_out) + 1.0),
        );
        m.add(
            run("examples / eval_every and eval_dense_until (recorded curves)"),
            rows * 10.0 * net.depth() as f64 * 64.0,
        );
        if r.checkpoints.at(s) > 0 {
            let k = r.checkpoints.at(s) as f64 + 1.0;
            m.add(
                run("checkpoints (saved weights and feedback)"),
                F64 * k * w * 2.0,
            );
            let batch = (self.training.gn_batch as f64).min(n);
            m.add(
                "training.gn_batch (activations of the Gauss–Newton batch)",
                F64 * batch * units * 4.0,
            );
        }
        m
    }
}
