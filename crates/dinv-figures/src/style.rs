//! The house style: embedded fonts, text sizes, non-data colours and stroke patterns,
//! shared by every panel kind so figures look alike.

use std::sync::Once;

use plotters::coord::CoordTranslate;
use plotters::element::{DashedPathElement, PathElement};
use plotters::prelude::*;
use plotters::style::{register_font, FontDesc, FontFamily, FontStyle, RGBAColor, TextStyle};

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

pub(crate) const INK: RGBColor = RGBColor(30, 30, 30);
pub(crate) const GRID_MAJOR: RGBColor = RGBColor(225, 225, 225);
pub(crate) const GRID_MINOR: RGBColor = RGBColor(242, 242, 242);
pub(crate) const FRAME: RGBColor = RGBColor(190, 190, 190);

static FONTS: Once = Once::new();

/// Registers DejaVu Sans (regular and bold) as "sans-serif", so text renders with no
/// system font libraries. Idempotent; call before any drawing.
pub(crate) fn register_fonts() {
    FONTS.call_once(|| {
        // A failure cannot happen with the embedded fonts; if it did, drawing text
        // would report `FontUnavailable` through the normal error path.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
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
fn pattern(style: LineStyle, width: u32) -> Option<(i32, i32)> {
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
