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
//! # Reading aids
//!
//! - **Markers** ([`Series::with_marker`], [`Marker`]) every k points with a per-series
//!   phase, so curves lying exactly on top of each other stay visible; the legend
//!   sample shows line, dash and marker. A [`Series::legend_note`] follows the label in
//!   smaller type.
//! - **Events** ([`EventMark`]): markers at `(x, y)` (e.g. the spectral abscissa before
//!   a re-stabilisation) or ticks along the bottom edge; one legend entry per label.
//! - **Points with error bars** ([`PointSeries`]), dodged sideways by
//!   [`LinePanel::point_dodge`], for a few checkpoints that lines would misrepresent.
//! - **Honest clipping**: data outside a fixed range (and values ≤ 0 on a log axis)
//!   get a small triangle at the edge they leave by, in their colour (hollow for
//!   bands); nothing is dropped silently. [`RangeNote`] says that an axis does not
//!   start at zero.
//! - **Insets** ([`Inset`]) with their own small axes; the main legend avoids them.
//! - **Layout**: panels may span columns ([`Figure::with_spans`]); one legend may serve
//!   all panels ([`SharedLegend`]).
//!
//! # Text markup
//!
//! Titles, axis labels, legend entries (and notes), scatter class names and image row
//! labels accept subscripts and superscripts, drawn smaller on a lowered or raised
//! baseline (in SVG as `<tspan>`s of one `<text>`):
//!
//! - `δ_{DI}`, `W^{T}`: the braced text as a subscript or superscript (no nesting;
//!   markup inside the braces is literal).
//! - `x_1`, `W^T`: a single letter or digit, only when no further letter or digit
//!   follows it. So `δ_DI`, `x_10`, `2^10` and `fig3_gn_linear` stay literal, as they
//!   were before markup existed (write `δ_{DI}`).
//! - `\_`, `\^`, `\{`, `\}`, `\\` stand for the character (`"x\\_1"` in Rust source);
//!   any other backslash, and any `_` or `^` that starts none of the above, is literal.
//!
//! Text without markup is drawn exactly as before (byte-identical images).
//!
//! # Checking tools
//!
//! For tests in any crate, all deterministic: [`series_visibility`] (how many pixels
//! each legend entry's data show; ~0 means hidden under something else),
//! [`clipped_without_mark`] (out-of-range data lacking a clip mark), [`style_conflicts`]
//! (one label drawn in conflicting styles) and [`figure_layout`] (where plots, legends
//! and insets landed).
//!
//! # Code map
//!
//! `model` (the data types: figure level in `mod.rs`, line panels in `line.rs`),
//! `validate` (bad input becomes [`FigureError`]), `scale` and `geometry` (pure axis and
//! clipping arithmetic), `clip` (clip marks: which data left the plot, and where),
//! `markup` (parsing sub/superscripts) and `text` (drawing it, in pieces or as SVG
//! tspans), `style` and `legend` (shared look; `font` works around plotters' glyph
//! placement), `markers` (marker shapes and spacing), `stroke` (curves in pixels:
//! decimation, dashes, spike-free thick lines), `panels` (the grid with spans and a
//! shared legend in `mod.rs`; one drawer per panel kind; for line panels also `axes`,
//! `events`, `points`, `clip_marks` and `inset`), `check` (the checking tools),
//! `output` (atomic files).

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
