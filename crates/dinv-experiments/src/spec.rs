//! Configuration types shared by every experiment's TOML file in `pipelines/`.

use std::fmt;

use dinv_core::{Activation, DiSettings, FeedbackInit, Method};
use serde::{Deserialize, Serialize};

/// How much work a run does: `smoke` for CI and quick checks, `paper` for the
/// paper's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    Smoke,
    Paper,
}

impl Scale {
    pub fn name(self) -> &'static str {
        match self {
            Scale::Smoke => "smoke",
            Scale::Paper => "paper",
        }
    }

    pub fn parse(s: &str) -> Option<Scale> {
        match s {
            "smoke" => Some(Scale::Smoke),
            "paper" => Some(Scale::Paper),
            _ => None,
        }
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A value that is either the same at every scale or given per scale:
/// `examples = 2000` or `examples = { smoke = 400, paper = 2000 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scaled<T> {
    PerScale { smoke: T, paper: T },
    Same(T),
}

impl<T: Default> Default for Scaled<T> {
    fn default() -> Self {
        Scaled::Same(T::default())
    }
}

impl<T: Clone> Scaled<T> {
    pub fn at(&self, scale: Scale) -> T {
        match self {
            Scaled::Same(v) => v.clone(),
            Scaled::PerScale { smoke, paper } => match scale {
                Scale::Smoke => smoke.clone(),
                Scale::Paper => paper.clone(),
            },
        }
    }
}

/// The `[pipeline]` header every file starts with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineHeader {
    /// Unique name; the prefix of every stage id and the key in `summary.json`.
    pub name: String,
    /// Which experiment code builds the stages (e.g. `regression`).
    pub experiment: String,
    /// One-line description used in the report.
    pub title: String,
    /// Master seeds: one independent replicate per seed.
    #[serde(default = "default_seeds")]
    pub seeds: Scaled<Vec<u64>>,
}

fn default_seeds() -> Scaled<Vec<u64>> {
    Scaled::Same(vec![1])
}

/// Architecture of a feedforward network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// Layer widths `[d_0, …, d_L]`.
    pub dims: Vec<usize>,
    /// One transfer function per layer (`L` entries).
    pub activations: Vec<Activation>,
    pub bias: bool,
    /// Initial weights `U(−s, s)`; biases start at zero.
    pub init_half_width: f64,
}

impl NetworkSpec {
    pub fn validate(&self, what: &str) -> Result<(), String> {
        if self.dims.len() < 2 {
            return Err(format!(
                "{what}.dims needs at least two widths, found {:?}",
                self.dims
            ));
        }
        if self.dims.contains(&0) {
            return Err(format!(
                "{what}.dims must be positive, found {:?}",
                self.dims
            ));
        }
        if self.activations.len() != self.dims.len() - 1 {
            return Err(format!(
                "{what}.activations needs one entry per layer ({}), found {}",
                self.dims.len() - 1,
                self.activations.len()
            ));
        }
        if !(self.init_half_width > 0.0 && self.init_half_width.is_finite()) {
            return Err(format!(
                "{what}.init_half_width must be positive, found {}",
                self.init_half_width
            ));
        }
        Ok(())
    }

    pub fn depth(&self) -> usize {
        self.dims.len() - 1
    }
}

/// One model variant (a line in the figure).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Short id used in stage ids and summary keys (`[A-Za-z0-9_.-]`), e.g. `DI-Tr-0.01`.
    pub name: String,
    /// Legend label, e.g. `DI (Tr-Init, α = 0.01)`.
    pub label: String,
    pub method: Method,
    /// Controller leak `α` (NDI, DI).
    #[serde(default)]
    pub alpha: f64,
    /// Feedback initialisation (FA, NDI, DI).
    #[serde(default)]
    pub feedback: Option<FeedbackInit>,
    /// Overrides the pipeline's DI settings for this model.
    #[serde(default)]
    pub di: Option<DiSettings>,
}

impl ModelSpec {
    /// Checks the DI settings this model runs with (its own, else the pipeline's
    /// `training.di`): `gprime_after` where it would be ignored is an error.
    pub fn check_di_settings(&self, pipeline: Option<&DiSettings>) -> Result<(), String> {
        match self.di.as_ref().or(pipeline) {
            Some(di) if self.method.is_dynamic() => di
                .check_gprime_after(self.method)
                .map_err(|e| format!("model `{}`: di: {e}", self.name)),
            _ => Ok(()),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(format!(
                "model name `{}` must be non-empty and use only ASCII letters, digits, `_`, `-`, `.`",
                self.name
            ));
        }
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(format!(
                "model `{}`: alpha must be >= 0, found {}",
                self.name, self.alpha
            ));
        }
        match (self.method.uses_feedback(), &self.feedback) {
            (true, None) => Err(format!(
                "model `{}`: method {} needs a `feedback` initialisation (e.g. feedback = {{ kind = \"neg_transpose\" }})",
                self.name,
                self.method.name()
            )),
            (false, Some(_)) => Err(format!(
                "model `{}`: method {} does not use feedback weights; remove `feedback`",
                self.name,
                self.method.name()
            )),
            _ => Ok(()),
        }
    }
}
