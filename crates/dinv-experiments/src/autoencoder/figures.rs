//! Fig. 4b–d from the analysed outputs: training error against epochs for every model
//! (median across seeds, interquartile band), input digits with their reconstructions,
//! and t-SNE maps of the codes (first seed).

use std::collections::BTreeMap;

use dinv_figures::{
    render, Axis, Band, Figure, ImageGridPanel, LegendPos, LinePanel, LineStyle, Marker, Panel,
    Rgb, ScatterPanel, Series,
};
use dinv_pipeline::{Stage, StageContext, StageError, StageResultExt, Table};
use serde::{Deserialize, Serialize};

use super::baselines::BaselineErrors;
use super::config::{AeModelSpec, WeightInit};
use crate::style::{model_style, ModelStyle};

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

impl Stage for FiguresParams {
    const KIND: &'static str = "autoencoder_figures";
    const VERSION: u32 = 3;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        figures_stage(self, ctx)
    }
}

pub(crate) use super::config::FIGURES;

/// A model's look: [`model_style`] of its method and variant (the same colour, dash and
/// marker as in every other figure), with a dotted line for random initial weights.
pub(crate) fn style(m: &AeModelSpec) -> ModelStyle {
    let mut st = model_style(&m.as_model());
    if m.init == WeightInit::Random {
        st.line = LineStyle::Dotted;
    }
    st
}

/// The reference errors of Fig. 4b: thin lines in one neutral colour, told apart by dash.
const BASELINE_COLOUR: Rgb = Rgb(120, 120, 120);

/// Fig. 4b switches to a log y-axis when its values span more than this factor.
const LOG_SPAN: f64 = 10.0;

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
pub(crate) type ErrorCurves = BTreeMap<String, (Vec<f64>, Vec<f64>)>;

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

/// Fig. 4b: training error (MSE per pixel) against epochs, with the reference errors
/// of [`super::baselines`] as labelled flat lines; a log y-axis when the values span
/// more than a decade.
///
/// Curves may coincide (at small scale several models barely move from their shared
/// start): every curve with markers gets its own marker positions (every `n`-th point,
/// offset by its index, for `n` such curves), and curves without markers are drawn
/// over them, solid before dashed before dotted, so each stays visible. (Two curves of
/// one colour without markers, BP from both initialisations, cannot both show where
/// they coincide exactly.)
pub(crate) fn error_panel(
    p: &FiguresParams,
    seeds: &[ErrorCurves],
    baselines: Option<&BaselineErrors>,
    pca_components: usize,
) -> LinePanel {
    let mut marked = Vec::new();
    let mut plain = Vec::new();
    let mut bands = Vec::new();
    for m in &p.models {
        let runs: Vec<_> = seeds.iter().filter_map(|s| s.get(&m.name)).collect();
        if runs.is_empty() {
            continue;
        }
        let st = style(m);
        let (x, [lo, med, hi]) = quartiles(&runs);
        if runs.len() > 1 {
            bands.push(Band::new(x.clone(), lo, hi, st.color));
        }
        let series = st.apply(Series::new(m.label.clone(), x, med, st.color));
        if st.marker == Marker::None {
            plain.push(series);
        } else {
            marked.push(series);
        }
    }
    // Curves shorter than the number of marked curves cannot give each its own points:
    // every curve still gets at least one marker.
    let n = marked.len();
    let points = marked.iter().map(|s| s.x.len()).max().unwrap_or(0);
    for (k, s) in marked.iter_mut().enumerate() {
        s.marker_every = n.min(points).max(1);
        s.marker_phase = k as f64 / n as f64;
    }
    let dash_rank = |l: LineStyle| match l {
        LineStyle::Solid => 0,
        LineStyle::Dashed => 1,
        LineStyle::Dotted => 2,
    };
    plain.sort_by_key(|s| dash_rank(s.style));
    let mut series: Vec<Series> = marked.into_iter().chain(plain).collect();
    let xs = series.iter().flat_map(|s| s.x.iter().copied());
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if let (Some(b), true) = (baselines, x0 < x1) {
        for (label, y, line) in [
            ("zeros".to_string(), b.zeros, LineStyle::Dotted),
            ("mean image".to_string(), b.mean_image, LineStyle::Dashed),
            (
                format!("PCA, {pca_components} components"),
                b.pca,
                LineStyle::Solid,
            ),
        ] {
            series.push(
                Series::new(label, vec![x0, x1], vec![y, y], BASELINE_COLOUR)
                    .with_style(line)
                    .with_width(1),
            );
        }
    }
    let ys = series.iter().flat_map(|s| s.y.iter().copied());
    let (lo, hi) = ys
        .filter(|y| y.is_finite() && *y > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
    let label = "mean squared error per pixel";
    let y = if hi > LOG_SPAN * lo {
        Axis::log10(label)
    } else {
        Axis::linear(label)
    };
    LinePanel {
        title: "b: training error".into(),
        x: Axis::linear("epochs"),
        y,
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

fn figures_stage(p: &FiguresParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let mut seeds = Vec::new();
    for input in ctx.inputs() {
        seeds.push(error_curves(&input.table("curves")?)?);
    }
    let first = ctx
        .inputs()
        .first()
        .ok_or_else(|| StageError::msg("figures need at least one analysed seed"))?;
    let b = first.json("baselines")?;
    let on_train: Option<BaselineErrors> = b
        .get("train")
        .and_then(|t| serde_json::from_value(t.clone()).ok());
    let components = b
        .get("pca_components")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as usize;
    let errors = error_panel(&p, &seeds, on_train.as_ref(), components);
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

#[cfg(test)]
mod tests {
    use dinv_figures::series_visibility;
    use dinv_figures::Scale;

    use super::*;
    use crate::autoencoder::AutoencoderConfig;

    fn params() -> FiguresParams {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../pipelines/fig4_mnist_autoencoder.toml"
        );
        let cfg: AutoencoderConfig =
            dinv_pipeline::load_pipeline_toml(std::path::Path::new(path)).unwrap();
        FiguresParams {
            pipeline: cfg.pipeline.name.clone(),
            title: cfg.pipeline.title.clone(),
            models: cfg.models.clone(),
            detail: cfg.detail.models.clone(),
            image_side: 28,
        }
    }

    /// Hand-made curves at the paper's checkpoints (before training, four times in the
    /// first epoch, then after each of 25 epochs): `curve(k)` for model `k`.
    fn curves(p: &FiguresParams, curve: impl Fn(usize, f64) -> f64) -> ErrorCurves {
        let epochs: Vec<f64> = [0.0, 0.25, 0.5, 0.75]
            .into_iter()
            .chain((1..=25).map(f64::from))
            .collect();
        p.models
            .iter()
            .enumerate()
            .map(|(k, m)| {
                let y = epochs.iter().map(|&e| curve(k, e)).collect();
                (m.name.clone(), (epochs.clone(), y))
            })
            .collect()
    }

    const BASE: BaselineErrors = BaselineErrors {
        zeros: 0.11,
        mean_image: 0.0672,
        pca: 0.018,
    };

    fn visible_entries(panel: LinePanel) -> Vec<(String, usize)> {
        let mut fig = Figure::new((1, 1), vec![Panel::Lines(panel)]);
        fig.panel_size = (760, 420);
        series_visibility(&fig)
            .unwrap()
            .into_iter()
            .map(|v| (v.label, v.pixels))
            .collect()
    }

    /// Models whose curves coincide, as the orthogonal BP, PBP and NDI models nearly do
    /// at small scale, and both NDI leaks from orthogonal weights here: every legend
    /// entry (models and reference lines) still shows.
    #[test]
    fn coinciding_curves_all_stay_visible() {
        let p = params();
        let decay = |e: f64, to: f64| to + (0.11 - to) * (-e / 4.0).exp();
        let c = curves(&p, |k, e| {
            let name = p.models[k].name.as_str();
            match name {
                "BP-orthogonal"
                | "PBP-orthogonal"
                | "NDI-Tr-0-orthogonal"
                | "NDI-Tr-0.01-orthogonal" => decay(e, 0.04),
                "BP-random" | "NDI-Tr-0-random" => decay(e, 0.0672),
                _ => decay(e, 0.03 + 0.002 * k as f64),
            }
        });
        let panel = error_panel(&p, &[c], Some(&BASE), 30);
        assert_eq!(panel.series.len(), p.models.len() + 3);
        for (label, pixels) in visible_entries(panel) {
            assert!(pixels >= 20, "{label}: only {pixels} pixels visible");
        }
    }

    /// Every model but BP (random) on one curve: still all visible. (BP from random
    /// weights has BP's colour and no marker either: on BP (orthogonal)'s curve it
    /// could not show, and it never lies there.)
    #[test]
    fn nine_identical_curves_all_stay_visible() {
        let p = params();
        let c = curves(&p, |k, e| {
            let end = if p.models[k].name == "BP-random" {
                0.0672
            } else {
                0.04
            };
            end + (0.11 - end) * (-e / 4.0).exp()
        });
        for (label, pixels) in visible_entries(error_panel(&p, &[c], Some(&BASE), 30)) {
            assert!(pixels >= 20, "{label}: only {pixels} pixels visible");
        }
    }

    /// Log y-axis only when the plotted values span more than a decade; every model
    /// keeps the style of [`model_style`], random initial weights dotted.
    #[test]
    fn log_axis_for_a_wide_span_and_shared_styles() {
        let p = params();
        let narrow = curves(&p, |_, e| 0.04 + 0.07 * (-e / 4.0).exp());
        let panel = error_panel(&p, &[narrow], Some(&BASE), 30);
        assert_eq!(panel.y.scale, Scale::Linear);
        let wide = curves(&p, |_, e| 0.001 + 0.1 * (-e).exp());
        assert_eq!(
            error_panel(&p, &[wide], Some(&BASE), 30).y.scale,
            Scale::Log10
        );
        for m in &p.models {
            let s = panel.series.iter().find(|s| s.label == m.label).unwrap();
            let want = model_style(&m.as_model());
            assert_eq!((s.color, s.marker), (want.color, want.marker), "{}", m.name);
            let line = if m.init == WeightInit::Random {
                LineStyle::Dotted
            } else {
                want.line
            };
            assert_eq!(s.style, line, "{}", m.name);
        }
    }
}
