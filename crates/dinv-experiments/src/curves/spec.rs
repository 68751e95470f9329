//! The TOML schema of a curve figure (`[[figure]]` in regression and classification
//! pipelines): which metric, which models, which axes, and the caption.

use serde::{Deserialize, Serialize};

use crate::spec::{check_name, check_positive, ModelSpec};

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
    /// Plot only these layers (as recorded: `l` for `W_l`/`B_l` and the system that
    /// inverts `W_l`, the hidden-layer index for `δ` angles); empty: all. When more
    /// than one layer is shown, each gets its own panel, titled by the hidden layer
    /// whose error signal it is about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<i64>,
    /// Beside each panel of the whole run, a second one of its first `zoom` x-units
    /// (e.g. the first 200 examples, where the paper sees the variability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoom: Option<f64>,
    /// Mark each seed's SSA re-stabilisations, at the value that triggered them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub events: bool,
    /// Small multiples by method: one panel per inversion method (NDI, DI, SDI, PBP),
    /// each with BP and FA as references.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub split_methods: bool,
    /// Median and interquartile range as points with whiskers, not joined: for a few
    /// checkpoints, where lines would suggest values in between.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub points: bool,
    /// Plot a number of each seed's summary (`metric`, e.g. `final_nmse`) against a
    /// model parameter, instead of a curve over training: one line per model family
    /// (method and feedback), median and interquartile range over seeds at each value;
    /// models without the parameter are drawn as flat references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub against: Option<Against>,
    /// What the panel shows, for the report (the statistics are added there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

/// A numeric model field a figure plots a summary number against, by its path in the
/// model entry: `alpha` (the leak α of the inversion dynamics), `init_scale`,
/// `feedback.scale`, ... (typically the field a `[sweep]` varies). The axis is
/// logarithmic: models with a positive value are swept, the others are references.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Against(pub String);

impl Against {
    /// The leak α.
    pub fn alpha() -> Self {
        Against("alpha".into())
    }

    /// Model `m`'s value of this field, when it has one and it is a number.
    pub fn value(&self, m: &ModelSpec) -> Option<f64> {
        let json = serde_json::to_value(m).ok()?;
        json.pointer(&format!("/{}", self.0.replace('.', "/")))?
            .as_f64()
    }

    /// The field's symbol in labels and on the axis: `α` for the leak, else the last
    /// segment of its path.
    pub fn symbol(&self) -> &str {
        match self.0.as_str() {
            "alpha" => "α",
            path => path.rsplit('.').next().unwrap_or(path),
        }
    }

    /// The default x-axis label.
    pub fn axis_label(&self) -> String {
        match self.0.as_str() {
            "alpha" => "leak α".into(),
            path => path.into(),
        }
    }
}

/// The captions of `figures`, by figure id, for the summary (and so the report).
pub fn captions(figures: &[FigureSpec]) -> std::collections::BTreeMap<String, String> {
    figures
        .iter()
        .filter_map(|f| f.caption.clone().map(|c| (f.id.clone(), c)))
        .collect()
}

impl FigureSpec {
    /// Checks a figure panel against the pipeline: a safe, unique file stem, a known
    /// run (`runs`), methods that match at least one model, layers the network has
    /// (`depth`, when known) and plottable numbers. Errors name the figure and field.
    pub fn validate(
        &self,
        pipeline: &str,
        runs: &[&str],
        models: &[ModelSpec],
        depth: Option<usize>,
    ) -> Result<(), String> {
        let id = &self.id;
        check_name("figure id", id)?;
        if id == pipeline {
            return Err(format!(
                "figure `{id}`: id is the pipeline's name, which names the combined figure; choose another"
            ));
        }
        if !runs.contains(&self.run.as_str()) {
            return Err(format!(
                "figure `{id}` refers to unknown run `{}`; known: {}",
                self.run,
                runs.join(", ")
            ));
        }
        if self.metric.is_empty() {
            return Err(format!("figure `{id}`: metric must not be empty"));
        }
        if !self.methods.is_empty() && !models.iter().any(|m| self.methods.contains(&m.method)) {
            let used: std::collections::BTreeSet<String> = models
                .iter()
                .map(|m| m.method.name().to_lowercase())
                .collect();
            return Err(format!(
                "figure `{id}`: methods = [{}] match no model of this pipeline (its models use {}), so the panel would be empty",
                self.methods
                    .iter()
                    .map(|m| m.name().to_lowercase())
                    .collect::<Vec<_>>()
                    .join(", "),
                used.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if let Some(depth) = depth {
            if let Some(l) = self.layers.iter().find(|&&l| l < 0 || l > depth as i64) {
                return Err(format!(
                    "figure `{id}`: layers contains {l}; the network's layers are 1..={depth} (0: the whole network)"
                ));
            }
        }
        if let Some(x) = self.x_max {
            check_positive(&format!("figure `{id}`: x_max"), x)?;
        }
        if let Some(against) = &self.against {
            let swept = models.iter().filter(|m| {
                against.value(m).is_some_and(|v| v > 0.0)
                    && (self.methods.is_empty() || self.methods.contains(&m.method))
            });
            if swept.count() < 2 {
                return Err(format!(
                    "figure `{id}`: against = \"{}\" needs at least two of its models with a positive number at `{}` (the axis is logarithmic)",
                    against.0, against.0
                ));
            }
        }
        if let Some(zoom) = self.zoom {
            check_positive(&format!("figure `{id}`: zoom"), zoom)?;
        }
        if let Some(u) = self.x_per_unit {
            check_positive(&format!("figure `{id}`: x_per_unit"), u)?;
        }
        if let Some(f) = self.y_factor {
            if !f.is_finite() || f == 0.0 {
                return Err(format!(
                    "figure `{id}`: y_factor = {f}: expected a finite, non-zero number"
                ));
            }
        }
        if let Some(h) = self.hline {
            if !h.is_finite() {
                return Err(format!(
                    "figure `{id}`: hline = {h}: expected a finite number"
                ));
            }
        }
        if let Some((a, b)) = self.y_range {
            if !(a.is_finite() && b.is_finite() && a < b) || (self.log_y && a <= 0.0) {
                return Err(format!(
                    "figure `{id}`: y_range = [{a}, {b}]: expected finite bounds, low < high{}",
                    if self.log_y { ", low > 0 (log_y)" } else { "" }
                ));
            }
        }
        Ok(())
    }
}
