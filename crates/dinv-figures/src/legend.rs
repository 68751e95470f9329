//! Legends: measuring, placing (including the corner that hides the least data) and
//! drawing a boxed list of swatches with labels. All coordinates are pixels.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::RGBAColor;

use crate::markers;
use crate::markup::Rich;
use crate::model::{LegendPos, LineStyle, Marker};
use crate::stroke::Target;
use crate::style::{self, DrawError};
use crate::text;

/// Distance between the legend box and the plot edges.
pub(crate) const INSET: i32 = 8;

/// The metrics of a legend box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Look {
    font: f64,
    pad: i32,
    swatch_w: i32,
    gap: i32,
    row_h: i32,
}

impl Look {
    /// The usual legend, text as large as the tick labels.
    pub const NORMAL: Look = Look {
        font: style::LEGEND,
        pad: 6,
        swatch_w: 28,
        gap: 6,
        row_h: style::LEGEND as i32 + 6,
    };
    /// Smaller text in a tighter box, for crowded panels.
    pub const COMPACT: Look = Look {
        font: style::LEGEND_COMPACT,
        pad: 4,
        swatch_w: 20,
        gap: 5,
        row_h: style::LEGEND_COMPACT as i32 + 4,
    };
    /// The legend of an inset.
    pub const SMALL: Look = Look {
        font: style::INSET_TEXT,
        pad: 3,
        swatch_w: 18,
        gap: 4,
        row_h: style::INSET_TEXT as i32 + 3,
    };
}

/// Horizontal space between the columns of a multi-column legend.
const COLUMN_GAP: i32 = 14;

/// What is drawn to the left of a legend label.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Swatch {
    /// A curve: a line in its dash pattern, with its marker in the middle.
    Line {
        color: RGBAColor,
        style: LineStyle,
        width: u32,
        marker: Marker,
        marker_size: u32,
    },
    /// A scatter class: a plain dot.
    Dot { color: RGBColor },
    /// A point series (with a whisker if it has error bars) or an event marker.
    Point {
        color: RGBAColor,
        marker: Marker,
        size: u32,
        whisker: bool,
    },
    /// An event drawn as a tick at the bottom of the plot.
    Tick { color: RGBAColor },
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub label: Rich,
    pub swatch: Swatch,
}

/// A measured legend, ready to place and draw.
#[derive(Clone)]
pub(crate) struct Legend {
    entries: Vec<Entry>,
    look: Look,
    text_w: i32,
    columns: usize,
}

use crate::geometry::PxRect;

impl Legend {
    /// Measures the entries' text on `area`; `None` when there is nothing to list.
    pub fn measure<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        entries: Vec<Entry>,
        look: Look,
    ) -> Result<Option<Legend>, DrawError> {
        if entries.is_empty() {
            return Ok(None);
        }
        let _ = area; // text is measured by the font alone
        let font = style::font(look.font);
        let mut text_w = 0;
        for e in &entries {
            text_w = text_w.max(text::size(&e.label, &font)?.0);
        }
        Ok(Some(Legend {
            entries,
            look,
            text_w,
            columns: 1,
        }))
    }

    /// The same legend laid out in as many columns (at most one per entry) as fit
    /// in `width` pixels.
    pub fn in_columns(mut self, width: i32) -> Legend {
        let l = &self.look;
        let column = l.swatch_w + l.gap + self.text_w + COLUMN_GAP;
        let fit = ((width - 2 * l.pad + COLUMN_GAP) / column.max(1)).max(1) as usize;
        self.columns = fit.min(self.entries.len()).max(1);
        self
    }

    fn rows(&self) -> usize {
        self.entries.len().div_ceil(self.columns)
    }

    /// The same entries in another look.
    pub fn restyle<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        look: Look,
    ) -> Result<Option<Legend>, DrawError> {
        Legend::measure(area, self.entries.clone(), look)
    }

    pub fn size(&self) -> (i32, i32) {
        let l = &self.look;
        let column = l.swatch_w + l.gap + self.text_w;
        let cols = self.columns as i32;
        (
            2 * l.pad + cols * column + (cols - 1) * COLUMN_GAP,
            2 * l.pad + self.rows() as i32 * l.row_h,
        )
    }

    /// Top-left corner of the legend inside `plot` at a corner position (`Best`,
    /// `Outside` and `None` are resolved by the caller; they fall back to upper right).
    pub fn corner(&self, pos: LegendPos, plot: PxRect) -> (i32, i32) {
        let (w, h) = self.size();
        let (l, t, r, b) = plot;
        let left = l + INSET;
        let right = r - INSET - w;
        let top = t + INSET;
        let bottom = b - INSET - h;
        match pos {
            LegendPos::UpperLeft => (left, top),
            LegendPos::LowerLeft => (left, bottom),
            LegendPos::LowerRight => (right, bottom),
            _ => (right, top),
        }
    }

    /// The legend's box at the inside corner `pos`.
    pub fn rect(&self, pos: LegendPos, plot: PxRect) -> PxRect {
        let (w, h) = self.size();
        let (x, y) = self.corner(pos, plot);
        (x, y, x + w, y + h)
    }

    /// How many `samples` (pixel points along the drawn data) the legend box would
    /// hide at the inside corner `pos`, counting a little slack around the box: a
    /// curve grazing the border also hurts.
    pub fn covered(&self, pos: LegendPos, plot: PxRect, samples: &[(i32, i32)]) -> usize {
        let (x, y, r, b) = self.rect(pos, plot);
        let (x0, y0, x1, y1) = (x - 3, y - 3, r + 3, b + 3);
        samples
            .iter()
            .filter(|(px, py)| *px >= x0 && *px < x1 && *py >= y0 && *py < y1)
            .count()
    }

    /// The inside corner whose legend box covers the fewest `samples`, with that
    /// count; ties go to upper right, upper left, lower left, lower right. Corners
    /// where the box would overlap `avoid` (an inset) are not considered unless all do.
    pub fn best_corner(
        &self,
        plot: PxRect,
        samples: &[(i32, i32)],
        avoid: Option<PxRect>,
    ) -> (LegendPos, usize) {
        let corners = [
            LegendPos::UpperRight,
            LegendPos::UpperLeft,
            LegendPos::LowerLeft,
            LegendPos::LowerRight,
        ];
        let free: Vec<LegendPos> = corners
            .into_iter()
            .filter(|&pos| avoid.is_none_or(|a| !overlap(self.rect(pos, plot), a)))
            .collect();
        let candidates = if free.is_empty() {
            corners.to_vec()
        } else {
            free
        };
        candidates
            .into_iter()
            .map(|pos| (pos, self.covered(pos, plot, samples)))
            .min_by_key(|&(_, n)| n)
            .unwrap_or((LegendPos::UpperRight, 0))
    }

    /// Draws the legend with its top-left corner at `origin` (coordinates of `area`).
    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        origin: (i32, i32),
        target: Target,
    ) -> Result<(), DrawError> {
        let (w, h) = self.size();
        let (x, y) = origin;
        area.draw(&Rectangle::new(
            [(x, y), (x + w, y + h)],
            WHITE.mix(0.85).filled(),
        ))?;
        area.draw(&Rectangle::new([(x, y), (x + w, y + h)], style::FRAME))?;
        let l = &self.look;
        let font = style::font(l.font).pos(Pos::new(HPos::Left, VPos::Center));
        let column = l.swatch_w + l.gap + self.text_w + COLUMN_GAP;
        let rows = self.rows();
        for (i, e) in self.entries.iter().enumerate() {
            // Column-major, so a multi-column legend reads down each column.
            let (row, col) = (i % rows, i / rows);
            let yc = y + l.pad + row as i32 * l.row_h + l.row_h / 2;
            let s0 = x + l.pad + col as i32 * column;
            let s1 = s0 + l.swatch_w;
            draw_swatch(area, e.swatch, (s0, s1), yc, l.row_h, target)?;
            text::draw(area, &e.label, (s1 + l.gap, yc), &font, target)?;
        }
        Ok(())
    }
}

/// Whether two pixel rectangles share any pixel.
pub(crate) fn overlap(a: PxRect, b: PxRect) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// The sample of one entry between columns `s0` and `s1`, centred on row `yc`.
fn draw_swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    swatch: Swatch,
    (s0, s1): (i32, i32),
    yc: i32,
    row_h: i32,
    target: Target,
) -> Result<(), DrawError> {
    let mid = ((s0 + s1) / 2, yc);
    let small = (row_h / 4).clamp(3, 5) as u32;
    match swatch {
        Swatch::Line {
            color,
            style: line,
            width,
            marker,
            marker_size,
        } => {
            style::stroke(area, vec![(s0, yc), (s1, yc)], line, color, width.min(4))?;
            let size = marker_size.min(small + 1);
            markers::draw(area, target, marker, mid, size, color)?;
        }
        Swatch::Dot { color } => area.draw(&Circle::new(mid, small, color.filled()))?,
        Swatch::Point {
            color,
            marker,
            size,
            whisker,
        } => {
            if whisker {
                let reach = row_h / 2 - 1;
                let bar = vec![(mid.0, yc - reach), (mid.0, yc + reach)];
                style::stroke(area, bar, LineStyle::Solid, color, 1)?;
            }
            markers::draw(area, target, marker, mid, size.min(small + 1), color)?;
        }
        Swatch::Tick { color } => {
            let bar = vec![(mid.0, yc - row_h / 3), (mid.0, yc + row_h / 3)];
            style::stroke(area, bar, LineStyle::Solid, color, 2)?;
        }
    }
    Ok(())
}

/// Points every `step` pixels along a pixel polyline (for [`Legend::best_corner`]).
pub(crate) fn sample_polyline(line: &[(i32, i32)], step: f64, out: &mut Vec<(i32, i32)>) {
    out.extend(line.first().copied());
    for w in line.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (dx, dy) = (f64::from(b.0 - a.0), f64::from(b.1 - a.1));
        let n = (dx.hypot(dy) / step).ceil().max(1.0) as i32;
        out.extend((1..=n).map(|k| {
            let t = f64::from(k) / f64::from(n);
            (a.0 + (t * dx) as i32, a.1 + (t * dy) as i32)
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legend(rows: usize) -> Legend {
        let entry = Entry {
            label: Rich::parse("x"),
            swatch: Swatch::Dot { color: BLACK },
        };
        Legend {
            entries: vec![entry; rows],
            look: Look::NORMAL,
            text_w: 40,
            columns: 1,
        }
    }

    #[test]
    fn corners_sit_inside_the_plot() {
        let l = legend(2);
        let (w, h) = l.size();
        let plot = (100, 50, 500, 350);
        assert_eq!(l.corner(LegendPos::UpperLeft, plot), (108, 58));
        assert_eq!(
            l.corner(LegendPos::LowerRight, plot),
            (500 - INSET - w, 350 - INSET - h)
        );
    }

    #[test]
    fn best_corner_avoids_the_data() {
        let l = legend(3);
        let plot = (0, 0, 400, 300);
        // A curve falling from the upper left to the lower right, like a loss curve.
        let mut samples = vec![];
        sample_polyline(&[(0, 0), (400, 300)], 2.0, &mut samples);
        assert_eq!(
            l.best_corner(plot, &samples, None),
            (LegendPos::UpperRight, 0)
        );
        // A rising curve occupies the other diagonal.
        samples.clear();
        sample_polyline(&[(0, 300), (400, 0)], 2.0, &mut samples);
        assert_eq!(
            l.best_corner(plot, &samples, None),
            (LegendPos::UpperLeft, 0)
        );
        // Data along the whole top edge pushes the legend down.
        samples.clear();
        sample_polyline(&[(0, 20), (400, 20)], 2.0, &mut samples);
        sample_polyline(&[(0, 250), (150, 250)], 2.0, &mut samples);
        assert_eq!(l.best_corner(plot, &samples, None).0, LegendPos::LowerRight);
    }

    #[test]
    fn best_corner_avoids_an_inset() {
        let l = legend(3);
        let plot = (0, 0, 400, 300);
        let inset = Some((250, 0, 400, 120));
        assert_eq!(l.best_corner(plot, &[], inset), (LegendPos::UpperLeft, 0));
        assert_eq!(l.best_corner(plot, &[], None), (LegendPos::UpperRight, 0));
    }

    #[test]
    fn columns_share_the_rows() {
        let one = legend(5);
        let (w1, h1) = one.size();
        let three = legend(5).in_columns(3 * w1 + 40);
        assert_eq!(three.columns, 3);
        let (w3, h3) = three.size();
        assert_eq!(h3, 2 * 6 + 2 * 20);
        assert!(w3 > 2 * w1 && h3 < h1, "{w3}x{h3} vs {w1}x{h1}");
        assert_eq!(legend(2).in_columns(10_000).columns, 2);
    }

    #[test]
    fn compact_legends_are_smaller() {
        let mut l = legend(12);
        let normal = l.size();
        l.look = Look::COMPACT;
        let compact = l.size();
        assert!(
            compact.0 < normal.0 && compact.1 < normal.1,
            "{compact:?} vs {normal:?}"
        );
        // 12 rows of 20 px do not fit beside data in a 260 px plot; 12 of 16 might.
        assert_eq!(normal.1, 12 + 12 * 20);
        assert_eq!(compact.1, 8 + 12 * 16);
    }

    #[test]
    fn samples_follow_the_polyline() {
        let mut out = vec![];
        sample_polyline(&[(0, 0), (10, 0), (10, 10)], 5.0, &mut out);
        assert_eq!(out, vec![(0, 0), (5, 0), (10, 0), (10, 5), (10, 10)]);
    }
}
