//! Marker shapes in pixels, and which points of a curve carry one.
//!
//! Filled shapes are drawn over a white copy one pixel larger, so a marker stays
//! readable where it sits on other curves; crosses are stroked (white under colour).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::RGBAColor;

use crate::geometry::PxRect;
use crate::model::{LineStyle, Marker};
use crate::stroke::{self, Px, Target};
use crate::style::DrawError;

/// Indices of the points of an `n`-point curve that carry a marker: every `every`-th
/// (0: about ten in all) starting at `floor(phase * every)`.
pub(crate) fn marker_indices(n: usize, every: usize, phase: f64) -> impl Iterator<Item = usize> {
    let every = if every == 0 {
        n.div_ceil(10).max(1)
    } else {
        every
    };
    let first = ((phase.clamp(0.0, 1.0) * every as f64).floor() as usize).min(every - 1);
    (first..n).step_by(every)
}

/// `shape`, or a circle for [`Marker::None`] (points and events always show a marker).
pub(crate) fn or_circle(shape: Marker) -> Marker {
    if shape == Marker::None {
        Marker::Circle
    } else {
        shape
    }
}

/// The outline of a filled shape of radius `r` around `(cx, cy)`.
fn outline(shape: Marker, (cx, cy): (f64, f64), r: f64) -> Vec<(f64, f64)> {
    // Triangles and diamonds look smaller than squares of the same radius.
    let t = r * 1.2;
    match shape {
        Marker::Square => vec![
            (cx - r, cy - r),
            (cx + r, cy - r),
            (cx + r, cy + r),
            (cx - r, cy + r),
        ],
        Marker::TriangleUp => vec![
            (cx, cy - t),
            (cx + t * 0.9, cy + t * 0.6),
            (cx - t * 0.9, cy + t * 0.6),
        ],
        Marker::TriangleDown => vec![
            (cx, cy + t),
            (cx + t * 0.9, cy - t * 0.6),
            (cx - t * 0.9, cy - t * 0.6),
        ],
        Marker::Diamond => vec![(cx, cy - t), (cx + t, cy), (cx, cy + t), (cx - t, cy)],
        _ => vec![],
    }
}

fn to_px(points: Vec<(f64, f64)>) -> Vec<Px> {
    points
        .into_iter()
        .map(|(x, y)| (x.round() as i32, y.round() as i32))
        .collect()
}

/// Draws `shape` centred on `at` (coordinates of `area`) with radius `size` pixels.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    target: Target,
    shape: Marker,
    at: Px,
    size: u32,
    color: RGBAColor,
) -> Result<(), DrawError> {
    let r = f64::from(size.max(1));
    let c = (f64::from(at.0), f64::from(at.1));
    match shape {
        Marker::None => {}
        Marker::Circle => {
            area.draw(&Circle::new(at, size + 1, WHITE.filled()))?;
            area.draw(&Circle::new(at, size, color.filled()))?;
        }
        Marker::Cross | Marker::Plus => {
            let d = if shape == Marker::Cross { r * 0.85 } else { r };
            let arms = if shape == Marker::Cross {
                [[(-d, -d), (d, d)], [(-d, d), (d, -d)]]
            } else {
                [[(-d, 0.0), (d, 0.0)], [(0.0, -d), (0.0, d)]]
            };
            let pieces: Vec<Vec<Px>> = arms
                .iter()
                .map(|arm| to_px(arm.iter().map(|(x, y)| (c.0 + x, c.1 + y)).collect()))
                .collect();
            let width = (size / 2).clamp(2, 4);
            let reach = size as i32 + 4;
            let clip: PxRect = (
                at.0 - reach,
                at.1 - reach,
                at.0 + reach + 1,
                at.1 + reach + 1,
            );
            let white = WHITE.to_rgba();
            stroke::draw_curve(
                area,
                target,
                &pieces,
                LineStyle::Solid,
                white,
                width + 2,
                clip,
            )?;
            stroke::draw_curve(area, target, &pieces, LineStyle::Solid, color, width, clip)?;
        }
        _ => {
            area.draw(&Polygon::new(
                to_px(outline(shape, c, r + 1.0)),
                WHITE.filled(),
            ))?;
            area.draw(&Polygon::new(to_px(outline(shape, c, r)), color.filled()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_follow_spacing_and_phase() {
        let at = |n, every, phase| marker_indices(n, every, phase).collect::<Vec<_>>();
        assert_eq!(at(10, 3, 0.0), [0, 3, 6, 9]);
        assert_eq!(at(10, 4, 0.5), [2, 6]);
        assert_eq!(at(100, 0, 0.0).len(), 10);
        assert_eq!(at(100, 0, 0.5)[0], 5);
        assert_eq!(at(5, 1, 0.9), [0, 1, 2, 3, 4]);
        assert!(at(0, 0, 0.0).is_empty());
    }

    #[test]
    fn shapes_are_centred() {
        for shape in [
            Marker::Square,
            Marker::TriangleUp,
            Marker::TriangleDown,
            Marker::Diamond,
        ] {
            let o = outline(shape, (10.0, 20.0), 4.0);
            let (sx, sy) = o.iter().fold((0.0, 0.0), |(a, b), p| (a + p.0, b + p.1));
            let n = o.len() as f64;
            assert!((sx / n - 10.0).abs() < 1e-9, "{shape:?}");
            assert!((sy / n - 20.0).abs() < 2.0, "{shape:?}");
        }
    }
}
