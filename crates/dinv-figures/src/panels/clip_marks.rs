//! The clip marks of a line panel: for every series, band, event and point series,
//! where its data leave the plot ([`crate::clip`] has the geometry).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{events, points, Ctx, DataRef, PanelId};
use crate::clip::{self, Edge, Place};
use crate::geometry::PxRect;
use crate::geometry::{Pt, Rect};
use crate::model::{LinePanel, Rgb};
use crate::stroke::Px;
use crate::style::{self, DrawError};

/// The clip marks of one element (series, band, event, point series), in pixels.
pub(crate) struct MarkSet {
    data: DataRef,
    color: Rgb,
    /// Bands get outlines, so a band leaving the plot reads apart from its curve.
    hollow: bool,
    marks: Vec<(Px, Edge)>,
}

/// The clip marks of a panel.
pub(crate) struct Marks(Vec<MarkSet>);

impl Marks {
    /// Finds the marks of every series, band, event and point series.
    pub fn find(p: &LinePanel, clip: &Rect, to_px: &impl Fn(Pt) -> Px) -> Marks {
        let scales = (p.x.scale, p.y.scale);
        let place = |x: f64, y: f64| clip::place(scales, (x, y), clip);
        let set = |data, color, hollow, marks: &[(Pt, Edge)]| MarkSet {
            data,
            color,
            hollow,
            marks: clip::merge(marks, to_px),
        };
        let mut sets = vec![];
        // Bands first, so a curve's filled mark lies over its band's outline.
        for (k, b) in p.bands.iter().enumerate() {
            let mut marks = vec![];
            for ends in [&b.lo, &b.hi] {
                let places: Vec<Place> = b.x.iter().zip(ends).map(|(&x, &y)| place(x, y)).collect();
                marks.extend(clip::curve_marks(&places, clip));
            }
            sets.push(set(DataRef::Band(k), b.color, true, &marks));
        }
        for (k, s) in p.series.iter().enumerate() {
            let places: Vec<Place> = s.x.iter().zip(&s.y).map(|(&x, &y)| place(x, y)).collect();
            let marks = clip::curve_marks(&places, clip);
            sets.push(set(DataRef::Series(k), s.color, false, &marks));
        }
        for e in &p.events {
            let marks = clip::point_marks(&[events::place(p, e, clip)], clip);
            sets.push(set(
                DataRef::Events(e.label.clone()),
                e.color,
                false,
                &marks,
            ));
        }
        for (k, s) in p.points.iter().enumerate() {
            let mut places: Vec<Place> = (0..s.x.len()).map(|i| place(s.x[i], s.y[i])).collect();
            for ends in [&s.lo, &s.hi] {
                places.extend(ends.iter().zip(&s.x).map(|(&v, &x)| place(x, v)));
            }
            let marks = clip::point_marks(&places, clip);
            let dx = points::dodge(p, k);
            let marks = clip::merge(&marks, |pt| {
                let (x, y) = to_px(pt);
                (x + dx, y)
            });
            sets.push(MarkSet {
                data: DataRef::Points(k),
                color: s.color,
                hollow: false,
                marks,
            });
        }
        sets.retain(|s| !s.marks.is_empty());
        Marks(sets)
    }

    pub fn without(mut self, ctx: &Ctx, id: PanelId) -> Marks {
        self.0.retain(|s| !ctx.hidden(id, &s.data));
        self
    }

    /// Pixel samples for legend placement (each mark counts like a short curve).
    pub fn samples(&self) -> impl Iterator<Item = Px> + '_ {
        self.0
            .iter()
            .flat_map(|s| &s.marks)
            .flat_map(|&(p, _)| [p, p, p])
    }

    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        rect: PxRect,
    ) -> Result<(), DrawError> {
        for s in &self.0 {
            clip::draw(area, &s.marks, rect, style::rgba(s.color, 1.0), s.hollow)?;
        }
        Ok(())
    }
}
