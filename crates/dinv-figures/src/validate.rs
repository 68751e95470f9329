//! Checks a [`Figure`] before anything is drawn, so bad input is an error, not a panic
//! or a silently wrong picture.

use crate::error::Problem;
use crate::model::{
    Axis, Figure, ImageGridPanel, InsetPlace, LinePanel, Marker, Panel, Scale, ScatterPanel,
    SharedLegend,
};

/// Smallest cell that still fits a title, tick labels and some data.
pub(crate) const MIN_PANEL: (u32, u32) = (120, 90);
/// Largest image side: a 16k x 16k RGB buffer already takes 800 MB.
pub(crate) const MAX_SIDE: u32 = 16_384;

pub(crate) fn figure(fig: &Figure) -> Result<(), Problem> {
    let (rows, cols) = fig.grid;
    if fig.panels.is_empty() {
        return Err(Problem::NoPanels);
    }
    if rows == 0 || cols == 0 {
        return Err(Problem::EmptyGrid { rows, cols });
    }
    for index in 0..fig.panels.len() {
        let span = fig.span(index);
        if span == 0 || span > cols {
            return Err(Problem::Span { index, span, cols });
        }
    }
    if let Some(index) = fig.cells().iter().position(Option::is_none) {
        return Err(Problem::PanelOutsideGrid {
            index,
            panels: fig.panels.len(),
            rows,
            cols,
        });
    }
    if fig.legend == SharedLegend::Cell && fig.free_cell().is_none() {
        return Err(Problem::NoCellForLegend { rows, cols });
    }
    let (w, h) = fig.panel_size;
    if w < MIN_PANEL.0 || h < MIN_PANEL.1 {
        return Err(Problem::PanelTooSmall {
            w,
            h,
            min_w: MIN_PANEL.0,
            min_h: MIN_PANEL.1,
        });
    }
    let (total_w, total_h) = fig.size_px();
    if total_w > MAX_SIDE || total_h > MAX_SIDE {
        return Err(Problem::ImageTooLarge {
            w: total_w,
            h: total_h,
            max: MAX_SIDE,
        });
    }
    for (index, panel) in fig.panels.iter().enumerate() {
        match panel {
            Panel::Lines(p) => line_panel(index, p)?,
            Panel::Scatter(p) => scatter(index, p)?,
            Panel::Images(p) => images(index, p)?,
        }
    }
    Ok(())
}

fn opacity(panel: usize, what: impl FnOnce() -> String, value: f64) -> Result<(), Problem> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Problem::Opacity {
            panel,
            what: what(),
            value,
        })
    }
}

fn axis(panel: usize, name: &'static str, axis: &Axis) -> Result<(), Problem> {
    let Some((lo, hi)) = axis.range else {
        return Ok(());
    };
    let log = axis.scale == Scale::Log10;
    let ok = lo.is_finite() && hi.is_finite() && lo < hi && (!log || lo > 0.0);
    if ok {
        Ok(())
    } else {
        Err(Problem::AxisRange {
            panel,
            axis: name,
            lo,
            hi,
            log,
        })
    }
}

/// A line panel and its inset (whose problems are wrapped in [`Problem::InInset`]).
fn line_panel(panel: usize, p: &LinePanel) -> Result<(), Problem> {
    lines(panel, p)?;
    let Some(inset) = &p.inset else {
        return Ok(());
    };
    let wrap = |problem| Problem::InInset {
        panel,
        problem: Box::new(problem),
    };
    if inset.panel.inset.is_some() {
        return Err(wrap(Problem::NestedInset { panel }));
    }
    let (left, top, width, height) = match inset.place {
        InsetPlace::Corner { width, height, .. } => (0.0, 0.0, width, height),
        InsetPlace::Rect {
            left,
            top,
            width,
            height,
        } => (left, top, width, height),
    };
    let fraction = |v: f64| (0.0..=1.0).contains(&v);
    let fits = [left, top, width, height].into_iter().all(fraction)
        && width > 0.0
        && height > 0.0
        && left + width <= 1.0
        && top + height <= 1.0;
    if !fits {
        return Err(Problem::InsetPlace {
            panel,
            left,
            top,
            width,
            height,
        });
    }
    lines(panel, &inset.panel).map_err(wrap)
}

fn marker(
    panel: usize,
    what: impl Fn() -> String,
    shape: Marker,
    size: u32,
) -> Result<(), Problem> {
    if shape != Marker::None && size == 0 {
        return Err(Problem::ZeroMarkerSize {
            panel,
            what: what(),
        });
    }
    Ok(())
}

fn lines(panel: usize, p: &LinePanel) -> Result<(), Problem> {
    if p.series.is_empty() && p.points.is_empty() {
        return Err(Problem::EmptySeries { panel });
    }
    axis(panel, "x", &p.x)?;
    axis(panel, "y", &p.y)?;
    for s in &p.series {
        if s.x.len() != s.y.len() {
            return Err(Problem::SeriesLength {
                panel,
                label: s.label.clone(),
                x: s.x.len(),
                y: s.y.len(),
            });
        }
        if s.width == 0 {
            return Err(Problem::ZeroWidth {
                panel,
                label: s.label.clone(),
            });
        }
        opacity(panel, || format!("series {:?}", s.label), s.opacity)?;
        marker(
            panel,
            || format!("series {:?}", s.label),
            s.marker,
            s.marker_size,
        )?;
        if !(0.0..1.0).contains(&s.marker_phase) {
            return Err(Problem::MarkerPhase {
                panel,
                label: s.label.clone(),
                phase: s.marker_phase,
            });
        }
    }
    for (band, b) in p.bands.iter().enumerate() {
        if b.x.len() != b.lo.len() || b.x.len() != b.hi.len() {
            return Err(Problem::BandLength {
                panel,
                band,
                x: b.x.len(),
                lo: b.lo.len(),
                hi: b.hi.len(),
            });
        }
        opacity(panel, || format!("band {band}"), b.opacity)?;
    }
    for (event, e) in p.events.iter().enumerate() {
        if !e.x.is_finite() || e.y.is_some_and(|y| !y.is_finite()) {
            return Err(Problem::EventPosition {
                panel,
                event,
                x: e.x,
                y: e.y,
            });
        }
    }
    for s in &p.points {
        let n = s.x.len();
        let whiskers = (s.lo.is_empty() && s.hi.is_empty()) || (s.lo.len() == n && s.hi.len() == n);
        if s.y.len() != n || !whiskers {
            return Err(Problem::PointsLength {
                panel,
                label: s.label.clone(),
                x: n,
                y: s.y.len(),
                lo: s.lo.len(),
                hi: s.hi.len(),
            });
        }
        if s.size == 0 {
            return Err(Problem::ZeroMarkerSize {
                panel,
                what: format!("point series {:?}", s.label),
            });
        }
    }
    Ok(())
}

fn scatter(panel: usize, p: &ScatterPanel) -> Result<(), Problem> {
    if p.points.is_empty() {
        return Err(Problem::NoPoints { panel });
    }
    if p.point_size == 0 {
        return Err(Problem::ZeroPointSize { panel });
    }
    if !p.palette.is_empty() {
        if let Some(&(_, _, class)) = p.points.iter().find(|pt| pt.2 >= p.palette.len()) {
            return Err(Problem::ClassWithoutColour {
                panel,
                class,
                palette: p.palette.len(),
            });
        }
    }
    Ok(())
}

fn images(panel: usize, p: &ImageGridPanel) -> Result<(), Problem> {
    if p.pixels.is_empty() {
        return Err(Problem::NoImages { panel });
    }
    if p.pixels.len() > p.rows.saturating_mul(p.cols) {
        return Err(Problem::TooManyImages {
            panel,
            images: p.pixels.len(),
            rows: p.rows,
            cols: p.cols,
        });
    }
    if p.image_h == 0 || p.image_w == 0 {
        return Err(Problem::ImageShape {
            panel,
            h: p.image_h,
            w: p.image_w,
        });
    }
    let expected = p.image_h.saturating_mul(p.image_w);
    if let Some((image, img)) = p
        .pixels
        .iter()
        .enumerate()
        .find(|(_, img)| img.len() != expected)
    {
        return Err(Problem::ImageLength {
            panel,
            image,
            len: img.len(),
            h: p.image_h,
            w: p.image_w,
        });
    }
    let (lo, hi) = p.value_range;
    if !(lo.is_finite() && hi.is_finite() && lo != hi) {
        return Err(Problem::ValueRange { panel, lo, hi });
    }
    if p.row_labels.len() > p.rows {
        return Err(Problem::TooManyRowLabels {
            panel,
            labels: p.row_labels.len(),
            rows: p.rows,
        });
    }
    Ok(())
}
