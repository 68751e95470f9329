//! Publication-style figure panels, rendered with plotters to PNG and SVG.
//!
//! Callers describe a [`Figure`] as plain, already-analysed data — curves with bands,
//! class-coloured scatters, grids of grey-scale images — and [`render`] draws it.
//!
//! **Architecture Invariant:** this crate knows nothing about the experiments, Parquet
//! or the file layout beyond the output stem it is given; it never creates folders.
//! Rendering is deterministic: the same figure gives byte-identical files.
//!
//! ```no_run
//! use dinv_figures::{palette, render, Axis, Figure, LinePanel, Panel, Series};
//!
//! let epochs: Vec<f64> = (0..10).map(f64::from).collect();
//! let loss: Vec<f64> = epochs.iter().map(|t| (-t).exp()).collect();
//! let panel = LinePanel {
//!     title: "Training loss".into(),
//!     x: Axis::linear("epoch"),
//!     y: Axis::log10("loss"),
//!     series: vec![Series::new("BP", epochs, loss, palette::pick(0))],
//!     ..LinePanel::default()
//! };
//! let fig = Figure::new((1, 1), vec![Panel::Lines(panel)]);
//! let files = render(&fig, "figures/loss".as_ref())?; // figures/loss.png, figures/loss.svg
//! # Ok::<(), dinv_figures::FigureError>(())
//! ```
//!
//! Code map: `model` (the data types), `validate` (bad input becomes [`FigureError`]),
//! `scale` and `geometry` (pure axis and clipping arithmetic), `style` and `legend`
//! (shared look; `font` works around plotters' glyph placement), `stroke` (curves in pixels: decimation, dashes, spike-free thick
//! lines), `panels` (one drawer per panel kind), `output` (atomic files).

mod check;
mod clip;
mod error;
mod font;
mod geometry;
mod legend;
mod markers;
mod markup;
mod model;
mod output;
pub mod palette;
mod panels;
mod scale;
mod stroke;
mod style;
mod text;
mod validate;

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use panels::Ctx;
use stroke::Target;

pub use check::{
    clipped_without_mark, figure_layout, series_visibility, style_conflicts, ClipMiss, EntryKind,
    EntryStyle, Layout, PanelLayout, PixelRect, StyleConflict, StyleUse, Visibility,
};
pub use clip::Edge;
pub use error::{FigureError, Problem};
pub use model::{
    Axis, Band, Corner, EventMark, Figure, ImageGridPanel, Inset, InsetPlace, LegendPos, LinePanel,
    LineStyle, Marker, Panel, PointSeries, RangeNote, RenderedFiles, Rgb, RgbImage, Scale,
    ScatterPanel, Series, SharedLegend,
};

/// Renders `fig` to `<stem>.png` and `<stem>.svg` and returns both paths.
///
/// The folder of `stem` must exist. Each file is replaced atomically.
pub fn render(fig: &Figure, stem: &Path) -> Result<RenderedFiles, FigureError> {
    check_figure(fig, stem)?;
    let dir = output::output_dir(stem);
    if !dir.is_dir() {
        return Err(FigureError::OutputDir {
            target: stem.to_path_buf(),
            dir,
        });
    }
    let files = RenderedFiles {
        png: output::with_suffix(stem, "png"),
        svg: output::with_suffix(stem, "svg"),
    };
    let image = draw_rgb(fig, &Ctx::new(Target::Raster)).map_err(draw_error(&files.png))?;
    output::write_png(&files.png, &image)?;
    let svg = draw_svg(fig).map_err(draw_error(&files.svg))?;
    output::write_atomic(&files.svg, svg.as_bytes())?;
    Ok(files)
}

/// Renders `fig` into memory: exactly the pixels [`render`] writes to the PNG.
pub fn render_rgb(fig: &Figure) -> Result<RgbImage, FigureError> {
    let target = Path::new("<in-memory image>");
    check_figure(fig, target)?;
    draw_rgb(fig, &Ctx::new(Target::Raster)).map_err(draw_error(target))
}

fn check_figure(fig: &Figure, target: &Path) -> Result<(), FigureError> {
    validate::figure(fig).map_err(|problem| FigureError::Invalid {
        target: target.to_path_buf(),
        problem,
    })
}

fn draw_error(target: &Path) -> impl FnOnce(style::DrawError) -> FigureError + '_ {
    move |e| FigureError::Draw {
        target: PathBuf::from(target),
        message: e.0,
    }
}

/// Draws a validated figure into memory with the switches of `ctx` (whose target
/// must be [`Target::Raster`]).
fn draw_rgb(fig: &Figure, ctx: &Ctx) -> Result<RgbImage, style::DrawError> {
    let (width, height) = fig.size_px();
    let mut data = vec![255u8; 3 * width as usize * height as usize];
    {
        let root = BitMapBackend::with_buffer(&mut data, (width, height)).into_drawing_area();
        panels::draw_figure(&root, fig, ctx)?;
    }
    Ok(RgbImage {
        width,
        height,
        data,
    })
}

fn draw_svg(fig: &Figure) -> Result<String, style::DrawError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, fig.size_px()).into_drawing_area();
        panels::draw_figure(&root, fig, &Ctx::new(Target::Vector))?;
    }
    // plotters writes polylines without a join style, and the SVG default (miter, limit
    // 4) draws spikes up to twice the line width at the sharp turns of noisy curves.
    let svg = svg.replace(
        "<polyline fill=\"none\"",
        "<polyline fill=\"none\" stroke-linejoin=\"round\"",
    );
    Ok(text::svg_runs(&svg))
}
