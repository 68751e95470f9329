//! Points with error bars on line panels: whiskers clipped to the plot and capped
//! where they end inside it, markers on top, dodged sideways per series.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Ctx, DataRef, PanelId};
use crate::clip::{self, Place};
use crate::geometry::{Pt, Rect};
use crate::legend::{self, Entry, Swatch};
use crate::markers;
use crate::markup::Rich;
use crate::model::{LinePanel, LineStyle};
use crate::scale::to_axis;
use crate::stroke::Px;
use crate::style::{self, DrawError};

/// Half the width of the caps on error bars, in pixels.
const CAP: i32 = 3;

/// The x offset in pixels of point series `k` (see [`LinePanel::point_dodge`]).
pub(crate) fn dodge(p: &LinePanel, k: usize) -> i32 {
    let n = p.points.len() as f64;
    ((k as f64 - (n - 1.0) / 2.0) * f64::from(p.point_dodge)).round() as i32
}

/// Point series: whiskers (clipped to the plot, capped where they end inside it), then
/// markers on top.
pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePanel,
    ctx: &Ctx,
    id: PanelId,
    clip: &Rect,
    to_px: &impl Fn(Pt) -> Px,
) -> Result<(), DrawError> {
    let (sx, sy) = (p.x.scale, p.y.scale);
    for (k, s) in p.points.iter().enumerate() {
        if ctx.hidden(id, &DataRef::Points(k)) {
            continue;
        }
        let color = style::rgba(s.color, 1.0);
        let dx = dodge(p, k);
        for i in 0..s.x.len() {
            let Some(ax) = to_axis(sx, s.x[i]).filter(|x| *x >= clip.x0 && *x <= clip.x1) else {
                continue;
            };
            let (Some(lo), Some(hi)) = (s.lo.get(i), s.hi.get(i)) else {
                continue;
            };
            if !lo.is_finite() || !hi.is_finite() {
                continue;
            }
            let end = |v: f64| to_axis(sy, v).unwrap_or(f64::NEG_INFINITY);
            let (a, b) = (end(lo.min(*hi)), end(lo.max(*hi)));
            if b < clip.y0 || a > clip.y1 {
                continue;
            }
            let (a_in, b_in) = (a >= clip.y0, b <= clip.y1);
            let (x, y0) = to_px((ax, a.max(clip.y0)));
            let (_, y1) = to_px((ax, b.min(clip.y1)));
            let x = x + dx;
            style::stroke(area, vec![(x, y0), (x, y1)], LineStyle::Solid, color, 1)?;
            for (inside, y) in [(a_in, y0), (b_in, y1)] {
                if inside {
                    let cap = vec![(x - CAP, y), (x + CAP, y)];
                    style::stroke(area, cap, LineStyle::Solid, color, 1)?;
                }
            }
        }
        let shape = markers::or_circle(s.marker);
        for i in 0..s.x.len() {
            if let Place::Inside(pt) = clip::place((sx, sy), (s.x[i], s.y[i]), clip) {
                let (x, y) = to_px(pt);
                markers::draw(area, ctx.target, shape, (x + dx, y), s.size, color)?;
            }
        }
    }
    Ok(())
}

/// Axis-space x and y (whisker ends included) of the points, for automatic ranges.
pub(crate) fn extent(p: &LinePanel) -> (Vec<f64>, Vec<f64>) {
    let (sx, sy) = (p.x.scale, p.y.scale);
    let (mut xs, mut ys) = (vec![], vec![]);
    for s in &p.points {
        for i in 0..s.x.len() {
            let Some(x) = to_axis(sx, s.x[i]) else {
                continue;
            };
            let values = [Some(s.y[i]), s.lo.get(i).copied(), s.hi.get(i).copied()];
            let shown: Vec<f64> = values
                .into_iter()
                .flatten()
                .filter_map(|v| to_axis(sy, v))
                .collect();
            if !shown.is_empty() {
                xs.push(x);
                ys.extend(shown);
            }
        }
    }
    (xs, ys)
}

/// Pixel samples of the points and whiskers for legend placement.
pub(crate) fn samples(p: &LinePanel, clip: &Rect, to_px: &impl Fn(Pt) -> Px) -> Vec<Px> {
    let mut out = vec![];
    let scales = (p.x.scale, p.y.scale);
    for (k, s) in p.points.iter().enumerate() {
        let dx = dodge(p, k);
        for i in 0..s.x.len() {
            let ends = [Some(s.y[i]), s.lo.get(i).copied(), s.hi.get(i).copied()];
            let inside: Vec<Px> = ends
                .into_iter()
                .flatten()
                .filter_map(|y| match clip::place(scales, (s.x[i], y), clip) {
                    Place::Inside(pt) => Some(to_px(pt)),
                    _ => None,
                })
                .map(|(x, y)| (x + dx, y))
                .collect();
            let top = inside.iter().min_by_key(|q| q.1);
            let bottom = inside.iter().max_by_key(|q| q.1);
            if let (Some(top), Some(bottom)) = (top, bottom) {
                legend::sample_polyline(&[*top, *bottom], 4.0, &mut out);
                out.extend([inside[0]; 2]);
            }
        }
    }
    out
}

/// The legend entries of the labelled point series.
pub(crate) fn legend_entries(p: &LinePanel) -> Vec<Entry> {
    p.points
        .iter()
        .filter(|s| !s.label.is_empty())
        .map(|s| Entry {
            label: Rich::parse(&s.label),
            swatch: Swatch::Point {
                color: style::rgba(s.color, 1.0),
                marker: markers::or_circle(s.marker),
                size: s.size,
                whisker: !s.lo.is_empty(),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PointSeries, Rgb};

    #[test]
    fn dodges_are_centred() {
        let s = PointSeries::new("", vec![1.0], vec![1.0], Rgb::BLACK);
        let panel = |n: usize, dodge: u32| LinePanel {
            points: vec![s.clone(); n],
            point_dodge: dodge,
            ..LinePanel::default()
        };
        let p = panel(3, 6);
        assert_eq!([dodge(&p, 0), dodge(&p, 1), dodge(&p, 2)], [-6, 0, 6]);
        let p = panel(2, 6);
        assert_eq!([dodge(&p, 0), dodge(&p, 1)], [-3, 3]);
        assert_eq!(dodge(&panel(4, 0), 3), 0);
    }
}
