//! Figure panels of a regression pipeline (Fig. 3), drawn from the analysed curves
//! of every seed: the median across seeds as a line, the interquartile range as a band.

use std::collections::BTreeMap;

use dinv_core::{FeedbackInit, Method};
use dinv_figures::{
    render, Axis, Band, Figure, LegendPos, LinePanel, LineStyle, Panel, Rgb, Series,
};
use dinv_pipeline::{StageContext, StageError, StageResultExt};
use serde::{Deserialize, Serialize};

use super::analysis::{group, Curves};
use super::config::{FigureSource, FigureSpec};
use crate::spec::ModelSpec;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FiguresParams {
    pub pipeline: String,
    pub title: String,
    pub models: Vec<ModelSpec>,
    pub figures: Vec<FigureSpec>,
    /// Run name of every input (analysis) stage, in input order.
    pub input_runs: Vec<String>,
}

/// The figure stage's parameters: the shared ones, plus the run name of every
/// Gauss–Newton input, which follow the analysis inputs (absent in pipelines without).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RegressionFiguresParams {
    #[serde(flatten)]
    pub base: FiguresParams,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gauss_newton_runs: Vec<String>,
}

/// Colour and line style of each model: BP black, FA grey, PBP green; inversion
/// variants coloured by (feedback initialisation, α, DI's `gprime_after`), NDI dashed,
/// DI solid, SDI dotted.
pub(crate) fn model_styles(models: &[ModelSpec]) -> Vec<(Rgb, LineStyle)> {
    const VARIANTS: [Rgb; 6] = [
        Rgb(31, 120, 180),
        Rgb(227, 26, 28),
        Rgb(204, 167, 0),
        Rgb(106, 61, 154),
        Rgb(255, 127, 0),
        Rgb(166, 86, 40),
    ];
    let mut variants: Vec<(String, u64)> = Vec::new();
    models
        .iter()
        .map(|m| match m.method {
            Method::Bp => (Rgb(0, 0, 0), LineStyle::Solid),
            Method::Fa => (Rgb(150, 150, 150), LineStyle::Solid),
            Method::Pbp => (Rgb(51, 160, 44), LineStyle::Solid),
            Method::Ndi | Method::Di | Method::Sdi => {
                let mut kind = match &m.feedback {
                    Some(FeedbackInit::NegTranspose) => "tr".to_string(),
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                };
                // DI gated by g' afterwards is a different signal: its own colour.
                if m.di.is_some_and(|d| d.gprime_after) {
                    kind.push_str("-gated");
                }
                let key = (kind, m.alpha.to_bits());
                let idx = variants.iter().position(|v| *v == key).unwrap_or_else(|| {
                    variants.push(key);
                    variants.len() - 1
                });
                let style = match m.method {
                    Method::Ndi => LineStyle::Dashed,
                    Method::Sdi => LineStyle::Dotted,
                    _ => LineStyle::Solid,
                };
                (VARIANTS[idx % VARIANTS.len()], style)
            }
        })
        .collect()
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
        let mut v: Vec<f64> = runs
            .iter()
            .map(|r| r.1[k])
            .filter(|v| v.is_finite())
            .collect();
        x.push(*step as f64);
        if v.is_empty() {
            med.push(f64::NAN);
            lo.push(f64::NAN);
            hi.push(f64::NAN);
            continue;
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
        med.push(q(0.5));
        lo.push(q(0.25));
        hi.push(q(0.75));
    }
    (x, med, lo, hi)
}

/// Builds one panel from the curves of every seed of the panel's run.
/// `curves[seed][model]`.
pub(crate) fn panel(spec: &FigureSpec, models: &[ModelSpec], curves: &[Vec<Curves>]) -> LinePanel {
    let styles = model_styles(models);
    let mut series = Vec::new();
    let mut bands = Vec::new();
    for (mi, model) in models.iter().enumerate() {
        if !spec.methods.is_empty() && !spec.methods.contains(&model.method) {
            continue;
        }
        let Some(layers) = curves
            .first()
            .and_then(|c| c.get(mi))
            .and_then(|c| c.get(&spec.metric))
        else {
            continue;
        };
        let shown: Vec<i64> = layers
            .keys()
            .copied()
            .filter(|l| spec.layers.is_empty() || spec.layers.contains(l))
            .collect();
        let multi = shown.len() > 1;
        let top = layers.keys().max().copied().unwrap_or(0);
        for layer in shown {
            let per_seed: Vec<&(Vec<i64>, Vec<f64>)> = curves
                .iter()
                .filter_map(|c| {
                    c.get(mi)
                        .and_then(|m| m.get(&spec.metric))
                        .and_then(|l| l.get(&layer))
                })
                .collect();
            let (mut x, mut med, mut lo, mut hi) = quantiles(&per_seed);
            let per_unit = spec.x_per_unit.unwrap_or(1.0);
            let factor = spec.y_factor.unwrap_or(1.0);
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
            let (color, model_style) = styles[mi];
            let (style, label) = if multi {
                let style = if layer == top {
                    LineStyle::Dashed
                } else {
                    LineStyle::Solid
                };
                (style, format!("{} (layer {layer})", model.label))
            } else {
                (model_style, model.label.clone())
            };
            if per_seed.len() > 1 {
                bands.push(Band::new(x.clone(), lo, hi, color));
            }
            series.push(Series::new(label, x, med, color).with_style(style));
        }
    }
    let mut y = if spec.log_y {
        Axis::log10(&spec.y_label)
    } else {
        Axis::linear(&spec.y_label)
    };
    if let Some((a, b)) = spec.y_range {
        y = y.with_range(a, b);
    }
    let mut x = Axis::linear(spec.x_label.as_deref().unwrap_or("examples"));
    if let Some(xm) = spec.x_max {
        x = x.with_range(0.0, xm);
    }
    LinePanel {
        title: spec.title.clone(),
        x,
        y,
        series,
        bands,
        hlines: spec
            .hline
            .map(|h| vec![(h, LineStyle::Dotted)])
            .unwrap_or_default(),
        legend: LegendPos::Best,
        ..LinePanel::default()
    }
}

pub(crate) fn figures_stage(ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let RegressionFiguresParams {
        base: p,
        gauss_newton_runs,
    } = ctx.params_as()?;
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
        by_run
            .entry((source, run.clone()))
            .or_default()
            .push(per_model);
    }
    let mut panels = Vec::new();
    for spec in &p.figures {
        let curves = by_run
            .get(&(spec.source, spec.run.clone()))
            .ok_or_else(|| {
                StageError::msg(format!(
                    "figure `{}`: no {:?} stage for run `{}`",
                    spec.id, spec.source, spec.run
                ))
            })?;
        let panel = panel(spec, &p.models, curves);
        let fig = Figure::new((1, 1), vec![Panel::Lines(panel.clone())]);
        render(&fig, &ctx.staging_path(&spec.id))
            .with_context(|| format!("rendering {}", spec.id))?;
        panels.push(Panel::Lines(panel));
    }
    if !panels.is_empty() {
        let cols = panels.len().min(3);
        let rows = panels.len().div_ceil(cols);
        let fig = Figure::new((rows, cols), panels).with_title(&p.title);
        render(&fig, &ctx.staging_path(&p.pipeline))
            .with_context(|| format!("rendering {}", p.pipeline))?;
    }
    Ok(())
}

#[cfg(test)]
mod style_tests {
    use super::*;

    /// DI gated by g' shares α and feedback with plain DI but is a different signal: it
    /// must not be drawn in the same colour and style. NDI and plain DI with the same
    /// variant share the colour (dashed vs solid).
    #[test]
    fn gated_di_has_its_own_colour() {
        let model = |name: &str, method, gated: bool| ModelSpec {
            name: name.into(),
            label: name.into(),
            method,
            alpha: 0.01,
            feedback: Some(FeedbackInit::NegTranspose),
            di: gated.then(|| dinv_core::DiSettings {
                dynamics: dinv_core::Dynamics::Nonlinear,
                gprime_after: true,
                ..Default::default()
            }),
            init_scale: None,
        };
        let styles = model_styles(&[
            model("NDI", Method::Ndi, false),
            model("DI", Method::Di, false),
            model("DI-gated", Method::Di, true),
        ]);
        assert_eq!(styles[0].0, styles[1].0);
        assert_ne!(styles[1], styles[2]);
    }
}
