//! Fig. 4b–d from the analysed outputs: training error against epochs for every model
//! (median across seeds, interquartile band), input digits with their reconstructions,
//! and t-SNE maps of the codes (first seed).

use std::collections::BTreeMap;

use dinv_core::Method;
use dinv_figures::{
    render, Axis, Band, Figure, ImageGridPanel, LegendPos, LinePanel, LineStyle, Panel, Rgb,
    ScatterPanel, Series,
};
use dinv_pipeline::{StageContext, StageError, StageResultExt, Table};
use serde::{Deserialize, Serialize};

use super::config::{AeModelSpec, WeightInit};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct FiguresParams {
    pub pipeline: String,
    pub title: String,
    pub models: Vec<AeModelSpec>,
    /// Models of Fig. 4c–d, in display order.
    pub detail: Vec<String>,
    /// Side of the square images (28 for MNIST).
    pub image_side: usize,
}

/// The file stems this stage writes besides the composite (named after the pipeline).
pub(crate) const FIGURES: [&str; 3] = ["fig4b", "fig4c", "fig4d"];

/// Colour by method (NDI variants by leak), solid for orthogonal and dashed for random
/// initialisation.
fn style(m: &AeModelSpec, models: &[AeModelSpec]) -> (Rgb, LineStyle) {
    const NDI: [Rgb; 4] = [
        Rgb(31, 120, 180),
        Rgb(227, 26, 28),
        Rgb(106, 61, 154),
        Rgb(255, 127, 0),
    ];
    let color = match m.method {
        Method::Bp => Rgb(0, 0, 0),
        Method::Fa => Rgb(150, 150, 150),
        Method::Pbp => Rgb(51, 160, 44),
        _ => {
            let mut alphas: Vec<u64> = models
                .iter()
                .filter(|o| o.method == m.method)
                .map(|o| o.alpha.to_bits())
                .collect();
            alphas.dedup();
            let k = alphas
                .iter()
                .position(|a| *a == m.alpha.to_bits())
                .unwrap_or(0);
            NDI[k % NDI.len()]
        }
    };
    let line = match m.init {
        WeightInit::Orthogonal => LineStyle::Solid,
        WeightInit::Random => LineStyle::Dashed,
    };
    (color, line)
}

/// Median and quartiles across seeds, point by point (seeds share the checkpoints).
fn quartiles(runs: &[&(Vec<f64>, Vec<f64>)]) -> (Vec<f64>, [Vec<f64>; 3]) {
    let n = runs.iter().map(|r| r.1.len()).min().unwrap_or(0);
    let x = runs.first().map(|r| r.0[..n].to_vec()).unwrap_or_default();
    let mut q: [Vec<f64>; 3] = Default::default();
    for k in 0..n {
        let mut v: Vec<f64> = runs.iter().map(|r| r.1[k]).collect();
        v.sort_by(f64::total_cmp);
        for (qi, p) in q.iter_mut().zip([0.25, 0.5, 0.75]) {
            let pos = p * (v.len() - 1) as f64;
            let (i, f) = (pos.floor() as usize, pos.fract());
            qi.push(if i + 1 < v.len() {
                v[i] * (1.0 - f) + v[i + 1] * f
            } else {
                v[i]
            });
        }
    }
    (x, q)
}

/// Per seed: model → (epochs, training error per pixel).
type ErrorCurves = BTreeMap<String, (Vec<f64>, Vec<f64>)>;

fn error_curves(t: &Table) -> Result<ErrorCurves, StageError> {
    let (model, metric, epoch, value) = (
        t.str("model")?,
        t.str("metric")?,
        t.f64("epoch")?,
        t.f64("value")?,
    );
    let mut out = ErrorCurves::new();
    for k in 0..model.len() {
        if metric[k] == "mse_per_pixel" {
            let e = out.entry(model[k].clone()).or_default();
            e.0.push(epoch[k]);
            e.1.push(value[k]);
        }
    }
    Ok(out)
}

/// Fig. 4b: training error (MSE per pixel) against epochs, log scale.
fn error_panel(p: &FiguresParams, seeds: &[ErrorCurves]) -> LinePanel {
    let mut series = Vec::new();
    let mut bands = Vec::new();
    for m in &p.models {
        let runs: Vec<_> = seeds.iter().filter_map(|s| s.get(&m.name)).collect();
        if runs.is_empty() {
            continue;
        }
        let (color, line) = style(m, &p.models);
        let (x, [lo, med, hi]) = quartiles(&runs);
        if runs.len() > 1 {
            bands.push(Band::new(x.clone(), lo, hi, color));
        }
        series.push(Series::new(m.label.clone(), x, med, color).with_style(line));
    }
    LinePanel {
        title: "b: training error".into(),
        x: Axis::linear("epochs"),
        y: Axis::log10("mean squared error per pixel"),
        series,
        bands,
        hlines: Vec::new(),
        legend: LegendPos::Outside,
        ..LinePanel::default()
    }
}

fn label_of<'a>(p: &'a FiguresParams, name: &'a str) -> &'a str {
    p.models
        .iter()
        .find(|m| m.name == name)
        .map_or(name, |m| m.label.as_str())
}

/// Fig. 4c: the ten test digits, and below them each detail model's reconstructions.
fn digits_panel(p: &FiguresParams, t: &Table) -> Result<ImageGridPanel, StageError> {
    let (model, digit, pixel) = (t.str("model")?, t.i64("digit")?, t.i64("pixel")?);
    let (input, output) = (t.f64("input")?, t.f64("output")?);
    let side = p.image_side;
    let cols = 10;
    let rows = 1 + p.detail.len();
    let mut pixels = vec![vec![f64::NAN; side * side]; rows * cols];
    for k in 0..model.len() {
        let (d, px) = (digit[k] as usize, pixel[k] as usize);
        if d >= cols || px >= side * side {
            return Err(StageError::msg(format!(
                "reconstruction row {k}: digit {d} or pixel {px} out of range"
            )));
        }
        pixels[d][px] = input[k];
        if let Some(r) = p.detail.iter().position(|n| *n == model[k]) {
            pixels[(r + 1) * cols + d][px] = output[k];
        }
    }
    let mut row_labels = vec!["input".to_string()];
    row_labels.extend(p.detail.iter().map(|n| label_of(p, n).to_string()));
    Ok(ImageGridPanel {
        title: "c: test digits and reconstructions".into(),
        rows,
        cols,
        image_h: side,
        image_w: side,
        pixels,
        value_range: (1.0, 0.0),
        row_labels,
    })
}

/// Fig. 4d: one t-SNE map of the codes per detail model, coloured by digit class.
fn tsne_panels(p: &FiguresParams, t: &Table) -> Result<Vec<ScatterPanel>, StageError> {
    let (model, label, x, y) = (t.str("model")?, t.i64("label")?, t.f64("x")?, t.f64("y")?);
    Ok(p.detail
        .iter()
        .map(|name| ScatterPanel {
            title: format!("d: t-SNE of the codes, {}", label_of(p, name)),
            points: (0..model.len())
                .filter(|&k| model[k] == *name)
                .map(|k| (x[k], y[k], label[k] as usize))
                .collect(),
            class_names: (0..10).map(|c| c.to_string()).collect(),
            palette: Vec::new(),
            point_size: 2,
        })
        .collect())
}

pub(crate) fn figures_stage(ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let p: FiguresParams = ctx.params_as()?;
    let mut seeds = Vec::new();
    for input in ctx.inputs() {
        seeds.push(error_curves(&input.table("curves")?)?);
    }
    let first = ctx
        .inputs()
        .first()
        .ok_or_else(|| StageError::msg("figures need at least one analysed seed"))?;
    let errors = error_panel(&p, &seeds);
    let digits = digits_panel(&p, &first.table("reconstructions")?)?;
    let maps = tsne_panels(&p, &first.table("embeddings")?)?;

    let draw = |fig: &Figure, stem: &str| {
        render(fig, &ctx.staging_path(stem)).with_context(|| format!("rendering {stem}"))
    };
    let mut fig = Figure::new((1, 1), vec![Panel::Lines(errors.clone())]);
    fig.panel_size = (760, 420);
    draw(&fig, FIGURES[0])?;
    let mut fig = Figure::new((1, 1), vec![Panel::Images(digits.clone())]);
    fig.panel_size = (760, 50 + 62 * digits.rows as u32);
    draw(&fig, FIGURES[1])?;
    let scatter: Vec<Panel> = maps.iter().cloned().map(Panel::Scatter).collect();
    let mut fig = Figure::new((1, scatter.len()), scatter.clone());
    fig.panel_size = (520, 440);
    draw(&fig, FIGURES[2])?;

    let mut panels = vec![Panel::Lines(errors), Panel::Images(digits)];
    panels.extend(scatter);
    let cols = 2;
    let rows = panels.len().div_ceil(cols);
    let mut fig = Figure::new((rows, cols), panels).with_title(&p.title);
    fig.panel_size = (760, 440);
    draw(&fig, &p.pipeline)?;
    Ok(())
}
