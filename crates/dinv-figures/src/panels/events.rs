//! Event marks of line panels: markers at `(x, y)`, or ticks along the bottom edge
//! for events without a y; one legend entry per label.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Ctx, DataRef, PanelId};
use crate::clip::{self, Place};
use crate::geometry::PxRect;
use crate::geometry::{Pt, Rect};
use crate::legend::{Entry, Swatch};
use crate::markers;
use crate::markup::Rich;
use crate::model::{EventMark, LinePanel, LineStyle};
use crate::scale::to_axis;
use crate::stroke::Px;
use crate::style::{self, DrawError};

/// Length of an event tick in pixels.
const EVENT_TICK: i32 = 2 * EventMark::SIZE as i32;

/// Event markers, and ticks along the bottom edge for events without a y.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePanel,
    ctx: &Ctx,
    id: PanelId,
    clip: &Rect,
    to_px: &impl Fn(Pt) -> Px,
    rect: PxRect,
) -> Result<(), DrawError> {
    for e in &p.events {
        if ctx.hidden(id, &DataRef::Events(e.label.clone())) {
            continue;
        }
        let color = style::rgba(e.color, 1.0);
        match place(p, e, clip) {
            Place::Inside(pt) if e.y.is_some() => {
                let shape = markers::or_circle(e.shape);
                markers::draw(area, ctx.target, shape, to_px(pt), EventMark::SIZE, color)?;
            }
            Place::Inside(pt) => {
                let x = to_px(pt).0;
                let bottom = rect.3 - 1;
                let tick = vec![(x, bottom), (x, bottom - EVENT_TICK)];
                style::stroke(area, tick, LineStyle::Solid, color, 2)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where an event lies; events without a y sit on the bottom edge.
pub(crate) fn place(p: &LinePanel, e: &EventMark, clip: &Rect) -> Place {
    match e.y {
        Some(y) => clip::place((p.x.scale, p.y.scale), (e.x, y), clip),
        None => clip::place_axis((to_axis(p.x.scale, e.x), Some(clip.y0)), clip),
    }
}

/// Axis-space x and y of the events, for automatic ranges.
pub(crate) fn extent(p: &LinePanel) -> (Vec<f64>, Vec<f64>) {
    let xs = p.events.iter().filter_map(|e| to_axis(p.x.scale, e.x));
    let ys = p.events.iter().filter_map(|e| to_axis(p.y.scale, e.y?));
    (xs.collect(), ys.collect())
}

/// Pixel samples of the events for legend placement (each counts like a short curve).
pub(crate) fn samples(
    p: &LinePanel,
    clip: &Rect,
    to_px: &impl Fn(Pt) -> Px,
    rect: PxRect,
) -> Vec<Px> {
    let mut out = vec![];
    for e in &p.events {
        if let Place::Inside(pt) = place(p, e, clip) {
            let (x, y) = to_px(pt);
            let y = if e.y.is_some() { y } else { rect.3 - 1 };
            out.extend([(x, y); 3]);
        }
    }
    out
}

/// One legend entry per event label, in order of first appearance.
pub(crate) fn legend_entries(p: &LinePanel) -> Vec<Entry> {
    let mut seen: Vec<&str> = vec![];
    let mut entries = vec![];
    for e in p.events.iter().filter(|e| !e.label.is_empty()) {
        if seen.contains(&e.label.as_str()) {
            continue;
        }
        seen.push(&e.label);
        let color = style::rgba(e.color, 1.0);
        let swatch = match e.y {
            Some(_) => Swatch::Point {
                color,
                marker: markers::or_circle(e.shape),
                size: EventMark::SIZE,
                whisker: false,
            },
            None => Swatch::Tick { color },
        };
        entries.push(Entry {
            label: Rich::parse(&e.label),
            swatch,
        });
    }
    entries
}
