//! Legends: measuring, placing (including the corner that hides the least data) and
//! drawing a boxed list of swatches with labels. All coordinates are pixels.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::RGBAColor;

use crate::model::{LegendPos, LineStyle};
use crate::style::{self, DrawError};

const PAD: i32 = 6;
const SWATCH_W: i32 = 28;
const GAP: i32 = 6;
/// Distance between the legend box and the plot edges.
pub(crate) const INSET: i32 = 8;

/// What is drawn to the left of a legend label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Swatch {
    Line {
        color: RGBAColor,
        style: LineStyle,
        width: u32,
    },
    Marker {
        color: RGBColor,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub label: String,
    pub swatch: Swatch,
}

/// A measured legend, ready to place and draw.
pub(crate) struct Legend {
    entries: Vec<Entry>,
    text_w: i32,
    row_h: i32,
}

/// A pixel rectangle `(left, top, right, bottom)`, right/bottom exclusive.
pub(crate) type PxRect = (i32, i32, i32, i32);

impl Legend {
    /// Measures the entries' text on `area`; `None` when there is nothing to list.
    pub fn measure<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        entries: Vec<Entry>,
    ) -> Result<Option<Legend>, DrawError> {
        if entries.is_empty() {
            return Ok(None);
        }
        let font = style::font(style::LEGEND);
        let mut text_w = 0;
        for e in &entries {
            text_w = text_w.max(area.estimate_text_size(&e.label, &font)?.0 as i32);
        }
        Ok(Some(Legend {
            entries,
            text_w,
            row_h: style::LEGEND as i32 + 6,
        }))
    }

    pub fn size(&self) -> (i32, i32) {
        (
            2 * PAD + SWATCH_W + GAP + self.text_w,
            2 * PAD + self.entries.len() as i32 * self.row_h,
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

    /// The inside corner whose legend box covers the fewest `samples` (pixel points
    /// along the drawn data); ties go to upper right, upper left, lower left, lower right.
    pub fn best_corner(&self, plot: PxRect, samples: &[(i32, i32)]) -> LegendPos {
        let (w, h) = self.size();
        let corners = [
            LegendPos::UpperRight,
            LegendPos::UpperLeft,
            LegendPos::LowerLeft,
            LegendPos::LowerRight,
        ];
        let covered = |pos: LegendPos| {
            let (x, y) = self.corner(pos, plot);
            // A little slack around the box: a curve grazing the border also hurts.
            let (x0, y0, x1, y1) = (x - 3, y - 3, x + w + 3, y + h + 3);
            samples
                .iter()
                .filter(|(px, py)| *px >= x0 && *px < x1 && *py >= y0 && *py < y1)
                .count()
        };
        corners
            .into_iter()
            .min_by_key(|&pos| covered(pos))
            .unwrap_or(LegendPos::UpperRight)
    }

    /// Draws the legend with its top-left corner at `origin` (coordinates of `area`).
    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        origin: (i32, i32),
    ) -> Result<(), DrawError> {
        let (w, h) = self.size();
        let (x, y) = origin;
        area.draw(&Rectangle::new(
            [(x, y), (x + w, y + h)],
            WHITE.mix(0.85).filled(),
        ))?;
        area.draw(&Rectangle::new([(x, y), (x + w, y + h)], style::FRAME))?;
        let font = style::font(style::LEGEND).pos(Pos::new(HPos::Left, VPos::Center));
        for (i, e) in self.entries.iter().enumerate() {
            let yc = y + PAD + i as i32 * self.row_h + self.row_h / 2;
            let (s0, s1) = (x + PAD, x + PAD + SWATCH_W);
            match e.swatch {
                Swatch::Line {
                    color,
                    style: line,
                    width,
                } => style::stroke(area, vec![(s0, yc), (s1, yc)], line, color, width.min(4))?,
                Swatch::Marker { color } => {
                    area.draw(&Circle::new(((s0 + s1) / 2, yc), 5, color.filled()))?
                }
            }
            area.draw(&Text::new(e.label.clone(), (s1 + GAP, yc), font.clone()))?;
        }
        Ok(())
    }
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
            label: "x".into(),
            swatch: Swatch::Marker { color: BLACK },
        };
        Legend {
            entries: vec![entry; rows],
            text_w: 40,
            row_h: 20,
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
        assert_eq!(l.best_corner(plot, &samples), LegendPos::UpperRight);
        // A rising curve occupies the other diagonal.
        samples.clear();
        sample_polyline(&[(0, 300), (400, 0)], 2.0, &mut samples);
        assert_eq!(l.best_corner(plot, &samples), LegendPos::UpperLeft);
        // Data along the whole top edge pushes the legend down.
        samples.clear();
        sample_polyline(&[(0, 20), (400, 20)], 2.0, &mut samples);
        sample_polyline(&[(0, 250), (150, 250)], 2.0, &mut samples);
        assert_eq!(l.best_corner(plot, &samples), LegendPos::LowerRight);
    }

    #[test]
    fn samples_follow_the_polyline() {
        let mut out = vec![];
        sample_polyline(&[(0, 0), (10, 0), (10, 10)], 5.0, &mut out);
        assert_eq!(out, vec![(0, 0), (5, 0), (10, 0), (10, 5), (10, 10)]);
    }
}
