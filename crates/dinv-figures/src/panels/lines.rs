//! Line panels: bands, reference lines and curves on linear or log axes, with a legend.
//!
//! Data are mapped to axis space first (log10 on log axes), split at unshowable points
//! and clipped to the plot rectangle, so plotters only ever sees visible, finite geometry.
//! Curves are then taken to pixels, thinned per pixel column and stroked by
//! [`crate::stroke`].

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::geometry::{clip_polygon, clip_polyline, split_runs, Pt, Rect};
use crate::legend::{self, Entry, Legend, Look, PxRect, Swatch};
use crate::model::{Band, LegendPos, LinePanel, Rgb, Series};
use crate::scale::{self, to_axis, Ticks};
use crate::stroke::{self, Px, Target};
use crate::style::{self, DrawError};

/// Tick mark length; plotters puts labels twice as far from the axis.
const TICK_MARK: i32 = 4;

/// The panel's data in axis space, split at gaps but not yet clipped.
struct AxisData<'a> {
    curves: Vec<(&'a Series, Vec<Vec<Pt>>)>,
    bands: Vec<(&'a Band, Vec<Vec<Pt>>)>,
    hlines: Vec<(f64, crate::model::LineStyle)>,
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

pub(crate) fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &LinePanel,
    target: Target,
) -> Result<(), DrawError> {
    let data = AxisData::new(p);
    let x_range = scale::fit_range(p.x.scale, p.x.range, data.points().map(|(x, _)| x));
    let y_values = data.points().map(|(_, y)| y);
    let y_range = scale::fit_range(
        p.y.scale,
        p.y.range,
        y_values.chain(data.hlines.iter().map(|(y, _)| *y)),
    );
    let (w, h) = area.dim_in_pixel();
    let x_ticks = scale::ticks(p.x.scale, x_range, (w.saturating_sub(100) / 70) as usize);
    let y_ticks = scale::ticks(p.y.scale, y_range, (h.saturating_sub(100) / 50) as usize);

    let tick_font = style::font(style::TICK_LABEL);
    let mut y_label_w = 0;
    for t in &y_ticks.major {
        y_label_w = y_label_w.max(area.estimate_text_size(&t.label, &tick_font)?.0 as i32);
    }
    let desc_h = |label: &str| {
        if label.is_empty() {
            0
        } else {
            style::AXIS_LABEL as i32 + 6
        }
    };
    let x_label_h = 2 * TICK_MARK + style::TICK_LABEL as i32 + 4 + desc_h(&p.x.label);
    let y_label_w = 2 * TICK_MARK + y_label_w + 4 + desc_h(&p.y.label);

    let framed = area.margin(10, 10, 10, 14);
    let body = if p.title.is_empty() {
        framed
    } else {
        framed.titled(&p.title, style::bold(style::PANEL_TITLE))?
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
    let layout = |chart: &Chart<'_, DB>| {
        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let rect: PxRect = (
            xs.start - base.0,
            ys.start - base.1,
            xs.end - base.0,
            ys.end - base.1,
        );
        let to_px = |pt: Pt| {
            let (x, y) = chart.backend_coord(&pt);
            (x - base.0, y - base.1)
        };
        let curves: Vec<PxCurve> = data
            .curves
            .iter()
            .map(|(series, runs)| PxCurve {
                series,
                pieces: pixel_pieces(runs, &clip, to_px),
            })
            .collect();
        (rect, curves)
    };

    let legend = match p.legend {
        LegendPos::None => None,
        _ => Legend::measure(area, legend_entries(&p.series), Look::NORMAL)?,
    };
    let outside_w = |l: &Legend| l.size().0 + legend::INSET;
    let mut chart = build(match (&legend, p.legend) {
        (Some(l), LegendPos::Outside) => outside_w(l),
        _ => 0,
    })?;
    let (mut rect, mut curves) = layout(&chart);
    let placed = match (legend, p.legend) {
        (None, _) => None,
        (Some(l), LegendPos::Outside) => Some((l, Placement::Outside)),
        (Some(l), LegendPos::Best) => {
            let mut samples = vec![];
            for piece in curves.iter().flat_map(|c| &c.pieces) {
                legend::sample_polyline(piece, 4.0, &mut samples);
            }
            let (l, placement) = place_best(area, l, rect, &samples)?;
            if let Placement::Outside = placement {
                chart = build(outside_w(&l))?;
                (rect, curves) = layout(&chart);
            }
            Some((l, placement))
        }
        (Some(l), pos) => Some((l, Placement::Inside(pos))),
    };

    let x_fmt = |v: &f64| x_ticks.label_at(*v);
    let y_fmt = |v: &f64| y_ticks.label_at(*v);
    let mut mesh = chart.configure_mesh();
    mesh.x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(tick_font.clone())
        .axis_desc_style(style::font(style::AXIS_LABEL))
        .bold_line_style(style::GRID_MAJOR)
        .light_line_style(style::GRID_MINOR)
        .axis_style(style::INK)
        .set_all_tick_mark_size(TICK_MARK);
    if !p.x.label.is_empty() {
        mesh.x_desc(p.x.label.as_str());
    }
    if !p.y.label.is_empty() {
        mesh.y_desc(p.y.label.as_str());
    }
    mesh.draw()?;

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
    for c in &curves {
        let s = c.series;
        let color = style::rgba(s.color, s.opacity);
        stroke::draw_curve(area, target, &c.pieces, s.style, color, s.width, rect)?;
    }

    if let Some((legend, placement)) = placed {
        let origin = match placement {
            Placement::Outside => (rect.2 + legend::INSET, rect.1),
            Placement::Inside(pos) => legend.corner(pos, rect),
        };
        legend.draw(area, origin)?;
    }
    Ok(())
}

/// Resolves [`LegendPos::Best`]: the inside corner hiding the fewest `samples`, if it
/// hides few enough; else the same with a compact legend; else a compact legend
/// outside the plot, unless that would squeeze the plot too much.
fn place_best<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    normal: Legend,
    plot: PxRect,
    samples: &[(i32, i32)],
) -> Result<(Legend, Placement), DrawError> {
    let few = |n: usize| n as f64 <= BEST_MAX_COVERED * samples.len() as f64;
    let (pos, hidden) = normal.best_corner(plot, samples);
    if few(hidden) {
        return Ok((normal, Placement::Inside(pos)));
    }
    let Some(compact) = normal.restyle(area, Look::COMPACT)? else {
        return Ok((normal, Placement::Inside(pos)));
    };
    let (pos, hidden) = compact.best_corner(plot, samples);
    let room = f64::from(area.dim_in_pixel().0) * OUTSIDE_MAX_WIDTH;
    let placement = if few(hidden) || f64::from(compact.size().0 + legend::INSET) > room {
        Placement::Inside(pos)
    } else {
        Placement::Outside
    };
    Ok((compact, placement))
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

fn legend_entries(series: &[Series]) -> Vec<Entry> {
    series
        .iter()
        .filter(|s| !s.label.is_empty())
        .map(|s| Entry {
            label: s.label.clone(),
            swatch: Swatch::Line {
                color: style::rgba(s.color, s.opacity),
                style: s.style,
                width: s.width,
            },
        })
        .collect()
}
