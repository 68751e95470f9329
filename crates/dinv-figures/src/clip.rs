//! Honest clipping: data outside the plotted range are never dropped silently. Where a
//! curve, band, event or point leaves the plot area, a small triangle at that edge
//! points the way the data went (filled for curves, events and points; hollow for
//! bands). On a log axis values ≤ 0 lie below any range and are marked at the bottom
//! (or left) edge.
//!
//! Everything here is in axis space (see [`crate::scale`]) until the marks are drawn.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::RGBAColor;

use crate::geometry::PxRect;
use crate::geometry::{Pt, Rect};
use crate::model::Scale;
use crate::scale::to_axis;
use crate::stroke::Px;
use crate::style::DrawError;

/// The edge of the plot area that data leave by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Edge {
    Top,
    Bottom,
    Left,
    Right,
}

/// Where a data point lies relative to the plot area.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Place {
    /// Not a data point (a non-finite value): a gap.
    Gap,
    Inside(Pt),
    /// Outside, by `edge`; `at` is the point in axis space, with coordinates that
    /// cannot be shown (≤ 0 on a log axis) set just beyond the edge they lie past.
    Outside {
        at: Pt,
        edge: Edge,
    },
}

/// Relative tolerance: values within this fraction of the range from an edge are on it.
const EDGE_TOLERANCE: f64 = 1e-9;

/// Classifies the data point `(x, y)` for axis scales `scales` and the axis-space
/// plot rectangle `r`.
pub(crate) fn place(scales: (Scale, Scale), (x, y): (f64, f64), r: &Rect) -> Place {
    if !x.is_finite() || !y.is_finite() {
        return Place::Gap;
    }
    place_axis((to_axis(scales.0, x), to_axis(scales.1, y)), r)
}

/// Classifies a point given in axis space, where `None` stands for a value that cannot
/// be shown (≤ 0 on a log axis).
pub(crate) fn place_axis((ax, ay): (Option<f64>, Option<f64>), r: &Rect) -> Place {
    let (wx, wy) = ((r.x1 - r.x0).abs(), (r.y1 - r.y0).abs());
    // A value ≤ 0 on a log axis lies below the range: put it one range further down.
    let ax = ax.unwrap_or(r.x0 - wx);
    let ay = ay.unwrap_or(r.y0 - wy);
    let (tx, ty) = (EDGE_TOLERANCE * wx, EDGE_TOLERANCE * wy);
    let edge = if ay > r.y1 + ty {
        Some(Edge::Top)
    } else if ay < r.y0 - ty {
        Some(Edge::Bottom)
    } else if ax < r.x0 - tx {
        Some(Edge::Left)
    } else if ax > r.x1 + tx {
        Some(Edge::Right)
    } else {
        None
    };
    match edge {
        None => Place::Inside((ax.clamp(r.x0, r.x1), ay.clamp(r.y0, r.y1))),
        Some(edge) => Place::Outside { at: (ax, ay), edge },
    }
}

/// The point where segment `a` (inside `r`) - `b` (outside) leaves `r`, and the edge
/// it leaves by.
fn exit(a: Pt, b: Pt, r: &Rect) -> (Pt, Edge) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut best = (1.0, Edge::Top);
    for (t, edge) in [
        ((dy > 0.0).then(|| (r.y1 - a.1) / dy), Edge::Top),
        ((dy < 0.0).then(|| (r.y0 - a.1) / dy), Edge::Bottom),
        ((dx < 0.0).then(|| (r.x0 - a.0) / dx), Edge::Left),
        ((dx > 0.0).then(|| (r.x1 - a.0) / dx), Edge::Right),
    ] {
        if let Some(t) = t.filter(|t| t.is_finite() && *t >= 0.0 && *t < best.0) {
            best = (t, edge);
        }
    }
    let t = best.0.clamp(0.0, 1.0);
    clamp_to(((a.0 + t * dx), (a.1 + t * dy)), best.1, r)
}

/// `p` moved onto `edge` (and into the rectangle along it).
fn clamp_to(p: Pt, edge: Edge, r: &Rect) -> (Pt, Edge) {
    let x = p.0.clamp(r.x0, r.x1);
    let y = p.1.clamp(r.y0, r.y1);
    let at = match edge {
        Edge::Top => (x, r.y1),
        Edge::Bottom => (x, r.y0),
        Edge::Left => (r.x0, y),
        Edge::Right => (r.x1, y),
    };
    (at, edge)
}

/// One mark per excursion of a curve (a maximal run of consecutive points outside):
/// where the curve crosses the edge if the point before was inside, else at the first
/// outside point, moved onto its edge.
pub(crate) fn curve_marks(places: &[Place], r: &Rect) -> Vec<(Pt, Edge)> {
    let mut marks = vec![];
    let mut prev = Place::Gap;
    for &p in places {
        if let Place::Outside { at, edge } = p {
            match prev {
                Place::Inside(a) => marks.push(exit(a, at, r)),
                Place::Gap => marks.push(clamp_to(at, edge, r)),
                Place::Outside { .. } => {}
            }
        }
        prev = p;
    }
    marks
}

/// One mark per outside point, for points that are not joined (events, error bars).
pub(crate) fn point_marks(places: &[Place], r: &Rect) -> Vec<(Pt, Edge)> {
    places
        .iter()
        .filter_map(|p| match *p {
            Place::Outside { at, edge } => Some(clamp_to(at, edge, r)),
            _ => None,
        })
        .collect()
}

/// Marks of one element closer than this (pixels, along the same edge) merge.
const MERGE_PX: i32 = 7;
/// Length of a mark (tip to base) and half its base, in pixels.
const DEPTH: i32 = 6;
const HALF_BASE: i32 = 4;

/// Pixel marks: `marks` mapped by `to_px`, merged where they crowd one edge.
pub(crate) fn merge(marks: &[(Pt, Edge)], to_px: impl Fn(Pt) -> Px) -> Vec<(Px, Edge)> {
    let mut out: Vec<(Px, Edge)> = vec![];
    for &(at, edge) in marks {
        let p = to_px(at);
        let crowded = out.iter().any(|&(q, e)| {
            e == edge && (p.0 - q.0).abs() < MERGE_PX && (p.1 - q.1).abs() < MERGE_PX
        });
        if !crowded {
            out.push((p, edge));
        }
    }
    out
}

/// The triangle of a mark whose tip is at `tip` on `edge`, inside the plot `plot`.
pub(crate) fn triangle(tip: Px, edge: Edge, plot: PxRect) -> [Px; 3] {
    let (l, t, r, b) = plot;
    // Keep the whole triangle inside the plot even at its corners.
    let x = tip.0.clamp(l + HALF_BASE, r - 1 - HALF_BASE);
    let y = tip.1.clamp(t + HALF_BASE, b - 1 - HALF_BASE);
    match edge {
        Edge::Top => [
            (x, t),
            (x - HALF_BASE, t + DEPTH),
            (x + HALF_BASE, t + DEPTH),
        ],
        Edge::Bottom => [
            (x, b - 1),
            (x - HALF_BASE, b - 1 - DEPTH),
            (x + HALF_BASE, b - 1 - DEPTH),
        ],
        Edge::Left => [
            (l, y),
            (l + DEPTH, y - HALF_BASE),
            (l + DEPTH, y + HALF_BASE),
        ],
        Edge::Right => [
            (r - 1, y),
            (r - 1 - DEPTH, y - HALF_BASE),
            (r - 1 - DEPTH, y + HALF_BASE),
        ],
    }
}

/// Draws marks (filled, or `hollow` outlines) in `color` on the plot `plot`.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    marks: &[(Px, Edge)],
    plot: PxRect,
    color: RGBAColor,
    hollow: bool,
) -> Result<(), DrawError> {
    for &(tip, edge) in marks {
        let tri = triangle(tip, edge, plot);
        if hollow {
            let mut ring = tri.to_vec();
            ring.push(tri[0]);
            area.draw(&PathElement::new(ring, color.stroke_width(1)))?;
        } else {
            area.draw(&Polygon::new(tri.to_vec(), color.filled()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: Rect = Rect {
        x0: 0.0,
        x1: 10.0,
        y0: 0.0,
        y1: 10.0,
    };
    const LIN: (Scale, Scale) = (Scale::Linear, Scale::Linear);

    fn places(pts: &[(f64, f64)], scales: (Scale, Scale)) -> Vec<Place> {
        pts.iter().map(|&p| place(scales, p, &UNIT)).collect()
    }

    #[test]
    fn points_are_placed_by_edge() {
        assert_eq!(place(LIN, (5.0, 5.0), &UNIT), Place::Inside((5.0, 5.0)));
        assert_eq!(place(LIN, (5.0, 10.0), &UNIT), Place::Inside((5.0, 10.0)));
        assert_eq!(place(LIN, (f64::NAN, 1.0), &UNIT), Place::Gap);
        let edge = |p| match place(LIN, p, &UNIT) {
            Place::Outside { edge, .. } => Some(edge),
            _ => None,
        };
        assert_eq!(edge((5.0, 11.0)), Some(Edge::Top));
        assert_eq!(edge((5.0, -1.0)), Some(Edge::Bottom));
        assert_eq!(edge((-1.0, 5.0)), Some(Edge::Left));
        assert_eq!(edge((11.0, 5.0)), Some(Edge::Right));
        // Off in both directions: the y edge wins (the mark then sits at that x).
        assert_eq!(edge((11.0, 11.0)), Some(Edge::Top));
        // Zero on a log y axis lies below every range.
        let log = (Scale::Linear, Scale::Log10);
        assert!(matches!(
            place(log, (5.0, 0.0), &UNIT),
            Place::Outside {
                edge: Edge::Bottom,
                ..
            }
        ));
    }

    #[test]
    fn one_mark_per_excursion_where_the_curve_leaves() {
        // Up through the top between x = 2 and 3, back in, then out to the right.
        let pts = [
            (1.0, 5.0),
            (2.0, 8.0),
            (3.0, 12.0),
            (4.0, 14.0),
            (5.0, 6.0),
            (9.0, 5.0),
            (12.0, 5.0),
            (13.0, 5.0),
        ];
        let marks = curve_marks(&places(&pts, LIN), &UNIT);
        assert_eq!(marks.len(), 2, "{marks:?}");
        let ((x, y), edge) = marks[0];
        assert_eq!(edge, Edge::Top);
        assert!((x - 2.5).abs() < 1e-12 && y == 10.0, "{marks:?}");
        assert_eq!(marks[1], ((10.0, 5.0), Edge::Right));
    }

    #[test]
    fn excursions_after_gaps_are_marked_at_their_first_point() {
        let pts = [(1.0, 20.0), (2.0, 30.0), (3.0, f64::NAN), (4.0, -3.0)];
        let marks = curve_marks(&places(&pts, LIN), &UNIT);
        assert_eq!(
            marks,
            vec![((1.0, 10.0), Edge::Top), ((4.0, 0.0), Edge::Bottom)]
        );
        let single = point_marks(&places(&pts, LIN), &UNIT);
        assert_eq!(single.len(), 3);
    }

    #[test]
    fn crowded_marks_merge_and_triangles_stay_inside() {
        let marks = [
            ((1.0, 10.0), Edge::Top),
            ((1.02, 10.0), Edge::Top),
            ((1.02, 0.0), Edge::Bottom),
            ((5.0, 10.0), Edge::Top),
        ];
        let px = merge(&marks, |(x, y)| {
            ((x * 40.0) as i32, (400.0 - y * 40.0) as i32)
        });
        assert_eq!(px.len(), 3, "{px:?}");
        let plot = (0, 0, 400, 400);
        for (tip, edge) in px {
            for (x, y) in triangle(tip, edge, plot) {
                assert!((0..400).contains(&x) && (0..400).contains(&y), "{edge:?}");
            }
        }
    }
}
