//! Configuration types shared by every experiment's TOML file in `pipelines/`.

use dinv_core::{Activation, CoreError, DiSettings, FeedbackInit, Method, SsaConfig};
use serde::{Deserialize, Serialize};

/// Bounds on the sizes a pipeline file may ask for, checked when it is loaded: an
/// absurd value (`hidden = 1000000000`, a typo'd example count) is an error naming the
/// field, not an allocation failure in a stage after hours of other work. They are
/// generous: the paper's protocols stay far below each.
pub mod limits {
    /// Units of one layer (`network.dims[i]`, `network.hidden`).
    pub const MAX_WIDTH: usize = 100_000;
    /// Any count of examples or images (a run's `examples`, `batch_size`,
    /// `detail.codes`, checkpoints, the GN batch, ...).
    pub const MAX_EXAMPLES: usize = 100_000_000;
    /// Training epochs.
    pub const MAX_EPOCHS: usize = 100_000;
    /// Examples one training stage presents in all (epochs × examples).
    pub const MAX_PRESENTATIONS: usize = 1_000_000_000;
    /// Master seeds (replicates) of a pipeline at one scale.
    pub const MAX_SEEDS: usize = 1_000;
    /// Evaluations or other repeated measurements per epoch.
    pub const MAX_EVALUATIONS: usize = 1_000_000;
    /// Memory one stage may need by the load-time estimate ([`super::MemoryEstimate`]):
    /// 16 GiB. The estimate counts what grows with the configuration (weights and
    /// their copies, data, per-batch activations, recorded curves); a stage needs
    /// somewhat more.
    pub const MAX_STAGE_BYTES: f64 = 16.0 * (1u64 << 30) as f64;
}

/// `field = value: reason` for a parameter error of the core library, naming the field
/// once (`training.update.learning_rate = -0.001: must be positive and finite`).
pub fn field_error(prefix: &str, e: CoreError) -> String {
    match e {
        CoreError::InvalidParameter {
            name,
            value,
            reason,
        } => format!("{prefix}.{name} = {value}: {reason}"),
        other => format!("{prefix}: {other}"),
    }
}

/// Checks `value <= max` for a bounded size; the error names the field and the bound.
pub fn check_at_most(field: &str, value: usize, max: usize, what: &str) -> Result<(), String> {
    if value > max {
        return Err(format!(
            "{field} = {value}: at most {max} {what} (a bound of dinv_experiments::spec::limits)"
        ));
    }
    Ok(())
}

/// [`check_at_most`] for a value given per scale, naming the scale.
pub fn check_scaled_at_most(
    field: &str,
    value: &Scaled<usize>,
    max: usize,
    what: &str,
) -> Result<(), String> {
    for s in [Scale::Smoke, Scale::Paper] {
        check_at_most(&format!("{field} (scale {s})"), value.at(s), max, what)?;
    }
    Ok(())
}

/// Checks a count that must be positive at every scale.
pub fn check_scaled_positive(field: &str, value: &Scaled<usize>) -> Result<(), String> {
    for s in [Scale::Smoke, Scale::Paper] {
        if value.at(s) == 0 {
            return Err(format!("{field} must be positive at scale {s}, found 0"));
        }
    }
    Ok(())
}

/// Checks that `value` is a positive finite number.
pub fn check_positive(field: &str, value: f64) -> Result<(), String> {
    if !(value > 0.0 && value.is_finite()) {
        return Err(format!(
            "{field} = {value}: expected a positive finite number"
        ));
    }
    Ok(())
}

/// Checks that `value` is a finite number >= 0.
pub fn check_non_negative(field: &str, value: f64) -> Result<(), String> {
    if !(value >= 0.0 && value.is_finite()) {
        return Err(format!("{field} = {value}: expected a finite number >= 0"));
    }
    Ok(())
}

/// Checks SSA settings (`field` names the table).
pub fn check_ssa(field: &str, ssa: &SsaConfig) -> Result<(), String> {
    check_positive(&format!("{field}.epsilon"), ssa.epsilon)?;
    check_positive(&format!("{field}.learning_rate"), ssa.learning_rate)?;
    check_non_negative(&format!("{field}.margin"), ssa.margin)?;
    if ssa.max_iters == 0 || ssa.min_iters > ssa.max_iters {
        return Err(format!(
            "{field}: expected 1 <= max_iters and min_iters <= max_iters, found min_iters = {}, max_iters = {}",
            ssa.min_iters, ssa.max_iters
        ));
    }
    Ok(())
}

/// Checks a feedback initialisation's numbers (`field` names it, e.g.
/// `model `FA`: feedback`).
pub fn check_feedback(field: &str, init: &FeedbackInit) -> Result<(), String> {
    match init {
        FeedbackInit::NegTranspose => Ok(()),
        FeedbackInit::ScaledNegTranspose { scale } => {
            if !scale.is_finite() || *scale == 0.0 {
                return Err(format!(
                    "{field}.scale = {scale}: expected a finite, non-zero number"
                ));
            }
            Ok(())
        }
        FeedbackInit::Uniform { half_width } => {
            check_positive(&format!("{field}.half_width"), *half_width)
        }
        FeedbackInit::Stabilised {
            half_width,
            ssa_alpha,
            ssa,
        } => {
            check_positive(&format!("{field}.half_width"), *half_width)?;
            check_non_negative(&format!("{field}.ssa_alpha"), *ssa_alpha)?;
            check_ssa(&format!("{field}.ssa"), ssa)
        }
    }
}

/// A load-time estimate of the memory one stage needs, term by term, each named by
/// the fields it grows with. Sizes are `f64` so that absurd values cannot overflow.
#[derive(Debug, Default)]
pub struct MemoryEstimate {
    terms: Vec<(String, f64)>,
}

/// Bytes of one `f64`.
pub const F64: f64 = 8.0;

impl MemoryEstimate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes` for `what` (the fields it grows with, e.g. `network.dims (weights)`).
    pub fn add(&mut self, what: impl Into<String>, bytes: f64) {
        self.terms.push((what.into(), bytes));
    }

    pub fn total(&self) -> f64 {
        self.terms.iter().map(|t| t.1).sum()
    }

    /// Errors if the total exceeds [`limits::MAX_STAGE_BYTES`], naming the largest terms.
    pub fn check(&self, scale: Scale) -> Result<(), String> {
        let total = self.total();
        if total.is_finite() && total <= limits::MAX_STAGE_BYTES {
            return Ok(());
        }
        let mut terms: Vec<&(String, f64)> = self.terms.iter().collect();
        terms.sort_by(|a, b| b.1.total_cmp(&a.1));
        let largest: Vec<String> = terms
            .iter()
            .take(2)
            .filter(|t| t.1 > 0.0)
            .map(|(what, bytes)| format!("{what}: {}", human_bytes(*bytes)))
            .collect();
        Err(format!(
            "a stage would need about {} of memory at scale {scale}, more than the limit of {} (dinv_experiments::spec::limits::MAX_STAGE_BYTES); mostly {}",
            human_bytes(total),
            human_bytes(limits::MAX_STAGE_BYTES),
            largest.join("; ")
        ))
    }
}

/// `1.5 GiB`-style sizes.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if !bytes.is_finite() {
        return "an unbounded amount".into();
    }
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit + 1 == UNITS.len() && v >= 1024.0 {
        return format!("{bytes:.1e} B");
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Checks that a name used in stage ids, file names and summary keys is non-empty,
/// uses only `[A-Za-z0-9_.-]` and does not start with `.`.
pub fn check_name(field: &str, name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "{field} `{name}` must be non-empty, use only ASCII letters, digits, `_`, `-`, `.`, and not start with `.`"
        ));
    }
    Ok(())
}

pub use dinv_pipeline::Scale;

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

impl PipelineHeader {
    /// Checks the name (it becomes stage ids, file names and a summary key) and the
    /// seeds (at least one, at most [`limits::MAX_SEEDS`], no repeats, at each scale).
    pub fn validate(&self) -> Result<(), String> {
        check_name("pipeline.name", &self.name)?;
        for s in [Scale::Smoke, Scale::Paper] {
            let seeds = self.seeds.at(s);
            if seeds.is_empty() {
                return Err(format!(
                    "pipeline.seeds needs at least one seed at scale {s}"
                ));
            }
            check_at_most(
                &format!("pipeline.seeds (scale {s}): the count"),
                seeds.len(),
                limits::MAX_SEEDS,
                "seeds",
            )?;
            let mut sorted = seeds.clone();
            sorted.sort_unstable();
            if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
                return Err(format!(
                    "pipeline.seeds lists seed {} twice at scale {s}",
                    w[0]
                ));
            }
        }
        Ok(())
    }
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
        for (i, &d) in self.dims.iter().enumerate() {
            check_at_most(
                &format!("{what}.dims[{i}]"),
                d,
                limits::MAX_WIDTH,
                "units per layer",
            )?;
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

    /// Entries of all weight matrices, `Σ d_{l-1} d_l`.
    pub fn weight_entries(&self) -> f64 {
        self.dims
            .windows(2)
            .map(|w| w[0] as f64 * w[1] as f64)
            .sum()
    }

    /// Units of all layers, input included, `Σ d_l`.
    pub fn units(&self) -> f64 {
        self.dims.iter().map(|&d| d as f64).sum()
    }

    /// `network.dims = [...]` with its widest entry, for memory messages.
    pub fn describe(&self, what: &str) -> String {
        let (i, d) = self
            .dims
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
            .map_or((0, 0), |(i, d)| (i, *d));
        format!("{what}.dims (widest: {what}.dims[{i}] = {d})")
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
    /// Regression only: multiplies the shared initial forward weights, so a control
    /// model starts from the same draw at a larger scale (same teacher, data and order).
    /// Absent (the default) leaves the cache keys of existing models unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_scale: Option<f64>,
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
        if let Some(k) = self.init_scale {
            if !(k.is_finite() && k > 0.0) {
                return Err(format!(
                    "model `{}`: init_scale = {k}: expected a positive finite factor",
                    self.name
                ));
            }
        }
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
        if let Some(f) = &self.feedback {
            check_feedback(&format!("model `{}`: feedback", self.name), f)?;
        }
        if self.method == Method::Dfa
            && !matches!(self.feedback, Some(FeedbackInit::Uniform { .. }))
        {
            return Err(format!(
                "model `{}`: DFA draws its direct matrices D_l ~ U(±h) (d_l x d_L, one per \
                 hidden layer): give feedback = {{ kind = \"uniform\", half_width = 0.5 }}",
                self.name
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

/// The DI solvers' revision for a model that runs them.
pub(crate) fn di_revision(method: dinv_core::Method) -> Option<u32> {
    matches!(method, dinv_core::Method::Di | dinv_core::Method::Sdi)
        .then_some(dinv_core::dynamics::SOLVER_REVISION)
}
