//! The axes of line panels: coordinates whose grid lines are exactly the chosen ticks,
//! axis titles with range notes (drawn by us when they carry markup), and break marks.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontTransform, TextStyle};

use crate::geometry::PxRect;
use crate::markup::Rich;
use crate::model::{Axis, LinePanel, LineStyle, RangeNote, Scale};
use crate::scale::Ticks;
use crate::stroke::Target;
use crate::style::{self, DrawError};
use crate::text;

/// The axis title with its range note, if any.
pub(crate) fn axis_title(axis: &Axis) -> String {
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

/// The break mark of [`RangeNote::Break`]: two short slanted strokes across the axis
/// line near the start of a linear axis whose fixed range does not start at zero.
pub(crate) fn draw_breaks<DB: DrawingBackend>(
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

/// A linear axis-space coordinate whose grid lines and labels are exactly the chosen
/// ticks (plotters' own key-point search knows nothing of log axes).
#[derive(Clone)]
pub(crate) struct AxisCoord {
    range: (f64, f64),
    major: Vec<f64>,
    minor: Vec<f64>,
}

pub(crate) fn axis_coord(range: (f64, f64), ticks: &Ticks) -> AxisCoord {
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

/// Axis titles with markup, drawn where plotters puts plain ones: centred under the x
/// tick labels at the bottom of the label area, and turned up the left edge of the y
/// label area. `label_area` is `(height of the x label area, width of the y one)`.
pub(crate) fn draw_rich_titles<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x_title, y_title): (&Rich, &Rich),
    rect: PxRect,
    (x_label_h, y_label_w): (i32, i32),
    font: &TextStyle,
    target: Target,
) -> Result<(), DrawError> {
    if x_title.as_plain().is_none() {
        let at = (rect.0 + (rect.2 - rect.0) / 2, rect.3 + x_label_h);
        let f = font.pos(Pos::new(HPos::Center, VPos::Bottom));
        text::draw(area, x_title, at, &f, target)?;
    }
    if y_title.as_plain().is_none() {
        let at = (rect.0 - y_label_w, rect.1 + (rect.3 - rect.1) / 2);
        let f = font
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Center, VPos::Top));
        text::draw(area, y_title, at, &f, target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_notes_name_the_start() {
        let axis = |lo: f64, note: RangeNote| {
            Axis::linear("angle (degrees)")
                .with_range(lo, 90.0)
                .with_range_note(note)
        };
        let starts = || RangeNote::StartsAt { unit: "°".into() };
        assert_eq!(
            axis_title(&axis(45.0, starts())),
            "angle (degrees) (axis starts at 45°)"
        );
        assert_eq!(axis_title(&axis(0.0, starts())), "angle (degrees)");
        assert_eq!(axis_title(&axis(45.0, RangeNote::Break)), "angle (degrees)");
        assert_eq!(short_number(0.012345), "0.01235");
        assert_eq!(short_number(1e-5), "0.00001");
        assert_eq!(short_number(-2.5), "-2.5");
    }
}
