//! The house style: embedded fonts, text sizes, non-data colours and stroke patterns,
//! shared by every panel kind so figures look alike.

use std::sync::Once;

use plotters::coord::CoordTranslate;
use plotters::element::{DashedPathElement, PathElement};
use plotters::prelude::*;
use plotters::style::{register_font, FontDesc, FontFamily, FontStyle, RGBAColor, TextStyle};

use crate::font;
use crate::model::{LineStyle, Rgb};

/// Figure title (bold).
pub(crate) const FIGURE_TITLE: f64 = 20.0;
/// Panel title (bold).
pub(crate) const PANEL_TITLE: f64 = 17.0;
/// Axis labels ("epoch", "loss").
pub(crate) const AXIS_LABEL: f64 = 16.0;
/// Tick labels and legend entries.
pub(crate) const TICK_LABEL: f64 = 14.0;
pub(crate) const LEGEND: f64 = 14.0;
/// Legend entries of crowded panels.
pub(crate) const LEGEND_COMPACT: f64 = 12.0;
/// All text of insets: title, axis labels, ticks and legend.
pub(crate) const INSET_TEXT: f64 = 11.0;

pub(crate) const INK: RGBColor = RGBColor(30, 30, 30);
pub(crate) const GRID_MAJOR: RGBColor = RGBColor(225, 225, 225);
pub(crate) const GRID_MINOR: RGBColor = RGBColor(242, 242, 242);
pub(crate) const FRAME: RGBColor = RGBColor(190, 190, 190);

static FONTS: Once = Once::new();

/// Registers DejaVu Sans (regular and bold) as "sans-serif", so text renders with no
/// system font libraries. Idempotent; call before any drawing.
///
/// The registered fonts carry kerning that makes up for the glyph bearings plotters
/// drops (see [`crate::font`]).
pub(crate) fn register_fonts() {
    FONTS.call_once(|| {
        // A failure cannot happen with the embedded fonts; if it did, drawing text
        // would report `FontUnavailable` through the normal error path.
        let regular = font::for_plotters(dejavu::sans::regular());
        let bold = font::for_plotters(dejavu::sans::bold());
        let _ = register_font("sans-serif", FontStyle::Normal, regular);
        let _ = register_font("sans-serif", FontStyle::Bold, bold);
    });
}

pub(crate) fn font(size: f64) -> TextStyle<'static> {
    FontDesc::new(FontFamily::SansSerif, size, FontStyle::Normal).color(&INK)
}

pub(crate) fn bold(size: f64) -> TextStyle<'static> {
    FontDesc::new(FontFamily::SansSerif, size, FontStyle::Bold).color(&INK)
}

pub(crate) fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

pub(crate) fn rgba(c: Rgb, opacity: f64) -> RGBAColor {
    rgb(c).mix(opacity)
}

/// A drawing failure inside plotters, flattened to text (the backends' error types differ).
#[derive(Debug)]
pub(crate) struct DrawError(pub String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        DrawError(e.to_string())
    }
}

/// Dash and gap lengths in pixels for a stroke `width` wide.
pub(crate) fn pattern(style: LineStyle, width: u32) -> Option<(i32, i32)> {
    let w = width.max(1) as i32;
    match style {
        LineStyle::Solid => None,
        LineStyle::Dashed => Some((3 * w + 4, 2 * w + 3)),
        LineStyle::Dotted => Some((w, w + 3)),
    }
}

/// Strokes a polyline on any coordinate system in the given line style. The dash
/// pattern runs on continuously across vertices, so dense curves still look dashed.
pub(crate) fn stroke<DB, CT>(
    area: &DrawingArea<DB, CT>,
    points: Vec<CT::From>,
    style: LineStyle,
    color: RGBAColor,
    width: u32,
) -> Result<(), DrawError>
where
    DB: DrawingBackend,
    CT: CoordTranslate,
    CT::From: Clone + 'static,
{
    let shape = ShapeStyle::from(color).stroke_width(width);
    match pattern(style, width) {
        None => area.draw(&PathElement::new(points, shape))?,
        Some((dash, gap)) => area.draw(&DashedPathElement::new(points, dash, gap, shape))?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` rendered at legend size: ink as rows of columns.
    fn ink(text: &str) -> Vec<Vec<bool>> {
        register_fonts();
        let (w, h) = (120u32, 30u32);
        let mut buf = vec![255u8; 3 * (w * h) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            let style = font(LEGEND).color(&BLACK);
            root.draw(&Text::new(text.to_string(), (10, 5), style))
                .unwrap();
        }
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[3 * (y * w + x) as usize] < 128)
                    .collect()
            })
            .filter(|row: &Vec<bool>| row.contains(&true))
            .collect()
    }

    /// Inked columns within `rows`.
    fn columns(ink: &[Vec<bool>], rows: std::ops::Range<usize>) -> Vec<usize> {
        (0..ink[0].len())
            .filter(|&x| ink[rows.clone()].iter().any(|row| row[x]))
            .collect()
    }

    /// Widths of the blank gaps between inked columns.
    fn gaps(cols: &[usize]) -> Vec<usize> {
        cols.windows(2)
            .map(|w| w[1] - w[0] - 1)
            .filter(|&g| g > 0)
            .collect()
    }

    fn extent(cols: &[usize]) -> usize {
        cols.last().unwrap() - cols.first().unwrap() + 1
    }

    #[test]
    fn tr_keeps_the_r_beside_the_t() {
        let all = |t: &str| {
            let ink = ink(t);
            columns(&ink, 0..ink.len())
        };
        let (t, r, tr) = (all("T"), all("r"), all("Tr"));
        // The r tucks under the bar of the T (kerning) but keeps most of its columns.
        assert!(
            extent(&tr) >= extent(&t) + extent(&r) - 1,
            "\"Tr\" is {} px wide, \"T\" {} and \"r\" {}",
            extent(&tr),
            extent(&t),
            extent(&r)
        );
        // Below the bar, blank columns separate the stem of the T from the r.
        let ink = ink("Tr");
        let low = columns(&ink, ink.len() / 2..ink.len());
        assert_eq!(gaps(&low).len(), 1, "{low:?}");
    }

    #[test]
    fn glyphs_keep_their_bearings() {
        // "(" sits left in its box and T fills its own: about one blank column between.
        for (text, most) in [("(T", 2), ("T)", 2), ("DI", 3), ("(R", 2)] {
            let ink = ink(text);
            let cols = columns(&ink, 0..ink.len());
            let g = gaps(&cols);
            assert!(
                g.len() == 1 && g[0] <= most,
                "{text:?}: gaps {g:?} (at most {most} expected)"
            );
        }
    }

    #[test]
    fn measured_width_matches_the_ink() {
        register_fonts();
        let mut buf = vec![255u8; 3 * 16];
        let root = BitMapBackend::with_buffer(&mut buf, (4, 4)).into_drawing_area();
        let f = font(LEGEND);
        for text in [
            "DI (Tr, α=0.001)",
            "Training loss",
            "10⁻³",
            "angle B vs −Wᵀ",
        ] {
            let measured = root.estimate_text_size(text, &f).unwrap().0 as i32;
            let ink = ink(text);
            let drawn = extent(&columns(&ink, 0..ink.len())) as i32;
            assert!(
                (measured - drawn).abs() <= 3,
                "{text:?}: measured {measured} px, drawn {drawn} px"
            );
        }
    }
}
