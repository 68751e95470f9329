//! The figure layout: a white canvas, an optional title, then one panel per grid cell.

pub(crate) mod images;
pub(crate) mod lines;
pub(crate) mod scatter;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::model::{Figure, Panel};
use crate::stroke::Target;
use crate::style::{self, DrawError};

/// Draws a (validated) figure onto `root`, which must be the full image of kind `target`.
pub(crate) fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
    target: Target,
) -> Result<(), DrawError> {
    style::register_fonts();
    root.fill(&WHITE)?;
    let body = match fig.title.as_deref() {
        Some(title) if !title.is_empty() => root.titled(title, style::bold(style::FIGURE_TITLE))?,
        _ => root.clone(),
    };
    let cells = body.split_evenly(fig.grid);
    for (cell, panel) in cells.iter().zip(&fig.panels) {
        match panel {
            Panel::Lines(p) => lines::draw(cell, p, target)?,
            Panel::Scatter(p) => scatter::draw(cell, p)?,
            Panel::Images(p) => images::draw(cell, p)?,
        }
    }
    root.present()?;
    Ok(())
}
