//! Figure panels of a regression or classification pipeline (Figs. 3 and 4a), drawn
//! from the analysed curves of every seed: the median across seeds as a line, the
//! interquartile range as a band (or, for a few checkpoints, as points with whiskers).
//! Each model keeps the look `crate::style` gives it in every panel.

use std::collections::BTreeMap;

use dinv_core::Method;
use dinv_figures::{
    render, Axis, Band, EventMark, Figure, LegendPos, LinePanel, LineStyle, Marker, Panel,
    PointSeries, RangeNote, Rgb, Series,
};
use dinv_pipeline::{Stage, StageContext, StageError, StageResultExt};
use serde::{Deserialize, Serialize};

use super::spec::{Against, FigureSource, FigureSpec};
use super::{group, Curves};
use crate::spec::ModelSpec;
use crate::style::{model_style, ModelStyle};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FiguresParams {
    pub pipeline: String,
    pub title: String,
    pub models: Vec<ModelSpec>,
    pub figures: Vec<FigureSpec>,
    /// Run name of every input (analysis) stage, in input order.
    pub input_runs: Vec<String>,
}

/// The figure stage of the curve experiments (kind `curve_figures`, shared by the
/// regression and classification pipelines: bump its version on any change to what
/// the figures show): the shared parameters, plus the run name of every Gauss–Newton
/// input, which follow the analysis inputs (absent in pipelines without).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CurveFiguresParams {
    #[serde(flatten)]
    pub base: FiguresParams,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gauss_newton_runs: Vec<String>,
}

impl Stage for CurveFiguresParams {
    const KIND: &'static str = "curve_figures";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        figures_stage(self, ctx)
    }
}

/// Median and quartiles across seeds at each step (steps must agree across seeds).
fn quantiles(runs: &[&(Vec<i64>, Vec<f64>)]) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let steps = &runs[0].0;
    let n = runs
        .iter()
        .map(|r| r.1.len())
        .min()
        .unwrap_or(0)
        .min(steps.len());
    let (mut x, mut med, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (k, step) in steps.iter().enumerate().take(n) {
        let (m, l, h) = median_iqr(runs.iter().map(|r| r.1[k]).collect());
        x.push(*step as f64);
        med.push(m);
        lo.push(l);
        hi.push(h);
    }
    (x, med, lo, hi)
}

/// Metrics recorded per system `l` (the dynamics that invert `W_l`, and its feedback
/// `B_l`): their error signal is that of hidden layer `l − 1`. Layer 0 is SDI's
/// single loop.
const SYSTEM_METRICS: &[&str] = &["abscissa", "abscissa_pre", "b_angle_deg", RESTABILISED];

/// The curve holding each re-stabilisation's abscissa before SSA, at its step: as the
/// classification training records it, and as the regression figures build it from the
/// analysis' `events` table.
pub(crate) const RESTABILISED: &str = "restabilised_from";

/// How a recorded layer is named in titles, the same in every figure: by the hidden
/// layer whose error signal the quantity is about (`δ_k`), or by the weight matrix for
/// quantities of `W_l` itself.
pub(crate) fn layer_name(metric: &str, layer: i64) -> String {
    if SYSTEM_METRICS.contains(&metric) {
        if layer == 0 {
            "single loop".into()
        } else {
            format!("hidden layer {} (δ_{{{}}})", layer - 1, layer - 1)
        }
    } else if metric == "gn_angle_deg" {
        format!("update of W_{{{layer}}}")
    } else if metric == "weight_norm" {
        format!("W_{{{layer}}}")
    } else if layer == 0 {
        String::new()
    } else {
        format!("hidden layer {layer} (δ_{{{layer}}})")
    }
}

/// One run's curves for every seed (`[seed][model]`).
pub(crate) type RunCurves = [Vec<Curves>];

/// Builds the panels of one figure: one per shown layer (and, with `split_methods`,
/// per method group), each drawn from every seed's curves of the figure's run.
pub(crate) fn panels(
    spec: &FigureSpec,
    models: &[ModelSpec],
    curves: &RunCurves,
) -> Vec<LinePanel> {
    let shown = |mi: usize| -> Vec<i64> {
        curves
            .first()
            .and_then(|c| c.get(mi))
            .and_then(|c| c.get(&spec.metric))
            .map(|layers| {
                layers
                    .keys()
                    .copied()
                    .filter(|l| spec.layers.is_empty() || spec.layers.contains(l))
                    .collect()
            })
            .unwrap_or_default()
    };
    let in_spec = |m: &ModelSpec| spec.methods.is_empty() || spec.methods.contains(&m.method);
    let mut layers: Vec<i64> = (0..models.len())
        .filter(|&mi| in_spec(&models[mi]))
        .flat_map(shown)
        .collect();
    layers.sort_unstable();
    layers.dedup();
    // Method groups: every method apart from the references BP and FA, each drawn
    // with the references.
    let groups: Vec<Option<Method>> = if spec.split_methods {
        let mut g: Vec<Method> = models
            .iter()
            .filter(|m| in_spec(m) && !matches!(m.method, Method::Bp | Method::Fa))
            .map(|m| m.method)
            .collect();
        g.dedup();
        let mut seen = Vec::new();
        g.retain(|m| {
            let new = !seen.contains(m);
            seen.push(*m);
            new
        });
        g.into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    let mut out = Vec::new();
    for layer in &layers {
        for group in &groups {
            let members: Vec<usize> = (0..models.len())
                .filter(|&mi| in_spec(&models[mi]))
                .filter(|&mi| match group {
                    None => true,
                    Some(g) => {
                        models[mi].method == *g
                            || matches!(models[mi].method, Method::Bp | Method::Fa)
                    }
                })
                .filter(|&mi| shown(mi).contains(layer))
                .collect();
            let mut title = spec.title.clone();
            let name = layer_name(&spec.metric, *layer);
            if layers.len() > 1 && !name.is_empty() {
                title = format!("{title}, {name}");
            }
            if let Some(g) = group {
                title = format!("{title}: {}", g.name());
            }
            let mut panel = layer_panel(spec, models, curves, &members, *layer, title);
            // The zoom beside it repeats only what tells it apart (a long title
            // would not fit the panel).
            let zoom = spec.zoom.map(|z| {
                let what = if layers.len() > 1 {
                    format!("{name}, ")
                } else {
                    String::new()
                };
                zoomed(&panel, z, format!("{what}first {z} {}", panel.x.label))
            });
            if zoom.is_some() {
                // Two columns of panels: the legend beside the plot hides no data.
                panel.legend = LegendPos::Outside;
            }
            out.push(panel);
            out.extend(zoom);
        }
    }
    out
}

/// Columns of the combined figure of `n` panels: three, unless two fill the rows
/// where three would leave most of the last row empty (4 panels: 2 × 2, not 3 + 1).
fn grid_columns(n: usize) -> usize {
    if n <= 3 {
        n.max(1)
    } else if n % 3 == 1 && n.is_multiple_of(2) {
        2
    } else {
        3
    }
}

/// Relative tolerance within which two curves count as the same line.
const IDENTICAL_WITHIN: f64 = 1e-4;

/// Curves that a later-drawn curve covers exactly (same x, every y within
/// [`IDENTICAL_WITHIN`] of the other relatively) get a legend note that says so: with
/// few points, markers cannot be offset, and NDI at α = 0.01 and DI gated by g′ compute
/// the same system's steady state. The comparison is per point, so that curves on a
/// log axis that differ by decades near zero are never taken for one.
fn note_identical_curves(series: &mut [Series]) {
    for i in 0..series.len() {
        let cover = (i + 1..series.len()).rev().find(|&j| {
            let (a, b) = (&series[i], &series[j]);
            a.x == b.x
                && a.y.len() == b.y.len()
                && a.y.iter().zip(&b.y).all(|(u, v)| {
                    (u.is_nan() && v.is_nan())
                        || (u - v).abs() <= IDENTICAL_WITHIN * u.abs().max(v.abs())
                })
        });
        if let Some(j) = cover {
            let note = format!(
                "under {}, equal within {IDENTICAL_WITHIN:e}",
                series[j].label
            );
            series[i].legend_note = Some(note);
        }
    }
}

/// Fewer plot pixels of its own than this and a legend entry counts as hidden.
const MIN_VISIBLE_PIXELS: usize = 20;

/// What a reader could not see in `fig`: legend entries whose data are completely
/// hidden under others, data outside the plotted range without a clip mark, and labels
/// drawn in conflicting styles. Run on every figure a stage draws; each problem is a
/// warning of the run (the data are as they are, but the figure must be fixed).
pub(crate) fn readability_problems(fig: &Figure) -> Result<Vec<String>, dinv_figures::FigureError> {
    let mut out = Vec::new();
    // Curves whose legend says which curve covers them are accounted for.
    let noted: Vec<&str> = fig
        .panels
        .iter()
        .filter_map(|p| match p {
            Panel::Lines(l) => Some(l),
            _ => None,
        })
        .flat_map(|l| l.series.iter())
        .filter(|s| s.legend_note.is_some())
        .map(|s| s.label.as_str())
        .collect();
    for v in dinv_figures::series_visibility(fig)? {
        // A few anti-aliased edge pixels of a curve drawn under another are not
        // something a reader can see.
        if v.pixels < MIN_VISIBLE_PIXELS && !noted.contains(&v.label.as_str()) {
            out.push(format!(
                "legend entry `{}` of panel {} shows only {} pixels of its own (hidden under other data, or outside the axes)",
                v.label,
                v.panel + 1,
                v.pixels
            ));
        }
    }
    for miss in dinv_figures::clipped_without_mark(fig)? {
        out.push(format!(
            "panel {}: {} at ({}, {}) lies outside the axes without a clip mark",
            miss.panel + 1,
            miss.element,
            miss.x,
            miss.y
        ));
    }
    for c in dinv_figures::style_conflicts(fig) {
        out.push(format!(
            "`{}` is drawn in {} different styles",
            c.label,
            c.uses.len()
        ));
    }
    Ok(out)
}

/// Median and quartiles of finite values (NaN when there are none).
pub(crate) fn median_iqr(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let (i, f) = (pos.floor() as usize, pos.fract());
        if i + 1 < v.len() {
            v[i] * (1.0 - f) + v[i + 1] * f
        } else {
            v[i]
        }
    };
    (q(0.5), q(0.25), q(0.75))
}

/// A summary number of every seed (`seeds[k]` is seed k's analysis summary) against a
/// model field (`against`, e.g. the leak α): one line per family of models that differ
/// only in that field (same method, feedback, solver, ...), through the median over
/// seeds at each value, with the interquartile range as whiskers; models without a
/// positive value (for α: BP, FA, PBP, α = 0) as flat references across the range.
pub(crate) fn versus(
    spec: &FigureSpec,
    against: &Against,
    models: &[ModelSpec],
    seeds: &[serde_json::Value],
) -> LinePanel {
    let factor = spec.y_factor.unwrap_or(1.0);
    let stat = |m: &ModelSpec| {
        median_iqr(
            seeds
                .iter()
                .filter_map(|s| {
                    s.pointer(&format!("/models/{}/{}", m.name, spec.metric))
                        .and_then(serde_json::Value::as_f64)
                })
                .map(|v| v * factor)
                .collect(),
        )
    };
    let shown: Vec<&ModelSpec> = models
        .iter()
        .filter(|m| spec.methods.is_empty() || spec.methods.contains(&m.method))
        .collect();
    let x_of = |m: &ModelSpec| against.value(m).filter(|v| *v > 0.0);
    let (swept, refs): (Vec<&ModelSpec>, Vec<&ModelSpec>) =
        shown.iter().partition(|m| x_of(m).is_some());
    // Everything but the name, the label and the swept field.
    let family = |m: &ModelSpec| {
        let mut json = serde_json::to_value(m).unwrap_or_default();
        if let Some(obj) = json.as_object_mut() {
            obj.remove("name");
            obj.remove("label");
        }
        remove_path(&mut json, &against.0);
        dinv_pipeline::canonical_json(&json)
    };
    let mut families: Vec<(_, Vec<&ModelSpec>)> = Vec::new();
    for m in swept {
        let key = family(m);
        match families.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ms)) => ms.push(m),
            None => families.push((key, vec![m])),
        }
    }
    let alphas: Vec<f64> = shown.iter().filter_map(|m| x_of(m)).collect();
    let (lo_a, hi_a) = alphas
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), a| {
            (l.min(*a), h.max(*a))
        });
    let mut series = Vec::new();
    let mut points = Vec::new();
    for (_, mut ms) in families {
        ms.sort_by(|a, b| x_of(a).unwrap_or(0.0).total_cmp(&x_of(b).unwrap_or(0.0)));
        let style = ModelStyle {
            color: family_colour(ms[0]),
            ..model_style(ms[0])
        };
        let x: Vec<f64> = ms.iter().filter_map(|m| x_of(m)).collect();
        let stats: Vec<(f64, f64, f64)> = ms.iter().map(|m| stat(m)).collect();
        let med: Vec<f64> = stats.iter().map(|s| s.0).collect();
        // The family's label: the first member's, without its value.
        let label = family_label(&ms[0].label, against.symbol());
        // A family of one is a point: its legend entry goes with the whiskered point,
        // which would otherwise cover the unjoined line's only marker.
        let (line_label, point_label) = if ms.len() > 1 || seeds.len() < 2 {
            (label, String::new())
        } else {
            (String::new(), label)
        };
        series.push(
            Series::new(line_label, x.clone(), med.clone(), style.color)
                .with_style(style.line)
                .with_marker(style.marker, 4)
                .with_marker_spacing(1, 0.0),
        );
        // A lone point is drawn larger: it has no line to be seen by.
        let size = if point_label.is_empty() { 4 } else { 6 };
        if seeds.len() > 1 {
            points.push(
                PointSeries::new(point_label, x, med, style.color)
                    .with_marker(style.marker, size)
                    .with_whiskers(
                        stats.iter().map(|s| s.1).collect(),
                        stats.iter().map(|s| s.2).collect(),
                    ),
            );
        }
    }
    for m in refs {
        let style = model_style(m);
        let (med, _, _) = stat(m);
        series.push(style.apply(Series::new(
            m.label.clone(),
            vec![lo_a, hi_a],
            vec![med, med],
            style.color,
        )));
    }
    let mut y = if spec.log_y {
        Axis::log10(&spec.y_label)
    } else {
        Axis::linear(&spec.y_label)
    };
    if let Some((a, b)) = spec.y_range {
        y = y.with_range(a, b);
    }
    LinePanel {
        title: spec.title.clone(),
        x: Axis::log10(&spec.x_label.clone().unwrap_or_else(|| against.axis_label())),
        y,
        series,
        points,
        hlines: spec
            .hline
            .map(|h| vec![(h, LineStyle::Dotted)])
            .unwrap_or_default(),
        legend: LegendPos::Best,
        ..LinePanel::default()
    }
}

/// The colour of a family of models that differ in α. A model's own colour stands
/// for its α (see `crate::style`), so a family takes its feedback's colour instead;
/// its methods differ by dash and marker as everywhere.
fn family_colour(m: &ModelSpec) -> Rgb {
    match m.feedback {
        Some(dinv_core::FeedbackInit::Stabilised { .. }) => Rgb(106, 61, 154),
        Some(dinv_core::FeedbackInit::Uniform { .. }) => Rgb(120, 120, 120),
        _ => Rgb(0, 90, 160),
    }
}

/// Removes the field at dotted `path` from a JSON object.
fn remove_path(json: &mut serde_json::Value, path: &str) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut v = json;
    for p in parts {
        match v.get_mut(p) {
            Some(inner) => v = inner,
            None => return,
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove(last);
    }
}

/// A model's label without the value of the swept field `symbol`:
/// `DI (Tr, α=0.001)` → `DI (Tr)` for `α`.
fn family_label(label: &str, symbol: &str) -> String {
    let Some(i) = label.find(&format!("{symbol}=")) else {
        return label.to_string();
    };
    let end = label[i..].find([',', ')']).map_or(label.len(), |k| i + k);
    let mut out = format!("{}{}", &label[..i], &label[end..]);
    for (a, b) in [(", )", ")"), ("(, ", "("), (" ()", ""), (", ,", ",")] {
        out = out.replace(a, b);
    }
    out
}

/// `panel` restricted to its first `x_max` x-units, without a legend (it sits beside
/// the panel of the whole run, which has one). Markers keep their own spacing.
fn zoomed(panel: &LinePanel, x_max: f64, title: String) -> LinePanel {
    let cut = |xs: &[f64]| xs.iter().take_while(|v| **v <= x_max).count();
    LinePanel {
        title,
        x: Axis {
            range: Some((0.0, x_max)),
            ..panel.x.clone()
        },
        series: panel
            .series
            .iter()
            .map(|s| {
                let k = cut(&s.x);
                Series {
                    x: s.x[..k].to_vec(),
                    y: s.y[..k].to_vec(),
                    ..s.clone()
                }
            })
            .collect(),
        bands: panel
            .bands
            .iter()
            .map(|b| {
                let k = cut(&b.x);
                Band {
                    x: b.x[..k].to_vec(),
                    lo: b.lo[..k].to_vec(),
                    hi: b.hi[..k].to_vec(),
                    ..b.clone()
                }
            })
            .collect(),
        events: panel
            .events
            .iter()
            .filter(|e| e.x <= x_max)
            .cloned()
            .collect(),
        legend: LegendPos::None,
        ..panel.clone()
    }
}

/// The panel of one layer, for the models `members`.
fn layer_panel(
    spec: &FigureSpec,
    models: &[ModelSpec],
    curves: &RunCurves,
    members: &[usize],
    layer: i64,
    title: String,
) -> LinePanel {
    let per_unit = spec.x_per_unit.unwrap_or(1.0);
    let factor = spec.y_factor.unwrap_or(1.0);
    let mut series = Vec::new();
    let mut bands = Vec::new();
    let mut points = Vec::new();
    let mut events = Vec::new();
    for &mi in members {
        let model = &models[mi];
        let style = model_style(model);
        let per_seed: Vec<&(Vec<i64>, Vec<f64>)> = curves
            .iter()
            .filter_map(|c| {
                c.get(mi)
                    .and_then(|m| m.get(&spec.metric))
                    .and_then(|l| l.get(&layer))
            })
            .collect();
        if per_seed.is_empty() {
            continue;
        }
        let (mut x, mut med, mut lo, mut hi) = quantiles(&per_seed);
        x.iter_mut().for_each(|v| *v /= per_unit);
        for v in med.iter_mut().chain(lo.iter_mut()).chain(hi.iter_mut()) {
            *v *= factor;
        }
        if let Some(xm) = spec.x_max {
            let keep = x.iter().take_while(|v| **v <= xm).count();
            x.truncate(keep);
            med.truncate(keep);
            lo.truncate(keep);
            hi.truncate(keep);
        }
        if spec.points {
            let mut p = PointSeries::new(model.label.clone(), x, med, style.color)
                .with_marker(style.marker, 4);
            if per_seed.len() > 1 {
                p = p.with_whiskers(lo, hi);
            }
            points.push(p);
            continue;
        }
        if per_seed.len() > 1 {
            bands.push(Band::new(x.clone(), lo, hi, style.color));
        }
        series.push(style.apply(Series::new(model.label.clone(), x, med, style.color)));
        if spec.events {
            for seed in curves {
                let Some((steps, before)) = seed
                    .get(mi)
                    .and_then(|m| m.get(RESTABILISED))
                    .and_then(|l| l.get(&layer))
                else {
                    continue;
                };
                for (s, b) in steps.iter().zip(before) {
                    let x = *s as f64 / per_unit;
                    if spec.x_max.is_some_and(|xm| x > xm) {
                        continue;
                    }
                    events.push(
                        EventMark::at(x, b * factor, style.color)
                            .with_shape(Marker::TriangleUp)
                            .with_label(format!("{}: re-stabilised", model.label)),
                    );
                }
            }
        }
    }
    // Curves without markers (BP) go on top: drawn under others, a plain line is lost,
    // while marked curves still show their markers.
    series.sort_by_key(|s| s.marker == Marker::None);
    note_identical_curves(&mut series);
    let mut y = if spec.log_y {
        Axis::log10(&spec.y_label)
    } else {
        Axis::linear(&spec.y_label)
    };
    if let Some((a, b)) = spec.y_range {
        y = y.with_range(a, b);
        if a != 0.0 && !spec.log_y {
            y = y.with_range_note(RangeNote::Break);
        }
    }
    let mut x = Axis::linear(spec.x_label.as_deref().unwrap_or("examples"));
    if let Some(xm) = spec.x_max {
        x = x.with_range(0.0, xm);
    }
    let hlines = spec
        .hline
        .map(|h| vec![(h, LineStyle::Dotted)])
        .unwrap_or_default();
    LinePanel {
        title,
        x,
        y,
        series,
        bands,
        hlines,
        legend: LegendPos::Best,
        events,
        point_dodge: if spec.points { 4 } else { 0 },
        points,
        inset: None,
    }
}

fn figures_stage(
    params: &CurveFiguresParams,
    ctx: &mut StageContext<'_>,
) -> Result<(), StageError> {
    let CurveFiguresParams {
        base: p,
        gauss_newton_runs,
    } = params;
    let sources = p
        .input_runs
        .iter()
        .map(|r| (FigureSource::Analysis, r))
        .chain(
            gauss_newton_runs
                .iter()
                .map(|r| (FigureSource::GaussNewton, r)),
        );
    // (source, run) → seed → model → curves
    let mut by_run: BTreeMap<(FigureSource, String), Vec<Vec<Curves>>> = BTreeMap::new();
    // (run) → each seed's analysis summary, for figures `against` a parameter.
    let mut summaries: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for (input, (source, run)) in ctx.inputs().iter().zip(sources) {
        let t = input.table("curves")?;
        let names = t.str("model")?;
        let mut per_model: Vec<Curves> = Vec::new();
        for m in &p.models {
            let rows: Vec<usize> = (0..names.len()).filter(|&k| names[k] == m.name).collect();
            let sub = dinv_pipeline::Table::new()
                .with_i64(
                    "step",
                    rows.iter()
                        .map(|&k| t.i64("step").map(|c| c[k]))
                        .collect::<Result<_, _>>()?,
                )?
                .with_str(
                    "metric",
                    rows.iter()
                        .map(|&k| t.str("metric").map(|c| c[k].clone()))
                        .collect::<Result<_, _>>()?,
                )?
                .with_i64(
                    "layer",
                    rows.iter()
                        .map(|&k| t.i64("layer").map(|c| c[k]))
                        .collect::<Result<_, _>>()?,
                )?
                .with_f64(
                    "value",
                    rows.iter()
                        .map(|&k| t.f64("value").map(|c| c[k]))
                        .collect::<Result<_, _>>()?,
                )?;
            per_model.push(group(&sub)?);
        }
        if source == FigureSource::Analysis && p.figures.iter().any(|f| f.against.is_some()) {
            summaries
                .entry(run.clone())
                .or_default()
                .push(input.json("summary")?);
        }
        // Re-stabilisations as a curve of the abscissa before each (regression analyses
        // keep them in a table of their own; classification records the curve).
        if source == FigureSource::Analysis && input.files().iter().any(|f| f == "events.parquet") {
            let e = input.table("events")?;
            let (model, step, layer, before) = (
                e.str("model")?,
                e.i64("step")?,
                e.i64("layer")?,
                e.f64("abscissa_before")?,
            );
            for (m, curves) in p.models.iter().zip(per_model.iter_mut()) {
                for k in (0..model.len()).filter(|&k| model[k] == m.name) {
                    let c = curves
                        .entry(RESTABILISED.to_string())
                        .or_default()
                        .entry(layer[k])
                        .or_default();
                    c.0.push(step[k]);
                    c.1.push(before[k]);
                }
            }
        }
        by_run
            .entry((source, run.clone()))
            .or_default()
            .push(per_model);
    }
    let mut all_panels = Vec::new();
    for spec in &p.figures {
        let curves = by_run
            .get(&(spec.source, spec.run.clone()))
            .ok_or_else(|| {
                StageError::msg(format!(
                    "figure `{}`: no {:?} stage for run `{}`",
                    spec.id, spec.source, spec.run
                ))
            })?;
        let fig_panels: Vec<Panel> = match &spec.against {
            Some(against) => vec![versus(
                spec,
                against,
                &p.models,
                summaries.get(&spec.run).map_or(&[][..], Vec::as_slice),
            )],
            None => panels(spec, &p.models, curves),
        }
        .into_iter()
        .map(Panel::Lines)
        .collect();
        // A zoomed panel sits right of its whole-run panel.
        let cols = if spec.zoom.is_some() { 2 } else { 3 }.min(fig_panels.len().max(1));
        let rows = fig_panels.len().div_ceil(cols).max(1);
        let fig = Figure::new((rows, cols), fig_panels.clone());
        render(&fig, &ctx.staging_path(&spec.id))
            .with_context(|| format!("rendering {}", spec.id))?;
        for problem in
            readability_problems(&fig).with_context(|| format!("checking {}", spec.id))?
        {
            ctx.warn(&format!("figure `{}`: {problem}", spec.id));
        }
        all_panels.extend(fig_panels);
    }
    if !all_panels.is_empty() {
        let cols = grid_columns(all_panels.len());
        let rows = all_panels.len().div_ceil(cols);
        let fig = Figure::new((rows, cols), all_panels).with_title(&p.title);
        render(&fig, &ctx.staging_path(&p.pipeline))
            .with_context(|| format!("rendering {}", p.pipeline))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dinv_core::FeedbackInit;
    use dinv_figures::{clipped_without_mark, series_visibility, style_conflicts};

    fn model(name: &str, method: Method, alpha: f64) -> ModelSpec {
        ModelSpec {
            name: name.into(),
            label: name.into(),
            method,
            alpha,
            feedback: (!matches!(method, Method::Bp)).then_some(FeedbackInit::NegTranspose),
            di: None,
            init_scale: None,
        }
    }

    fn spec(metric: &str) -> FigureSpec {
        FigureSpec {
            id: "t".into(),
            title: "t".into(),
            run: "r".into(),
            metric: metric.into(),
            y_label: "y".into(),
            log_y: false,
            methods: vec![],
            x_max: None,
            y_range: None,
            hline: None,
            x_label: None,
            x_per_unit: None,
            y_factor: None,
            source: FigureSource::Analysis,
            layers: vec![],
            zoom: None,
            events: false,
            split_methods: false,
            points: false,
            against: None,
            caption: None,
        }
    }

    /// Hand-made curves of three seeds: `value(model, layer, seed, step)` at steps
    /// 0, 10, ..., 1990, for `metric` at `layers`, plus re-stabilisations of layer 2.
    fn curves(
        models: &[ModelSpec],
        metric: &str,
        layers: &[i64],
        value: impl Fn(usize, i64, usize, f64) -> f64,
    ) -> Vec<Vec<Curves>> {
        let steps: Vec<i64> = (0..200).map(|k| 10 * k).collect();
        (0..3)
            .map(|seed| {
                (0..models.len())
                    .map(|mi| {
                        let mut c = Curves::new();
                        for &l in layers {
                            let v = steps
                                .iter()
                                .map(|&s| value(mi, l, seed, s as f64))
                                .collect();
                            c.entry(metric.into())
                                .or_default()
                                .insert(l, (steps.clone(), v));
                        }
                        c.entry(RESTABILISED.into()).or_default().insert(
                            2,
                            (
                                vec![30 + 10 * seed as i64 + 40 * mi as i64],
                                vec![0.05 + 0.02 * mi as f64],
                            ),
                        );
                        c
                    })
                    .collect()
            })
            .collect()
    }

    /// Every entry visible, every clipped point marked, one style per label.
    fn check(panels: Vec<LinePanel>) {
        let n = panels.len();
        let fig = Figure::new(
            (n.div_ceil(2), 2.min(n)),
            panels.iter().cloned().map(Panel::Lines).collect(),
        );
        assert_eq!(readability_problems(&fig).unwrap(), Vec::<String>::new());
        let fig = Figure::new(
            (n.div_ceil(2), 2.min(n)),
            panels.into_iter().map(Panel::Lines).collect(),
        );
        for v in series_visibility(&fig).unwrap() {
            assert!(
                v.pixels > 0,
                "legend entry `{}` of panel {} is hidden",
                v.label,
                v.panel
            );
        }
        assert_eq!(clipped_without_mark(&fig).unwrap(), vec![]);
        assert_eq!(style_conflicts(&fig), vec![]);
    }

    /// Stability panels: NDI and DI of one variant have *identical* curves, which must
    /// both stay visible; two recorded systems become two panels named by the hidden
    /// layer whose error they compute; the zoom panel follows each; events are marked.
    #[test]
    fn stability_panels_show_every_model_and_event() {
        let models = [
            model("BP", Method::Bp, 0.0),
            model("NDI", Method::Ndi, 0.01),
            model("DI", Method::Di, 0.01),
            model("DI-0.001", Method::Di, 0.001),
        ];
        let c = curves(&models, "abscissa_pre", &[2, 3], |mi, l, seed, s| {
            let base = if mi == 3 { -0.2 } else { -0.01 * l as f64 };
            base + 0.001 * seed as f64 - 1e-5 * s
        });
        let spec = FigureSpec {
            methods: vec![Method::Ndi, Method::Di],
            events: true,
            zoom: Some(200.0),
            hline: Some(0.0),
            ..spec("abscissa_pre")
        };
        let panels = panels(&spec, &models, &c);
        let titles: Vec<&str> = panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "t, hidden layer 1 (δ_{1})",
                "hidden layer 1 (δ_{1}), first 200 examples",
                "t, hidden layer 2 (δ_{2})",
                "hidden layer 2 (δ_{2}), first 200 examples",
            ]
        );
        // BP is not among the methods; the three others are drawn, with their events
        // (one per seed) on layer 2's system only.
        assert_eq!(panels[0].series.len(), 3);
        assert_eq!(panels[0].events.len(), 9);
        assert!(panels[2].events.is_empty());
        assert_eq!(panels[1].x.range, Some((0.0, 200.0)));
        assert!(panels[1]
            .series
            .iter()
            .all(|s| s.x.iter().all(|x| *x <= 200.0)));
        check(panels);
    }

    /// Angles spanning decades on a log axis, with exact zeros (which a log axis
    /// cannot show: they must be marked), and a fixed linear range that clips.
    #[test]
    fn angle_panels_mark_what_they_cannot_show() {
        let models = [
            model("DI", Method::Di, 0.01),
            model("SDI", Method::Sdi, 0.001),
        ];
        let c = curves(&models, "angle_ndi_deg", &[1], |mi, _, seed, s| {
            if s > 1500.0 {
                0.0
            } else {
                10f64.powf(-(s / 200.0)) * (1.0 + mi as f64 + 0.1 * seed as f64)
            }
        });
        let log = FigureSpec {
            log_y: true,
            ..spec("angle_ndi_deg")
        };
        let p = panels(&log, &models, &c);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].title, "t", "one layer: no layer name in the title");
        check(p);
        let clipped = FigureSpec {
            y_range: Some((0.0, 1.0)),
            ..spec("angle_ndi_deg")
        };
        check(panels(&clipped, &models, &c));
    }

    /// Gauss–Newton checkpoints: points with whiskers, one panel per method with BP and
    /// FA as references in each, on an axis from 0 (points above 90° clipped, marked).
    #[test]
    fn gauss_newton_small_multiples() {
        let models = [
            model("BP", Method::Bp, 0.0),
            model("FA", Method::Fa, 0.0),
            model("NDI", Method::Ndi, 0.01),
            model("DI", Method::Di, 0.01),
            model("DI-0.001", Method::Di, 0.001),
        ];
        let c = curves(&models, "gn_angle_deg", &[1], |mi, _, seed, s| {
            40.0 + 12.0 * mi as f64 + 3.0 * seed as f64 + s / 100.0
        });
        let spec = FigureSpec {
            points: true,
            split_methods: true,
            y_range: Some((0.0, 90.0)),
            ..spec("gn_angle_deg")
        };
        let p = panels(&spec, &models, &c);
        let titles: Vec<&str> = p.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["t: NDI", "t: DI"]);
        let labels = |k: usize| {
            p[k].points
                .iter()
                .map(|s| s.label.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(0), ["BP", "FA", "NDI"]);
        assert_eq!(labels(1), ["BP", "FA", "DI", "DI-0.001"]);
        assert!(p.iter().all(|p| p.series.is_empty() && p.point_dodge > 0));
        assert!(p[1].points[3]
            .lo
            .iter()
            .zip(&p[1].points[3].hi)
            .all(|(l, h)| l <= h));
        check(p);
    }

    /// Against α: one line per family through the per-α medians (checked against
    /// the hand-made seeds), whiskers at the quartiles, flat references for models
    /// without α; every entry visible.
    #[test]
    fn versus_alpha_draws_families_and_references() {
        let with_label = |m: ModelSpec, label: &str| ModelSpec {
            label: label.into(),
            ..m
        };
        let models = [
            with_label(model("BP", Method::Bp, 0.0), "BP"),
            with_label(model("DI-a", Method::Di, 0.01), "DI (Tr, α=0.01)"),
            with_label(model("DI-b", Method::Di, 0.001), "DI (Tr, α=0.001)"),
            with_label(model("NDI-a", Method::Ndi, 0.01), "NDI (Tr, α=0.01)"),
            with_label(model("NDI-b", Method::Ndi, 0.001), "NDI (Tr, α=0.001)"),
        ];
        // Seed k: value = (k + 1) * base, base by model.
        let base = [1.0, 2.0, 3.0, 4.0, 5.0];
        let seeds: Vec<serde_json::Value> = (0..3)
            .map(|k| {
                let mut ms = serde_json::Map::new();
                for (m, b) in models.iter().zip(base) {
                    ms.insert(
                        m.name.clone(),
                        serde_json::json!({ "final_nmse": (k + 1) as f64 * b }),
                    );
                }
                serde_json::json!({ "models": ms })
            })
            .collect();
        let spec = FigureSpec {
            against: Some(Against::alpha()),
            log_y: true,
            ..spec("final_nmse")
        };
        let p = versus(&spec, &Against::alpha(), &models, &seeds);
        let labels: Vec<&str> = p.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["DI (Tr)", "NDI (Tr)", "BP"]);
        // A family of one (another solver) is a labelled point, visible beside the
        // family it differs from.
        let mut more = models.to_vec();
        more.push(ModelSpec {
            di: Some(dinv_core::DiSettings {
                solver: dinv_core::Solver::Euler,
                ..Default::default()
            }),
            ..with_label(model("DI-e", Method::Di, 0.001), "DI (Tr, α=0.001, Euler)")
        });
        let seeds_more: Vec<serde_json::Value> = seeds
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let mut s = s.clone();
                s["models"]["DI-e"] = serde_json::json!({ "final_nmse": (k + 1) as f64 * 9.0 });
                s
            })
            .collect();
        let q = versus(&spec, &Against::alpha(), &more, &seeds_more);
        assert!(q.points.iter().any(|p| p.label == "DI (Tr, Euler)"));
        check(vec![q]);
        // Sorted by α; median of {1,2,3}·b is 2b, quartiles 1.5b and 2.5b.
        assert_eq!(p.series[0].x, [0.001, 0.01]);
        assert_eq!(p.series[0].y, [6.0, 4.0]);
        assert_eq!(p.points[0].lo, [4.5, 3.0]);
        assert_eq!(p.points[0].hi, [7.5, 5.0]);
        assert_eq!(p.series[2].x, [0.001, 0.01]);
        assert_eq!(p.series[2].y, [2.0, 2.0]);
        check(vec![p]);
        assert_eq!(family_label("SDI (R, α=0.01)", "α"), "SDI (R)");
        assert_eq!(family_label("DI (α=0.1)", "α"), "DI");
        assert_eq!(family_label("DI, α=0.1, Euler", "α"), "DI, Euler");
        assert_eq!(family_label("FA (scale=0.5)", "scale"), "FA");
    }

    /// Against another field (here the initial scale, as a `[sweep]` over
    /// `model.X.init_scale` makes): the models with a scale form the family, sorted by
    /// it, and the model without one is the flat reference.
    #[test]
    fn versus_any_numeric_field() {
        let scaled = |name: &str, s: f64| ModelSpec {
            label: format!("BP (init_scale={s})"),
            init_scale: Some(s),
            ..model(name, Method::Bp, 0.0)
        };
        let models = [
            scaled("BP-10", 10.0),
            ModelSpec {
                label: "BP (default init)".into(),
                ..model("BP", Method::Bp, 0.0)
            },
            scaled("BP-2", 2.0),
        ];
        let seeds: Vec<serde_json::Value> = (0..3)
            .map(|k| {
                serde_json::json!({ "models": {
                    "BP-10": { "final_nmse": 10.0 + k as f64 },
                    "BP": { "final_nmse": 1.0 + k as f64 },
                    "BP-2": { "final_nmse": 2.0 + k as f64 },
                }})
            })
            .collect();
        let against = Against("init_scale".into());
        assert_eq!(against.value(&models[0]), Some(10.0));
        assert_eq!(against.value(&models[1]), None);
        let p = versus(&spec("final_nmse"), &against, &models, &seeds);
        let lines: Vec<(&str, &[f64], &[f64])> = p
            .series
            .iter()
            .map(|s| (s.label.as_str(), s.x.as_slice(), s.y.as_slice()))
            .collect();
        assert_eq!(
            lines,
            [
                ("BP", &[2.0, 10.0][..], &[3.0, 11.0][..]),
                ("BP (default init)", &[2.0, 10.0][..], &[2.0, 2.0][..])
            ]
        );
        assert_eq!(p.x.label, "init_scale");
        check(vec![p]);
    }

    /// The stage's check finds a curve drawn exactly under another in the same style
    /// (what hid NDI α = 0 in the Fashion-MNIST figure before variants got their own
    /// marker phases).
    #[test]
    fn readability_problems_find_a_hidden_curve() {
        let x: Vec<f64> = (0..50).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v * v).collect();
        let red = Rgb(200, 0, 0);
        let panel = LinePanel {
            series: vec![
                Series::new("under", x.clone(), y.clone(), red),
                Series::new("over", x, y, red),
            ],
            ..LinePanel::default()
        };
        let fig = Figure::new((1, 1), vec![Panel::Lines(panel)]);
        // Either curve alone draws the same pixels: the check names both.
        let problems = readability_problems(&fig).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("`under`") && problems[1].contains("`over`"),
            "{problems:?}"
        );
    }

    /// The combined figure leaves no row two-thirds empty where two columns fill it.
    #[test]
    fn grid_columns_fill_the_rows() {
        assert_eq!(
            (1..=8).map(grid_columns).collect::<Vec<_>>(),
            [1, 2, 3, 2, 3, 3, 3, 3]
        );
    }

    /// A curve that another covers exactly says so in the legend, and then no longer
    /// counts as a hidden entry; one that differs does not get the note.
    #[test]
    fn identical_curves_are_noted() {
        let x: Vec<f64> = (0..5).map(f64::from).collect();
        let y = vec![1.0, 2.0, 3.0, 4.0, 5.0];
        let mut series = vec![
            Series::new("NDI", x.clone(), y.clone(), Rgb(200, 150, 0)),
            Series::new(
                "other",
                x.clone(),
                y.iter().map(|v| v + 0.5).collect(),
                Rgb(0, 0, 200),
            ),
            Series::new(
                "DI gated",
                x,
                y.iter().map(|v| v + 1e-6).collect(),
                Rgb(255, 127, 0),
            ),
        ];
        note_identical_curves(&mut series);
        assert_eq!(
            series[0].legend_note.as_deref(),
            Some("under DI gated, equal within 1e-4")
        );
        assert_eq!(series[1].legend_note, None);
        assert_eq!(series[2].legend_note, None);
        // Small values a decade apart are different curves, however large the
        // panel's other values (as on fig3g's log axis).
        let x: Vec<f64> = (0..3).map(f64::from).collect();
        let mut log = vec![
            Series::new("a", x.clone(), vec![1.0, 1e-6, 1e-7], Rgb(0, 0, 0)),
            Series::new("b", x, vec![1.0, 1e-5, 1e-6], Rgb(200, 0, 0)),
        ];
        note_identical_curves(&mut log);
        assert_eq!(log[0].legend_note, None);
        let fig = Figure::new(
            (1, 1),
            vec![Panel::Lines(LinePanel {
                series,
                ..LinePanel::default()
            })],
        );
        assert_eq!(readability_problems(&fig).unwrap(), Vec::<String>::new());
    }

    /// One naming of layers everywhere: systems and feedback by the hidden layer whose
    /// error they compute, δ angles by their own hidden layer, GN updates by weight.
    #[test]
    fn layers_are_named_by_the_hidden_layer() {
        assert_eq!(layer_name("abscissa", 3), "hidden layer 2 (δ_{2})");
        assert_eq!(layer_name("b_angle_deg", 2), "hidden layer 1 (δ_{1})");
        assert_eq!(layer_name("angle_ndi_deg", 2), "hidden layer 2 (δ_{2})");
        assert_eq!(layer_name("abscissa", 0), "single loop");
        assert_eq!(layer_name("gn_angle_deg", 3), "update of W_{3}");
    }
}
