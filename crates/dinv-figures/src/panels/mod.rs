//! The figure layout: a white canvas, an optional title, then one panel per grid cell
//! (or per run of cells, for panels spanning columns), and an optional legend shared
//! by all panels.

mod axes;
mod clip_marks;
mod events;
pub(crate) mod images;
mod inset;
pub(crate) mod lines;
mod points;
pub(crate) mod scatter;

use std::cell::RefCell;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::geometry::PxRect;
use crate::legend::{Entry, Legend, Look};
use crate::model::{Figure, Panel, Scale, SharedLegend};
use crate::stroke::Target;
use crate::style::{self, DrawError};
use crate::text;

/// Which line panel: its index in the figure, and whether it is that panel's inset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PanelId {
    pub index: usize,
    pub inset: bool,
}

/// Data of one legend entry of a line panel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DataRef {
    Series(usize),
    Points(usize),
    /// All events with this label.
    Events(String),
    /// A band (in no legend; never hidden).
    Band(usize),
}

/// Where a line panel landed, for the checking tools.
#[derive(Debug, Clone)]
pub(crate) struct PanelGeometry {
    pub id: PanelId,
    /// The plot area in image pixels.
    pub plot: PxRect,
    /// Axis-space ranges and scales of x and y.
    pub x: (Scale, (f64, f64)),
    pub y: (Scale, (f64, f64)),
    /// The legend box and the inset box in image pixels, if drawn.
    pub legend: Option<PxRect>,
    pub inset: Option<PxRect>,
}

/// How to draw: the kind of image, plus switches the checking tools use to compare
/// renders that differ in one thing only.
pub(crate) struct Ctx {
    pub target: Target,
    /// Off only in comparison renders of [`crate::check`].
    pub clip_marks: bool,
    /// Data not drawn (their legend entry, the axis ranges and the legend placement
    /// stay as they are), so a render with and without them differs only by their ink.
    pub hide: Option<(PanelId, DataRef)>,
    /// Draw only this panel (and the figure's title and shared legend): the others
    /// cannot change its pixels, and comparison renders get cheaper.
    pub only: Option<usize>,
    /// Filled while drawing.
    pub geometry: RefCell<Vec<PanelGeometry>>,
    pub shared_legend: RefCell<Option<PxRect>>,
}

impl Ctx {
    pub fn new(target: Target) -> Self {
        Ctx {
            target,
            clip_marks: true,
            hide: None,
            only: None,
            geometry: RefCell::new(vec![]),
            shared_legend: RefCell::new(None),
        }
    }

    pub fn hidden(&self, id: PanelId, data: &DataRef) -> bool {
        self.hide
            .as_ref()
            .is_some_and(|(p, d)| *p == id && d == data)
    }
}

/// Pixel rows (or columns) of part `idx` of `n` equal parts of `from..to`, as
/// plotters' `split_evenly` cuts them.
fn even_split(from: i32, to: i32, n: usize, idx: usize) -> i32 {
    let size = (to - from).max(0) as usize;
    from + (idx * (size / n)) as i32 + idx.min(size % n) as i32
}

/// The cell area of grid row `row`, columns `col..col + span`, of `grid`.
fn cell<DB: DrawingBackend>(
    body: &DrawingArea<DB, Shift>,
    (rows, cols): (usize, usize),
    (row, col): (usize, usize),
    span: usize,
) -> DrawingArea<DB, Shift> {
    let (w, h) = body.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let (x0, x1) = (
        even_split(0, w, cols, col),
        even_split(0, w, cols, col + span),
    );
    let (y0, y1) = (even_split(0, h, rows, row), even_split(0, h, rows, row + 1));
    body.clone().shrink((x0, y0), (x1 - x0, y1 - y0))
}

/// Draws a (validated) figure onto `root`, which must be the full image.
pub(crate) fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    ctx: &Ctx,
) -> Result<(), DrawError> {
    style::register_fonts();
    root.fill(&WHITE)?;
    let body = match fig.title.as_deref() {
        Some(title) if !title.is_empty() => {
            text::titled(root, title, style::bold(style::FIGURE_TITLE), ctx.target)?
        }
        _ => root.clone(),
    };
    let shared = match fig.legend {
        SharedLegend::None => None,
        _ => Legend::measure(&body, shared_entries(fig), Look::NORMAL)?,
    };
    let grid = match (&shared, fig.legend) {
        (Some(legend), SharedLegend::Below) => {
            let (w, _) = body.dim_in_pixel();
            let legend = legend_in_columns(legend, w as i32 - 20);
            let (lw, lh) = legend.size();
            let strip = lh + 12;
            let (grid, below) = body.split_vertically(body.dim_in_pixel().1 as i32 - strip);
            let origin = ((w as i32 - lw).max(0) / 2, 4);
            legend.draw(&below, origin, ctx.target)?;
            record_legend(ctx, &below, origin, (lw, lh));
            grid
        }
        _ => body,
    };
    let own_legends = fig.legend == SharedLegend::None;
    for (index, (panel, at)) in fig.panels.iter().zip(fig.cells()).enumerate() {
        let Some(at) = at else { continue };
        if ctx.only.is_some_and(|only| only != index) {
            continue;
        }
        let area = cell(&grid, fig.grid, at, fig.span(index));
        match panel {
            Panel::Lines(p) => lines::draw_panel(&area, p, ctx, index, own_legends)?,
            Panel::Scatter(p) => scatter::draw(&area, p, ctx.target)?,
            Panel::Images(p) => images::draw(&area, p, ctx.target)?,
        }
    }
    if let (Some(legend), SharedLegend::Cell, Some(at)) = (&shared, fig.legend, fig.free_cell()) {
        let area = cell(&grid, fig.grid, at, 1);
        let (w, h) = area.dim_in_pixel();
        let legend = legend_in_columns(legend, w as i32 - 20);
        let (lw, lh) = legend.size();
        let origin = ((w as i32 - lw).max(0) / 2, (h as i32 - lh).max(0) / 2);
        legend.draw(&area, origin, ctx.target)?;
        record_legend(ctx, &area, origin, (lw, lh));
    }
    root.present()?;
    Ok(())
}

/// Notes where the shared legend went, in image pixels.
fn record_legend<DB: DrawingBackend>(
    ctx: &Ctx,
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    (w, h): (i32, i32),
) {
    let (bx, by) = area.get_base_pixel();
    *ctx.shared_legend.borrow_mut() = Some((bx + x, by + y, bx + x + w, by + y + h));
}

/// A copy of `legend` in as many columns as fit `width`.
fn legend_in_columns(legend: &Legend, width: i32) -> Legend {
    legend.clone().in_columns(width)
}

/// The legend entries of all line panels (insets included), each label once, in order
/// of first appearance.
fn shared_entries(fig: &Figure) -> Vec<Entry> {
    let mut out: Vec<Entry> = vec![];
    for panel in &fig.panels {
        let Panel::Lines(p) = panel else { continue };
        let inset = p.inset.as_ref().map(|i| &i.panel);
        for q in std::iter::once(p).chain(inset) {
            for e in lines::legend_entries(q) {
                if !out.iter().any(|o| o.label == e.label) {
                    out.push(e);
                }
            }
        }
    }
    out
}
