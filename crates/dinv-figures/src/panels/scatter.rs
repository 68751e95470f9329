//! Scatter panels: points coloured by class in a plain frame (embedding axes carry no
//! meaning, so there are no ticks), with the class names listed beside the plot.

use std::collections::BTreeSet;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::legend::{self, Entry, Legend, Look, Swatch};
use crate::markup::Rich;
use crate::model::{Rgb, Scale, ScatterPanel};
use crate::palette;
use crate::scale;
use crate::stroke::Target;
use crate::style::{self, DrawError};
use crate::text;

/// Markers are slightly transparent so dense clusters show their density.
const MARKER_OPACITY: f64 = 0.8;

fn class_colour(p: &ScatterPanel, class: usize) -> Rgb {
    // Validation guarantees a custom palette covers every class.
    p.palette
        .get(class)
        .copied()
        .unwrap_or_else(|| palette::pick(class))
}

pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &ScatterPanel,
    target: Target,
) -> Result<(), DrawError> {
    let points: Vec<_> = p
        .points
        .iter()
        .filter(|(x, y, _)| x.is_finite() && y.is_finite())
        .collect();
    let x_range = scale::fit_range(Scale::Linear, None, points.iter().map(|pt| pt.0));
    let y_range = scale::fit_range(Scale::Linear, None, points.iter().map(|pt| pt.1));

    let classes: BTreeSet<usize> = points.iter().map(|pt| pt.2).collect();
    let entries = classes
        .iter()
        .map(|&k| Entry {
            label: Rich::parse(
                &p.class_names
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| k.to_string()),
            ),
            swatch: Swatch::Dot {
                color: style::rgb(class_colour(p, k)),
            },
        })
        .collect();
    let legend = Legend::measure(area, entries, Look::NORMAL)?;
    let legend_w = legend.as_ref().map_or(0, |l| l.size().0 + legend::INSET);

    // What plotters' caption does (the title over the area less the chart margins),
    // with our `titled`, which is identical for plain text and also draws markup.
    let inner = area.margin(10, 10, 10, 10 + legend_w);
    let inner = if p.title.is_empty() {
        inner
    } else {
        text::titled(&inner, &p.title, style::bold(style::PANEL_TITLE), target)?
    };
    let chart =
        ChartBuilder::on(&inner).build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)?;
    let plot = chart.plotting_area();
    plot.draw(&Rectangle::new(
        [(x_range.0, y_range.0), (x_range.1, y_range.1)],
        style::FRAME,
    ))?;
    for &&(x, y, class) in &points {
        let color = style::rgba(class_colour(p, class), MARKER_OPACITY);
        plot.draw(&Circle::new((x, y), p.point_size, color.filled()))?;
    }

    if let Some(legend) = legend {
        let base = area.get_base_pixel();
        let (xs, ys) = plot.get_pixel_range();
        legend.draw(
            area,
            (xs.end - base.0 + legend::INSET, ys.start - base.1),
            target,
        )?;
    }
    Ok(())
}
