//! Line panels: bands, reference lines, curves with markers, event marks
//! ([`super::events`]) and points with error bars ([`super::points`]) on linear or log
//! axes ([`super::axes`]), with clip marks ([`super::clip_marks`]), an optional inset
//! ([`super::inset`]) and a legend.
//!
//! Data are mapped to axis space first (log10 on log axes), split at unshowable points
//! and clipped to the plot rectangle, so plotters only ever sees visible, finite geometry.
//! Curves are then taken to pixels, thinned per pixel column and stroked by
//! [`crate::stroke`]. Whatever lies outside the plotted range gets a clip mark
//! ([`crate::clip`]).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::axes::{self, axis_coord, AxisCoord};
use super::clip_marks::Marks;
use super::{events, inset, points, Ctx, DataRef, PanelGeometry, PanelId};
use crate::clip::{self, Place};
use crate::geometry::PxRect;
use crate::geometry::{clip_polygon, clip_polyline, split_runs, Pt, Rect};
use crate::legend::{self, Entry, Legend, Look, Swatch};
use crate::markers;
use crate::markup::Rich;
use crate::model::{Band, Inset, LegendPos, LinePanel, LineStyle, Marker, Rgb, Series};
use crate::scale::{self, to_axis};
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
/// must show: events, point series, and the one showable coordinate of curve and band
/// points whose other one is ≤ 0 on a log axis (their clip marks go there).
fn extra_extent(p: &LinePanel) -> (Vec<f64>, Vec<f64>) {
    let (sx, sy) = (p.x.scale, p.y.scale);
    let (mut xs, mut ys) = (vec![], vec![]);
    let mut half_shown = |x: f64, y: f64| {
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
            half_shown(x, y);
        }
    }
    for b in &p.bands {
        for i in 0..b.x.len() {
            half_shown(b.x[i], b.lo[i]);
            half_shown(b.x[i], b.hi[i]);
        }
    }
    for (more_x, more_y) in [events::extent(p), points::extent(p)] {
        xs.extend(more_x);
        ys.extend(more_y);
    }
    (xs, ys)
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
        Rich::parse(&axes::axis_title(&p.x)),
        Rich::parse(&axes::axis_title(&p.y)),
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
            let to_px = pixel_map(&chart);
            let mut samples = vec![];
            for piece in curves.iter().flat_map(|c| &c.pieces) {
                legend::sample_polyline(piece, 4.0, &mut samples);
            }
            samples.extend(Marks::find(p, &clip, &to_px).samples());
            samples.extend(events::samples(p, &clip, &to_px, rect));
            samples.extend(points::samples(p, &clip, &to_px));
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
    axes::draw_rich_titles(
        area,
        (&x_title, &y_title),
        rect,
        (x_label_h, y_label_w),
        &style::font(look.axis_label),
        ctx.target,
    )?;
    axes::draw_breaks(area, p, rect)?;

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
    let shown = |k: &usize| !ctx.hidden(id, &DataRef::Series(*k));
    let shown_curves = curves.iter().enumerate().filter(|(k, _)| shown(k));
    for c in shown_curves.map(|(_, c)| c) {
        let s = c.series;
        let color = style::rgba(s.color, s.opacity);
        stroke::draw_curve(area, ctx.target, &c.pieces, s.style, color, s.width, rect)?;
    }
    let to_px = pixel_map(&chart);
    // Markers go over all curves, so a curve drawn later cannot hide them.
    let shown_series = p.series.iter().enumerate().filter(|(k, _)| shown(k));
    for s in shown_series.map(|(_, s)| s) {
        draw_markers(area, p, s, &clip, &to_px, ctx)?;
    }
    events::draw(area, p, ctx, id, &clip, &to_px, rect)?;
    points::draw(area, p, ctx, id, &clip, &to_px)?;
    if ctx.clip_marks {
        Marks::find(p, &clip, &to_px)
            .without(ctx, id)
            .draw(area, rect)?;
    }

    if let (Some(inset), Some(at)) = (&p.inset, inset_rect) {
        draw_inset(area, inset, at, ctx, id.index, legend_on)?;
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

/// The markers of one curve, on its points inside the plot.
fn draw_markers<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePanel,
    s: &Series,
    clip: &Rect,
    to_px: &impl Fn(Pt) -> Px,
    ctx: &Ctx,
) -> Result<(), DrawError> {
    if s.marker == Marker::None {
        return Ok(());
    }
    let color = style::rgba(s.color, s.opacity);
    let scales = (p.x.scale, p.y.scale);
    for i in markers::marker_indices(s.x.len(), s.marker_every, s.marker_phase) {
        if let Place::Inside(pt) = clip::place(scales, (s.x[i], s.y[i]), clip) {
            markers::draw(area, ctx.target, s.marker, to_px(pt), s.marker_size, color)?;
        }
    }
    Ok(())
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
    series
        .chain(points::legend_entries(p))
        .chain(events::legend_entries(p))
        .collect()
}

/// Draws `inset` into the box `at` of `area`, over whatever the main panel drew there.
fn draw_inset<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    inset: &Inset,
    at: PxRect,
    ctx: &Ctx,
    index: usize,
    legend_on: bool,
) -> Result<(), DrawError> {
    let (l, t, r, b) = at;
    area.draw(&Rectangle::new([(l, t), (r, b)], WHITE.filled()))?;
    area.draw(&Rectangle::new([(l, t), (r, b)], style::FRAME))?;
    let inner = area.clone().shrink((l + 1, t + 1), (r - l - 2, b - t - 2));
    let id = PanelId { index, inset: true };
    draw(&inner, &inset.panel, ctx, id, &PanelLook::INSET, legend_on)
}
