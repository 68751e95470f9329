//! Line panels: bands, reference lines, curves with markers, event marks and points
//! with error bars on linear or log axes, with clip marks, an optional inset and a
//! legend.
//!
//! Data are mapped to axis space first (log10 on log axes), split at unshowable points
//! and clipped to the plot rectangle, so plotters only ever sees visible, finite geometry.
//! Curves are then taken to pixels, thinned per pixel column and stroked by
//! [`crate::stroke`]. Whatever lies outside the plotted range gets a clip mark
//! ([`crate::clip`]).

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

use super::{inset, Ctx, DataRef, PanelGeometry, PanelId};
use crate::clip::{self, Edge, Place};
use crate::geometry::{clip_polygon, clip_polyline, split_runs, Pt, Rect};
use crate::legend::{self, Entry, Legend, Look, PxRect, Swatch};
use crate::markers;
use crate::markup::Rich;
use crate::model::{
    Axis, Band, EventMark, LegendPos, LinePanel, LineStyle, Marker, RangeNote, Rgb, Scale, Series,
};
use crate::scale::{self, to_axis, Ticks};
use crate::stroke::{self, Px};
use crate::style::{self, DrawError};
use crate::text;

/// Text sizes and spacing of a kind of line panel.
pub(crate) struct PanelLook {
    title: f64,
    axis_label: f64,
    tick_label: f64,
    legend: Look,
    /// Whether a crowded `Best` legend may shrink and move outside.
    adaptive_legend: bool,
    /// Around the panel: top, bottom, left, right.
    margin: (i32, i32, i32, i32),
    /// Tick mark length; plotters puts labels twice as far from the axis.
    tick_mark: i32,
    /// Pixels not counted for ticks, and pixels per tick along x and y.
    tick_reserve: u32,
    tick_spacing: (u32, u32),
}

impl PanelLook {
    pub const NORMAL: PanelLook = PanelLook {
        title: style::PANEL_TITLE,
        axis_label: style::AXIS_LABEL,
        tick_label: style::TICK_LABEL,
        legend: Look::NORMAL,
        adaptive_legend: true,
        margin: (10, 10, 10, 14),
        tick_mark: 4,
        tick_reserve: 100,
        tick_spacing: (70, 50),
    };
    pub const INSET: PanelLook = PanelLook {
        title: style::INSET_TEXT,
        axis_label: style::INSET_TEXT,
        tick_label: style::INSET_TEXT,
        legend: Look::SMALL,
        adaptive_legend: false,
        margin: (3, 3, 3, 8),
        tick_mark: 3,
        tick_reserve: 50,
        tick_spacing: (55, 32),
    };
}

/// The panel's data in axis space, split at gaps but not yet clipped.
struct AxisData<'a> {
    curves: Vec<(&'a Series, Vec<Vec<Pt>>)>,
    bands: Vec<(&'a Band, Vec<Vec<Pt>>)>,
    hlines: Vec<(f64, LineStyle)>,
}

impl<'a> AxisData<'a> {
    fn new(p: &'a LinePanel) -> Self {
        let (sx, sy) = (p.x.scale, p.y.scale);
        let point = |x: f64, y: f64| Some((to_axis(sx, x)?, to_axis(sy, y)?));
        let curves = p
            .series
            .iter()
            .map(|s| {
                let runs = split_runs(s.x.iter().zip(&s.y).map(|(&x, &y)| point(x, y)));
                (s, runs)
            })
            .collect();
        let bands = p
            .bands
            .iter()
            .map(|b| {
                let runs = split_runs(
                    (0..b.x.len())
                        .map(|i| Some((point(b.x[i], b.lo[i])?, point(b.x[i], b.hi[i])?))),
                );
                // Each run becomes a polygon: along lo, then back along hi.
                let polygons = runs
                    .into_iter()
                    .map(|run| {
                        let lo = run.iter().map(|(l, _)| *l);
                        let hi = run.iter().rev().map(|(_, h)| *h);
                        lo.chain(hi).collect()
                    })
                    .collect();
                (b, polygons)
            })
            .collect();
        let hlines = p
            .hlines
            .iter()
            .filter_map(|&(y, style)| Some((to_axis(sy, y)?, style)))
            .collect();
        AxisData {
            curves,
            bands,
            hlines,
        }
    }

    fn points(&self) -> impl Iterator<Item = Pt> + '_ {
        let curves = self
            .curves
            .iter()
            .flat_map(|(_, runs)| runs.iter().flatten());
        let bands = self
            .bands
            .iter()
            .flat_map(|(_, polys)| polys.iter().flatten());
        curves.chain(bands).copied()
    }
}

/// Axis-space x and y values beyond the drawn curves and bands that an automatic range
/// must show: events, point series (whisker ends included), and the one showable
/// coordinate of curve points whose other one is ≤ 0 on a log axis (their clip marks
/// go there).
fn extra_extent(p: &LinePanel) -> (Vec<f64>, Vec<f64>) {
    let (sx, sy) = (p.x.scale, p.y.scale);
    let mut xs = vec![];
    let mut ys = vec![];
    let half_shown = |x: f64, y: f64, xs: &mut Vec<f64>, ys: &mut Vec<f64>| {
        if !x.is_finite() || !y.is_finite() {
            return;
        }
        match (to_axis(sx, x), to_axis(sy, y)) {
            (Some(ax), None) => xs.push(ax),
            (None, Some(ay)) => ys.push(ay),
            _ => {}
        }
    };
    for s in &p.series {
        for (&x, &y) in s.x.iter().zip(&s.y) {
            half_shown(x, y, &mut xs, &mut ys);
        }
    }
    for b in &p.bands {
        for i in 0..b.x.len() {
            half_shown(b.x[i], b.lo[i], &mut xs, &mut ys);
            half_shown(b.x[i], b.hi[i], &mut xs, &mut ys);
        }
    }
    for e in &p.events {
        xs.extend(to_axis(sx, e.x));
        ys.extend(e.y.and_then(|y| to_axis(sy, y)));
    }
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

/// Pixel samples of events and point series (whiskers included) for legend placement.
fn mark_samples(p: &LinePanel, clip: &Rect, to_px: &impl Fn(Pt) -> Px, rect: PxRect) -> Vec<Px> {
    let mut out = vec![];
    let scales = (p.x.scale, p.y.scale);
    for e in &p.events {
        if let Place::Inside(pt) = event_place(p, e, clip) {
            let (x, y) = to_px(pt);
            let y = if e.y.is_some() { y } else { rect.3 - 1 };
            out.extend([(x, y); 3]);
        }
    }
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
            if let (Some(lo), Some(hi)) = (
                inside.iter().min_by_key(|q| q.1),
                inside.iter().max_by_key(|q| q.1),
            ) {
                legend::sample_polyline(&[*lo, *hi], 4.0, &mut out);
                out.extend([inside[0]; 2]);
            }
        }
    }
    out
}

/// Of the data samples, at most this fraction may hide under a legend placed by
/// [`LegendPos::Best`] inside the plot; beyond it the legend moves outside.
const BEST_MAX_COVERED: f64 = 0.02;
/// An outside legend may take at most this fraction of the panel width.
const OUTSIDE_MAX_WIDTH: f64 = 0.4;

/// One curve in pixels of the panel area: clipped, split at gaps, decimated.
struct PxCurve<'a> {
    series: &'a Series,
    pieces: Vec<Vec<Px>>,
}

/// Where the legend goes once `Best` is resolved.
enum Placement {
    Inside(LegendPos),
    Outside,
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<AxisCoord, AxisCoord>>;

/// Draws a full line panel (with its inset) in a figure cell; `legend_on` is false
/// when the figure has a shared legend.
pub(crate) fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePanel,
    ctx: &Ctx,
    index: usize,
    legend_on: bool,
) -> Result<(), DrawError> {
    let id = PanelId {
        index,
        inset: false,
    };
    draw(area, p, ctx, id, &PanelLook::NORMAL, legend_on)
}

/// The axis title with its range note, if any.
fn axis_title(axis: &Axis) -> String {
    match (&axis.range_note, axis.range) {
        (RangeNote::StartsAt { unit }, Some((lo, _))) if lo != 0.0 => {
            let sep = if axis.label.is_empty() { "" } else { " " };
            format!(
                "{}{sep}(axis starts at {}{unit})",
                axis.label,
                short_number(lo)
            )
        }
        _ => axis.label.clone(),
    }
}

/// A number as written in an axis note: up to four significant digits.
fn short_number(v: f64) -> String {
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePanel,
    ctx: &Ctx,
    id: PanelId,
    look: &PanelLook,
    legend_on: bool,
) -> Result<(), DrawError> {
    let data = AxisData::new(p);
    let (mark_xs, mark_ys) = extra_extent(p);
    let x_values = data.points().map(|(x, _)| x).chain(mark_xs);
    let x_range = scale::fit_range(p.x.scale, p.x.range, x_values);
    let y_values = data.points().map(|(_, y)| y);
    let y_range = scale::fit_range(
        p.y.scale,
        p.y.range,
        y_values
            .chain(data.hlines.iter().map(|(y, _)| *y))
            .chain(mark_ys),
    );
    let (w, h) = area.dim_in_pixel();
    let per_tick =
        |len: u32, spacing: u32| (len.saturating_sub(look.tick_reserve) / spacing) as usize;
    let x_ticks = scale::ticks(p.x.scale, x_range, per_tick(w, look.tick_spacing.0));
    let y_ticks = scale::ticks(p.y.scale, y_range, per_tick(h, look.tick_spacing.1));

    let tick_font = style::font(look.tick_label);
    let mut y_label_w = 0;
    for t in &y_ticks.major {
        y_label_w = y_label_w.max(area.estimate_text_size(&t.label, &tick_font)?.0 as i32);
    }
    let (x_title, y_title) = (
        Rich::parse(&axis_title(&p.x)),
        Rich::parse(&axis_title(&p.y)),
    );
    let desc_h = |title: &Rich| {
        if title.runs.is_empty() {
            0
        } else {
            look.axis_label as i32 + 6
        }
    };
    let tick_mark = look.tick_mark;
    let x_label_h = 2 * tick_mark + look.tick_label as i32 + 4 + desc_h(&x_title);
    let y_label_w = 2 * tick_mark + y_label_w + 4 + desc_h(&y_title);

    let (mt, mb, ml, mr) = look.margin;
    let framed = area.margin(mt, mb, ml, mr);
    let body = if p.title.is_empty() {
        framed
    } else {
        text::titled(&framed, &p.title, style::bold(look.title), ctx.target)?
    };
    // Building a chart draws nothing, so the layout can be tried before committing.
    let build = |right: i32| -> Result<Chart<'_, DB>, DrawError> {
        Ok(ChartBuilder::on(&body)
            .margin_right(right)
            .x_label_area_size(x_label_h)
            .y_label_area_size(y_label_w)
            .build_cartesian_2d(axis_coord(x_range, &x_ticks), axis_coord(y_range, &y_ticks))?)
    };
    let clip = Rect {
        x0: x_range.0,
        x1: x_range.1,
        y0: y_range.0,
        y1: y_range.1,
    };
    let base = area.get_base_pixel();
    let plot_rect = |chart: &Chart<'_, DB>| -> PxRect {
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        (
            xs.start - base.0,
            ys.start - base.1,
            xs.end - base.0,
            ys.end - base.1,
        )
    };
    let pixel_map = |chart: &Chart<'_, DB>| {
        let coord = chart.as_coord_spec().clone();
        move |pt: Pt| {
            let (x, y) = coord.translate(&pt);
            (x - base.0, y - base.1)
        }
    };
    let layout = |chart: &Chart<'_, DB>| {
        let to_px = pixel_map(chart);
        let curves: Vec<PxCurve> = data
            .curves
            .iter()
            .map(|(series, runs)| PxCurve {
                series,
                pieces: pixel_pieces(runs, &clip, &to_px),
            })
            .collect();
        (plot_rect(chart), curves)
    };

    let legend = match (legend_on, p.legend) {
        (false, _) | (_, LegendPos::None) => None,
        _ => Legend::measure(area, legend_entries(p), look.legend)?,
    };
    let outside_w = |l: &Legend| l.size().0 + legend::INSET;
    let mut chart = build(match (&legend, p.legend) {
        (Some(l), LegendPos::Outside) => outside_w(l),
        _ => 0,
    })?;
    let (mut rect, mut curves) = layout(&chart);
    let mut inset_rect = p.inset.as_ref().map(|i| inset::rect(&i.place, rect));
    let placed = match (legend, p.legend) {
        (None, _) => None,
        (Some(l), LegendPos::Outside) => Some((l, Placement::Outside)),
        (Some(l), LegendPos::Best) => {
            let marks = Marks::find(p, &clip, &pixel_map(&chart));
            let mut samples = vec![];
            for piece in curves.iter().flat_map(|c| &c.pieces) {
                legend::sample_polyline(piece, 4.0, &mut samples);
            }
            samples.extend(marks.samples());
            samples.extend(mark_samples(p, &clip, &pixel_map(&chart), rect));
            let (l, placement) = if look.adaptive_legend {
                place_best(area, l, rect, &samples, inset_rect)?
            } else {
                let (pos, _) = l.best_corner(rect, &samples, inset_rect);
                (l, Placement::Inside(pos))
            };
            if let Placement::Outside = placement {
                chart = build(outside_w(&l))?;
                (rect, curves) = layout(&chart);
                inset_rect = p.inset.as_ref().map(|i| inset::rect(&i.place, rect));
            }
            Some((l, placement))
        }
        (Some(l), pos) => {
            // A fixed corner taken by the inset gives way to the best free one.
            let blocked = inset_rect.is_some_and(|i| legend::overlap(l.rect(pos, rect), i));
            let pos = if blocked {
                l.best_corner(rect, &[], inset_rect).0
            } else {
                pos
            };
            Some((l, Placement::Inside(pos)))
        }
    };

    let x_fmt = |v: &f64| x_ticks.label_at(*v);
    let y_fmt = |v: &f64| y_ticks.label_at(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(tick_font.clone())
        .axis_desc_style(style::font(look.axis_label))
        .bold_line_style(style::GRID_MAJOR)
        .light_line_style(style::GRID_MINOR)
        .axis_style(style::INK)
        .set_all_tick_mark_size(tick_mark);
    // Plain axis titles go through plotters as they always did; titles with markup
    // are drawn below at the same place.
    let x_plain = x_title.as_plain().filter(|t| !t.is_empty());
    let y_plain = y_title.as_plain().filter(|t| !t.is_empty());
    if let Some(t) = x_plain {
        mesh.x_desc(t);
    }
    if let Some(t) = y_plain {
        mesh.y_desc(t);
    }
    mesh.draw()?;
    let desc_font = style::font(look.axis_label);
    if x_plain.is_none() && !x_title.runs.is_empty() {
        let at = (rect.0 + (rect.2 - rect.0) / 2, rect.3 + x_label_h);
        let f = desc_font.pos(Pos::new(HPos::Center, VPos::Bottom));
        text::draw(area, &x_title, at, &f, ctx.target)?;
    }
    if y_plain.is_none() && !y_title.runs.is_empty() {
        let at = (rect.0 - y_label_w, rect.1 + (rect.3 - rect.1) / 2);
        let f = desc_font
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Top));
        text::draw(area, &y_title, at, &f, ctx.target)?;
    }
    draw_breaks(area, p, rect)?;

    let plot = chart.plotting_area();
    for (band, polygons) in &data.bands {
        let fill = style::rgba(band.color, band.opacity).filled();
        for poly in polygons {
            let visible = clip_polygon(poly, &clip);
            if visible.len() >= 3 {
                plot.draw(&Polygon::new(visible, fill))?;
            }
        }
    }
    for &(y, line) in &data.hlines {
        if y >= clip.y0 && y <= clip.y1 {
            let grey = style::rgba(Rgb::GREY, 1.0);
            style::stroke(plot, vec![(clip.x0, y), (clip.x1, y)], line, grey, 1)?;
        }
    }
    let shown = |k: usize| !ctx.hidden(id, &DataRef::Series(k));
    for (_, c) in curves.iter().enumerate().filter(|(k, _)| shown(*k)) {
        let s = c.series;
        let color = style::rgba(s.color, s.opacity);
        stroke::draw_curve(area, ctx.target, &c.pieces, s.style, color, s.width, rect)?;
    }
    let to_px = pixel_map(&chart);
    let scales = (p.x.scale, p.y.scale);
    // Markers go over all curves, so a curve drawn later cannot hide them.
    for (_, s) in p.series.iter().enumerate().filter(|(k, _)| shown(*k)) {
        if s.marker == Marker::None {
            continue;
        }
        let color = style::rgba(s.color, s.opacity);
        for i in markers::marker_indices(s.x.len(), s.marker_every, s.marker_phase) {
            if let Place::Inside(pt) = clip::place(scales, (s.x[i], s.y[i]), &clip) {
                markers::draw(area, ctx.target, s.marker, to_px(pt), s.marker_size, color)?;
            }
        }
    }
    draw_events(area, p, ctx, id, &clip, &to_px, rect)?;
    draw_points(area, p, ctx, id, &clip, &to_px)?;
    if ctx.clip_marks {
        Marks::find(p, &clip, &to_px)
            .without(ctx, id)
            .draw(area, rect)?;
    }

    if let (Some(inset), Some(at)) = (&p.inset, inset_rect) {
        inset::draw(area, inset, at, ctx, id.index, legend_on)?;
    }
    let mut legend_rect = None;
    if let Some((legend, placement)) = placed {
        let origin = match placement {
            Placement::Outside => (rect.2 + legend::INSET, rect.1),
            Placement::Inside(pos) => legend.corner(pos, rect),
        };
        legend.draw(area, origin, ctx.target)?;
        let (w, h) = legend.size();
        legend_rect = Some((origin.0, origin.1, origin.0 + w, origin.1 + h));
    }
    let base = area.get_base_pixel();
    let absolute = |r: PxRect| (r.0 + base.0, r.1 + base.1, r.2 + base.0, r.3 + base.1);
    ctx.geometry.borrow_mut().push(PanelGeometry {
        id,
        plot: absolute(rect),
        x: (p.x.scale, x_range),
        y: (p.y.scale, y_range),
        legend: legend_rect.map(absolute),
        inset: inset_rect.map(absolute),
    });
    Ok(())
}

/// The break mark of [`RangeNote::Break`]: two short slanted strokes across the axis
/// line near the start of a linear axis whose fixed range does not start at zero.
fn draw_breaks<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePanel,
    rect: PxRect,
) -> Result<(), DrawError> {
    let breaks = |a: &Axis| {
        a.range_note == RangeNote::Break
            && a.scale == Scale::Linear
            && a.range.is_some_and(|(lo, _)| lo != 0.0)
    };
    let ink = style::INK.to_rgba();
    // The axis lines lie on the plot's left column and bottom row.
    let (left, bottom) = (rect.0, rect.3 - 1);
    if breaks(&p.y) {
        let y = bottom - 12;
        area.draw(&Rectangle::new(
            [(left - 5, y - 2), (left + 6, y + 2)],
            WHITE.filled(),
        ))?;
        for dy in [-3, 2] {
            let stroke = vec![(left - 5, y + dy + 2), (left + 5, y + dy - 2)];
            style::stroke(area, stroke, LineStyle::Solid, ink, 1)?;
        }
    }
    if breaks(&p.x) {
        let x = left + 12;
        area.draw(&Rectangle::new(
            [(x - 2, bottom - 5), (x + 2, bottom + 6)],
            WHITE.filled(),
        ))?;
        for dx in [-3, 2] {
            let stroke = vec![(x + dx - 2, bottom + 5), (x + dx + 2, bottom - 5)];
            style::stroke(area, stroke, LineStyle::Solid, ink, 1)?;
        }
    }
    Ok(())
}

/// Length of an event tick in pixels.
const EVENT_TICK: i32 = 2 * EventMark::SIZE as i32;

/// Event markers, and ticks along the bottom edge for events without a y.
fn draw_events<DB: DrawingBackend>(
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
        match event_place(p, e, clip) {
            Place::Inside(pt) if e.y.is_some() => {
                let shape = if e.shape == Marker::None {
                    Marker::Circle
                } else {
                    e.shape
                };
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
fn event_place(p: &LinePanel, e: &EventMark, clip: &Rect) -> Place {
    match e.y {
        Some(y) => clip::place((p.x.scale, p.y.scale), (e.x, y), clip),
        None => clip::place_axis((to_axis(p.x.scale, e.x), Some(clip.y0)), clip),
    }
}

/// Half the width of the caps on error bars, in pixels.
const CAP: i32 = 3;

/// The x offset in pixels of point series `k` (see [`LinePanel::point_dodge`]).
fn dodge(p: &LinePanel, k: usize) -> i32 {
    let n = p.points.len() as f64;
    ((k as f64 - (n - 1.0) / 2.0) * f64::from(p.point_dodge)).round() as i32
}

/// Point series: whiskers (clipped to the plot, capped where they end inside it), then
/// markers on top.
fn draw_points<DB: DrawingBackend>(
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
        let shape = if s.marker == Marker::None {
            Marker::Circle
        } else {
            s.marker
        };
        for i in 0..s.x.len() {
            if let Place::Inside(pt) = clip::place((sx, sy), (s.x[i], s.y[i]), clip) {
                let (x, y) = to_px(pt);
                markers::draw(area, ctx.target, shape, (x + dx, y), s.size, color)?;
            }
        }
    }
    Ok(())
}

/// The clip marks of one element (series, band, event, point series), in pixels.
struct MarkSet {
    data: DataRef,
    color: Rgb,
    /// Bands get outlines, so a band leaving the plot reads apart from its curve.
    hollow: bool,
    marks: Vec<(Px, Edge)>,
}

/// The clip marks of a panel.
struct Marks(Vec<MarkSet>);

impl Marks {
    /// Finds the marks of every series, band, event and point series.
    fn find(p: &LinePanel, clip: &Rect, to_px: &impl Fn(Pt) -> Px) -> Marks {
        let scales = (p.x.scale, p.y.scale);
        let place = |x: f64, y: f64| clip::place(scales, (x, y), clip);
        let set = |data, color, hollow, marks: &[(Pt, Edge)]| MarkSet {
            data,
            color,
            hollow,
            marks: clip::merge(marks, to_px),
        };
        let mut sets = vec![];
        for (k, s) in p.series.iter().enumerate() {
            let places: Vec<Place> = s.x.iter().zip(&s.y).map(|(&x, &y)| place(x, y)).collect();
            let marks = clip::curve_marks(&places, clip);
            sets.push(set(DataRef::Series(k), s.color, false, &marks));
        }
        for (k, b) in p.bands.iter().enumerate() {
            let mut marks = vec![];
            for ends in [&b.lo, &b.hi] {
                let places: Vec<Place> = b.x.iter().zip(ends).map(|(&x, &y)| place(x, y)).collect();
                marks.extend(clip::curve_marks(&places, clip));
            }
            sets.push(set(DataRef::Band(k), b.color, true, &marks));
        }
        for e in &p.events {
            let marks = clip::point_marks(&[event_place(p, e, clip)], clip);
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
            let dx = dodge(p, k);
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

    fn without(mut self, ctx: &Ctx, id: PanelId) -> Marks {
        self.0.retain(|s| !ctx.hidden(id, &s.data));
        self
    }

    /// Pixel samples for legend placement (each mark counts like a short curve).
    fn samples(&self) -> impl Iterator<Item = Px> + '_ {
        self.0
            .iter()
            .flat_map(|s| &s.marks)
            .flat_map(|&(p, _)| [p, p, p])
    }

    fn draw<DB: DrawingBackend>(
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

/// Resolves [`LegendPos::Best`]: the inside corner hiding the fewest `samples`, if it
/// hides few enough; else the same with a compact legend; else a compact legend
/// outside the plot, unless that would squeeze the plot too much. Corners overlapping
/// `avoid` (an inset) are skipped.
fn place_best<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    normal: Legend,
    plot: PxRect,
    samples: &[(i32, i32)],
    avoid: Option<PxRect>,
) -> Result<(Legend, Placement), DrawError> {
    let few = |n: usize| n as f64 <= BEST_MAX_COVERED * samples.len() as f64;
    let (pos, hidden) = normal.best_corner(plot, samples, avoid);
    if few(hidden) && fits_beside(&normal, pos, plot, avoid) {
        return Ok((normal, Placement::Inside(pos)));
    }
    let Some(compact) = normal.restyle(area, Look::COMPACT)? else {
        return Ok((normal, Placement::Inside(pos)));
    };
    let (pos, hidden) = compact.best_corner(plot, samples, avoid);
    let room = f64::from(area.dim_in_pixel().0) * OUTSIDE_MAX_WIDTH;
    let inside = few(hidden) && fits_beside(&compact, pos, plot, avoid);
    let placement = if inside || f64::from(compact.size().0 + legend::INSET) > room {
        Placement::Inside(pos)
    } else {
        Placement::Outside
    };
    Ok((compact, placement))
}

/// Whether the legend at `pos` stays clear of `avoid`.
fn fits_beside(l: &Legend, pos: LegendPos, plot: PxRect, avoid: Option<PxRect>) -> bool {
    avoid.is_none_or(|a| !legend::overlap(l.rect(pos, plot), a))
}

/// The visible pieces of a curve's runs in pixels: clipped to `clip` in axis space,
/// mapped by `to_px`, and decimated per pixel column where much denser than the pixels.
/// Gaps between runs stay gaps.
fn pixel_pieces(runs: &[Vec<Pt>], clip: &Rect, to_px: impl Fn(Pt) -> Px) -> Vec<Vec<Px>> {
    runs.iter()
        .flat_map(|run| clip_polyline(run, clip))
        .map(|piece| {
            let px: Vec<Px> = piece.into_iter().map(&to_px).collect();
            if stroke::is_dense(&px) {
                stroke::decimate(&px)
            } else {
                px
            }
        })
        .collect()
}

/// A linear axis-space coordinate whose grid lines and labels are exactly the chosen
/// ticks (plotters' own key-point search knows nothing of log axes).
#[derive(Clone)]
struct AxisCoord {
    range: (f64, f64),
    major: Vec<f64>,
    minor: Vec<f64>,
}

fn axis_coord(range: (f64, f64), ticks: &Ticks) -> AxisCoord {
    AxisCoord {
        range,
        major: ticks.positions(),
        minor: ticks.minor.clone(),
    }
}

impl Ranged for AxisCoord {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, (from, to): (i32, i32)) -> i32 {
        let (lo, hi) = self.range;
        let t = (v - lo) / (hi - lo);
        from + (f64::from(to - from) * t).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.minor.clone()
        } else {
            self.major.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.range.0..self.range.1
    }
}

/// The legend entries of a panel: labelled series (with their notes), point series,
/// then one entry per event label.
pub(crate) fn legend_entries(p: &LinePanel) -> Vec<Entry> {
    let series = p
        .series
        .iter()
        .filter(|s| !s.label.is_empty())
        .map(|s| Entry {
            label: Rich::with_note(&s.label, s.legend_note.as_deref()),
            swatch: Swatch::Line {
                color: style::rgba(s.color, s.opacity),
                style: s.style,
                width: s.width,
                marker: s.marker,
                marker_size: s.marker_size,
            },
        });
    let points = p
        .points
        .iter()
        .filter(|s| !s.label.is_empty())
        .map(|s| Entry {
            label: Rich::parse(&s.label),
            swatch: Swatch::Point {
                color: style::rgba(s.color, 1.0),
                marker: if s.marker == Marker::None {
                    Marker::Circle
                } else {
                    s.marker
                },
                size: s.size,
                whisker: !s.lo.is_empty(),
            },
        });
    let mut entries: Vec<Entry> = series.chain(points).collect();
    let mut seen: Vec<&str> = vec![];
    for e in p.events.iter().filter(|e| !e.label.is_empty()) {
        if seen.contains(&e.label.as_str()) {
            continue;
        }
        seen.push(&e.label);
        let color = style::rgba(e.color, 1.0);
        let swatch = match e.y {
            Some(_) => Swatch::Point {
                color,
                marker: if e.shape == Marker::None {
                    Marker::Circle
                } else {
                    e.shape
                },
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
