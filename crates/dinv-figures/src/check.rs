//! Checking tools for figures, for tests in any crate: does every legend entry show,
//! does all data outside a fixed range carry a clip mark, and does every label keep one
//! style across a figure.
//!
//! The first two render the figure (deterministically, like [`crate::render_rgb`]) and
//! compare renders that differ in one thing only, so they measure what a reader sees.
//! They work out where data should be from the data themselves, not from the drawing
//! code, so a drawing bug shows up as a finding.

use std::collections::BTreeMap;

use crate::clip::Edge;
use crate::error::FigureError;
use crate::model::{Figure, LinePanel, LineStyle, Marker, Panel, RgbImage, Scale};
use crate::panels::{Ctx, DataRef, PanelGeometry, PanelId};
use crate::scale::to_axis;
use crate::stroke::Target;
use crate::{check_figure, draw_error, draw_rgb, Rgb};

/// What kind of legend entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    Series,
    Points,
    /// All events sharing one label.
    Events,
}

/// How much of one legend entry's data a reader can see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    /// Index of the panel in [`Figure::panels`].
    pub panel: usize,
    /// Whether the entry belongs to that panel's inset.
    pub inset: bool,
    pub kind: EntryKind,
    pub label: String,
    /// Pixels of the plot area that change when this entry's data alone are not drawn
    /// (its legend entry, the axes and the legend placement staying as they are). Zero
    /// means the entry is completely hidden, e.g. under an identical curve.
    pub pixels: usize,
}

/// For every labelled series, point series and event label of every line panel (and
/// inset), how many plot-area pixels its data change: the figure is rendered with and
/// without that entry's data. Entries drawn exactly under others come out at (near)
/// zero unless markers, phases or dashes keep them visible.
pub fn series_visibility(fig: &Figure) -> Result<Vec<Visibility>, FigureError> {
    let target = std::path::Path::new("<visibility check>");
    check_figure(fig, target)?;
    let ctx = Ctx::new(Target::Raster);
    let full = draw_rgb(fig, &ctx).map_err(draw_error(target))?;
    let geometry = ctx.geometry.into_inner();
    let mut out = vec![];
    for (index, panel) in fig.panels.iter().enumerate() {
        let Panel::Lines(main) = panel else { continue };
        let inset = main.inset.as_ref().map(|i| (&i.panel, true));
        for (p, in_inset) in std::iter::once((main, false)).chain(inset) {
            let id = PanelId {
                index,
                inset: in_inset,
            };
            let Some(plot) = plot_of(&geometry, id) else {
                continue;
            };
            for (kind, label, data) in entries(p) {
                let mut ctx = Ctx::new(Target::Raster);
                ctx.only = Some(index);
                ctx.hide = Some((id, data));
                let without = draw_rgb(fig, &ctx).map_err(draw_error(target))?;
                out.push(Visibility {
                    panel: index,
                    inset: in_inset,
                    kind,
                    label,
                    pixels: changed(&full, &without, plot).len(),
                });
            }
        }
    }
    Ok(out)
}

/// The legend entries of a panel with the data each stands for.
fn entries(p: &LinePanel) -> Vec<(EntryKind, String, DataRef)> {
    let mut out = vec![];
    for (k, s) in p.series.iter().enumerate() {
        if !s.label.is_empty() {
            out.push((EntryKind::Series, s.label.clone(), DataRef::Series(k)));
        }
    }
    for (k, s) in p.points.iter().enumerate() {
        if !s.label.is_empty() {
            out.push((EntryKind::Points, s.label.clone(), DataRef::Points(k)));
        }
    }
    let mut seen: Vec<&str> = vec![];
    for e in &p.events {
        if !e.label.is_empty() && !seen.contains(&e.label.as_str()) {
            seen.push(&e.label);
            let data = DataRef::Events(e.label.clone());
            out.push((EntryKind::Events, e.label.clone(), data));
        }
    }
    out
}

fn plot_of(geometry: &[PanelGeometry], id: PanelId) -> Option<&PanelGeometry> {
    geometry.iter().find(|g| g.id == id)
}

/// Pixels inside the plot of `g` where the two images differ.
fn changed(a: &RgbImage, b: &RgbImage, g: &PanelGeometry) -> Vec<(i32, i32)> {
    let (l, t, r, bottom) = g.plot;
    let mut out = vec![];
    for y in t.max(0)..bottom.min(a.height as i32) {
        for x in l.max(0)..r.min(a.width as i32) {
            if a.pixel(x as u32, y as u32) != b.pixel(x as u32, y as u32) {
                out.push((x, y));
            }
        }
    }
    out
}

/// A data point outside the plotted range whose clip mark is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipMiss {
    pub panel: usize,
    pub inset: bool,
    /// What the point belongs to, e.g. `series "BP"`, `band 0`, `event "SSA"`,
    /// `point series "DI" (whisker)`.
    pub element: String,
    /// The point, in data units (`y` is NaN for an event without a y).
    pub x: f64,
    pub y: f64,
    /// The edge it lies beyond.
    pub edge: Edge,
}

/// Data outside the plotted range (a fixed axis range, or ≤ 0 on a log axis) whose
/// clip mark is missing; empty for every figure this crate draws. Each excursion of a
/// curve (consecutive points outside) needs a mark near where it leaves the plot; an
/// unjoined point (event, point, whisker end) needs one near itself. A mark is found
/// by comparing renders with and without clip marks.
pub fn clipped_without_mark(fig: &Figure) -> Result<Vec<ClipMiss>, FigureError> {
    let target = std::path::Path::new("<clip check>");
    check_figure(fig, target)?;
    let ctx = Ctx::new(Target::Raster);
    let marked = draw_rgb(fig, &ctx).map_err(draw_error(target))?;
    let mut bare_ctx = Ctx::new(Target::Raster);
    bare_ctx.clip_marks = false;
    let bare = draw_rgb(fig, &bare_ctx).map_err(draw_error(target))?;
    Ok(misses(fig, &ctx.geometry.into_inner(), &marked, &bare))
}

/// The core of [`clipped_without_mark`], given the two renders.
fn misses(
    fig: &Figure,
    geometry: &[PanelGeometry],
    marked: &RgbImage,
    bare: &RgbImage,
) -> Vec<ClipMiss> {
    let mut out = vec![];
    for (index, panel) in fig.panels.iter().enumerate() {
        let Panel::Lines(main) = panel else { continue };
        let inset = main.inset.as_ref().map(|i| (&i.panel, true));
        for (p, in_inset) in std::iter::once((main, false)).chain(inset) {
            let id = PanelId {
                index,
                inset: in_inset,
            };
            let Some(g) = plot_of(geometry, id) else {
                continue;
            };
            let diff = changed(marked, bare, g);
            for x in expected_marks(p, g) {
                let found = diff.iter().filter(|&&(px, py)| x.region.contains(px, py));
                if found.count() < MIN_MARK_PIXELS {
                    out.push(ClipMiss {
                        panel: index,
                        inset: in_inset,
                        element: x.element,
                        x: x.data.0,
                        y: x.data.1,
                        edge: x.edge,
                    });
                }
            }
        }
    }
    out
}

/// A mark is at least this many pixels (a triangle has about 30).
const MIN_MARK_PIXELS: usize = 4;
/// How far from its expected place a mark may be, in pixels.
const REACH: i32 = 9;

/// A pixel box, inclusive.
struct Region(i32, i32, i32, i32);

impl Region {
    fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.0 && x <= self.2 && y >= self.1 && y <= self.3
    }
}

struct Expected {
    element: String,
    data: (f64, f64),
    edge: Edge,
    region: Region,
}

/// Where a point lies: `None` inside the range (or a gap), else the edge it is beyond
/// and its position moved into the plot, in pixels.
fn beyond(g: &PanelGeometry, x: f64, y: Option<f64>) -> Option<(Edge, (i32, i32))> {
    let ((sx, (x0, x1)), (sy, (y0, y1))) = (g.x, g.y);
    let axis = |scale: Scale, v: f64, lo: f64| match to_axis(scale, v) {
        Some(a) => a,
        None => lo - 1e300, // ≤ 0 on a log axis: below everything
    };
    let ax = axis(sx, x, x0);
    let ay = match y {
        Some(y) => axis(sy, y, y0),
        None => y0, // events without a y sit on the bottom edge
    };
    let tol = |a: f64, b: f64| 1e-9 * (b - a).abs();
    let edge = if ay > y1 + tol(y0, y1) {
        Edge::Top
    } else if ay < y0 - tol(y0, y1) {
        Edge::Bottom
    } else if ax < x0 - tol(x0, x1) {
        Edge::Left
    } else if ax > x1 + tol(x0, x1) {
        Edge::Right
    } else {
        return None;
    };
    Some((edge, pixel(g, ax.clamp(x0, x1), ay.clamp(y0, y1))))
}

/// Pixel of an axis-space point of the plot `g` (to within a pixel of plotters' own).
fn pixel(g: &PanelGeometry, ax: f64, ay: f64) -> (i32, i32) {
    let (l, t, r, b) = g.plot;
    let ((_, (x0, x1)), (_, (y0, y1))) = (g.x, g.y);
    let px = f64::from(l) + (ax - x0) / (x1 - x0) * f64::from(r - l - 1);
    let py = f64::from(b - 1) - (ay - y0) / (y1 - y0) * f64::from(b - t - 1);
    (px.round() as i32, py.round() as i32)
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Every clip mark the data of `p` call for, with the region it must lie in.
fn expected_marks(p: &LinePanel, g: &PanelGeometry) -> Vec<Expected> {
    let mut out = vec![];
    let (l, t, r, b) = g.plot;
    let boxed = |a: (i32, i32), c: (i32, i32)| {
        Region(
            (a.0.min(c.0) - REACH).max(l),
            (a.1.min(c.1) - REACH).max(t),
            (a.0.max(c.0) + REACH).min(r - 1),
            (a.1.max(c.1) + REACH).min(b - 1),
        )
    };
    // Joined points: one mark per run of consecutive outside points, between the last
    // point inside and the first one outside.
    let curve = |element: String, xs: &[f64], ys: &[f64], out: &mut Vec<Expected>| {
        let mut prev: Option<Option<(i32, i32)>> = None; // None: gap or start
        for (&x, &y) in xs.iter().zip(ys) {
            if finite(x).is_none() || finite(y).is_none() {
                prev = None;
                continue;
            }
            match beyond(g, x, Some(y)) {
                None => {
                    let ((sx, _), (sy, _)) = (g.x, g.y);
                    let inside = (to_axis(sx, x), to_axis(sy, y));
                    prev = match inside {
                        (Some(ax), Some(ay)) => Some(Some(pixel(g, ax, ay))),
                        _ => None,
                    };
                }
                Some((edge, at)) => {
                    if prev != Some(None) {
                        let from = prev.flatten().unwrap_or(at);
                        out.push(Expected {
                            element: element.clone(),
                            data: (x, y),
                            edge,
                            region: boxed(from, at),
                        });
                    }
                    prev = Some(None);
                }
            }
        }
    };
    for s in &p.series {
        curve(format!("series {:?}", s.label), &s.x, &s.y, &mut out);
    }
    for (k, band) in p.bands.iter().enumerate() {
        curve(format!("band {k}"), &band.x, &band.lo, &mut out);
        curve(format!("band {k}"), &band.x, &band.hi, &mut out);
    }
    for e in &p.events {
        if let Some((edge, at)) = beyond(g, e.x, e.y) {
            out.push(Expected {
                element: format!("event {:?}", e.label),
                data: (e.x, e.y.unwrap_or(f64::NAN)),
                edge,
                region: boxed(at, at),
            });
        }
    }
    let n = p.points.len() as f64;
    for (k, s) in p.points.iter().enumerate() {
        let dodge = ((k as f64 - (n - 1.0) / 2.0) * f64::from(p.point_dodge)).round() as i32;
        for i in 0..s.x.len() {
            let ends = [
                (s.y[i], ""),
                (s.lo.get(i).copied().unwrap_or(f64::NAN), " (whisker)"),
                (s.hi.get(i).copied().unwrap_or(f64::NAN), " (whisker)"),
            ];
            for (y, what) in ends {
                if finite(s.x[i]).is_none() || finite(y).is_none() {
                    continue;
                }
                if let Some((edge, (px, py))) = beyond(g, s.x[i], Some(y)) {
                    out.push(Expected {
                        element: format!("point series {:?}{what}", s.label),
                        data: (s.x[i], y),
                        edge,
                        region: boxed((px + dodge, py), (px + dodge, py)),
                    });
                }
            }
        }
    }
    out
}

/// A pixel rectangle `(left, top, right, bottom)`, right and bottom exclusive.
pub type PixelRect = (i32, i32, i32, i32);

/// Where a line panel's parts landed in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelLayout {
    pub panel: usize,
    /// Whether this is the inset of panel `panel`.
    pub inset: bool,
    /// The plot area (inside the axes).
    pub plot: PixelRect,
    /// The panel's own legend box, if one was drawn.
    pub legend: Option<PixelRect>,
    /// The box of the panel's inset, if it has one.
    pub inset_box: Option<PixelRect>,
}

/// Where the parts of a figure landed: line panels (and insets) in drawing order, and
/// the shared legend box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub panels: Vec<PanelLayout>,
    pub shared_legend: Option<PixelRect>,
}

/// The layout of `fig` as [`crate::render_rgb`] draws it, to check that parts do not
/// overlap (e.g. a legend and an inset).
pub fn figure_layout(fig: &Figure) -> Result<Layout, FigureError> {
    let target = std::path::Path::new("<layout check>");
    check_figure(fig, target)?;
    let ctx = Ctx::new(Target::Raster);
    draw_rgb(fig, &ctx).map_err(draw_error(target))?;
    let panels = ctx
        .geometry
        .into_inner()
        .into_iter()
        .map(|g| PanelLayout {
            panel: g.id.index,
            inset: g.id.inset,
            plot: g.plot,
            legend: g.legend,
            inset_box: g.inset,
        })
        .collect();
    Ok(Layout {
        panels,
        shared_legend: ctx.shared_legend.into_inner(),
    })
}

/// The style a label is drawn in, as far as telling entries apart goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryStyle {
    pub kind: EntryKind,
    pub color: Rgb,
    /// The dash pattern of series; `None` for points and events.
    pub line: Option<LineStyle>,
    /// The marker shape (circles for point series and events given none; `None` for
    /// event ticks and series without markers).
    pub marker: Marker,
}

/// One use of a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StyleUse {
    pub panel: usize,
    pub inset: bool,
    pub style: EntryStyle,
}

/// A label drawn in styles a reader would take for different things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StyleConflict {
    pub label: String,
    /// Every use of the label, in panel order.
    pub uses: Vec<StyleUse>,
}

/// Whether two uses of one label disagree: colours always count; dashes count between
/// two series; markers between two entries of the same kind (a model drawn as a curve
/// in one panel and as points in another is fine if the colour agrees).
fn disagree(a: &EntryStyle, b: &EntryStyle) -> bool {
    let dash = matches!((a.line, b.line), (Some(x), Some(y)) if x != y);
    let marker = a.kind == b.kind && a.marker != b.marker;
    a.color != b.color || dash || marker
}

/// Labels that appear more than once in a figure (in several panels, or a panel and
/// its inset) in conflicting colour, dash or marker. Pure data check, no rendering.
pub fn style_conflicts(fig: &Figure) -> Vec<StyleConflict> {
    let mut uses: BTreeMap<String, Vec<StyleUse>> = BTreeMap::new();
    for (index, panel) in fig.panels.iter().enumerate() {
        let Panel::Lines(main) = panel else { continue };
        let inset = main.inset.as_ref().map(|i| (&i.panel, true));
        for (p, in_inset) in std::iter::once((main, false)).chain(inset) {
            for (label, style) in styles(p) {
                uses.entry(label).or_default().push(StyleUse {
                    panel: index,
                    inset: in_inset,
                    style,
                });
            }
        }
    }
    uses.into_iter()
        .filter(|(_, u)| {
            u.iter()
                .any(|a| u.iter().any(|b| disagree(&a.style, &b.style)))
        })
        .map(|(label, uses)| StyleConflict { label, uses })
        .collect()
}

fn styles(p: &LinePanel) -> Vec<(String, EntryStyle)> {
    let circle = |m: Marker| if m == Marker::None { Marker::Circle } else { m };
    let series = p.series.iter().map(|s| {
        let style = EntryStyle {
            kind: EntryKind::Series,
            color: s.color,
            line: Some(s.style),
            marker: s.marker,
        };
        (s.label.clone(), style)
    });
    let points = p.points.iter().map(|s| {
        let style = EntryStyle {
            kind: EntryKind::Points,
            color: s.color,
            line: None,
            marker: circle(s.marker),
        };
        (s.label.clone(), style)
    });
    let events = p.events.iter().map(|e| {
        let style = EntryStyle {
            kind: EntryKind::Events,
            color: e.color,
            line: None,
            marker: if e.y.is_some() {
                circle(e.shape)
            } else {
                Marker::None
            },
        };
        (e.label.clone(), style)
    });
    series
        .chain(points)
        .chain(events)
        .filter(|(label, _)| !label.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Axis, EventMark, PointSeries, Series};

    /// Without clip marks, every excursion is reported: the check can fail.
    #[test]
    fn missing_marks_are_reported() {
        let x: Vec<f64> = (0..=10).map(f64::from).collect();
        let y = vec![1.0, 2.0, 12.0, 13.0, 2.0, 1.0, -5.0, 1.0, 1.0, 1.0, 1.0];
        let panel = LinePanel {
            x: Axis::linear("x"),
            y: Axis::linear("y").with_range(0.0, 10.0),
            series: vec![Series::new("s", x, y, Rgb(200, 0, 0))],
            events: vec![EventMark::at(5.0, 20.0, Rgb(0, 0, 200)).with_label("e")],
            points: vec![PointSeries::new("p", vec![3.0], vec![5.0], Rgb(0, 150, 0))
                .with_whiskers(vec![-1.0], vec![4.0])],
            ..LinePanel::default()
        };
        let fig = Figure::new((1, 1), vec![Panel::Lines(panel)]);
        let ctx = Ctx::new(Target::Raster);
        let marked = draw_rgb(&fig, &ctx).unwrap();
        let mut bare_ctx = Ctx::new(Target::Raster);
        bare_ctx.clip_marks = false;
        let bare = draw_rgb(&fig, &bare_ctx).unwrap();
        let geometry = ctx.geometry.into_inner();
        assert!(misses(&fig, &geometry, &marked, &bare).is_empty());
        let missed = misses(&fig, &geometry, &bare, &bare);
        let found: Vec<(&str, Edge)> = missed
            .iter()
            .map(|m| (m.element.as_str(), m.edge))
            .collect();
        assert_eq!(
            found,
            [
                ("series \"s\"", Edge::Top),
                ("series \"s\"", Edge::Bottom),
                ("event \"e\"", Edge::Top),
                ("point series \"p\" (whisker)", Edge::Bottom),
            ]
        );
    }
}
